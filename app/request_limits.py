"""Bounds on what one request may carry: the size of a JSON body, and integers that fit the database."""

import re
from collections.abc import Callable
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import Field
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import get_settings
from app.errors import InvalidInput

# Every id, page and seed is stored or compared as a 64-bit integer (SQLite INTEGER, Postgres BIGINT).
MAX_INTEGER = 2**63 - 1
# For integers in JSON bodies (ids, versions, seeds): the same bound, checked by the request model.
StoredInt = Annotated[int, Field(ge=-MAX_INTEGER - 1, le=MAX_INTEGER)]
_INTEGER = re.compile(r"[+-]?\d+")


def _out_of_range(value: str) -> bool:
    if not _INTEGER.fullmatch(value.strip()):
        return False
    digits = value.strip().lstrip("+-").lstrip("0")
    # A string of thousands of digits is refused by its length, without converting it.
    return len(digits) > len(str(MAX_INTEGER)) or (bool(digits) and int(digits) > MAX_INTEGER)


def _is_integer(annotation: Any) -> bool:
    return annotation is int or (get_origin(annotation) in (Union, UnionType) and int in get_args(annotation))


def integer_params(dependant: Dependant) -> tuple[frozenset[str], frozenset[str]]:
    """The names of a route's integer path and query parameters, its dependencies' included."""
    path = {f.alias for f in dependant.path_params if _is_integer(f.field_info.annotation)}
    query = {f.alias for f in dependant.query_params if _is_integer(f.field_info.annotation)}
    for sub in dependant.dependencies:
        sub_path, sub_query = integer_params(sub)
        path |= sub_path
        query |= sub_query
    return frozenset(path), frozenset(query)


def integers_in_range(request: Request) -> None:
    """An integer path or query parameter that no 64-bit column can hold is a 422 naming it, not a 500."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    path, query = integer_params(route.dependant)
    values = [(n, request.path_params.get(n)) for n in path] + [(n, request.query_params.get(n)) for n in query]
    for name, value in values:
        if isinstance(value, str) and _out_of_range(value):
            raise InvalidInput.for_field(name, f"{name} is out of range: use a whole number up to {MAX_INTEGER}.")


# -- request bodies ------------------------------------------------------------------------------------------

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
_OWN_LIMIT = "_concord_own_body_limit"


def own_body_limit(endpoint: Endpoint) -> Endpoint:
    """Marks an upload route: it streams its body to disk under its own limit, not MAX_BODY_BYTES."""
    setattr(endpoint, _OWN_LIMIT, True)
    return endpoint


class BodyTooLarge(HTTPException):
    """An HTTPException, so that FastAPI's body parsing passes it on instead of calling the body malformed."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"The request body is larger than {limit:,} bytes (MAX_BODY_BYTES); send less, or upload a file."
        )


class BodyLimitMiddleware:
    """Refuses a request body over MAX_BODY_BYTES with a 413 before it is held in memory: by its Content-Length,
    or, sent in chunks without one, as soon as the bytes read pass the limit. Upload routes keep their own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = get_settings().max_body_bytes
        declared = Headers(scope=scope).get("content-length")
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            # Asked for the body only once routing is done: an upload route is known by now.
            route = scope.get("route")
            if getattr(getattr(route, "endpoint", None), _OWN_LIMIT, False):
                return await receive()
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)
