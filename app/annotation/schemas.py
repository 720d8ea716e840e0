"""The annotation API's request and response shapes (what annotators answer is in contract.py)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.models import AnnotatorKind


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
    parameters: dict[str, Any] = Field(
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
    parameters: dict[str, Any]
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
