"""Where each machine proposal was sent (accepted, reviewed, audited), why, and what people found it to be."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, String
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime, utcnow


class Route(StrEnum):
    # Accepted without a person: its slice is trusted (by evidence, or by the prior before there is enough).
    auto = "auto"
    # Sent to a reviewer.
    review = "review"
    # Its slice is trusted, but it was sampled for a person to check: this keeps the estimate honest.
    audit = "audit"
    # Rejected without a person: nothing in the text supports it (a reviewer can still restore it).
    reject = "reject"


class ItemOutcome(StrEnum):
    correct = "correct"
    wrong = "wrong"


class RoutedItem(SQLModel, table=True):
    """One machine-proposed entity or relation as it was routed; a submitted review records its outcome.

    Kept apart from the item itself because reviewers may delete items: a deleted proposal is evidence too.
    """

    __tablename__ = "routed_item"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    document_id: int = Field(foreign_key="document.id", index=True, ondelete="CASCADE")
    item_kind: str = Field(max_length=16)  # "entity" | "relation"
    item_id: int = Field(index=True)
    # kind|agreement|proposers|type: the unit whose precision is estimated.
    slice: str = Field(sa_column=Column(String(400), nullable=False, index=True))
    agreement: str = Field(max_length=16)
    # Annotator names that proposed it, "+"-joined in a stable order.
    proposers: str = Field(default="", max_length=300)
    type: str = Field(max_length=64)
    route: Route = Field(sa_column=Column(String(16), nullable=False))
    reason: str = Field(default="", max_length=300)
    # What was proposed: {"type", "spans"} for an entity, {"type", "head", "tail"} for a relation.
    proposed: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    outcome: ItemOutcome | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    judged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
