"""The training run: refuse what cannot train, train, keep the epoch best on dev, write the model atomically.

The model is trained in a hidden directory beside out_dir and renamed into place only when it is complete; on
cancel or any failure that directory is removed, so out_dir either holds a whole model or does not exist.
"""

import json
import math
import random
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from app.modelling.checkpoint import METRICS, assemble_for_training, save_weights, write_model_files
from app.modelling.config import (
    OutOfMemory,
    TrainConfig,
    TrainingCancelled,
    TrainingRefused,
    TrainProgress,
    TrainResult,
)
from app.modelling.data import Doc, check_trainable
from app.modelling.features import EncodedDoc
from app.modelling.report import EpochJson, MetricsJson, ScoresJson
from app.modelling.scoring import score_predictions

WARMUP_SHARE = 0.1
CLIP = 1.0


def pick_device(device: str) -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainingRefused("device cuda was asked for, but CUDA is not available on this machine")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError | torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def run_training(
    train_docs: Sequence[Doc],
    dev_docs: Sequence[Doc],
    config: TrainConfig,
    out_dir: Path,
    *,
    progress: Callable[[TrainProgress], None],
    should_stop: Callable[[], bool],
    test_docs: Sequence[Doc] | None = None,
) -> TrainResult:
    config.check()
    check_trainable(train_docs, dev_docs)
    if out_dir.exists():
        raise TrainingRefused(f"{out_dir.name} already exists; a model is never overwritten")
    device = pick_device(config.device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    assembly = assemble_for_training(config, train_docs)  # BackboneError before anything is written
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = out_dir.parent / f".{out_dir.name}.partial-{secrets.token_hex(4)}"
    partial.mkdir()
    try:
        result = _train(assembly, train_docs, dev_docs, test_docs, config, device, partial, progress, should_stop)
        partial.rename(out_dir)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if _is_oom(exc):
            raise OutOfMemory(
                f"out of memory on {device.type}: try a smaller batch_size or max_window, or another device"
            ) from None
        raise
    return TrainResult(out_dir, result["best_epoch"], len(result["epochs"]), result["seconds"], result)


@dataclass
class _Steps:
    """The run's optimizer steps: what every step uses, and the counters the progress reports read."""

    model: Any
    assembly: Any
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LambdaLR
    config: TrainConfig
    per_epoch: int
    progress: Callable[[TrainProgress], None]
    should_stop: Callable[[], bool]
    done: int = 0  # steps taken
    seconds: float = 0.0  # time spent in steps, not in scoring on dev

    @property
    def total(self) -> int:
        return self.per_epoch * self.config.epochs

    def epoch(self, epoch: int, train_set: list[EncodedDoc], order: random.Random) -> tuple[list[float], float]:
        """One epoch over the shuffled training set, reporting each step; its losses and its seconds."""
        started = time.monotonic()
        self.model.train()
        shuffled = list(train_set)
        order.shuffle(shuffled)
        losses: list[float] = []
        size = self.config.batch_size
        for k in range(self.per_epoch):
            if self.should_stop():
                raise TrainingCancelled(f"cancelled in epoch {epoch} after {self.done} steps")
            batch = shuffled[k * size : (k + 1) * size]
            losses.append(_optimizer_step(self.model, self.assembly, self.optimizer, self.schedule, batch))
            self.done += 1
            spent = self.seconds + time.monotonic() - started
            left = spent / self.done * (self.total - self.done)
            self.progress(
                TrainProgress(epoch, self.config.epochs, self.done, self.total, losses[-1], seconds_left=left)
            )
        seconds = time.monotonic() - started
        self.seconds += seconds
        return losses, seconds


def _steps(
    model: Any,
    assembly: Any,
    config: TrainConfig,
    n_train: int,
    progress: Callable[[TrainProgress], None],
    should_stop: Callable[[], bool],
) -> _Steps:
    """The optimizer and its schedule over the run's steps (an epoch is capped by max_steps_per_epoch)."""
    per_epoch = math.ceil(n_train / config.batch_size)
    if config.max_steps_per_epoch is not None:
        per_epoch = min(per_epoch, config.max_steps_per_epoch)
    optimizer = torch.optim.AdamW(_parameter_groups(model, config), weight_decay=0.01)
    schedule = _warmup_then_decay(optimizer, per_epoch * config.epochs)
    return _Steps(model, assembly, optimizer, schedule, config, per_epoch, progress, should_stop)


def _train(
    assembly: Any,
    train_docs: Sequence[Doc],
    dev_docs: Sequence[Doc],
    test_docs: Sequence[Doc] | None,
    config: TrainConfig,
    device: torch.device,
    directory: Path,
    progress: Callable[[TrainProgress], None],
    should_stop: Callable[[], bool],
) -> MetricsJson:
    started = time.monotonic()
    model = assembly.model.to(device)
    train_set: list[EncodedDoc] = assembly.encode(train_docs)
    dev_set: list[EncodedDoc] = assembly.encode(dev_docs)
    steps = _steps(model, assembly, config, len(train_set), progress, should_stop)
    write_model_files(assembly, directory)
    order = random.Random(config.seed)  # noqa: S311  # the shuffle is seeded, not secret
    epochs: list[EpochJson] = []
    best: tuple[float, float] | None = None
    best_epoch, best_dev = 0, None
    for epoch in range(1, config.epochs + 1):
        losses, epoch_seconds = steps.epoch(epoch, train_set, order)
        model.eval()
        dev_scores = score_predictions(dev_docs, model.predict(dev_set, assembly.tokens))
        key = (dev_scores["relations"]["f1"], dev_scores["entities"]["f1"])
        if best is None or key > best:
            best, best_epoch, best_dev = key, epoch, dev_scores
            save_weights(model, directory)
        epochs.append(_epoch_record(epoch, losses, key, epoch_seconds))
        left = (time.monotonic() - started) / epoch * (config.epochs - epoch)
        done = TrainProgress(epoch, config.epochs, steps.done, steps.total, losses[-1])
        progress(replace(done, dev_f1=key[0], dev_entity_f1=key[1], seconds_left=left))  # the epoch, scored on dev
    test_scores = _best_epoch_on_test(model, assembly, test_docs, directory, device)
    metrics: MetricsJson = {
        "backbone": config.backbone,
        "encoder": assembly.settings["encoder"],
        "seed": config.seed,
        "device": device.type,
        "best_epoch": best_epoch,
        "selected_on": "dev relation F1, then dev entity F1",
        "documents": {"train": len(train_docs), "dev": len(dev_docs), "test": len(test_docs or [])},
        "epochs": epochs,
        "dev": best_dev,
        "test": test_scores,
        "seconds": time.monotonic() - started,
    }
    (directory / METRICS).write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    return metrics


def _warmup_then_decay(optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning rate rises over the first WARMUP_SHARE of the steps, then falls linearly to zero."""
    warmup = max(1, int(steps * WARMUP_SHARE))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )


def _optimizer_step(
    model: Any,
    assembly: Any,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LambdaLR,
    batch: list[EncodedDoc],
) -> float:
    """One batch: loss, clipped gradients, a step of the optimizer and of the schedule; the batch's loss."""
    loss = model.loss(batch, assembly.tokens)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
    optimizer.step()
    schedule.step()
    return float(loss.detach())


def _epoch_record(epoch: int, losses: list[float], key: tuple[float, float], seconds: float) -> EpochJson:
    """One epoch's line in metrics.json: mean training loss, dev relation and entity F1, time."""
    return {
        "epoch": epoch,
        "loss": sum(losses) / len(losses),
        "dev_relation_f1": key[0],
        "dev_entity_f1": key[1],
        "seconds": seconds,
    }


def _best_epoch_on_test(
    model: Any, assembly: Any, test_docs: Sequence[Doc] | None, directory: Path, device: torch.device
) -> ScoresJson | None:
    """The test scores of the weights kept (the best epoch on dev), when there is a test split."""
    if test_docs is None:
        return None
    model.load_state_dict(torch.load(directory / "model.pt", map_location=device, weights_only=True))
    model.eval()
    return score_predictions(test_docs, model.predict(assembly.encode(test_docs), assembly.tokens))


def _parameter_groups(model: torch.nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """A pretrained backbone learns slowly (backbone_learning_rate); everything else at learning_rate."""
    if not config.backbone:
        return [{"params": list(model.parameters()), "lr": config.learning_rate}]
    encoder = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    heads = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    return [{"params": encoder, "lr": config.backbone_learning_rate}, {"params": heads, "lr": config.learning_rate}]
