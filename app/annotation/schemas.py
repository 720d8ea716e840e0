"""The annotation API's request and response shapes (what annotators answer is in contract.py)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from app.crawl_batch.pipeline import BatchStage
from app.crawl_batch.schemas import RecordErrorRead
from app.models import AnnotatorKind, BatchStatus


class AnnotatorParameters(BaseModel):
    """What an admin may set per annotator; keys and base URLs are never among them."""

    model_config = ConfigDict(extra="forbid")

    # A and B: the pair; C: the third voter, whose agreement marks the pair's items (app/annotation/voter.py).
    role: Literal["A", "B", "C"] | None = None
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_output_tokens: int = Field(default=4096, ge=64, le=65536)
    concurrency: int = Field(default=4, ge=1, le=256)
    requests_per_minute: int = Field(default=0, ge=0, le=100_000)
    tokens_per_minute: int = Field(default=0, ge=0, le=100_000_000)
    window_tokens: int = Field(default=3000, ge=200, le=200_000)
    timeout: float = Field(default=120, gt=0, le=3600)
    json_mode: Literal["json_schema", "json_object"] | None = None
    api_version: str | None = Field(default=None, pattern=r"^v\d+(beta\d*|alpha\d*)?$")
    # provider "model": the id of the project's succeeded training run whose model annotates.
    training_run: int | None = Field(default=None, ge=1)


# Parameters arrive as plain JSON: the service validates them against AnnotatorParameters and names the exact
# field of every problem (under "parameters"). OpenAPI still shows their shape.
ParametersJson = Annotated[dict[str, Any], WithJsonSchema(AnnotatorParameters.model_json_schema())]


class AnnotatorCreate(BaseModel):
    """A new annotator. Its `parameters` are checked by the service, which names each bad one."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="letters, digits and _ . : - (at most 100), starting alphanumeric")
    provider: str = Field(description="openai | gemini | builtin:lexicon | builtin:patterns | model")
    model: str = Field(
        default="", max_length=200, description="required for openai and gemini; set from the training run for model"
    )
    price_input_per_m: float = Field(default=0, ge=0, le=10_000)
    price_output_per_m: float = Field(default=0, ge=0, le=10_000)
    parameters: ParametersJson = Field(
        default_factory=dict,
        description="role (A|B, or C: the third voter), temperature, max_output_tokens, concurrency, "
        "requests_per_minute, tokens_per_minute, window_tokens, timeout, json_mode, api_version; training_run "
        "(provider model: a succeeded training run of the project); never a key or a base URL",
    )


class ModelSwitch(BaseModel):
    """Point a model annotator at another trained model of its project."""

    model_config = ConfigDict(extra="forbid")

    training_run: int = Field(ge=1, description="a succeeded training run of the annotator's project")


class AnnotatorRead(BaseModel):
    """What may be shown about an annotator: never a key or a base URL (those live in the environment)."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    kind: AnnotatorKind
    provider: str
    model: str
    parameters: ParametersJson = Field(description="the parameters set, without their defaults")
    price_input_per_m: float
    price_output_per_m: float


class AnnotateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_id: int
    annotators: list[int] | None = Field(default=None, description="default: the project's annotators A and B")


class AnnotationQueued(BaseModel):
    """What starting annotation queued: the batch's documents and one job per document and annotator."""

    model_config = ConfigDict(frozen=True)

    documents: int
    jobs: int


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


# What service.batch_annotation_report reads, shown as it is by the batch page and in the API's answer.
@dataclass(frozen=True)
class AnnotatorProgress:
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
