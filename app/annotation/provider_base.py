"""What every model provider shares: the answer (Completion), the error (ProviderError), the Protocol, and the
helpers that keep keys out of messages and stored responses."""

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import SecretStr

from app.annotation.contract import JsonSchema

Finish = Literal["stop", "length", "safety", "error"]

DEFAULT_TIMEOUT = 120.0
# 408/409/425/429 and every 5xx are worth another attempt; other 4xx will fail the same way again.
RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
MAX_MESSAGE = 300


@dataclass(frozen=True)
class Completion:
    """One model answer, normalised across providers."""

    text: str | None
    input_tokens: int
    output_tokens: int
    finish: Finish
    latency_ms: int
    # The provider's response as JSON-able data, for storage; never holds a key.
    raw: dict[str, Any] | None = field(default=None, repr=False)


class ProviderError(Exception):
    """A failed model call; `retryable` tells call_with_retries whether another attempt can help."""

    def __init__(
        self, message: str, *, retryable: bool, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status

    def __repr__(self) -> str:
        return f"ProviderError({self.message!r}, retryable={self.retryable}, status={self.status})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields survive pickling (result backends, multiprocessing).
        return (_rebuild_error, (self.message, self.retryable, self.retry_after, self.status))


def _rebuild_error(message: str, retryable: bool, retry_after: float | None, status: int | None) -> ProviderError:
    return ProviderError(message, retryable=retryable, retry_after=retry_after, status=status)


class Provider(Protocol):
    async def complete(
        self, *, system: str, user: str, json_schema: JsonSchema | None, temperature: float, max_output_tokens: int
    ) -> Completion: ...


# -- keys out of messages and stored responses -------------------------------------------------------------


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    """Seconds from retry-after-ms, or Retry-After as seconds or an HTTP date."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_message(label: str, detail: object, secret: SecretStr) -> str:
    text = f"{label}: {detail}" if detail else label
    text = redact(text, secret)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def redact(text: str, secret: SecretStr) -> str:
    value = secret.get_secret_value()
    # Real keys are long; a toy one would redact ordinary words.
    return text.replace(value, "[redacted]") if len(value) >= 8 else text


def scrub(data: Any, secret: SecretStr) -> Any:
    """The data with any occurrence of the key replaced, in case a server echoes it."""
    if isinstance(data, str):
        return redact(data, secret)
    if isinstance(data, dict):
        return {k: scrub(v, secret) for k, v in data.items()}
    if isinstance(data, list):
        return [scrub(v, secret) for v in data]
    return data


def elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
