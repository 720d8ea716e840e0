"""Probes that the deep health check sends through the worker."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime, utcnow


class HealthProbe(SQLModel, table=True):
    __tablename__ = "health_probe"

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default="queued", max_length=16)
    worker: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
