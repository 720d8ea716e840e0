"""The one place that renders errors (page, htmx fragment or JSON); every error leaves as a clear message.

Apart from app/errors.py so that the error types stay below the templates: auth.csrf raises them, and the templates
need auth.csrf.
"""

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import AppError, FieldError, LoginRequired, field_error
from app.templating import render

log = logging.getLogger(__name__)


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/") or request.url.path == "/healthz":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def error_response(
    request: Request,
    status_code: int,
    message: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """Render an error the way the caller asked for it."""
    errors = errors or []
    headers = dict(headers or {})
    if wants_json(request):
        body = {"detail": message, "errors": [e.as_dict() for e in errors], **(extra or {})}
        return JSONResponse(body, status_code=status_code, headers=headers)
    if _is_htmx(request):
        headers.update({"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
        return render(
            request,
            "errors/error.html",
            {"message": message, "errors": errors, "status": status_code},
            block="alert",
            status_code=status_code,
            headers=headers,
        )
    return render(
        request,
        "errors/error.html",
        {"message": message, "errors": errors, "status": status_code},
        status_code=status_code,
        headers=headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Every error, expected or not, leaves as a clear message; never a traceback."""

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if wants_json(request):
            return error_response(request, exc.status_code, exc.message)
        target = exc.redirect_to + "?next=" + _safe_next(request)
        if _is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        return error_response(request, exc.status_code, exc.message, exc.errors, exc.headers, exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [field_error(e) for e in exc.errors()]
        first = errors[0].field if errors else "request"
        return error_response(request, 422, f"Invalid input: {first}", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        messages = {404: "Not found.", 405: "Method not allowed."}
        message = messages.get(exc.status_code, str(exc.detail))
        return error_response(request, exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "Something went wrong on our side. The error has been logged.")


def _safe_next(request: Request) -> str:
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return quote(path, safe="")
