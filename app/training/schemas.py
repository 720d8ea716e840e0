"""The training API's request and response shapes."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.api_types import IsoDateTime
from app.models import TrainingStatus
from app.request_limits import StoredInt


class TrainingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backbone: str | None = Field(
        default=None,
        max_length=500,
        description="a Hugging Face encoder: a directory on the worker or a hub name; none trains a small encoder "
        "from scratch",
    )
    device: str = Field(default="auto", description="auto | cpu | cuda")
    epochs: StoredInt = Field(default=10, description="1 to 1000; the best epoch on dev is kept")
    seed: StoredInt = 13


class TrainingRunRead(BaseModel):
    """A training run: its settings, live progress, log, and (once succeeded) its model and learnability."""

    model_config = ConfigDict(frozen=True)

    id: int
    project_id: int
    snapshot_id: int
    status: TrainingStatus
    backbone: str | None
    device: str
    epochs: int
    seed: int
    epoch: int = Field(description="the epoch being trained (1-based; 0 before the first step)")
    step: int
    steps: int = Field(description="steps the whole run takes")
    loss: float | None = Field(description="the last step's loss")
    dev_f1: float | None = Field(description="relation F1 on dev after the last finished epoch")
    seconds_left: float | None = Field(description="an estimate")
    cancel_requested: bool
    log: str
    error: str | None = Field(description="why the run failed or was cancelled")
    metrics: dict[str, Any] = Field(
        description="learnability: entity and relation P/R/F1 on test (and dev), intra- vs inter-sentence, per "
        "type, with backbone, seed, best epoch and per-epoch figures; empty until succeeded"
    )
    model_dir: str | None = Field(description="the model's directory under the data directory; set once complete")
    created_at: IsoDateTime
    started_at: IsoDateTime | None
    finished_at: IsoDateTime | None
