"""Crawl batches over HTTP (documents are in app/document/api.py)."""

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from app.auth.deps import ApiAdmin, ApiClient
from app.config import get_settings
from app.crawl_batch import service
from app.crawl_batch.schemas import BatchCreated
from app.crawl_batch.uploads import receive_upload
from app.db import SessionDep
from app.project.service import get_project
from app.request_limits import own_body_limit

router = APIRouter(prefix="/api/v1", tags=["batches"])


@router.post("/projects/{project_id}/batches", status_code=202, response_model=BatchCreated)
@own_body_limit
async def upload_batch(request: Request, project_id: int, session: SessionDep, user: ApiAdmin) -> BatchCreated:
    """Upload a crawl file (multipart field `file`, optional `format`); ingestion runs in the background."""
    project = await run_in_threadpool(get_project, session, project_id)
    # End the transaction before streaming: on SQLite it holds the write lock the worker needs meanwhile.
    await run_in_threadpool(session.commit)
    upload = await receive_upload(
        request, directory=service.upload_dir(project_id), max_bytes=get_settings().max_upload_bytes
    )
    try:
        fmt = service.check_format(upload.fields.get("format") or request.query_params.get("format"))
        batch = await run_in_threadpool(
            lambda: service.create_batch(session, project=project, upload=upload, fmt=fmt, created_by=user)
        )
    except Exception:
        upload.path.unlink(missing_ok=True)
        raise
    assert batch.id is not None
    return BatchCreated(id=batch.id, status=batch.status)


@router.get("/batches/{batch_id}")
def get_batch(batch_id: int, session: SessionDep, _user: ApiClient) -> dict[str, Any]:
    """Status, counts per filter reason, duplicates, record-level errors, and annotation progress and cost."""
    # Backwards (annotation comes after crawl_batch), inside the function to keep imports acyclic: the batch's
    # API answer carries its annotation progress.
    from app.annotation.service import agreement_counts, batch_annotation_report, second_look_summary

    report = service.batch_report(service.get_batch(session, batch_id)).as_dict()
    report["annotation"] = {
        "annotators": batch_annotation_report(session, batch_id=batch_id),
        "agreement": agreement_counts(session, batch_id=batch_id),
        "second_look": asdict(second_look_summary(session, batch_id=batch_id)),
    }
    return report
