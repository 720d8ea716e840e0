"""Annotators and annotation over HTTP."""

from dataclasses import asdict

from fastapi import APIRouter

from app.annotation import model_annotator, service
from app.annotation.pipeline import batch_progress
from app.annotation.schemas import (
    AgreementCounts,
    AnnotateRequest,
    AnnotationQueued,
    AnnotatorCreate,
    AnnotatorRead,
    BatchAnnotation,
    BatchRead,
    ModelSwitch,
    PipelineRead,
    SecondLookRead,
)
from app.auth.deps import ApiAdmin, ApiClient
from app.crawl_batch import service as batch_service
from app.crawl_batch.pipeline import explain_nothing_kept
from app.crawl_batch.schemas import RecordErrorRead
from app.db import SessionDep, require_id
from app.models import Annotator
from app.project.service import get_project, settings_of

router = APIRouter(prefix="/api/v1", tags=["annotation"])


def annotator_view(annotator: Annotator) -> AnnotatorRead:
    return AnnotatorRead(
        id=require_id(annotator),
        name=annotator.name,
        kind=annotator.kind,
        provider=annotator.provider,
        model=annotator.model,
        parameters=annotator.parameters,
        price_input_per_m=float(annotator.price_input_per_m),
        price_output_per_m=float(annotator.price_output_per_m),
    )


@router.post("/projects/{project_id}/annotators", status_code=201, response_model=AnnotatorRead)
def create_annotator(project_id: int, body: AnnotatorCreate, session: SessionDep, _user: ApiAdmin) -> AnnotatorRead:
    """Add an annotator (an LLM provider with its model, a builtin one, or a trained model: provider `model` with
    parameters.training_run); 422 names each bad field, 409 refuses a model that has not succeeded or whose files
    are missing."""
    project = get_project(session, project_id)
    data = body.model_dump(exclude_unset=True)
    return annotator_view(service.create_annotator(session, project=project, data=data))


@router.get("/projects/{project_id}/annotators", response_model=list[AnnotatorRead])
def list_annotators(project_id: int, session: SessionDep, _user: ApiClient) -> list[AnnotatorRead]:
    get_project(session, project_id)
    return [annotator_view(a) for a in service.list_annotators(session, project_id=project_id)]


@router.put("/annotators/{annotator_id}/model", response_model=AnnotatorRead)
def switch_model(annotator_id: int, body: ModelSwitch, session: SessionDep, _user: ApiAdmin) -> AnnotatorRead:
    """Switch a model annotator to another succeeded training run of its project (a retrained model)."""
    annotator = service.get_annotator(session, annotator_id)
    return annotator_view(model_annotator.switch_model(session, annotator=annotator, training_run=body.training_run))


@router.post("/projects/{project_id}/annotate", status_code=202, response_model=AnnotationQueued)
def annotate(project_id: int, body: AnnotateRequest, session: SessionDep, _user: ApiAdmin) -> AnnotationQueued:
    """Queue annotation of a batch by the project's pair of annotators (or the ones given)."""
    project = get_project(session, project_id)
    return service.start_annotation(session, project=project, batch_id=body.batch_id, annotator_ids=body.annotators)


# The batch's own answer, under the batches tag like the rest of its routes; annotation composes it because it
# carries the batch's annotation progress (annotation comes after crawl_batch).
batches_router = APIRouter(prefix="/api/v1", tags=["batches"])


@batches_router.get("/batches/{batch_id}", response_model=BatchRead)
def get_batch(batch_id: int, session: SessionDep, _user: ApiClient) -> BatchRead:
    """Status, counts per filter reason, duplicates, record-level errors, the pipeline stage, and annotation progress
    and cost. Poll it until `pipeline.active` is false."""
    batch = batch_service.get_batch(session, batch_id)
    report = batch_service.batch_report(batch)
    progress = batch_progress(session, batch=batch)
    pipeline = progress.pipeline
    return BatchRead(
        id=require_id(batch),
        project_id=batch.project_id,
        filename=batch.filename,
        format=batch.format,
        status=batch.status,
        size_bytes=batch.size_bytes,
        bytes_read=batch.bytes_read,
        percent=round(report.percent, 1),
        counts=batch.counts,
        filtered=report.filters(),
        errors=[RecordErrorRead.model_validate(e) for e in batch.errors],
        failure_reason=batch.failure_reason,
        elapsed_seconds=round(report.elapsed_seconds, 3),
        records_per_second=round(report.records_per_second, 1),
        created_at=batch.created_at,
        started_at=batch.started_at,
        finished_at=batch.finished_at,
        explanation=explain_nothing_kept(batch, settings_of(get_project(session, batch.project_id))),
        pipeline=PipelineRead(**asdict(pipeline), label=pipeline.label, active=pipeline.polling),
        annotation=BatchAnnotation(
            annotators=progress.annotators,
            agreement=AgreementCounts(**progress.agreement),
            second_look=SecondLookRead(**asdict(progress.second_look)),
        ),
    )
