"""Annotators and annotation over HTTP."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.annotation import service
from app.auth.deps import ApiAdmin, ApiClient
from app.crawl_batch.schemas import DocumentRead
from app.crawl_batch.service import get_document
from app.db import SessionDep
from app.models import Annotator
from app.project.service import get_project

router = APIRouter(prefix="/api/v1", tags=["annotation"])


class AnnotateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_id: int
    annotators: list[int] | None = Field(default=None, description="default: the project's annotators A and B")


def annotator_view(annotator: Annotator) -> dict[str, Any]:
    """What may be shown about an annotator: never a key or a base URL (those live in the environment)."""
    return {
        "id": annotator.id,
        "name": annotator.name,
        "kind": annotator.kind,
        "provider": annotator.provider,
        "model": annotator.model,
        "parameters": annotator.parameters,
        "price_input_per_m": float(annotator.price_input_per_m),
        "price_output_per_m": float(annotator.price_output_per_m),
    }


@router.post("/projects/{project_id}/annotators", status_code=201)
def create_annotator(project_id: int, body: dict[str, Any], session: SessionDep, _user: ApiAdmin) -> dict[str, Any]:
    """Add an annotator: {"name", "provider": openai|gemini|builtin:lexicon|builtin:patterns, "model", ...}."""
    project = get_project(session, project_id)
    return annotator_view(service.create_annotator(session, project=project, data=body))


@router.get("/projects/{project_id}/annotators")
def list_annotators(project_id: int, session: SessionDep, _user: ApiClient) -> list[dict[str, Any]]:
    get_project(session, project_id)
    return [annotator_view(a) for a in service.list_annotators(session, project_id=project_id)]


@router.post("/projects/{project_id}/annotate", status_code=202)
def annotate(project_id: int, body: AnnotateRequest, session: SessionDep, _user: ApiAdmin) -> dict[str, int]:
    """Queue annotation of a batch by the project's pair of annotators (or the ones given)."""
    project = get_project(session, project_id)
    return service.start_annotation(session, project=project, batch_id=body.batch_id, annotator_ids=body.annotators)


@router.get("/documents/{document_id}")
def get_document_with_annotations(document_id: int, session: SessionDep, _user: ApiClient) -> dict[str, Any]:
    """Text, sentences, entities (mentions with offsets) and relations with provenance, and the version."""
    document = get_document(session, document_id)
    body = DocumentRead.model_validate(document).model_dump(mode="json")
    return {**body, **service.document_annotations(session, document)}
