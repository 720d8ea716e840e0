"""Models trained on a snapshot: one row per training run, its live progress, and where its files are."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, String, Text
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime, utcnow


class TrainingStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class TrainingRun(SQLModel, table=True):
    """Training never changes its snapshot: the model's files live under the data directory's `models/`, written
    whole or not at all, and only a `succeeded` run can serve as an annotator."""

    __tablename__ = "training_run"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    snapshot_id: int = Field(foreign_key="dataset_snapshot.id", index=True, ondelete="CASCADE")
    status: TrainingStatus = Field(default=TrainingStatus.queued, sa_column=Column(String(16), nullable=False))
    # What the run was given: backbone (None: the from-scratch encoder), device, epochs, seed.
    backbone: str | None = Field(default=None, max_length=500)
    device: str = Field(default="auto", max_length=8)
    epochs: int = 10
    seed: int = 13
    # Live progress, written by the worker as it trains.
    epoch: int = 0
    step: int = 0
    steps: int = 0
    loss: float | None = None
    dev_f1: float | None = None
    seconds_left: float | None = None
    cancel_requested: bool = False
    # The run's log (one line per epoch and per event), kept when it fails or is cancelled.
    log: str = Field(default="", sa_column=Column(Text, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text))
    # metrics.json of the finished model: learnability on the snapshot's test split, picked on dev.
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # `models/<project_id>/run-<id>`, relative to the data directory; set only once the model's files are complete
    # (the job writes them atomically), so a failed or cancelled run never has one.
    model_dir: str | None = Field(default=None, max_length=500)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
