"""Gemini generateContent through google-genai (Gemini Developer API, not Vertex) as a Provider, with one attempt
per call (the SDK's own retries are off)."""

import re
import time
from typing import Any

import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from pydantic import SecretStr

from app.annotation.contract import JsonSchema
from app.annotation.provider_base import (
    DEFAULT_TIMEOUT,
    RETRYABLE_STATUS,
    Completion,
    Finish,
    ProviderError,
    elapsed_ms,
    error_message,
    retry_after_of,
    scrub,
)

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

GEMINI_DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/"
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
        self, *, system: str, user: str, json_schema: JsonSchema | None, temperature: float, max_output_tokens: int
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
        return _gemini_completion(response, latency_ms=elapsed_ms(started), secret=self._api_key)


def _gemini_completion(
    response: genai_types.GenerateContentResponse, *, latency_ms: int, secret: SecretStr
) -> Completion:
    dumped = response.model_dump(
        mode="json",
        by_alias=True,  # the wire's camelCase
        exclude_none=True,
        exclude={"sdk_http_response", "automatic_function_calling_history", "parsed"},
    )
    raw = scrub(dumped, secret)
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


def _gemini_error(exc: Exception, *, timeout: float, secret: SecretStr) -> ProviderError:
    if isinstance(exc, _TIMEOUTS):
        return ProviderError(f"gemini: no answer within {timeout:g} s (timeout)", retryable=True)
    if isinstance(exc, _TRANSPORT):
        return ProviderError(f"gemini: could not reach the server ({type(exc).__name__})", retryable=True)
    if isinstance(exc, genai_errors.APIError):
        status = int(exc.code) if exc.code else None
        retryable = status is not None and (status in RETRYABLE_STATUS or status >= 500)
        retry_after = None
        if retryable:
            headers = getattr(exc.response, "headers", None)
            retry_after = retry_after_of(headers) if headers is not None else None
            if retry_after is None:
                retry_after = _gemini_retry_delay(exc.details)
        label = f"gemini: HTTP {status}" + (f" {exc.status}" if exc.status else "")
        return ProviderError(
            error_message(label, exc.message, secret), retryable=retryable, retry_after=retry_after, status=status
        )
    # A body that is not JSON: a proxy or load balancer page, usually transient.
    return ProviderError("gemini: the server answered something that is not JSON", retryable=True)


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
