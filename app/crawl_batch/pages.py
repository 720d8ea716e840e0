"""Batch pages: the project's batch panel (pulled by the project page as an htmx fragment), upload and re-ingestion
(the batch page, with its live progress through annotation, is in app/annotation/pages.py; its documents are in
app/document/pages.py)."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.auth.csrf import verify_csrf
from app.auth.deps import AdminUser, CurrentUser
from app.crawl_batch import service
from app.db import SessionDep
from app.project.service import get_project
from app.request_limits import own_body_limit
from app.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(verify_csrf)])


@router.get("/projects/{project_id}/batches-panel", response_class=HTMLResponse)
def batches_panel(request: Request, project_id: int, session: SessionDep, _user: CurrentUser) -> Response:
    """The project's batches and, for an admin, the upload form: a fragment for htmx, else a page of its own."""
    ctx = {
        "project": get_project(session, project_id),
        "batches": [service.batch_report(b) for b in service.list_batches(session, project_id=project_id)],
    }
    block = "panel" if request.headers.get("hx-request") == "true" else None
    return render(request, "crawl_batch/batches_panel.html", ctx, block=block)


@router.post("/projects/{project_id}/batches", response_class=HTMLResponse)
@own_body_limit
async def upload_batch(request: Request, project_id: int, session: SessionDep, user: AdminUser) -> Response:
    """The upload form posts here with htmx; the answer sends the browser to the batch page."""
    batch = await service.accept_upload(request, session, project_id=project_id, created_by=user)
    return Response(status_code=204, headers={"HX-Redirect": f"/batches/{batch.id}"})


@router.post("/batches/{batch_id}/reingest", response_class=HTMLResponse)
def reingest_batch(batch_id: int, session: SessionDep, _user: AdminUser) -> Response:
    """Re-run ingestion under the project's current settings; back to the batch page, which follows it."""
    service.rerun_ingestion(session, batch=service.get_batch(session, batch_id))
    return RedirectResponse(f"/batches/{batch_id}", status_code=303)
