"""Annotators, their runs over documents, and the entities and relations they propose."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Numeric, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime, utcnow


class AnnotatorKind(StrEnum):
    llm = "llm"
    builtin = "builtin"
    imported = "import"
    # A model trained on one of the project's snapshots (a succeeded TrainingRun): runs offline, costs nothing.
    model = "model"


class Agreement(StrEnum):
    agreed = "agreed"
    type_conflict = "type_conflict"
    a_only = "a_only"
    b_only = "b_only"
    augmented = "augmented"
    # One model proposed it and the other, asked blind (never told it was proposed), gave the same type.
    confirmed = "confirmed"
    # One model proposed it and the blind answers disagree (the other says no while the proposer holds it, or the
    # other gives it while the proposer no longer does).
    disputed = "disputed"
    # One model proposed it; asked blind afterwards, neither model gives it (the proposer withdrew it too).
    retracted = "retracted"
    # Nobody proposed it; asked blind afterwards about the pair, one model gives it and the other does not.
    unconfirmed = "unconfirmed"
    imported = "imported"
    manual = "manual"


class ItemStatus(StrEnum):
    proposed = "proposed"
    accepted = "accepted"
    rejected = "rejected"


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    # Stopped by the project's budget cap; annotating again resumes it.
    budget = "budget"


class Annotator(SQLModel, table=True):
    __tablename__ = "annotator"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_annotator_project_name"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    kind: AnnotatorKind = Field(default=AnnotatorKind.llm, sa_column=Column(String(16), nullable=False))
    # "openai", "gemini", "builtin:lexicon", "import:<dataset>", "model", ...; keys never live here.
    provider: str = Field(max_length=64)
    model: str = Field(default="", max_length=200)
    # temperature, max output tokens, concurrency, requests/tokens per minute, ...; a model annotator's training
    # run id ("training_run").
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    price_input_per_m: float = Field(default=0, sa_column=Column(Numeric(12, 6), nullable=False))
    price_output_per_m: float = Field(default=0, sa_column=Column(Numeric(12, 6), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AnnotatorRun(SQLModel, table=True):
    """One annotator's pass over one document under one prompt version."""

    __tablename__ = "annotator_run"
    __table_args__ = (
        UniqueConstraint("document_id", "annotator_id", "prompt_version", name="uq_run_doc_annotator_prompt"),
    )

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True, ondelete="CASCADE")
    annotator_id: int = Field(foreign_key="annotator.id", index=True, ondelete="CASCADE")
    prompt_version: str = Field(max_length=32)
    request_hash: str | None = Field(default=None, max_length=64, index=True)
    status: RunStatus = Field(default=RunStatus.queued, sa_column=Column(String(16), nullable=False))
    raw_response: str | None = Field(default=None, sa_column=Column(Text))
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = Field(default=0, sa_column=Column(Numeric(14, 8), nullable=False))
    latency_ms: int = 0
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Entity(SQLModel, table=True):
    """A document-level entity: a cluster of mentions (DocRED's vertex)."""

    __tablename__ = "entity"

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True, ondelete="CASCADE")
    type: str = Field(max_length=64)
    name: str
    status: ItemStatus = Field(default=ItemStatus.proposed, sa_column=Column(String(16), nullable=False))
    agreement: Agreement = Field(default=Agreement.manual, sa_column=Column(String(16), nullable=False))
    # False for names no text span matched: flagged hallucinations, never auto-accepted or exported.
    grounded: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Mention(SQLModel, table=True):
    __tablename__ = "mention"

    id: int | None = Field(default=None, primary_key=True)
    entity_id: int = Field(foreign_key="entity.id", index=True, ondelete="CASCADE")
    document_id: int = Field(foreign_key="document.id", index=True, ondelete="CASCADE")
    start: int
    end: int
    text: str
    sentence_id: int
    status: ItemStatus = Field(default=ItemStatus.proposed, sa_column=Column(String(16), nullable=False))


class Relation(SQLModel, table=True):
    __tablename__ = "relation"

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True, ondelete="CASCADE")
    head_id: int = Field(foreign_key="entity.id", index=True, ondelete="CASCADE")
    tail_id: int = Field(foreign_key="entity.id", index=True, ondelete="CASCADE")
    type: str = Field(max_length=64)
    evidence: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: ItemStatus = Field(default=ItemStatus.proposed, sa_column=Column(String(16), nullable=False))
    agreement: Agreement = Field(default=Agreement.manual, sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Proposal(SQLModel, table=True):
    """Provenance: which annotator run proposed which item, with what it said."""

    __tablename__ = "proposal"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="annotator_run.id", index=True, ondelete="CASCADE")
    item_kind: str = Field(max_length=16)  # "entity" | "mention" | "relation"
    item_id: int = Field(index=True)
    proposed_type: str | None = Field(default=None, max_length=64)
    augmentation: bool = False
    # Verifier votes and anything else the annotator said about the item.
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class LlmCall(SQLModel, table=True):
    """One paid model call, cached by the hash of everything sent: a re-run never pays twice."""

    __tablename__ = "llm_call"

    id: int | None = Field(default=None, primary_key=True)
    request_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    annotator_id: int = Field(foreign_key="annotator.id", index=True, ondelete="CASCADE")
    document_id: int | None = Field(default=None, foreign_key="document.id", index=True, ondelete="CASCADE")
    purpose: str = Field(max_length=16)  # "annotate" | "repair" | "augment"
    text: str | None = Field(default=None, sa_column=Column(Text))
    finish: str = Field(default="stop", max_length=16)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = Field(default=0, sa_column=Column(Numeric(14, 8), nullable=False))
    latency_ms: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
