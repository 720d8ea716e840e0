"""API shapes for documents: the list, and one document with its annotations."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.models import Agreement, DocumentStatus, ItemStatus, RunStatus
from app.models.document import BlindReview


class DocumentSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    batch_id: int | None
    url: str | None
    title: str
    language: str | None
    script: str | None
    status: DocumentStatus
    created_at: datetime


class DocumentList(BaseModel):
    items: list[DocumentSummary]
    total: int
    page: int
    per_page: int


class DocumentRead(DocumentSummary):
    project_id: int
    warc_record_id: str | None
    crawl_date: datetime | None
    text: str
    sentences: list[list[int]]
    duplicate_urls: list[str]
    version: int
    meta: dict[str, Any]


class MentionRead(BaseModel):
    """One mention: code-point offsets into the document's text, and its sentence."""

    model_config = ConfigDict(frozen=True)

    id: int
    start: int
    end: int
    text: str
    sentence: int


class ProposalRead(BaseModel):
    """Who proposed an item, with which type, and how (augmentation, audit, blind second opinion, third voter)."""

    model_config = ConfigDict(frozen=True)

    annotator: str | None
    type: str | None
    augmentation: bool
    audit: bool
    blind: bool
    # The third voter's agreement with the item, not a proposal of the pair's.
    voter: bool = False


class VoteRead(BaseModel):
    """The other model's verdict on a relation only one model proposed."""

    model_config = ConfigDict(frozen=True)

    annotator: str | None
    vote: bool


class EntityRead(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    type: str
    name: str
    status: ItemStatus
    agreement: Agreement
    grounded: bool
    mentions: list[MentionRead]
    proposed_by: list[ProposalRead]


class RelationRead(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    head: int
    tail: int
    type: str
    evidence: list[int]
    status: ItemStatus
    agreement: Agreement
    proposed_by: list[ProposalRead]
    votes: list[VoteRead]


class RunRead(BaseModel):
    """One annotator's run on the document: status, tokens, cost and any error."""

    model_config = ConfigDict(frozen=True)

    annotator: str | None
    status: RunStatus
    prompt_version: str
    input_tokens: int
    output_tokens: int
    cost: float
    latency_ms: int
    error: str | None


class DocumentAnnotations(BaseModel):
    """A document's entities and relations with provenance, and the annotators' runs."""

    model_config = ConfigDict(frozen=True)

    entities: list[EntityRead]
    relations: list[RelationRead]
    runs: list[RunRead]
    blind_review: BlindReview | None


class DocumentDetail(DocumentRead):
    """GET /api/v1/documents/{id}: the document, then its annotations."""

    entities: list[EntityRead]
    relations: list[RelationRead]
    runs: list[RunRead]
    blind_review: BlindReview | None
