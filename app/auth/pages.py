"""Sign-in, sign-out and password pages."""

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.auth import service
from app.auth.csrf import verify_csrf
from app.auth.deps import OptionalUser, SignedInUser
from app.config import get_settings
from app.db import SessionDep
from app.errors import InvalidInput, TooManyRequests, Unauthorized
from app.notices import redirect_with_notice
from app.templating import render_form

# Every state-changing request from a browser must carry its CSRF token.
router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(verify_csrf)])


def safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after login is a phishing aid."""
    if not target:
        return "/projects"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/projects"
    return target


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def set_session_cookie(response: Response, cookie: str) -> None:
    settings = get_settings()
    response.set_cookie(
        service.SESSION_COOKIE,
        cookie,
        max_age=settings.session_max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


@router.get("/", include_in_schema=False)
def home(user: OptionalUser) -> Response:
    return RedirectResponse("/projects" if user else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, user: OptionalUser, next: str | None = None) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    notice = "Your session expired; please sign in again." if request.state.session_expired else None
    return render_form(request, "auth/login.html", {"next": safe_next(next), "notice": notice})


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/projects",
) -> Response:
    try:
        user = service.authenticate(
            session,
            username=username,
            password=password,
            ip=_client_ip(request),
            device_cookie=request.cookies.get(service.DEVICE_COOKIE),
        )
    except (Unauthorized, TooManyRequests) as exc:
        return render_form(
            request, "auth/login.html", {"next": safe_next(next), "notice": None, "username": username}, error=exc
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, service.make_session_cookie(user))
    response.set_cookie(
        service.DEVICE_COOKIE,
        service.make_device_cookie(user),
        max_age=service.DEVICE_MAX_AGE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=get_settings().secure_cookies,
        path="/login",
    )
    return response


@router.post("/logout")
def logout(session: SessionDep, user: OptionalUser) -> Response:
    # Stateless cookies cannot be deleted everywhere; bumping the epoch makes a copied cookie useless too.
    if user is not None:
        service.end_all_sessions(session, user=user)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(service.SESSION_COOKIE, path="/")
    return response


@router.get("/account/password", response_class=HTMLResponse)
def password_form(request: Request, _user: SignedInUser) -> Response:
    return render_form(request, "auth/password.html")


@router.post("/account/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    session: SessionDep,
    user: SignedInUser,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    try:
        if new_password != confirm_password:
            raise InvalidInput.for_field("confirm_password", "The two new passwords differ.")
        service.change_password(session, user=user, current=current_password, new=new_password)
    except InvalidInput as exc:
        return render_form(request, "auth/password.html", error=exc)
    response = redirect_with_notice("/projects", "password_saved")
    set_session_cookie(response, service.make_session_cookie(user))
    return response
