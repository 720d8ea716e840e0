"""Batch pages: upload, live progress, document list and a read-only document view."""

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from app.auth.csrf import verify_csrf
from app.auth.deps import AdminUser, CurrentUser
from app.config import get_settings
from app.crawl_batch import service
from app.crawl_batch.uploads import receive_upload
from app.db import SessionDep
from app.project.service import get_project, label_schema_of, settings_of
from app.request_limits import own_body_limit
from app.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(verify_csrf)])


@router.post("/projects/{project_id}/batches", response_class=HTMLResponse)
@own_body_limit
async def upload_batch(request: Request, project_id: int, session: SessionDep, user: AdminUser) -> Response:
    """The upload form posts here with htmx; the answer sends the browser to the batch page."""
    project = await run_in_threadpool(get_project, session, project_id)
    await run_in_threadpool(session.commit)  # no transaction (SQLite write lock) held while the file streams in
    upload = await receive_upload(
        request, directory=service.upload_dir(project_id), max_bytes=get_settings().max_upload_bytes
    )
    try:
        fmt = service.check_format(upload.fields.get("format"))
        batch = await run_in_threadpool(
            lambda: service.create_batch(session, project=project, upload=upload, fmt=fmt, created_by=user)
        )
    except Exception:
        upload.path.unlink(missing_ok=True)
        raise
    return Response(status_code=204, headers={"HX-Redirect": f"/batches/{batch.id}"})


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
def view_batch(request: Request, batch_id: int, session: SessionDep, _user: CurrentUser) -> Response:
    # Backwards (annotation comes after crawl_batch), inside the function so importing this module stays cheap and
    # acyclic: the batch page shows the annotation panel until it is pulled as an htmx fragment (issue 16).
    from app.annotation.service import (
        agreement_counts,
        batch_annotation_report,
        second_look_pending,
        second_look_summary,
    )

    batch = service.get_batch(session, batch_id)
    report = service.batch_report(batch)
    annotation = batch_annotation_report(session, batch_id=batch_id)
    kept = batch.counts.get("kept", 0)
    annotating = any(sum(a["runs"].values()) - a["runs"].get("running", 0) < kept for a in annotation)
    project = get_project(session, batch.project_id)
    ctx = {
        "batch": batch,
        "report": report,
        "project": project,
        "annotation": annotation,
        "agreement": agreement_counts(session, batch_id=batch_id),
        "second_look": second_look_summary(session, batch_id=batch_id),
        "recheck": settings_of(project).recheck,
        # Until the last stage has come in: ingestion, the annotators' runs, then the second look.
        "polling": not report.finished or annotating or second_look_pending(session, batch_id=batch_id),
    }
    block = "progress" if request.headers.get("hx-request") == "true" else None
    return render(request, "crawl_batch/batch.html", ctx, block=block)


@router.get("/batches/{batch_id}/documents", response_class=HTMLResponse)
def batch_documents(
    request: Request, batch_id: int, session: SessionDep, _user: CurrentUser, q: str = "", page: int = 1
) -> Response:
    batch = service.get_batch(session, batch_id)
    result = service.list_documents(session, project_id=batch.project_id, batch_id=batch_id, q=q or None, page=page)
    ctx = {"batch": batch, "project": get_project(session, batch.project_id), "result": result, "q": q}
    block = "results" if request.headers.get("hx-request") == "true" else None
    return render(request, "crawl_batch/documents.html", ctx, block=block)


@router.get("/documents/{document_id}", response_class=HTMLResponse)
def view_document(request: Request, document_id: int, session: SessionDep, _user: CurrentUser) -> Response:
    # Backwards, as above: the document page shows its annotations until a document package serves them.
    from app.annotation.service import document_annotations

    document = service.get_document(session, document_id)
    sentences = [(i, document.text[s:e]) for i, (s, e) in enumerate(document.sentences)]
    annotations = document_annotations(session, document)
    names = {e["id"]: e["name"] for e in annotations["entities"]}
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
