"""Crawl batches over HTTP (documents are in app/document/api.py)."""

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.auth.deps import ApiAdmin, ApiClient
from app.crawl_batch import service
from app.crawl_batch.pipeline import explain_nothing_kept
from app.crawl_batch.schemas import (
    AgreementCounts,
    AnnotatorProgress,
    BatchAnnotation,
    BatchCreated,
    BatchRead,
    PipelineRead,
    ReingestRequest,
    SecondLookRead,
)
from app.db import SessionDep
from app.project.service import get_project, settings_of
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


@router.get("/batches/{batch_id}", response_model=BatchRead)
def get_batch(batch_id: int, session: SessionDep, _user: ApiClient) -> BatchRead:
    """Status, counts per filter reason, duplicates, record-level errors, the pipeline stage, and annotation progress
    and cost. Poll it until `pipeline.active` is false."""
    # Backwards (annotation comes after crawl_batch), inside the function to keep imports acyclic: the batch's
    # API answer carries its annotation progress.
    from app.annotation.pipeline import batch_pipeline
    from app.annotation.service import agreement_counts, batch_annotation_report, second_look_summary

    batch = service.get_batch(session, batch_id)
    pipeline = batch_pipeline(session, batch=batch)  # first: see batch_pipeline
    return BatchRead(
        **service.batch_report(batch).as_dict(),
        explanation=explain_nothing_kept(batch, settings_of(get_project(session, batch.project_id))),
        pipeline=PipelineRead(**asdict(pipeline), label=pipeline.label, active=pipeline.polling),
        annotation=BatchAnnotation(
            annotators=[AnnotatorProgress(**a) for a in batch_annotation_report(session, batch_id=batch_id)],
            agreement=AgreementCounts(**agreement_counts(session, batch_id=batch_id)),
            second_look=SecondLookRead(**asdict(second_look_summary(session, batch_id=batch_id))),
        ),
    )


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
