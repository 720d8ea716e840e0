"""Projects and their label schemas."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, String
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime, utcnow


class Project(SQLModel, table=True):
    __tablename__ = "project"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(200), unique=True, nullable=False))
    description: str = ""
    preset: str | None = Field(default=None, max_length=64)
    # The validated LabelSchema (app.project.label_schema) as JSON: entity types, relation types.
    label_schema: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    guidelines: str = ""
    # Ingestion and annotation policy (languages to keep, thresholds, audit rate, ...).
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
