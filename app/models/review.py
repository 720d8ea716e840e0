"""The audit log of review decisions."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime, utcnow


class Decision(SQLModel, table=True):
    __tablename__ = "decision"

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True, ondelete="CASCADE")
    user_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    item_kind: str = Field(max_length=16)
    item_id: int | None = None
    action: str = Field(max_length=32)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    document_version: int = 0
    # Set when a later "undo" reverted this decision; undone decisions stay in the history.
    undone_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class AssignmentStatus(StrEnum):
    open = "open"
    submitted = "submitted"


class ReviewAssignment(SQLModel, table=True):
    """One reviewer's pass over one document: who claimed it, when they submitted, and what they decided."""

    __tablename__ = "review_assignment"
    __table_args__ = (UniqueConstraint("document_id", "user_id", name="uq_assignment_document_user"),)

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    status: str = Field(default=AssignmentStatus.open, sa_column=Column(String(16), nullable=False))
    # The reviewer's curated result (spans, types, relations) when reviews are double, for adjudication.
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
