"""Review pages: the queue, the workbench (htmx partial updates; a decision never reloads the page), history."""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from app.annotation.service import list_annotators
from app.auth.csrf import verify_csrf
from app.auth.deps import CurrentUser
from app.crawl_batch.service import list_batches
from app.db import SessionDep, require_id
from app.document.service import get_document
from app.errors import InvalidInput
from app.models import Document, DocumentStatus, User
from app.project.service import get_project, label_schema_of, settings_of
from app.review import blind, permissions, queue, service, workbench
from app.review.commands import command_from_form
from app.review.counts import DECISIONS_MEANING
from app.review.history import document_history
from app.review.result import ReviewResult, stored_result
from app.review.service import Outcome, StaleVersion
from app.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(verify_csrf)])

# Actions that add, remove or move mentions: the whole text and panels are drawn again.
STRUCTURAL = {
    "create",
    "delete",
    "merge",
    "split",
    "add_mention",
    "adjust",
    "undo",
    "accept_agreed",
    "reject_annotator",
    "submit",
    "reopen",
    "finish_blind",
}


def _filters(params: dict[str, Any]) -> queue.QueueFilters:
    def number(name: str) -> int | None:
        value = str(params.get(name) or "").strip()
        if not value:
            return None
        if not value.isdigit():
            raise InvalidInput.for_field(name, f"{name} must be a number.")
        return int(value)

    order = str(params.get("order") or "priority")
    if order not in queue.ORDERS:
        raise InvalidInput.for_field("order", "Order by priority, random or batch.")
    return queue.QueueFilters(
        batch_id=number("batch"),
        relation_type=str(params.get("relation_type") or "") or None,
        agreement=str(params.get("agreement") or "") or None,
        annotator_id=number("annotator"),
        order=order,
    )


@router.get("/projects/{project_id}/review", response_class=HTMLResponse)
def review_queue(request: Request, project_id: int, session: SessionDep, user: CurrentUser) -> Response:
    project = get_project(session, project_id)
    filters = _filters(dict(request.query_params))
    settings = settings_of(project)
    rows = queue.queue(session, project_id=project_id, user=user, settings=settings, filters=filters)
    ctx = {
        "project": project,
        "schema": label_schema_of(project),
        "rows": rows,
        "filters": filters,
        "batches": list_batches(session, project_id=project_id),
        "annotators": list_annotators(session, project_id=project_id),
        "progress": queue.reviewer_progress(session, project_id=project_id),
        "decisions_meaning": DECISIONS_MEANING,
        "settings": settings,
        "query": request.url.query,
    }
    return render(request, "review/queue.html", ctx)


@router.post("/projects/{project_id}/review/next", response_class=HTMLResponse)
async def next_document(request: Request, project_id: int, session: SessionDep, user: CurrentUser) -> Response:
    """Claim the next document of the queue (with the queue's filters) and open it; `skip` passes one over."""
    form = dict(await request.form())

    def pick() -> Document | None:
        project = get_project(session, project_id)
        skip = str(form.get("skip") or "")
        current = int(skip) if skip.isdigit() else None
        if current is not None:  # moving on: give the lock back unless the document was submitted
            doc = session.get(Document, current)
            if doc is not None and doc.project_id == project_id and doc.locked_by_id == user.id:
                queue.release_lock(session, document=doc)
        found = queue.next_document(
            session,
            project_id=project_id,
            user=user,
            settings=settings_of(project),
            filters=_filters(form),
            skip=current,
        )
        if found is not None:
            service.claim(session, document=found, user=user)
        return found

    found = await run_in_threadpool(pick)
    target = f"/projects/{project_id}/review?done=1" if found is None else f"/documents/{found.id}/review"
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _context(
    session: Session, document: Document, user: User, changed: dict[str, set[int]] | None = None
) -> dict[str, Any]:
    project = get_project(session, document.project_id)
    schema = label_schema_of(project)
    results: list[tuple[str, ReviewResult]] = []
    if document.status == DocumentStatus.adjudication:
        for a in queue.submitted_reviewers(session, document_id=require_id(document)):
            reviewer = session.get(User, a.user_id)
            results.append((reviewer.username if reviewer else "?", stored_result(a.result)))
    wb = workbench.load(session, document=document, schema=schema, results=results, changed=changed)
    holder = queue.lock_holder(session, document)
    can_act = permissions.may_act(user, document, reviewable=document.status in queue.REVIEWABLE, holder=holder)
    return {
        "project": project,
        "schema": schema,
        "wb": wb,
        "document": document,
        "holder": holder,
        "can_act": can_act,
        "annotators": list_annotators(session, project_id=require_id(project)) if changed is None else [],
    }


@router.get("/documents/{document_id}/review", response_class=HTMLResponse)
def review_document(request: Request, document_id: int, session: SessionDep, user: CurrentUser) -> Response:
    document = get_document(session, document_id)
    ctx = _context(session, document, user)
    ctx["progress"] = queue.project_progress(session, project_id=document.project_id, besides=document_id)
    return render(request, "review/workbench.html", ctx)


def _update(
    request: Request, session: Session, document: Document, user: User, outcome: Outcome, action: str
) -> Response:
    """The fragments a decision changed: state bar, and the rows and sentences it touched (or everything)."""
    if action in STRUCTURAL or document.status == DocumentStatus.curated:
        ctx = _context(session, document, user)
        ctx.update(full=True, summary=outcome.summary, created=outcome.created_id)
        return render(request, "review/_update.html", ctx)
    changed = {k: set(v) for k, v in outcome.changed.items()}
    ctx = _context(session, document, user, changed=changed)
    wb: workbench.Workbench = ctx["wb"]
    entity_ids = changed.get("entity", set())
    sentences = {m[4] for eid in entity_ids if eid in wb.entities for m in wb.entities[eid].mentions}
    ctx.update(
        full=False,
        summary=outcome.summary,
        created=outcome.created_id,
        entities=[wb.entities[i] for i in sorted(entity_ids) if i in wb.entities],
        relations=wb.relations,
        sentences=wb.sentences_html(sentences),
    )
    return render(request, "review/_update.html", ctx)


def _stale(request: Request, session: Session, document_id: int, user: User, exc: StaleVersion) -> Response:
    # The version's compare-and-set is the gate's first write, so a stale request wrote nothing: the request's
    # boundary has nothing to undo; only the rows this session read are refreshed to draw the current state.
    session.expire_all()
    document = get_document(session, document_id)
    ctx = _context(session, document, user)
    ctx.update(full=True, summary=None, created=None, conflict=exc.message)
    return render(request, "review/_update.html", ctx, status_code=409)


async def _form(request: Request) -> tuple[int, dict[str, str]]:
    """The posted version (every change names the one it was made on) and the rest of the form."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    version_raw = form.pop("version", "")
    if not version_raw.strip().lstrip("-").isdigit():
        raise InvalidInput.for_field("version", "The document version is missing; reload the page.")
    return int(version_raw), form


def _answer(
    request: Request,
    session: Session,
    document_id: int,
    user: User,
    action: str,
    change: Callable[[Document], Outcome],
) -> Response:
    """Apply one change to the document and draw what it changed (a stale version redraws it, with a 409)."""
    document = get_document(session, document_id)
    try:
        outcome = change(document)
    except StaleVersion as exc:
        return _stale(request, session, document_id, user, exc)
    return _update(request, session, outcome.document, user, outcome, action)


@router.post("/documents/{document_id}/decide", response_class=HTMLResponse)
async def decide(request: Request, document_id: int, session: SessionDep, user: CurrentUser) -> Response:
    version, form = await _form(request)
    command = command_from_form(form, version=version)

    def change(document: Document) -> Outcome:
        return service.decide(session, document=document, user=user, command=command)

    return await run_in_threadpool(_answer, request, session, document_id, user, command.action, change)


@router.post("/documents/{document_id}/undo", response_class=HTMLResponse)
async def undo(request: Request, document_id: int, session: SessionDep, user: CurrentUser) -> Response:
    version, _form_rest = await _form(request)

    def change(document: Document) -> Outcome:
        return service.undo(session, document=document, user=user, version=version)

    return await run_in_threadpool(_answer, request, session, document_id, user, "undo", change)


@router.post("/documents/{document_id}/submit", response_class=HTMLResponse)
async def submit(request: Request, document_id: int, session: SessionDep, user: CurrentUser) -> Response:
    version, _form_rest = await _form(request)

    def change(document: Document) -> Outcome:
        return service.submit(session, document=document, user=user, version=version)

    return await run_in_threadpool(_answer, request, session, document_id, user, "submit", change)


@router.post("/documents/{document_id}/finish-blind", response_class=HTMLResponse)
async def finish_blind(request: Request, document_id: int, session: SessionDep, user: CurrentUser) -> Response:
    """End the blind pass: the proposals appear, the ones identical to the reviewer's items already settled."""
    version, _form_rest = await _form(request)

    def change(document: Document) -> Outcome:
        return blind.finish_blind_pass(session, document=document, user=user, version=version)

    return await run_in_threadpool(_answer, request, session, document_id, user, "finish_blind", change)


@router.post("/documents/{document_id}/release", response_class=HTMLResponse)
def release(document_id: int, session: SessionDep, user: CurrentUser) -> Response:
    document = get_document(session, document_id)
    service.release(session, document=document, user=user)
    return Response(status_code=204, headers={"HX-Redirect": f"/documents/{document_id}/review"})


@router.post("/documents/{document_id}/reopen", response_class=HTMLResponse)
def reopen(document_id: int, session: SessionDep, user: CurrentUser) -> Response:
    document = get_document(session, document_id)
    service.reopen(session, document=document, user=user)
    return Response(status_code=204, headers={"HX-Redirect": f"/documents/{document_id}/review"})


@router.get("/documents/{document_id}/text", response_class=HTMLResponse)
def document_text(request: Request, document_id: int, session: SessionDep, _user: CurrentUser) -> Response:
    """The text with its entities highlighted as on the workbench, read-only: the document page pulls it in."""
    document = get_document(session, document_id)
    schema = label_schema_of(get_project(session, document.project_id))
    wb = workbench.load(session, document=document, schema=schema)
    return render(request, "review/_text.html", {"wb": wb, "document": document})


@router.get("/documents/{document_id}/history", response_class=HTMLResponse)
def history(request: Request, document_id: int, session: SessionDep, _user: CurrentUser) -> Response:
    document = get_document(session, document_id)
    ctx = {"document": document, "history": document_history(session, document_id=document_id)}
    block = "history" if request.headers.get("hx-request") == "true" else None
    return render(request, "review/history.html", ctx, block=block)
