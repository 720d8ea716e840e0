"""What a training run is given, what it reports while it runs, what it returns, and how it refuses. Pure."""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.modelling.report import MetricsJson

Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[Device, ...] = ("auto", "cpu", "cuda")


class TrainingError(Exception):
    """Training did not produce a model; the message says why in words a user can act on."""


class TrainingRefused(TrainingError):
    """Refused before training started: the data or the settings cannot give a model (nothing was written)."""


class TrainingUnavailable(TrainingRefused):
    """The optional `train` extra (torch, transformers) is not installed."""


class BackboneError(TrainingRefused):
    """The backbone encoder cannot be loaded: a missing path, no network for a hub name, a wrong architecture."""


class TrainingCancelled(TrainingError):
    """should_stop() said stop; the partial model was removed."""


class OutOfMemory(TrainingError):
    """The device ran out of memory; the partial model was removed."""


class ModelDirError(ValueError):
    """A model directory that is not a complete model written by train()."""


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Settings of one training run. The defaults suit a CPU and the from-scratch encoder."""

    # A Hugging Face encoder: a local directory or a hub name (where the hub is reachable). None trains a small
    # transformer encoder from scratch over the train split's characters.
    backbone: str | None = None
    device: Device = "auto"
    epochs: int = 10
    seed: int = 13
    # Tokens per encoder window (special tokens included); longer documents are read in overlapping windows.
    max_window: int = 256
    learning_rate: float = 1e-3
    # The pretrained backbone's own learning rate (its heads use learning_rate).
    backbone_learning_rate: float = 3e-5
    batch_size: int = 4  # documents per optimisation step
    # The from-scratch encoder's size.
    hidden_size: int = 128
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1
    # Longest mention considered, in units (a character of Chinese, a word of Latin script).
    max_span_width: int = 16
    # CPU threads for torch; None keeps torch's default (one per core). On a shared machine 1 is often faster.
    threads: int | None = None
    # Stops an epoch early (tests and quick benchmarks); None reads the whole split.
    max_steps_per_epoch: int | None = None

    def check(self) -> None:
        """Raise TrainingRefused naming the first setting out of range."""
        problems = [
            (self.device not in DEVICES, f"device must be one of {', '.join(DEVICES)}, not {self.device!r}"),
            (self.epochs < 1, "epochs must be at least 1"),
            (self.max_window < 16, "max_window must be at least 16 tokens"),
            (not 0 < self.learning_rate < 1, "learning_rate must be between 0 and 1"),
            (not 0 < self.backbone_learning_rate < 1, "backbone_learning_rate must be between 0 and 1"),
            (self.batch_size < 1, "batch_size must be at least 1"),
            (self.hidden_size < 8 or self.hidden_size % self.heads, "hidden_size must be a multiple of heads (≥ 8)"),
            (self.layers < 1 or self.heads < 1, "layers and heads must be at least 1"),
            (not 0 <= self.dropout < 1, "dropout must be in [0, 1)"),
            (self.max_span_width < 1, "max_span_width must be at least 1"),
            (self.threads is not None and self.threads < 1, "threads must be at least 1"),
            (self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 1, "max_steps_per_epoch must be ≥ 1"),
        ]
        for bad, message in problems:
            if bad:
                raise TrainingRefused(message)


@dataclass(frozen=True, slots=True)
class TrainProgress:
    """Reported after every step, and after each epoch's dev scoring (then dev_f1 is set)."""

    epoch: int  # 1-based
    epochs: int
    step: int  # steps done so far in the whole run
    steps: int  # steps the whole run will take
    loss: float  # the last step's loss
    dev_f1: float | None = None  # relation F1 on dev, after the epoch
    dev_entity_f1: float | None = None
    seconds_left: float | None = None  # an estimate; None until a step has been timed


@dataclass(frozen=True, slots=True)
class TrainResult:
    out_dir: Path
    best_epoch: int
    epochs_run: int
    seconds: float
    metrics: MetricsJson  # the contents of out_dir/metrics.json
