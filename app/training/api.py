"""Training runs over HTTP: start one on a snapshot, follow it, cancel it (admin tokens)."""

from fastapi import APIRouter

from app.auth.deps import ApiAdmin
from app.dataset.snapshots import get_snapshot
from app.db import SessionDep, require_id
from app.models import TrainingRun
from app.training import service
from app.training.schemas import TrainingRequest, TrainingRunRead

router = APIRouter(prefix="/api/v1", tags=["training"])


def run_view(run: TrainingRun) -> TrainingRunRead:
    require_id(run)
    return TrainingRunRead.model_validate(run, from_attributes=True)


@router.post("/snapshots/{snapshot_id}/training-runs", status_code=202, response_model=TrainingRunRead)
def start(snapshot_id: int, body: TrainingRequest, session: SessionDep, user: ApiAdmin) -> TrainingRunRead:
    """Queue a training run on the snapshot (job "training.train", queue `training`). 409 with the reason, before
    anything is queued, when the snapshot is not built or cannot give a model (no relations, an empty split)."""
    run = service.start_training(
        session,
        snapshot_id=snapshot_id,
        user=user,
        backbone=body.backbone,
        device=body.device,
        epochs=body.epochs,
        seed=body.seed,
    )
    return run_view(run)


@router.get("/snapshots/{snapshot_id}/training-runs", response_model=list[TrainingRunRead])
def list_runs(snapshot_id: int, session: SessionDep, _user: ApiAdmin) -> list[TrainingRunRead]:
    """The snapshot's training runs, newest first."""
    get_snapshot(session, snapshot_id)  # 404 for an unknown snapshot
    return [run_view(r) for r in service.list_runs(session, snapshot_id=snapshot_id)]


@router.get("/training-runs/{run_id}", response_model=TrainingRunRead)
def get_run(run_id: int, session: SessionDep, _user: ApiAdmin) -> TrainingRunRead:
    """The run's progress, log and, once succeeded, its learnability figures."""
    return run_view(service.get_run(session, run_id))


@router.post("/training-runs/{run_id}/cancel", response_model=TrainingRunRead)
def cancel(run_id: int, session: SessionDep, _user: ApiAdmin) -> TrainingRunRead:
    """A queued run is cancelled at once, a running one within seconds (its log is kept, no model). 409 when it
    is over."""
    return run_view(service.request_cancel(session, run=service.get_run(session, run_id)))
