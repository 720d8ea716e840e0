"""CSRF: a random cookie per browser, and a form/header token that only the server can derive from it."""

import hashlib
import hmac
import secrets

from fastapi import Request

from app.config import get_settings
from app.errors import Forbidden

CSRF_COOKIE = "concord_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def browser_nonce(request: Request) -> str:
    """This browser's CSRF nonce; a new one (set as a cookie by the middleware) when it has none."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce or len(nonce) < 32:
        nonce = getattr(request.state, "new_csrf_nonce", None) or secrets.token_urlsafe(32)
        request.state.new_csrf_nonce = nonce
    return nonce


def token_for(nonce: str) -> str:
    secret = get_settings().resolved_secret_key().encode()
    return hmac.new(secret, b"csrf:" + nonce.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The token to embed in this browser's forms and htmx headers."""
    return token_for(browser_nonce(request))


async def verify_csrf(request: Request) -> None:
    """Reject a state-changing browser request whose token does not match its cookie."""
    if request.method in _SAFE_METHODS:
        return
    nonce = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get(CSRF_HEADER)
    # Uploads (multipart) must send the header: their bodies are streamed to disk by the route, not parsed here.
    if sent is None and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not nonce or not sent or not hmac.compare_digest(sent, token_for(nonce)):
        raise Forbidden("This form has expired or did not come from Concord. Reload the page and try again.")
