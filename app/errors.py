"""Typed application errors, and their text as pages show it (rendered by app/error_handlers.py)."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    loc: tuple[str | int, ...]
    message: str

    @property
    def field(self) -> str:
        out = ""
        for part in self.loc:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "loc": list(self.loc), "message": self.message}


def field_error(error: Any) -> FieldError:
    """A pydantic error with its field; a discriminator that matched nothing (an unknown `action`) is named."""
    loc = tuple(p for p in error.get("loc", ()) if p not in ("body", "query", "path"))
    if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
        loc = (*loc, str((error.get("ctx") or {}).get("discriminator", "")).strip("'"))
    return FieldError(loc, error["msg"])


# Field names as words, for people (the API keeps the dotted paths); one entry of a list is "<singular> <n>".
_WORDS = {
    "entity_types": ("entity types", "entity type"),
    "relation_types": ("relation types", "relation type"),
    "head_types": ("allowed head types", "allowed head type"),
    "tail_types": ("allowed tail types", "allowed tail type"),
    "color": ("colour", "colour"),
}
# Containers named by the page around the field: "schema.entity_types[0].code" reads "Entity type 1, code".
_CONTAINERS = frozenset({"schema", "settings", "body", "query"})


def field_words(loc: tuple[str | int, ...]) -> str:
    """Where a problem is, in words: ("schema", "relation_types", 0, "code") -> "Relation type 1, code"."""
    parts = list(loc)
    while len(parts) > 1 and parts[0] in _CONTAINERS:
        parts.pop(0)
    words: list[str] = []
    for i, part in enumerate(parts):
        previous = parts[i - 1] if i else None
        if isinstance(part, int) and isinstance(previous, str):
            words[-1] = f"{_WORDS.get(previous, ('', previous.replace('_', ' ')))[1]} {part + 1}"
        elif isinstance(part, int):
            words.append(f"entry {part + 1}")
        else:
            words.append(_WORDS.get(part, (part.replace("_", " "), ""))[0])
    text = ", ".join(w for w in words if w)
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class ErrorText:
    """An error as a page shows it: a lead sentence (empty: nothing to add above the fields) and the problems
    not already shown beside their own field, each once and in words, with its field path (for scripts)."""

    lead: str
    items: tuple[tuple[str, str], ...]


def error_text(message: str, errors: list[FieldError] | None = None, inline: Iterable[str] = ()) -> ErrorText:
    """Each message once: a field's problem beside the field when the page shows it there (`inline`), otherwise
    in the list; a message that only restates its one field's problem is not repeated."""
    errors = errors or []
    if not errors:
        return ErrorText(message, ())
    inline = set(inline)
    rest = [e for e in errors if e.field not in inline]
    # "Invalid schema: schema.x: the problem" is the API's one-line summary; a person reads the list instead.
    machine = re.match(rf"^(.+?): {re.escape(errors[0].field)}(: .*)?$", message)
    restates = message.strip() in {e.message.strip() for e in errors}
    if not rest:
        if machine or restates:
            n = len({e.field for e in errors})
            lead = "Correct the field marked below." if n == 1 else f"Correct the {n} fields marked below."
            return ErrorText(lead, ())
        return ErrorText(message, ())
    if machine:
        lead = machine.group(1) + ":"
    elif restates and len(errors) == 1:
        return ErrorText(message, ())
    else:
        lead = message
    return ErrorText(lead, tuple((e.field, f"{field_words(e.loc)}: {e.message}") for e in rest))


class AppError(Exception):
    """An expected failure with a status code and a message safe to show to the user."""

    status_code = 400

    def __init__(
        self, message: str, *, errors: list[FieldError] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []
        self.headers = headers or {}
        # More fields for JSON clients (e.g. the current version after a conflict).
        self.extra: dict[str, Any] = {}


class InvalidInput(AppError):
    status_code = 422

    @classmethod
    def for_field(cls, field: str, message: str) -> "InvalidInput":
        return cls(message, errors=[FieldError((field,), message)])


class Unauthorized(AppError):
    status_code = 401


class LoginRequired(Unauthorized):
    """A browser page needs a signed-in user: pages redirect to the login form."""

    redirect_to = "/login"


class PasswordChangeRequired(LoginRequired):
    """The user signed in with a one-time password and must choose their own first."""

    status_code = 403
    redirect_to = "/account/password"


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class Locked(AppError):
    """Another user holds the resource (a review lock)."""

    status_code = 423


class PayloadTooLarge(AppError):
    status_code = 413


class TooManyRequests(AppError):
    status_code = 429


class ServiceUnavailable(AppError):
    status_code = 503
