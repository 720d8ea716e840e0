"""Batch pages: the project's batch panel (pulled by the project page as an htmx fragment), upload and live
progress (the batch's documents are in app/document/pages.py)."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.auth.csrf import verify_csrf
from app.auth.deps import AdminUser, CurrentUser
from app.crawl_batch import service
from app.crawl_batch.pipeline import LABELS, STEPS, explain_nothing_kept
from app.db import SessionDep
from app.project.service import get_project, settings_of
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


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
def view_batch(request: Request, batch_id: int, session: SessionDep, _user: CurrentUser) -> Response:
    # Backwards (annotation comes after crawl_batch), inside the function so importing this module stays cheap and
    # acyclic: the batch page shows the annotation panel until it is pulled as an htmx fragment (issue 16).
    from app.annotation.pipeline import batch_pipeline
    from app.annotation.service import agreement_counts, batch_annotation_report, second_look_summary

    batch = service.get_batch(session, batch_id)
    project = get_project(session, batch.project_id)
    settings = settings_of(project)
    # The stage first: once it says a stage has ended, the counts read after it are final (batch_pipeline).
    pipeline = batch_pipeline(session, batch=batch)
    ctx = {
        "batch": batch,
        "report": service.batch_report(batch),
        "project": project,
        "pipeline": pipeline,
        "steps": STEPS,
        "stage_labels": LABELS,
        "explanation": explain_nothing_kept(batch, settings),
        "annotation": batch_annotation_report(session, batch_id=batch_id),
        "agreement": agreement_counts(session, batch_id=batch_id),
        "second_look": second_look_summary(session, batch_id=batch_id),
        "recheck": settings.recheck,
        "polling": pipeline.polling,
    }
    block = "progress" if request.headers.get("hx-request") == "true" else None
    return render(request, "crawl_batch/batch.html", ctx, block=block)


@router.post("/batches/{batch_id}/reingest", response_class=HTMLResponse)
def reingest_batch(batch_id: int, session: SessionDep, _user: AdminUser) -> Response:
    """Re-run ingestion under the project's current settings; back to the batch page, which follows it."""
    service.rerun_ingestion(session, batch=service.get_batch(session, batch_id))
    return RedirectResponse(f"/batches/{batch_id}", status_code=303)
