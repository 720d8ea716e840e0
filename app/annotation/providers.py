"""Model provider adapters (OpenAI-compatible, Gemini) behind one Protocol, and the one retry layer.

The SDKs' own retries are off: every attempt is ours, so attempt counts, delays and cost are ours to see.
Keys never leave this module in a message, a repr or `Completion.raw`.
"""

import asyncio
import email.utils
import logging
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import httpx2
import openai
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam, completion_create_params
from pydantic import SecretStr

from app.config import Settings

try:  # google-genai uses httpx when GOOGLE_GENAI_HTTP_CLIENT=httpx; httpx2 otherwise
    import httpx

    _TIMEOUTS: tuple[type[Exception], ...] = (httpx2.TimeoutException, httpx.TimeoutException)
    _TRANSPORT: tuple[type[Exception], ...] = (httpx2.TransportError, httpx.TransportError)
except ImportError:  # pragma: no cover - httpx is optional
    _TIMEOUTS = (httpx2.TimeoutException,)
    _TRANSPORT = (httpx2.TransportError,)
try:  # google-genai's async calls go through aiohttp whenever it is installed (other packages bring it along)
    import aiohttp

    # aiohttp's total timeout raises the builtin TimeoutError; its socket timeouts are ServerTimeoutError.
    _TIMEOUTS += (TimeoutError, aiohttp.ServerTimeoutError)
    _TRANSPORT += (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)
except ImportError:  # pragma: no cover - aiohttp is optional
    _TIMEOUTS += (TimeoutError,)

log = logging.getLogger(__name__)

Finish = Literal["stop", "length", "safety", "error"]
JsonMode = Literal["json_schema", "json_object"]
LengthParam = Literal["max_completion_tokens", "max_tokens"]

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
GEMINI_DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/"
DEFAULT_TIMEOUT = 120.0
# 408/409/425/429 and every 5xx are worth another attempt; other 4xx will fail the same way again.
_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
_MAX_MESSAGE = 300
_JSON_WORD = re.compile("json", re.IGNORECASE)
_GEMINI_LENGTH = frozenset({"MAX_TOKENS", "CONTINUATION"})
_GEMINI_SAFETY = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "MODEL_ARMOR",
    }
)
_GEMINI_CALL_ERRORS: tuple[type[Exception], ...] = (
    genai_errors.APIError,
    genai_errors.UnknownApiResponseError,
    *_TIMEOUTS,
    *_TRANSPORT,
)
_jitter = random.SystemRandom()


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
        self, *, system: str, user: str, json_schema: dict[str, Any] | None, temperature: float, max_output_tokens: int
    ) -> Completion: ...


class OpenAIProvider:
    """OpenAI chat completions, or any compatible endpoint (DeepSeek, Qwen, vLLM) with json_mode="json_object"."""

    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        json_mode: JsonMode = "json_schema",
        length_param: LengthParam | None = None,
    ) -> None:
        if not api_key:
            raise ProviderError("openai: an API key is required", retryable=False)
        self.model = model
        self.base_url = base_url or OPENAI_DEFAULT_BASE_URL
        self.timeout = timeout
        self.json_mode = json_mode
        # OpenAI's newer models only take max_completion_tokens; most compatible servers only max_tokens.
        self.length_param: LengthParam = length_param or (
            "max_completion_tokens" if json_mode == "json_schema" else "max_tokens"
        )
        self._api_key = SecretStr(api_key)
        self._client: openai.AsyncOpenAI | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"OpenAIProvider(model={self.model!r}, base_url={self.base_url!r}, json_mode={self.json_mode!r})"

    def _sdk(self) -> openai.AsyncOpenAI:
        # An httpx2 pool belongs to the event loop that opened it: one client per loop.
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = openai.AsyncOpenAI(
                api_key=self._api_key.get_secret_value(),
                base_url=self.base_url,
                max_retries=0,
                timeout=self.timeout,
            )
            self._loop = loop
        return self._client

    def prepare(self) -> None:
        """Build this event loop's client now (TLS setup costs ~65 ms), before a rate-limit slot is taken."""
        self._sdk()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def complete(
        self, *, system: str, user: str, json_schema: dict[str, Any] | None, temperature: float, max_output_tokens: int
    ) -> Completion:
        response_format: completion_create_params.ResponseFormat
        if self.json_mode == "json_schema" and json_schema is not None:
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": "annotation", "schema": json_schema, "strict": True},
            }
        else:
            response_format = {"type": "json_object"}
            system = ensure_json_word(system, user)
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        started = time.monotonic()
        try:
            response = await self._sdk().chat.completions.create(
                model=self.model,
                messages=messages,
                response_format=response_format,
                temperature=temperature,
                max_completion_tokens=max_output_tokens
                if self.length_param == "max_completion_tokens"
                else openai.omit,
                max_tokens=max_output_tokens if self.length_param == "max_tokens" else openai.omit,
            )
        except openai.OpenAIError as exc:
            raise _openai_error(exc, timeout=self.timeout, secret=self._api_key) from None
        return _openai_completion(response, latency_ms=_elapsed_ms(started), secret=self._api_key)


class GeminiProvider:
    """Gemini generateContent through google-genai (Gemini Developer API, not Vertex)."""

    name = "gemini"

    def __init__(
        self,
        model: str,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        api_version: str = "v1beta",
    ) -> None:
        if not api_key:
            raise ProviderError("gemini: an API key is required", retryable=False)
        self.model = model
        self.base_url = base_url or GEMINI_DEFAULT_BASE_URL
        self.timeout = timeout
        self.api_version = api_version
        self._api_key = SecretStr(api_key)
        self._client: genai.Client | None = None

    def __repr__(self) -> str:
        return f"GeminiProvider(model={self.model!r}, base_url={self.base_url!r}, api_version={self.api_version!r})"

    def _sdk(self) -> genai.Client:
        # google-genai keeps one connection pool per event loop itself.
        if self._client is None:
            self._client = genai.Client(
                api_key=self._api_key.get_secret_value(),
                vertexai=False,
                http_options=genai_types.HttpOptions(
                    base_url=self.base_url,
                    api_version=self.api_version,
                    timeout=max(1, round(self.timeout * 1000)),  # milliseconds
                    # Explicit options with one attempt: no tenacity retries and no implicit reconnect retry.
                    retry_options=genai_types.HttpRetryOptions(attempts=1),
                ),
            )
        return self._client

    def prepare(self) -> None:
        """Build the client now (TLS setup), before a rate-limit slot is taken."""
        self._sdk()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aio.aclose()
            self._client = None

    async def complete(
        self, *, system: str, user: str, json_schema: dict[str, Any] | None, temperature: float, max_output_tokens: int
    ) -> Completion:
        config = genai_types.GenerateContentConfig(
            system_instruction=system,
            temperature=temperature,
            max_output_tokens=max_output_tokens,
            response_mime_type="application/json",
            response_json_schema=json_schema,
            # One HTTP request per call: no function-calling loop, no automatic continuation requests.
            automatic_function_calling=genai_types.AutomaticFunctionCallingConfig(disable=True),
            automatic_continuation=False,
        )
        started = time.monotonic()
        try:
            response = await self._sdk().aio.models.generate_content(model=self.model, contents=user, config=config)
        except _GEMINI_CALL_ERRORS as exc:
            raise _gemini_error(exc, timeout=self.timeout, secret=self._api_key) from None
        return _gemini_completion(response, latency_ms=_elapsed_ms(started), secret=self._api_key)


async def close_provider(provider: Provider) -> None:
    """Close the provider's HTTP pool, if it has one; call it before the event loop ends."""
    aclose = getattr(provider, "aclose", None)
    if aclose is not None:
        await aclose()


def ensure_json_word(system: str, user: str) -> str:
    """JSON mode (json_object) rejects prompts that never say "json"; add a line to the system prompt if needed."""
    if _JSON_WORD.search(system) or _JSON_WORD.search(user):
        return system
    return f"{system}\n\nAnswer with one json object only."


async def call_with_retries(
    provider: Provider,
    *,
    attempts: int = 4,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
    max_retry_after: float = 300.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    **kwargs: Any,
) -> Completion:
    """Call `provider.complete(**kwargs)`, retrying transient failures with full-jitter exponential backoff.

    A server's Retry-After is a floor for the delay; one longer than `max_retry_after` fails at once, to be
    rescheduled by the job rather than holding a worker.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    last = ProviderError("no attempt made", retryable=True)
    for attempt in range(1, attempts + 1):
        try:
            completion = await provider.complete(**kwargs)
        except ProviderError as exc:
            if not exc.retryable:
                raise
            last = exc
        else:
            if completion.finish != "error":
                return completion
            last = ProviderError("the model returned no usable answer", retryable=True)
        if attempt == attempts:
            break
        if last.retry_after is not None and last.retry_after > max_retry_after:
            raise last
        delay = _jitter.uniform(0, min(max_delay, base_delay * 2 ** (attempt - 1)))
        if last.retry_after is not None:
            delay = max(delay, last.retry_after)
        log.info("%r: attempt %d of %d failed (%s); retrying in %.2f s", provider, attempt, attempts, last, delay)
        await sleep(delay)
    raise ProviderError(
        f"{last.message} (after {attempts} attempts)", retryable=True, retry_after=last.retry_after, status=last.status
    )


def env_prefix_for(name: str) -> str:
    """CONCORD_ANNOTATOR_<NAME>, NAME upper-cased with non-alphanumerics as "_"; idempotent."""
    normalized = re.sub(r"[^A-Za-z0-9]", "_", name).upper()
    return normalized if normalized.startswith("CONCORD_ANNOTATOR_") else f"CONCORD_ANNOTATOR_{normalized}"


@dataclass(frozen=True)
class Credentials:
    """Where an annotator's key and base URL come from; `source` and `hint` name variables, never values."""

    key: SecretStr | None
    base_url: str | None
    source: str
    hint: str

    @property
    def present(self) -> bool:
        return self.key is not None and bool(self.key.get_secret_value().strip())


def resolve_credentials(
    provider: str,
    *,
    settings: Settings,
    annotator_env_prefix: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """The key and base URL from settings, or from the annotator's own variables when any of them is set.

    Those come as a pair (the base URL defaulting to the provider's official endpoint), so a key is never sent
    to another vendor's URL.
    """
    env = os.environ if environ is None else environ
    if provider == "openai":
        key, base_url, var = settings.openai_api_key, settings.openai_base_url, "OPENAI_API_KEY"
    elif provider == "gemini":
        key, base_url, var = settings.gemini_api_key, settings.google_gemini_base_url, "GEMINI_API_KEY"
    else:
        raise ProviderError(f"unknown model provider {provider!r} (expected openai or gemini)", retryable=False)
    if not annotator_env_prefix:
        return Credentials(key, base_url, var, var)
    prefix = env_prefix_for(annotator_env_prefix)
    own_key, own_url = env.get(f"{prefix}_API_KEY"), env.get(f"{prefix}_BASE_URL")
    if own_key or own_url:
        own = f"{prefix}_API_KEY"
        return Credentials(SecretStr(own_key) if own_key else None, own_url, own, own)
    return Credentials(key, base_url, var, f"{var} (or {prefix}_API_KEY)")


def make_provider(
    provider: str,
    model: str,
    *,
    settings: Settings,
    annotator_env_prefix: str | None = None,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> Provider:
    """A provider with its key and base URL from settings, or from the annotator's own variables.

    `annotator_env_prefix` is an annotator name or its CONCORD_ANNOTATOR_<NAME> prefix (see resolve_credentials).
    """
    if provider == "sample":  # the demo's replayed answers: no key, no network
        from app.annotation.sample import SampleProvider  # here: sample.py imports this module's types

        return SampleProvider(model)
    credentials = resolve_credentials(
        provider, settings=settings, annotator_env_prefix=annotator_env_prefix, environ=environ
    )
    if not credentials.present or credentials.key is None:
        raise ProviderError(f"{provider}: no API key configured; set {credentials.hint}", retryable=False)
    key, base_url = credentials.key.get_secret_value().strip(), credentials.base_url or None
    if provider == "openai":
        return OpenAIProvider(model, api_key=key, base_url=base_url, **options)
    return GeminiProvider(model, api_key=key, base_url=base_url, **options)


# -- response and error mapping ------------------------------------------------------------------------------


def _openai_completion(response: ChatCompletion, *, latency_ms: int, secret: SecretStr) -> Completion:
    raw = _scrub(response.model_dump(mode="json", exclude_none=True), secret)
    usage = response.usage
    tokens_in = usage.prompt_tokens if usage else 0
    tokens_out = usage.completion_tokens if usage else 0
    if not response.choices:
        return Completion(None, tokens_in, tokens_out, "error", latency_ms, raw)
    choice = response.choices[0]
    text = choice.message.content
    finish: Finish
    if choice.finish_reason == "stop":
        # Structured outputs answer a refusal in `refusal`, with no content.
        finish = "safety" if text is None and choice.message.refusal else "stop"
    elif choice.finish_reason == "length":
        finish = "length"
    elif choice.finish_reason == "content_filter":
        finish = "safety"
    else:
        finish = "error"
    return Completion(text, tokens_in, tokens_out, finish, latency_ms, raw)


def _gemini_completion(
    response: genai_types.GenerateContentResponse, *, latency_ms: int, secret: SecretStr
) -> Completion:
    dumped = response.model_dump(
        mode="json",
        by_alias=True,  # the wire's camelCase
        exclude_none=True,
        exclude={"sdk_http_response", "automatic_function_calling_history", "parsed"},
    )
    raw = _scrub(dumped, secret)
    usage = response.usage_metadata
    tokens_in = (usage.prompt_token_count or 0) if usage else 0
    # Thinking tokens are billed as output.
    tokens_out = ((usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)) if usage else 0
    if not response.candidates:
        blocked = response.prompt_feedback is not None and response.prompt_feedback.block_reason is not None
        return Completion(None, tokens_in, tokens_out, "safety" if blocked else "error", latency_ms, raw)
    candidate = response.candidates[0]
    parts = candidate.content.parts if candidate.content and candidate.content.parts else None
    text = None if parts is None else "".join(p.text for p in parts if p.text is not None and not p.thought)
    reason = candidate.finish_reason.value if candidate.finish_reason is not None else None
    finish: Finish
    if reason == "STOP" or (reason is None and text is not None):
        finish = "stop"
    elif reason in _GEMINI_LENGTH:
        finish = "length"
    elif reason in _GEMINI_SAFETY:
        finish = "safety"
    else:
        finish = "error"
    return Completion(text, tokens_in, tokens_out, finish, latency_ms, raw)


def _openai_error(exc: openai.OpenAIError, *, timeout: float, secret: SecretStr) -> ProviderError:
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(f"openai: no answer within {timeout:g} s (timeout)", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        cause = type(exc.__cause__).__name__ if exc.__cause__ else "connection error"
        return ProviderError(f"openai: could not reach the server ({cause})", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = exc.body.get("message") if isinstance(exc.body, dict) else None
        retryable = status in _RETRYABLE_STATUS or status >= 500
        if status == 429 and exc.code == "insufficient_quota":
            retryable = False  # the account is out of credit: waiting will not help
        return ProviderError(
            _message(f"openai: HTTP {status}", detail, secret),
            retryable=retryable,
            retry_after=_retry_after(exc.response.headers) if retryable else None,
            status=status,
        )
    return ProviderError(_message("openai", type(exc).__name__, secret), retryable=False)


def _gemini_error(exc: Exception, *, timeout: float, secret: SecretStr) -> ProviderError:
    if isinstance(exc, _TIMEOUTS):
        return ProviderError(f"gemini: no answer within {timeout:g} s (timeout)", retryable=True)
    if isinstance(exc, _TRANSPORT):
        return ProviderError(f"gemini: could not reach the server ({type(exc).__name__})", retryable=True)
    if isinstance(exc, genai_errors.APIError):
        status = int(exc.code) if exc.code else None
        retryable = status is not None and (status in _RETRYABLE_STATUS or status >= 500)
        retry_after = None
        if retryable:
            headers = getattr(exc.response, "headers", None)
            retry_after = _retry_after(headers) if headers is not None else None
            if retry_after is None:
                retry_after = _gemini_retry_delay(exc.details)
        label = f"gemini: HTTP {status}" + (f" {exc.status}" if exc.status else "")
        return ProviderError(
            _message(label, exc.message, secret), retryable=retryable, retry_after=retry_after, status=status
        )
    # A body that is not JSON: a proxy or load balancer page, usually transient.
    return ProviderError("gemini: the server answered something that is not JSON", retryable=True)


def _retry_after(headers: Mapping[str, str]) -> float | None:
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


def _gemini_retry_delay(details: Any) -> float | None:
    """The google.rpc.RetryInfo delay ("37s") of a Gemini error body."""
    error = details.get("error", details) if isinstance(details, dict) else None
    items = error.get("details") if isinstance(error, dict) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = re.fullmatch(r"\s*([0-9.]+)s\s*", str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _message(label: str, detail: object, secret: SecretStr) -> str:
    text = f"{label}: {detail}" if detail else label
    text = _redact(text, secret)
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _redact(text: str, secret: SecretStr) -> str:
    value = secret.get_secret_value()
    # Real keys are long; a toy one would redact ordinary words.
    return text.replace(value, "[redacted]") if len(value) >= 8 else text


def _scrub(data: Any, secret: SecretStr) -> Any:
    """The data with any occurrence of the key replaced, in case a server echoes it."""
    if isinstance(data, str):
        return _redact(data, secret)
    if isinstance(data, dict):
        return {k: _scrub(v, secret) for k, v in data.items()}
    if isinstance(data, list):
        return [_scrub(v, secret) for v in data]
    return data


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
