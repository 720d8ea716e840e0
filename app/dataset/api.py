"""Exports, snapshots and evaluation over HTTP (reading: admin and consumer tokens; the rest: admin tokens)."""

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.datastructures import UploadFile

from app.auth.deps import ApiAdmin, ApiDatasetReader
from app.dataset import snapshots as snapshot_service
from app.dataset.schemas import (
    EVALUATE_BODY,
    SnapshotDetail,
    SnapshotParamsRead,
    SnapshotRead,
    SnapshotRequest,
    binary_responses,
)
from app.dataset.service import FORMATS, check_format, evaluate_files, plan_export
from app.dataset.snapshots import SnapshotParams
from app.db import SessionDep, require_id
from app.errors import InvalidInput, PayloadTooLarge
from app.evaluation.scores import EvaluationInputError, EvaluationReport
from app.models import DatasetSnapshot, SnapshotStatus
from app.project.service import get_project
from app.request_limits import own_body_limit

router = APIRouter(prefix="/api/v1", tags=["dataset"])
MAX_PREDICTIONS_BYTES = 256 * 1024**2


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


@router.get(
    "/projects/{project_id}/export",
    response_class=StreamingResponse,
    responses=binary_responses(sorted({media for _ext, media in FORMATS.values()}), "the export file"),
)
def export(
    project_id: int,
    session: SessionDep,
    _user: ApiDatasetReader,
    fmt: str = Query(default="jsonl", alias="format", description="docred | jsonl | brat | conll | seq2seq | chat"),
    status: str = Query(default="curated", description="curated | all"),
    batch: int | None = None,
    split: str | None = Query(default=None, description="train | dev | test (by the seeded hash of the id)"),
    seed: int = 0,
) -> StreamingResponse:
    """Stream the project's documents; read page by page while the client downloads (constant memory)."""
    plan = plan_export(session, project_id=project_id, fmt=fmt, status=status, batch_id=batch, split=split, seed=seed)
    return StreamingResponse(plan.chunks, media_type=plan.media_type, headers=_attachment(plan.filename))


def snapshot_view(snapshot: DatasetSnapshot) -> SnapshotRead:
    done = snapshot.status == SnapshotStatus.done
    base = f"/api/v1/snapshots/{snapshot.id}/download"
    return SnapshotRead(
        id=require_id(snapshot),
        project_id=snapshot.project_id,
        name=snapshot.name,
        version=f"v{snapshot.version}",
        status=snapshot.status,
        seed=snapshot.split_seed,
        params=SnapshotParamsRead.model_validate(SnapshotParams.of(snapshot.params)),
        created_at=snapshot.created_at,
        error=snapshot.datasheet.get("error") if snapshot.status == SnapshotStatus.failed else None,
        checksums=snapshot.checksums,
        files={fmt: {s: f"{base}?format={fmt}&split={s}" for s in snapshot_service.FILE_SPLITS} for fmt in FORMATS}
        if done
        else {},
    )


@router.post("/projects/{project_id}/snapshots", status_code=202, response_model=SnapshotRead)
def create_snapshot(project_id: int, body: SnapshotRequest, session: SessionDep, user: ApiAdmin) -> SnapshotRead:
    """Freeze a new version (v1, v2, …); built by a job. 409 when the name is taken, or when a split given a share
    would be empty (the body then has `split_counts`; send `confirm_empty_splits: true` to freeze anyway)."""
    snapshot = snapshot_service.create_snapshot(
        session,
        project=get_project(session, project_id),
        name=body.name,
        user=user,
        seed=body.seed,
        split=body.split,
        status=body.status,
        batch_id=body.batch,
        confirm_empty_splits=body.confirm_empty_splits,
    )
    return snapshot_view(snapshot)


@router.get("/projects/{project_id}/snapshots", response_model=list[SnapshotRead])
def list_snapshots(project_id: int, session: SessionDep, _user: ApiDatasetReader) -> list[SnapshotRead]:
    get_project(session, project_id)
    return [snapshot_view(s) for s in snapshot_service.list_snapshots(session, project_id=project_id)]


@router.get("/snapshots/{snapshot_id}", response_model=SnapshotDetail)
def get_snapshot(snapshot_id: int, session: SessionDep, _user: ApiDatasetReader) -> SnapshotDetail:
    """The snapshot with its datasheet."""
    snapshot = snapshot_service.get_snapshot(session, snapshot_id)
    return SnapshotDetail(**snapshot_view(snapshot).model_dump(), datasheet=snapshot.datasheet)


@router.get(
    "/snapshots/{snapshot_id}/download",
    response_class=FileResponse,
    responses=binary_responses(sorted({media for _ext, media in FORMATS.values()}), "the frozen file"),
)
def download(
    snapshot_id: int,
    session: SessionDep,
    _user: ApiDatasetReader,
    fmt: str = Query(default="jsonl", alias="format", description="docred | jsonl | brat | conll | seq2seq | chat"),
    split: str = Query(default="all", description="train | dev | test | all"),
) -> FileResponse:
    """The frozen file, unchanged by any later edit."""
    snapshot = snapshot_service.get_snapshot(session, snapshot_id)
    path = snapshot_service.snapshot_file(snapshot, fmt=check_format(fmt), split=split)
    filename = snapshot_service.download_name(snapshot, fmt=fmt, split=split)
    return FileResponse(path, media_type=FORMATS[fmt][1], filename=filename)


async def _read_limited(source: UploadFile | None, what: str) -> bytes | None:
    if source is None:
        return None
    data = await source.read(MAX_PREDICTIONS_BYTES + 1)
    if len(data) > MAX_PREDICTIONS_BYTES:
        raise PayloadTooLarge(f"The {what} file is over {MAX_PREDICTIONS_BYTES // 1024**2} MB.")
    return data


# JSONResponse as before: Python's JSON writer spells small floats as it always did here (1e-05, not 0.00001).
@router.post(
    "/snapshots/{snapshot_id}/evaluate",
    response_model=EvaluationReport,
    response_class=JSONResponse,
    openapi_extra=EVALUATE_BODY,
)
@own_body_limit
async def evaluate(
    snapshot_id: int,
    request: Request,
    session: SessionDep,
    _user: ApiAdmin,
    split: str = Query(default="all", description="the gold split: train | dev | test | all"),
) -> EvaluationReport:
    """Score predictions (multipart file `pred`, optional `train`; or the file itself as the body) against the
    snapshot's DocRED gold: NER, strict relations, DocRED F1 / Ign F1 / evidence F1, intra vs inter."""
    snapshot = snapshot_service.get_snapshot(session, snapshot_id)
    gold_path = snapshot_service.snapshot_file(snapshot, fmt="docred", split=split)
    train: bytes | None = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_part_size=MAX_PREDICTIONS_BYTES)
        pred_part, train_part = form.get("pred"), form.get("train")
        if not isinstance(pred_part, UploadFile):
            raise InvalidInput.for_field("pred", "Send the predictions as the multipart file field 'pred'.")
        predicted = await _read_limited(pred_part, "predictions") or b""
        train = await _read_limited(train_part if isinstance(train_part, UploadFile) else None, "train")
    else:
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_PREDICTIONS_BYTES:
                raise PayloadTooLarge(f"The predictions are over {MAX_PREDICTIONS_BYTES // 1024**2} MB.")
        predicted = bytes(body)
    if not predicted.strip():
        raise InvalidInput.for_field("pred", "The predictions are empty.")
    try:
        report = await run_in_threadpool(evaluate_files, gold_path.read_bytes(), predicted, train)
    except EvaluationInputError as exc:
        raise InvalidInput.for_field("pred", str(exc)) from None
    return report
