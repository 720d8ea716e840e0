"""Crawl batches over HTTP: upload and re-ingestion (GET /api/v1/batches/{id}, with the batch's annotation
progress, is in app/annotation/api.py; documents are in app/document/api.py)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.auth.deps import ApiAdmin
from app.crawl_batch import service
from app.crawl_batch.schemas import BatchCreated, ReingestRequest
from app.db import SessionDep
from app.request_limits import own_body_limit

router = APIRouter(prefix="/api/v1", tags=["batches"])


# The body is read as a stream (never held in memory), so FastAPI cannot infer it: it is declared for OpenAPI here.
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "The crawl file."},
                        "format": {
                            "type": "string",
                            "enum": ["auto", *service.FORMATS],
                            "description": "The file's format; auto (the default) detects it from the content.",
                        },
                    },
                }
            }
        },
    }
}


@router.post("/projects/{project_id}/batches", status_code=202, response_model=BatchCreated, openapi_extra=_UPLOAD_BODY)
@own_body_limit
async def upload_batch(
    request: Request,
    project_id: int,
    session: SessionDep,
    user: ApiAdmin,
    format_hint: Annotated[str | None, Query(alias="format", description="As the multipart field `format`.")] = None,
) -> BatchCreated:
    """Upload a crawl file (multipart field `file`, optional `format`); ingestion runs in the background."""
    batch = await service.accept_upload(
        request, session, project_id=project_id, created_by=user, format_hint=format_hint
    )
    assert batch.id is not None
    return BatchCreated(id=batch.id, status=batch.status)


@router.post("/batches/{batch_id}/reingest", status_code=202, response_model=BatchCreated)
def reingest_batch(
    batch_id: int, session: SessionDep, _user: ApiAdmin, body: ReingestRequest | None = None
) -> BatchCreated:
    """Ingest a batch that kept nothing again, under the project's current settings (change its filters first).

    409 while the batch is still being ingested, once it has kept documents, or when its file is gone."""
    batch = service.rerun_ingestion(
        session, batch=service.get_batch(session, batch_id), format_hint=body.format if body else None
    )
    assert batch.id is not None
    return BatchCreated(id=batch.id, status=batch.status)
