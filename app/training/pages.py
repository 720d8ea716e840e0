"""The training panel of a snapshot (pulled by the snapshots page as an htmx fragment, polled while a run is
live), and the admin's forms to train a model and to cancel a run."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from app.auth.csrf import verify_csrf
from app.auth.deps import AdminUser, DatasetReader
from app.dataset.snapshots import get_snapshot
from app.db import SessionDep
from app.errors import AppError
from app.modelling.config import DEVICES
from app.modelling.report import ModelReport, model_report
from app.models import DatasetSnapshot, TrainingRun, TrainingStatus
from app.request_limits import StoredInt
from app.templating import render, render_form
from app.training import service

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(verify_csrf)])
LIVE = (TrainingStatus.queued, TrainingStatus.running)


def _project_runs(session: Session, project_id: int) -> list[tuple[TrainingRun, int, ModelReport]]:
    """The project's succeeded runs with their snapshot's version and report: learnability compared across
    versions (a run without test scores has nothing to compare)."""
    query = (
        select(TrainingRun, DatasetSnapshot.version)
        .join(DatasetSnapshot, col(DatasetSnapshot.id) == col(TrainingRun.snapshot_id))
        .where(TrainingRun.project_id == project_id, TrainingRun.status == TrainingStatus.succeeded)
        .order_by(col(DatasetSnapshot.version), col(TrainingRun.id))
    )
    return [(run, version, report) for run, version in session.exec(query) if (report := model_report(run.metrics))]


def _reports(runs: list[TrainingRun]) -> list[tuple[TrainingRun, ModelReport]]:
    """The snapshot's succeeded runs that have test scores, with their reports."""
    return [
        (run, report)
        for run in runs
        if run.status == TrainingStatus.succeeded and (report := model_report(run.metrics)) is not None
    ]


def _panel(
    request: Request,
    session: Session,
    snapshot_id: int,
    *,
    values: dict[str, str] | None = None,
    error: AppError | None = None,
) -> Response:
    snapshot = get_snapshot(session, snapshot_id)
    runs = service.list_runs(session, snapshot_id=snapshot_id)
    ctx = {
        "snapshot": snapshot,
        "runs": runs,
        "reports": _reports(runs),
        "compared": _project_runs(session, snapshot.project_id),
        "polling": any(r.status in LIVE for r in runs),
        "devices": DEVICES,
        "values": values or {"device": "auto", "epochs": "10", "seed": "13", "backbone": ""},
    }
    block = "panel" if request.headers.get("HX-Request") and error is None else None
    if block:
        return render(request, "training/snapshot.html", ctx, block=block)
    return render_form(request, "training/snapshot.html", ctx, error=error)


@router.get("/snapshots/{snapshot_id}/training", response_class=HTMLResponse)
def panel(request: Request, snapshot_id: int, session: SessionDep, _user: DatasetReader) -> Response:
    return _panel(request, session, snapshot_id)


@router.post("/snapshots/{snapshot_id}/training", response_class=HTMLResponse)
def start(
    request: Request,
    snapshot_id: int,
    session: SessionDep,
    user: AdminUser,
    backbone: Annotated[str, Form(max_length=500)] = "",
    device: Annotated[str, Form()] = "auto",
    epochs: Annotated[StoredInt, Form()] = 10,
    seed: Annotated[StoredInt, Form()] = 13,
) -> Response:
    """Train a model on the snapshot; a refusal (no relations, an empty split) shows its reason, nothing queued."""
    values = {"backbone": backbone, "device": device, "epochs": str(epochs), "seed": str(seed)}
    try:
        run = service.start_training(
            session, snapshot_id=snapshot_id, user=user, backbone=backbone, device=device, epochs=epochs, seed=seed
        )
    except AppError as exc:  # refused before anything was stored or queued
        return _panel(request, session, snapshot_id, values=values, error=exc)
    return RedirectResponse(f"/projects/{run.project_id}/snapshots?snapshot={snapshot_id}#training", status_code=303)


@router.post("/training-runs/{run_id}/cancel", response_class=HTMLResponse)
def cancel(request: Request, run_id: int, session: SessionDep, _user: AdminUser) -> Response:
    run = service.get_run(session, run_id)
    try:
        service.request_cancel(session, run=run)
    except AppError as exc:
        return _panel(request, session, run.snapshot_id, error=exc)
    return RedirectResponse(f"/projects/{run.project_id}/snapshots?snapshot={run.snapshot_id}#training", 303)
