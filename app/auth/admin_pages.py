"""The users page (admins): add a user, disable or enable, set a temporary password, end sessions."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.auth import service, users
from app.auth.csrf import verify_csrf
from app.auth.deps import AdminUser
from app.db import SessionDep
from app.errors import AppError, InvalidInput
from app.models import Role
from app.templating import render

# Every state-changing request from a browser must carry its CSRF token.
router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(verify_csrf)])
DONE = {
    "created": "User added. They choose their own password at their first sign-in.",
    "disabled": "User disabled: signed out everywhere, API tokens revoked.",
    "enabled": "User enabled. Their old API tokens stay revoked.",
    "password": "Temporary password set; the user's sessions ended and they choose a new password at sign-in.",
    "sessions": "Every session of the user ended.",
}


def _page(
    request: Request,
    session: SessionDep,
    *,
    done: str | None = None,
    error: AppError | None = None,
    values: dict[str, str] | None = None,
    error_for: int | None = None,
) -> Response:
    field_errors = {e.field: e.message for e in error.errors} if isinstance(error, InvalidInput) else {}
    return render(
        request,
        "auth/users.html",
        {
            "rows": users.list_users(session),
            "roles": [r.value for r in Role],
            "flash": DONE.get(done or ""),
            "error": error.message if error else None,
            "error_for": error_for,
            "field_errors": field_errors,
            "values": values or {},
        },
        status_code=error.status_code if error else 200,
    )


def _done(what: str) -> Response:
    return RedirectResponse(f"/admin/users?done={what}", status_code=303)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, _admin: AdminUser, done: str | None = None) -> Response:
    return _page(request, session, done=done)


@router.post("/admin/users", response_class=HTMLResponse)
def add_user(
    request: Request,
    session: SessionDep,
    _admin: AdminUser,
    username: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    values = {"username": username, "role": role}
    try:
        if role not in {r.value for r in Role}:
            raise InvalidInput.for_field("role", "Choose admin, reviewer or consumer.")
        service.create_user(session, username=username, role=Role(role), password=password, must_change_password=True)
    except AppError as exc:
        return _page(request, session, error=exc, values=values)
    return _done("created")


@router.post("/admin/users/{user_id}/disable", response_class=HTMLResponse)
def disable(request: Request, user_id: int, session: SessionDep, admin: AdminUser) -> Response:
    try:
        users.disable_user(session, user=users.get_user(session, user_id), by=admin)
    except AppError as exc:
        return _page(request, session, error=exc, error_for=user_id)
    return _done("disabled")


@router.post("/admin/users/{user_id}/enable", response_class=HTMLResponse)
def enable(user_id: int, session: SessionDep, _admin: AdminUser) -> Response:
    users.enable_user(session, user=users.get_user(session, user_id))
    return _done("enabled")


@router.post("/admin/users/{user_id}/password", response_class=HTMLResponse)
def set_password(
    request: Request,
    user_id: int,
    session: SessionDep,
    _admin: AdminUser,
    password: Annotated[str, Form()] = "",
) -> Response:
    user = users.get_user(session, user_id)
    try:
        users.reset_password(session, user=user, password=password)
    except AppError as exc:
        return _page(request, session, error=exc, error_for=user_id)
    return _done("password")


@router.post("/admin/users/{user_id}/sessions", response_class=HTMLResponse)
def end_sessions(user_id: int, session: SessionDep, _admin: AdminUser) -> Response:
    service.end_all_sessions(session, user=users.get_user(session, user_id))
    return _done("sessions")
