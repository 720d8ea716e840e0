"""Frozen, versioned dataset snapshots."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime, utcnow


class SnapshotStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class DatasetSnapshot(SQLModel, table=True):
    __tablename__ = "dataset_snapshot"
    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_snapshot_project_name"),
        UniqueConstraint("project_id", "version", name="uq_snapshot_project_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=200)
    version: int
    status: SnapshotStatus = Field(default=SnapshotStatus.queued, sa_column=Column(String(16), nullable=False))
    split_seed: int = 0
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    datasheet: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    checksums: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    path: str | None = None
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
