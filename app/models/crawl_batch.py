"""Uploaded crawl batches and their ingestion status."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, String
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime, utcnow


class BatchStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    done_with_errors = "done_with_errors"
    failed = "failed"


class CrawlBatch(SQLModel, table=True):
    __tablename__ = "crawl_batch"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    filename: str = Field(max_length=500)
    format: str | None = Field(default=None, max_length=32)
    status: BatchStatus = Field(default=BatchStatus.queued, sa_column=Column(String(32), nullable=False, index=True))
    size_bytes: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    bytes_read: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    sha256: str | None = Field(default=None, max_length=64, index=True)
    upload_path: str | None = None
    # Records seen, documents kept, per filter reason, duplicates: {"reason": n}.
    counts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Record-level errors: [{"offset": int, "message": str}], capped.
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    failure_reason: str | None = None
    # Records (and record errors) consumed and committed so far: a re-delivered job resumes after them.
    checkpoint: int = 0
    # Upload choices: {"format": "warc" | ... | None}.
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
