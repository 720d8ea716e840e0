"""The admin pages: users (add, disable or enable, temporary passwords, end sessions) and API tokens (list,
create with an expiry, revoke). A generated password or a new token is shown once, on the response page only."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.auth import service, tokens, users
from app.auth.csrf import verify_csrf
from app.auth.deps import AdminUser
from app.db import SessionDep
from app.errors import AppError, InvalidInput
from app.models import Role
from app.templating import render_form

# Every state-changing request from a browser must carry its CSRF token.
router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(verify_csrf)])
DONE = {
    "created": "User added. They choose their own password at their first sign-in.",
    "disabled": "User disabled: signed out everywhere, API tokens revoked.",
    "enabled": "User enabled. Their old API tokens stay revoked.",
    "password": "Temporary password set; the user's sessions ended and they choose a new password at sign-in.",
    "sessions": "Every session of the user ended.",
    "revoked": "API token revoked: it stops working at once.",
}
# A page that shows a secret is neither cached nor kept in the history's cache.
NO_STORE = {"Cache-Control": "no-store"}


def _users_page(
    request: Request,
    session: SessionDep,
    *,
    done: str | None = None,
    error: AppError | None = None,
    values: dict[str, str] | None = None,
    error_for: int | None = None,
    secret: dict[str, str] | None = None,
) -> Response:
    ctx: dict[str, Any] = {
        "rows": users.list_users(session),
        "roles": [r.value for r in Role],
        "flash": DONE.get(done or ""),
        "error_for": error_for,
        "values": values or {},
        "secret": secret,
    }
    response = render_form(request, "auth/users.html", ctx, error=error)
    if secret:
        response.headers.update(NO_STORE)
    return response


def _done(what: str, page: str = "users") -> Response:
    return RedirectResponse(f"/admin/{page}?done={what}", status_code=303)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, _admin: AdminUser, done: str | None = None) -> Response:
    return _users_page(request, session, done=done)


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
    # An empty password field: Concord generates a one-time password and shows it on this response only.
    chosen = password or service.generate_password()
    try:
        if role not in {r.value for r in Role}:
            raise InvalidInput.for_field("role", "Choose admin, reviewer or consumer.")
        user = service.create_user(
            session, username=username, role=Role(role), password=chosen, must_change_password=True
        )
    except AppError as exc:
        return _users_page(request, session, error=exc, values=values)
    if password:
        return _done("created")
    secret = {"what": "one-time password", "for": user.username, "value": chosen}
    return _users_page(request, session, secret=secret)


@router.post("/admin/users/{user_id}/disable", response_class=HTMLResponse)
def disable(request: Request, user_id: int, session: SessionDep, admin: AdminUser) -> Response:
    try:
        users.disable_user(session, user=users.get_user(session, user_id), by=admin)
    except AppError as exc:
        return _users_page(request, session, error=exc, error_for=user_id)
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
        # Empty: a generated one-time password, shown on this response only.
        chosen = users.reset_password(session, user=user, password=password or None)
    except AppError as exc:
        return _users_page(request, session, error=exc, error_for=user_id)
    if password:
        return _done("password")
    return _users_page(request, session, secret={"what": "one-time password", "for": user.username, "value": chosen})


@router.post("/admin/users/{user_id}/sessions", response_class=HTMLResponse)
def end_sessions(user_id: int, session: SessionDep, _admin: AdminUser) -> Response:
    service.end_all_sessions(session, user=users.get_user(session, user_id))
    return _done("sessions")


def _tokens_page(
    request: Request,
    session: SessionDep,
    *,
    done: str | None = None,
    error: AppError | None = None,
    values: dict[str, str] | None = None,
    secret: dict[str, str] | None = None,
) -> Response:
    ctx: dict[str, Any] = {
        "rows": tokens.list_tokens(session),
        "owners": [u for u in users.list_users(session) if u.is_active],
        "flash": DONE.get(done or ""),
        "values": values or {"expires_days": "90"},
        "secret": secret,
    }
    response = render_form(request, "auth/tokens.html", ctx, error=error)
    if secret:
        response.headers.update(NO_STORE)
    return response


@router.get("/admin/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, session: SessionDep, _admin: AdminUser, done: str | None = None) -> Response:
    return _tokens_page(request, session, done=done)


@router.post("/admin/tokens", response_class=HTMLResponse)
def create_token(
    request: Request,
    session: SessionDep,
    _admin: AdminUser,
    user_id: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    expires_days: Annotated[str, Form()] = "",
) -> Response:
    values = {"user_id": user_id, "name": name, "expires_days": expires_days}
    try:
        owner = int(user_id) if user_id.isdecimal() else 0
        token, secret = tokens.create_token(session, owner_id=owner, name=name, expires_days=expires_days)
    except AppError as exc:
        return _tokens_page(request, session, error=exc, values=values)
    owner_name = users.get_user(session, token.user_id).username
    return _tokens_page(request, session, secret={"what": "API token", "for": owner_name, "value": secret})


@router.post("/admin/tokens/{token_id}/revoke", response_class=HTMLResponse)
def revoke_token(token_id: int, session: SessionDep, _admin: AdminUser) -> Response:
    tokens.revoke_token(session, token_id=token_id)
    return _done("revoked", "tokens")
