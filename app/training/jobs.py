"""The body of job "training.train" (workers/training.py): train a model on a snapshot, with live progress.

The run's row is written in short transactions of their own while the model trains: progress (throttled), the
log, and, at the end, the status. The model's files appear complete under the data directory, and the row names
them (model_dir) only once they are; a failed or cancelled run keeps its log and never a model_dir.
"""

import logging
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Connection, Engine
from sqlmodel import Session

from app.db import get_engine
from app.modelling import (
    TrainConfig,
    TrainingCancelled,
    TrainingError,
    TrainProgress,
    load_snapshot,
    train,
)
from app.modelling.config import Device
from app.models import DatasetSnapshot, SnapshotStatus, TrainingRun, TrainingStatus
from app.models.types import utcnow
from app.redis_client import get_redis
from app.training.service import FINISHED, absolute, lease_key, run_dir

log = logging.getLogger(__name__)
Bind = Engine | Connection
# How often the worker writes progress to the row and looks whether the run was cancelled.
PROGRESS_SECONDS = 2.0
CANCEL_CHECK_SECONDS = 2.0
# A run outlives the broker's visibility timeout: the job is then delivered again while its first delivery still
# trains. The first holds this lease, renewed in the background; a second delivery finding it alive leaves.
LEASE_SECONDS = 120


def _stamp(message: str) -> str:
    return f"{utcnow().strftime('%H:%M:%S')} {message}\n"


class _Run:
    """The run's row, updated in a short transaction of its own each time."""

    def __init__(self, bind: Bind, run_id: int) -> None:
        self.bind, self.run_id = bind, run_id
        self.last_progress = 0.0
        self.last_check = 0.0
        self.cancelled = False

    def update(self, log_line: str | None = None, **values: Any) -> TrainingRun | None:
        with Session(self.bind, expire_on_commit=False) as session:
            run = session.get(TrainingRun, self.run_id)
            if run is None:
                return None
            for name, value in values.items():
                setattr(run, name, value)
            if log_line:
                run.log += _stamp(log_line)
            session.add(run)
            session.commit()
            return run

    def progress(self, p: TrainProgress) -> None:
        epoch_end = p.dev_f1 is not None
        now = time.monotonic()
        if not epoch_end and now - self.last_progress < PROGRESS_SECONDS:
            return
        self.last_progress = now
        values: dict[str, Any] = {
            "epoch": p.epoch, "step": p.step, "steps": p.steps, "loss": p.loss, "seconds_left": p.seconds_left,
        }  # fmt: skip
        line = None
        if epoch_end:
            values["dev_f1"] = p.dev_f1
            line = (
                f"epoch {p.epoch}/{p.epochs}: loss {p.loss:.4f}, dev relation F1 {p.dev_f1:.4f}, "
                f"dev entity F1 {p.dev_entity_f1 or 0:.4f}"
            )
        self.update(line, **values)

    def should_stop(self) -> bool:
        now = time.monotonic()
        if not self.cancelled and now - self.last_check >= CANCEL_CHECK_SECONDS:
            self.last_check = now
            with Session(self.bind) as session:
                run = session.get(TrainingRun, self.run_id)
                self.cancelled = run is None or run.cancel_requested
        return self.cancelled


class _Lease:
    """The run's lease in Redis, renewed by a daemon thread until released; lost with its process."""

    def __init__(self, run_id: int) -> None:
        self.key, self.token = lease_key(run_id), secrets.token_hex(8)
        self.done = threading.Event()

    def acquire(self) -> bool:
        if not get_redis().set(self.key, self.token, nx=True, ex=LEASE_SECONDS):
            return False
        threading.Thread(target=self._renew, daemon=True, name=f"lease-{self.key}").start()
        return True

    def _renew(self) -> None:
        while not self.done.wait(LEASE_SECONDS / 4):
            try:
                get_redis().set(self.key, self.token, xx=True, ex=LEASE_SECONDS)
            except Exception:  # a broker hiccup: the next renewal tries again well within the lease
                log.warning("could not renew %s", self.key, exc_info=True)

    def release(self) -> None:
        self.done.set()
        try:
            client = get_redis()
            if client.get(self.key) == self.token.encode():
                client.delete(self.key)
        except redis.RedisError:  # it lapses by itself
            log.warning("could not release %s", self.key, exc_info=True)


def _start(bind: Bind, run_id: int) -> tuple[TrainingRun, DatasetSnapshot | None] | None:
    """Mark the run running; None when there is nothing to do (gone, finished, or cancelled while queued)."""
    with Session(bind, expire_on_commit=False) as session:
        run = session.get(TrainingRun, run_id)
        if run is None or run.status in FINISHED:
            return None
        snapshot = session.get(DatasetSnapshot, run.snapshot_id)
        again = run.status == TrainingStatus.running
        run.status, run.started_at = TrainingStatus.running, utcnow()
        run.log += _stamp(
            ("delivered again: starting over; " if again else "")
            + f"training on snapshot v{snapshot.version if snapshot else '?'}: backbone "
            f"{run.backbone or 'none (from-scratch encoder)'}, device {run.device}, {run.epochs} epochs, "
            f"seed {run.seed}"
        )
        session.add(run)
        session.commit()
        return run, snapshot


def _clear_unrecorded(out_dir: Path) -> None:
    """A model (or its partial directory) of an earlier delivery that the row never recorded: trained again."""
    shutil.rmtree(out_dir, ignore_errors=True)
    if out_dir.parent.is_dir():
        for partial in out_dir.parent.glob(f".{out_dir.name}.partial-*"):
            shutil.rmtree(partial, ignore_errors=True)


def train_model(
    run_id: int,
    *,
    bind: Bind | None = None,
    base: TrainConfig | None = None,
    on_progress: Callable[[TrainProgress], None] | None = None,
    stop: Callable[[], bool] | None = None,
    lease_required: bool = True,
) -> None:
    """Job "training.train": train on the snapshot's train split, pick on dev, score on test; succeeded with
    model_dir and metrics, or failed / cancelled with the reason and the log so far. `base` holds the sizes
    (tests use tiny ones); the run's backbone, device, epochs and seed override it. `on_progress` and `stop`
    serve the CLI, which trains in-process a run it never queued: it takes the lease where a broker answers
    (`lease_required=False`), so that a page's Cancel can tell its run from one whose process is gone."""
    lease: _Lease | None = None
    try:
        candidate = _Lease(run_id)
        held = candidate.acquire()
        lease = candidate
    except redis.RedisError:
        if lease_required:
            raise
        held = True
    if not held:
        log.info("training run %s is being trained by another delivery", run_id)
        return
    try:
        _train_run(run_id, bind if bind is not None else get_engine(), base, on_progress, stop)
    finally:
        if lease is not None:
            lease.release()


def _train_run(
    run_id: int,
    bind: Bind,
    base: TrainConfig | None,
    on_progress: Callable[[TrainProgress], None] | None,
    stop: Callable[[], bool] | None,
) -> None:
    started = _start(bind, run_id)
    if started is None:
        return
    run, snapshot = started
    row = _Run(bind, run_id)
    relative = run_dir(run)
    out_dir = absolute(relative)
    device: Device = run.device  # type: ignore[assignment]  # checked when the run was started
    config = replace(base or TrainConfig(), backbone=run.backbone, device=device, epochs=run.epochs, seed=run.seed)

    def progress(p: TrainProgress) -> None:
        row.progress(p)
        if on_progress is not None:
            on_progress(p)

    def should_stop() -> bool:
        return (stop is not None and stop()) or row.should_stop()

    try:
        if row.should_stop():
            raise TrainingCancelled("cancelled before training started")
        if snapshot is None or snapshot.status != SnapshotStatus.done or not snapshot.path:
            raise TrainingError("the snapshot is gone or not built")
        data = load_snapshot(Path(snapshot.path))
        _clear_unrecorded(out_dir)
        result = train(
            data.train, data.dev, config, out_dir, progress=progress, should_stop=should_stop, test_docs=data.test
        )
    except TrainingCancelled as exc:
        row.update(f"cancelled: {exc}", status=TrainingStatus.cancelled, error=str(exc), finished_at=utcnow())
        return
    except TrainingError as exc:  # refused data, a backbone that cannot load, out of memory, no torch
        row.update(f"failed: {exc}", status=TrainingStatus.failed, error=str(exc), finished_at=utcnow())
        return
    except Exception as exc:
        log.exception("training run %s failed", run_id)
        reason = f"Internal error while training ({type(exc).__name__})."
        row.update(f"failed: {reason}", status=TrainingStatus.failed, error=reason, finished_at=utcnow())
        return
    test = result.metrics["test"]
    entity_f1, relation_f1 = (test["entities"]["f1"], test["relations"]["f1"]) if test else (0.0, 0.0)
    summary = (
        f"done in {result.seconds:.0f} s: best epoch {result.best_epoch} of {result.epochs_run}; test entity F1 "
        f"{entity_f1:.4f}, relation F1 {relation_f1:.4f}"
    )
    row.update(
        summary,
        status=TrainingStatus.succeeded,
        metrics=result.metrics,
        model_dir=str(relative),
        seconds_left=0.0,
        finished_at=utcnow(),
    )
