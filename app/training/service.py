"""Start, read and cancel training runs. Services flush and never commit; the job is sent after the commit."""

from pathlib import Path

import redis
from sqlmodel import Session, col, select

from app.config import get_settings
from app.dataset.snapshots import get_snapshot
from app.db import require_id
from app.errors import Conflict, InvalidInput, NotFound
from app.jobs import enqueue
from app.modelling import TrainConfig, TrainingData, TrainingRefused, load_snapshot
from app.modelling.config import DEVICES
from app.modelling.data import check_trainable
from app.models import DatasetSnapshot, SnapshotStatus, TrainingRun, TrainingStatus, User
from app.models.types import utcnow
from app.redis_client import get_redis, key

FINISHED = (TrainingStatus.succeeded, TrainingStatus.failed, TrainingStatus.cancelled)
MAX_EPOCHS = 1000


def run_dir(run: TrainingRun) -> Path:
    """Where the run's model is written, relative to the data directory (TrainingRun.model_dir once complete)."""
    return Path("models") / str(run.project_id) / f"run-{run.id}"


def absolute(relative: str | Path) -> Path:
    return get_settings().data_dir / relative


def trainable_data(snapshot: DatasetSnapshot) -> TrainingData:
    """The snapshot's three splits; Conflict (409) in words when no model can be trained or scored on them."""
    if snapshot.status != SnapshotStatus.done or not snapshot.path:
        raise Conflict(f"Snapshot v{snapshot.version} is {snapshot.status}; a model is trained on a built snapshot.")
    try:
        data = load_snapshot(Path(snapshot.path))
        check_trainable(data.train, data.dev)
        if not data.test:
            raise TrainingRefused("the test split has no documents (learnability is reported on it)")
    except TrainingRefused as exc:
        raise Conflict(f"Snapshot v{snapshot.version} cannot be trained on: {exc}.") from None
    return data


def check_settings(*, backbone: str | None, device: str, epochs: int, seed: int) -> TrainConfig:
    """The run's settings as a TrainConfig; 422 naming the field that is out of range."""
    if device not in DEVICES:
        raise InvalidInput.for_field("device", f"Device must be one of {', '.join(DEVICES)}.")
    if not 1 <= epochs <= MAX_EPOCHS:
        raise InvalidInput.for_field("epochs", f"Epochs must be between 1 and {MAX_EPOCHS}.")
    if backbone is not None and len(backbone) > 500:
        raise InvalidInput.for_field("backbone", "A backbone name or path has at most 500 characters.")
    config = TrainConfig(backbone=backbone, device=device, epochs=epochs, seed=seed)
    config.check()
    return config


def start_training(
    session: Session,
    *,
    snapshot_id: int,
    user: User | None,
    backbone: str | None = None,
    device: str = "auto",
    epochs: int = 10,
    seed: int = 13,
    queue: bool = True,
) -> TrainingRun:
    """Queue a training run on a snapshot (job "training.train"), refused before it is queued when the snapshot
    cannot give a model. `queue=False` records the run for a caller that trains it in-process (the CLI)."""
    snapshot = get_snapshot(session, snapshot_id)
    backbone = (backbone or "").strip() or None
    check_settings(backbone=backbone, device=device, epochs=epochs, seed=seed)
    trainable_data(snapshot)
    run = TrainingRun(
        project_id=snapshot.project_id,
        snapshot_id=snapshot_id,
        backbone=backbone,
        device=device,
        epochs=epochs,
        seed=seed,
        created_by_id=user.id if user else None,
    )
    session.add(run)
    session.flush()
    if queue:
        enqueue(session, "training.train", run_id=require_id(run))
    return run


def lease_key(run_id: int) -> str:
    """The Redis key a process holds while it trains the run (app.training.jobs renews it)."""
    return key("training-run", run_id)


def _trained_now(run_id: int) -> bool:
    """Whether a process holds the run's lease; True when Redis cannot say (a live run is never ended by guess)."""
    try:
        return bool(get_redis().exists(lease_key(run_id)))
    except redis.RedisError:
        return True


def get_run(session: Session, run_id: int) -> TrainingRun:
    run = session.get(TrainingRun, run_id)
    if run is None:
        raise NotFound(f"Training run {run_id} does not exist.")
    return run


def list_runs(session: Session, *, snapshot_id: int) -> list[TrainingRun]:
    query = select(TrainingRun).where(TrainingRun.snapshot_id == snapshot_id)
    return list(session.exec(query.order_by(col(TrainingRun.id).desc())))


def request_cancel(session: Session, *, run: TrainingRun) -> TrainingRun:
    """A queued run ends cancelled now; a running one when its job next looks (within seconds), or now when no
    process trains it any more (its worker or `concord train` was killed). 409 once over."""
    if run.status in FINISHED:
        raise Conflict(f"Training run {run.id} is {run.status} already.")
    run.cancel_requested = True
    orphaned = run.status == TrainingStatus.running and not _trained_now(require_id(run))
    if run.status == TrainingStatus.queued or orphaned:
        run.status = TrainingStatus.cancelled
        run.finished_at = utcnow()
        run.error = "cancelled: no process was training it" if orphaned else "cancelled before it started"
        run.log += run.error + "\n"
    session.add(run)
    session.flush()
    return run
