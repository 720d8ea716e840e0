"""Documents: clean text with sentences as code-point offsets."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime, utcnow


class DocumentStatus(StrEnum):
    new = "new"
    annotating = "annotating"
    annotated = "annotated"
    in_review = "in_review"
    # Double review: every reviewer has submitted; an admin settles where they differ.
    adjudication = "adjudication"
    curated = "curated"


class BlindReview(StrEnum):
    """The recall audit's blind pass of a document (`Document.blind_review`; None when it was not drawn)."""

    # The reviewer marks the text from scratch: the models' proposals are hidden.
    pending = "pending"
    # The blind pass is finished and recorded; the proposals are shown.
    revealed = "revealed"


class Document(SQLModel, table=True):
    __tablename__ = "document"
    __table_args__ = (UniqueConstraint("project_id", "text_hash", name="uq_document_project_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    batch_id: int | None = Field(default=None, foreign_key="crawl_batch.id", index=True, ondelete="SET NULL")
    url: str | None = None
    title: str = ""
    warc_record_id: str | None = Field(default=None, max_length=200)
    crawl_date: datetime | None = Field(default=None, sa_type=UTCDateTime)
    language: str | None = Field(default=None, max_length=16)
    # "hans", "hant", "mixed" or "none"; the stored text is never converted.
    script: str | None = Field(default=None, max_length=8)
    text: str = Field(sa_column=Column(Text, nullable=False))
    # [[start, end], ...] in Python code points, end exclusive.
    sentences: list[list[int]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    text_hash: str = Field(max_length=64)
    minhash: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    duplicate_urls: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: DocumentStatus = Field(default=DocumentStatus.new, sa_column=Column(String(16), nullable=False, index=True))
    # Optimistic concurrency for review: every change bumps it; a stale version is a 409.
    version: int = 1
    # The review lock: one reviewer at a time, until it expires (renewed by every action).
    locked_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Recall audit: "pending" while the reviewer marks the text from scratch (proposals hidden), "revealed" after.
    blind_review: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    curated_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
