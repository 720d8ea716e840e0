"""API shapes for batches."""

from datetime import datetime

from pydantic import BaseModel, Field

from app.crawl_batch.pipeline import BatchStage
from app.models import BatchStatus


class BatchCreated(BaseModel):
    id: int
    status: str


class ReingestRequest(BaseModel):
    format: str | None = Field(
        default=None, description="Read the file as this format (or auto); by default as at upload."
    )


class RecordErrorRead(BaseModel):
    """A record that could not be read, where it was in the file."""

    offset: int
    message: str
    line: int | None = None
    member: str | None = None
    fatal: bool = False


class PipelineRead(BaseModel):
    """Where the batch stands on its way to review (`stage`), with the documents past each step."""

    stage: BatchStage
    label: str = Field(description="The stage as the batch page words it.")
    active: bool = Field(description="A worker is still moving the batch on: ask again until it is false.")
    stalled: bool = Field(description="Cross-checking or the second look has not moved for ten minutes.")
    documents: int
    annotated: int
    cross_checked: int
    second_looked: int
    annotators: int = Field(description="Annotators in the project's pair; annotating needs at least one.")


class AnnotatorProgress(BaseModel):
    """One annotator's runs over the batch: document runs and second-look runs by status, tokens, cost, latency."""

    annotator_id: int
    name: str
    provider: str
    runs: dict[str, int]
    augmentation_runs: dict[str, int]
    input_tokens: int
    output_tokens: int
    cost: float
    avg_latency_ms: int


class AgreementCounts(BaseModel):
    entities: dict[str, int]
    relations: dict[str, int]


class SecondLookRead(BaseModel):
    done: int
    failed: int
    not_yet: int
    reasons: list[tuple[str, int]] = Field(description="The most frequent failures, with how many documents each.")


class BatchAnnotation(BaseModel):
    annotators: list[AnnotatorProgress]
    agreement: AgreementCounts
    second_look: SecondLookRead


class BatchRead(BaseModel):
    """A batch: ingestion status and counts, its pipeline stage, and its annotation progress and cost."""

    id: int
    project_id: int
    filename: str
    format: str | None = Field(description="The format given at upload, else the one detected.")
    status: BatchStatus
    size_bytes: int
    bytes_read: int
    percent: float
    counts: dict[str, int]
    filtered: dict[str, int] = Field(description="Records left out, by reason.")
    explanation: list[str] = Field(description="Why nothing was kept, in words (empty when something was).")
    errors: list[RecordErrorRead]
    failure_reason: str | None
    elapsed_seconds: float
    records_per_second: float
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    pipeline: PipelineRead
    annotation: BatchAnnotation
