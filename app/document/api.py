"""Documents over HTTP: a project's list, and one document with its annotations."""

from fastapi import APIRouter

from app.auth.deps import ApiClient
from app.db import SessionDep
from app.document import service
from app.document.schemas import DocumentDetail, DocumentList, DocumentRead, DocumentSummary
from app.project.service import get_project

router = APIRouter(prefix="/api/v1", tags=["documents"])


@router.get("/projects/{project_id}/documents", response_model=DocumentList)
def list_documents(
    project_id: int,
    session: SessionDep,
    _user: ApiClient,
    batch: int | None = None,
    status: str | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> DocumentList:
    get_project(session, project_id)
    result = service.list_documents(
        session, project_id=project_id, batch_id=batch, status=status, q=q, page=page, per_page=per_page
    )
    return DocumentList(
        items=[DocumentSummary.model_validate(d) for d in result.items],
        total=result.total,
        page=result.page,
        per_page=result.per_page,
    )


@router.get("/documents/{document_id}", response_model=DocumentDetail)
def get_document_with_annotations(document_id: int, session: SessionDep, _user: ApiClient) -> DocumentDetail:
    """Text, sentences, entities (mentions with offsets) and relations with provenance, and the version."""
    document = service.get_document(session, document_id)
    annotations = service.document_annotations(session, document)
    return DocumentDetail(**DocumentRead.model_validate(document).model_dump(), **dict(annotations))
