"""Document pages: a batch's document list and the read-only document view with its annotations."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.csrf import verify_csrf
from app.auth.deps import CurrentUser
from app.crawl_batch.service import get_batch
from app.db import SessionDep
from app.document import service
from app.project.service import get_project, label_schema_of
from app.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(verify_csrf)])


@router.get("/batches/{batch_id}/documents", response_class=HTMLResponse)
def batch_documents(
    request: Request, batch_id: int, session: SessionDep, _user: CurrentUser, q: str = "", page: int = 1
) -> Response:
    batch = get_batch(session, batch_id)
    result = service.list_documents(session, project_id=batch.project_id, batch_id=batch_id, q=q or None, page=page)
    ctx = {"batch": batch, "project": get_project(session, batch.project_id), "result": result, "q": q}
    block = "results" if request.headers.get("hx-request") == "true" else None
    return render(request, "crawl_batch/documents.html", ctx, block=block)


@router.get("/documents/{document_id}", response_class=HTMLResponse)
def view_document(request: Request, document_id: int, session: SessionDep, _user: CurrentUser) -> Response:
    document = service.get_document(session, document_id)
    sentences = [(i, document.text[s:e]) for i, (s, e) in enumerate(document.sentences)]
    annotations = service.document_annotations(session, document)
    names = {e.id: e.name for e in annotations.entities}
    project = get_project(session, document.project_id)
    ctx = {
        "document": document,
        "project": project,
        # The entity types' colour classes (etype-N, from schema.css), as on the workbench.
        "type_index": {t.code: i for i, t in enumerate(label_schema_of(project).entity_types)},
        "sentences": sentences,
        "annotations": annotations,
        "names": names,
    }
    return render(request, "crawl_batch/document.html", ctx)
