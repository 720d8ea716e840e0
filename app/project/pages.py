"""Project pages: list, create from a preset or pasted JSON, view, edit."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.csrf import verify_csrf
from app.auth.deps import AdminUser, SignedInUser
from app.db import SessionDep
from app.errors import InvalidInput
from app.models import Project
from app.notices import redirect_with_notice
from app.project import service
from app.project.guidelines import render_guidelines
from app.project.presets import PRESETS
from app.project.schemas import SETTINGS_FIELDS, EditProjectForm, EditProjectPost, NewProjectForm
from app.templating import render, render_form

# Every state-changing request from a browser must carry its CSRF token.
router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(verify_csrf)])


@router.get("/projects", response_class=HTMLResponse)
def list_projects(request: Request, session: SessionDep, _user: SignedInUser) -> Response:
    return render(request, "project/list.html", {"projects": service.list_projects(session)})


def _form_page(request: Request, values: NewProjectForm, error: InvalidInput | None = None) -> Response:
    return render_form(request, "project/new.html", {"presets": PRESETS, "values": values}, error=error)


def _parse_json_field(text: str, field: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput.for_field(
            field, f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None


@router.get("/projects/new", response_class=HTMLResponse)
def new_project(request: Request, _user: AdminUser) -> Response:
    return _form_page(request, NewProjectForm(source="preset", preset="zh-general"))


@router.post("/projects", response_class=HTMLResponse)
def create_project(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    source: Annotated[str, Form()] = "preset",
    preset: Annotated[str, Form()] = "",
    schema_text: Annotated[str, Form()] = "",
) -> Response:
    values = NewProjectForm(source=source, preset=preset, name=name, description=description, schema_text=schema_text)
    try:
        if source == "json":
            schema = _parse_json_field(schema_text, "schema")
            project = service.create_project(
                session, name=name, schema=schema, description=description, created_by=user
            )
        else:
            project = service.create_project(
                session, name=name, preset=preset, description=description, created_by=user
            )
    except InvalidInput as exc:
        return _form_page(request, values, exc)
    return redirect_with_notice(f"/projects/{project.id}", "project_created")


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def view_project(request: Request, project_id: int, session: SessionDep, _user: SignedInUser) -> Response:
    project = service.get_project(session, project_id)
    ctx = {
        "project": project,
        "schema": service.label_schema_of(project),
        "guidelines_html": render_guidelines(project.guidelines or ""),
    }
    return render(request, "project/detail.html", ctx)


@router.get("/projects/{project_id}/schema.css")
def schema_css(project_id: int, session: SessionDep, _user: SignedInUser) -> Response:
    """Type colours as classes: the CSP forbids inline styles, and colours are validated #rrggbb."""
    schema = service.label_schema_of(service.get_project(session, project_id))
    rules = [f".etype-{i}{{--type-color:{t.color}}}" for i, t in enumerate(schema.entity_types)]
    return Response("\n".join(rules) + "\n", media_type="text/css", headers={"Cache-Control": "no-cache"})


def _edit_page(
    request: Request, project_id: int, values: EditProjectForm, error: InvalidInput | None = None
) -> Response:
    return render_form(request, "project/edit.html", {"project_id": project_id, "values": values}, error=error)


@router.get("/projects/{project_id}/edit", response_class=HTMLResponse)
def edit_project(request: Request, project_id: int, session: SessionDep, _user: AdminUser) -> Response:
    project = service.get_project(session, project_id)
    return _edit_page(request, project_id, _saved_form(project))


def _saved_form(project: Project) -> EditProjectForm:
    # The settings as saved (validated on every write), so a rate saved as 0 shows 0, not 0.0.
    saved = {**service.DEFAULT_SETTINGS.model_dump(), **project.settings}
    return EditProjectForm(
        name=project.name,
        description=project.description,
        guidelines=project.guidelines,
        schema_text=json.dumps(project.label_schema, ensure_ascii=False, indent=2),
        languages=" ".join(saved["languages"]),
        **{name: saved[name] for name in SETTINGS_FIELDS},
    )


@router.post("/projects/{project_id}/edit", response_class=HTMLResponse)
def update_project(
    request: Request,
    project_id: int,
    session: SessionDep,
    _user: AdminUser,
    form: Annotated[EditProjectPost, Form()],
) -> Response:
    project = service.get_project(session, project_id)
    saved = _saved_form(project)
    try:
        service.update_project(
            session,
            project=project,
            name=form.name,
            schema=_parse_json_field(form.schema_text, "schema"),
            guidelines=form.guidelines,
            description=form.description,
            settings=form.settings(),
        )
    except InvalidInput as exc:
        session.rollback()
        return _edit_page(request, project_id, form.shown_over(saved), exc)
    return redirect_with_notice(f"/projects/{project_id}", "project_saved")
