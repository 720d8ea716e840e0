"""Annotation pages: the project's annotator panel (pulled by the project page as an htmx fragment), adding and
switching annotators, starting annotation of a batch, and the batch page (its ingestion counts, then its way
through annotation: annotation composes it, coming after crawl_batch)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.annotation import model_annotator, service
from app.annotation.pipeline import batch_progress
from app.auth.csrf import verify_csrf
from app.auth.deps import AdminUser, CurrentUser
from app.crawl_batch.pipeline import LABELS, STEPS, explain_nothing_kept
from app.crawl_batch.service import batch_report, get_batch
from app.db import SessionDep
from app.errors import InvalidInput
from app.models import Annotator
from app.project.service import get_project, settings_of
from app.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(verify_csrf)])


@router.get("/projects/{project_id}/annotators-panel", response_class=HTMLResponse)
def annotators_panel(request: Request, project_id: int, session: SessionDep, _user: CurrentUser) -> Response:
    """The project's annotators (pair role, key status) and, for an admin, the forms to add one and to switch a
    trained model: a fragment for htmx, else a page of its own."""
    project = get_project(session, project_id)
    annotators = service.list_annotators(session, project_id=project_id)
    a, b = service.pair_of(session, project_id=project_id)
    ctx = {
        "project": project,
        "annotators": [(x, service.annotator_key_status(x), _slot(x, a, b)) for x in annotators],
        "providers": service.PROVIDERS,
        # The project's trained models that can annotate (succeeded, files complete), for the model provider.
        "models": model_annotator.model_choices(session, project_id=project_id),
    }
    block = "panel" if request.headers.get("hx-request") == "true" else None
    return render(request, "annotation/annotators_panel.html", ctx, block=block)


def _slot(annotator: Annotator, a: Annotator | None, b: Annotator | None) -> str:
    """The annotator's part: A or B of the pair, or C, the third voter."""
    if annotator is a or annotator is b:
        return "A" if annotator is a else "B"
    return "C (voter)" if annotator.parameters.get("role") == "C" else ""


def _number(value: str, field: str) -> float:
    try:
        return float(value or 0)
    except ValueError:
        raise InvalidInput.for_field(field, "Enter a number.") from None


@router.post("/projects/{project_id}/annotators", response_class=HTMLResponse)
def add_annotator(
    request: Request,
    project_id: int,
    session: SessionDep,
    _user: AdminUser,
    name: Annotated[str, Form()] = "",
    provider: Annotated[str, Form()] = "",
    model: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    price_input_per_m: Annotated[str, Form()] = "0",
    price_output_per_m: Annotated[str, Form()] = "0",
    concurrency: Annotated[str, Form()] = "4",
    requests_per_minute: Annotated[str, Form()] = "0",
    tokens_per_minute: Annotated[str, Form()] = "0",
    temperature: Annotated[str, Form()] = "0",
    max_output_tokens: Annotated[str, Form()] = "4096",
    training_run: Annotated[str, Form()] = "",
) -> Response:
    project = get_project(session, project_id)
    parameters: dict[str, object] = {
        "concurrency": int(_number(concurrency, "concurrency")),
        "requests_per_minute": int(_number(requests_per_minute, "requests_per_minute")),
        "tokens_per_minute": int(_number(tokens_per_minute, "tokens_per_minute")),
        "temperature": _number(temperature, "temperature"),
        "max_output_tokens": int(_number(max_output_tokens, "max_output_tokens")),
    }
    if role in ("A", "B", "C"):
        parameters["role"] = role
    if provider == model_annotator.MODEL_PROVIDER:
        parameters["training_run"] = _run_id(training_run)
    service.create_annotator(
        session,
        project=project,
        data={
            "name": name.strip(),
            "provider": provider,
            "model": model.strip(),
            "parameters": parameters,
            "price_input_per_m": _number(price_input_per_m, "price_input_per_m"),
            "price_output_per_m": _number(price_output_per_m, "price_output_per_m"),
        },
    )
    return RedirectResponse(f"/projects/{project_id}#annotators", status_code=303)


def _run_id(value: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput.for_field("training_run", "Choose one of the project's trained models.") from None


@router.post("/annotators/{annotator_id}/model", response_class=HTMLResponse)
def switch_model(
    request: Request,
    annotator_id: int,
    session: SessionDep,
    _user: AdminUser,
    training_run: Annotated[str, Form()] = "",
) -> Response:
    annotator = service.get_annotator(session, annotator_id)
    run = _run_id(training_run)
    if run is None:
        raise InvalidInput.for_field("training_run", "Choose one of the project's trained models.")
    model_annotator.switch_model(session, annotator=annotator, training_run=run)
    return RedirectResponse(f"/projects/{annotator.project_id}#annotators", status_code=303)


@router.post("/batches/{batch_id}/annotate", response_class=HTMLResponse)
def annotate_batch(request: Request, batch_id: int, session: SessionDep, _user: AdminUser) -> Response:
    batch = get_batch(session, batch_id)
    service.start_annotation(session, project=get_project(session, batch.project_id), batch_id=batch_id)
    return RedirectResponse(f"/batches/{batch_id}", status_code=303)


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
def view_batch(request: Request, batch_id: int, session: SessionDep, _user: CurrentUser) -> Response:
    """The batch page: ingestion counts, then its way through annotation; htmx polls its #progress block."""
    batch = get_batch(session, batch_id)
    project = get_project(session, batch.project_id)
    settings = settings_of(project)
    progress = batch_progress(session, batch=batch)
    ctx = {
        "batch": batch,
        "report": batch_report(batch),
        "project": project,
        "pipeline": progress.pipeline,
        "steps": STEPS,
        "stage_labels": LABELS,
        "explanation": explain_nothing_kept(batch, settings),
        "annotation": progress.annotators,
        "agreement": progress.agreement,
        "second_look": progress.second_look,
        "recheck": settings.recheck,
        "polling": progress.pipeline.polling,
    }
    block = "progress" if request.headers.get("hx-request") == "true" else None
    return render(request, "annotation/batch.html", ctx, block=block)
