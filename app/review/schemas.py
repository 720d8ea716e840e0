"""The review API's shapes (the decision commands it accepts are in commands.py)."""

from pydantic import BaseModel, ConfigDict

from app.api_types import IsoDateTime
from app.models import DocumentStatus
from app.models.document import BlindReview
from app.request_limits import StoredInt


class VersionRequest(BaseModel):
    """Undo, submit or end a blind pass on this version of the document (409 when it changed since)."""

    model_config = ConfigDict(extra="forbid")

    version: StoredInt


class DecisionOutcome(BaseModel):
    """A document after a decision, undo, submit, reopen or the end of a blind pass."""

    model_config = ConfigDict(frozen=True)

    document: int
    version: int
    status: DocumentStatus
    summary: str
    # The decision recorded, or None when nothing was (e.g. an undo with nothing left to undo).
    decision: int | None
    # The id of the item the decision created, if it created one.
    created_id: int | None
    # Ids of the rows that changed, by kind ("entity", "mention", "relation"), ascending.
    changed: dict[str, list[int]]


class LockState(BaseModel):
    """Who holds a document's review lock, and until when."""

    model_config = ConfigDict(frozen=True)

    document: int
    version: int
    status: DocumentStatus
    locked_by: str | None
    locked_until: IsoDateTime | None


class QueueEntry(BaseModel):
    """A document awaiting review."""

    model_config = ConfigDict(frozen=True)

    id: int
    title: str
    status: DocumentStatus
    version: int
    # None while the document's blind pass is pending: the count would hint at the proposals.
    open_items: int | None
    blind_review: BlindReview | None
    locked_by: str | None


class ReviewerProgress(BaseModel):
    """A reviewer's documents submitted and decisions taken, all time and in the last 24 hours."""

    model_config = ConfigDict(frozen=True)

    user_id: int
    documents: int
    documents_24h: int
    decisions: int
    decisions_24h: int
    username: str
