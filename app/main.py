"""create_app(): routers, static files, error handlers, security headers."""

import logging
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.annotation import api as annotation_api
from app.annotation import pages as annotation_pages
from app.auth import admin_pages as auth_admin_pages
from app.auth import pages as auth_pages
from app.auth.csrf import CSRF_COOKIE
from app.auth.deps import OptionalUser
from app.config import get_settings
from app.crawl_batch import api as batch_api
from app.crawl_batch import pages as batch_pages
from app.dataset import api as dataset_api
from app.dataset import pages as dataset_pages
from app.document import api as document_api
from app.document import pages as document_pages
from app.error_handlers import install_error_handlers
from app.gc_tuning import tune_gc
from app.health import install_deep_check
from app.health import router as health_router
from app.project import api as project_api
from app.project import pages as project_pages
from app.request_limits import BodyLimitMiddleware, integers_in_range
from app.review import api as review_api
from app.review import pages as review_pages
from app.templating import render
from app.training import api as training_api
from app.training import pages as training_pages

# Page routers check CSRF themselves (see each pages.py); API routers authenticate by bearer token.
ROUTERS = [
    auth_pages.router,
    auth_admin_pages.router,
    project_pages.router,
    batch_pages.router,
    document_pages.router,
    annotation_pages.router,
    project_api.router,
    batch_api.router,
    document_api.router,
    annotation_api.router,
    annotation_api.batches_router,
    review_pages.router,
    review_api.router,
    dataset_pages.router,
    dataset_api.router,
    training_pages.router,
    training_api.router,
    health_router,
]
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
API_VERSION = "v1"

# No inline scripts anywhere; inline styles neither (type colours come from a per-project stylesheet).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# Swagger UI sets style attributes from its bundle; its page alone allows them. Scripts stay 'self'.
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeadersMiddleware:
    """Adds CSP and friends to every response, and the CSRF cookie when a page minted a new nonce."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, object] = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                csp = DOCS_CSP if scope["path"] == "/api/docs" else CSP
                headers.setdefault("content-security-policy", csp)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                settings = get_settings()
                if settings.https and settings.hsts_max_age_seconds > 0:
                    headers.setdefault("strict-transport-security", f"max-age={settings.hsts_max_age_seconds}")
                nonce = state.get("new_csrf_nonce")
                if isinstance(nonce, str):
                    secure = "; Secure" if settings.secure_cookies else ""
                    headers.append("set-cookie", f"{CSRF_COOKIE}={nonce}; Path=/; HttpOnly; SameSite=Strict{secure}")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app() -> FastAPI:
    """The web application."""
    logging.basicConfig(level=get_settings().log_level.upper())
    tune_gc()
    app = FastAPI(
        title="Concord API",
        version=API_VERSION,
        description="Curated document-level entity and relation datasets. Authenticate with "
        "`Authorization: Bearer <token>` (`concord token create --username U`).",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(integers_in_range)],
    )
    install_error_handlers(app)
    install_deep_check(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    for router in ROUTERS:
        app.include_router(router)

    @app.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
    def api_docs(request: Request, _viewer: OptionalUser) -> Response:
        # Public, but a signed-in viewer keeps the top bar's navigation and account links.
        return render(request, "api_docs.html")

    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    return app
