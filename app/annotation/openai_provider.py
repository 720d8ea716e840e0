"""OpenAI chat completions, or any compatible endpoint, as a Provider. The SDK's own retries are off."""

import asyncio
import re
import time
from typing import Literal

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam, completion_create_params
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

JsonMode = Literal["json_schema", "json_object"]
LengthParam = Literal["max_completion_tokens", "max_tokens"]
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
_JSON_WORD = re.compile("json", re.IGNORECASE)


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
        self, *, system: str, user: str, json_schema: JsonSchema | None, temperature: float, max_output_tokens: int
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
        return _openai_completion(response, latency_ms=elapsed_ms(started), secret=self._api_key)


def ensure_json_word(system: str, user: str) -> str:
    """JSON mode (json_object) rejects prompts that never say "json"; add a line to the system prompt if needed."""
    if _JSON_WORD.search(system) or _JSON_WORD.search(user):
        return system
    return f"{system}\n\nAnswer with one json object only."


def _openai_completion(response: ChatCompletion, *, latency_ms: int, secret: SecretStr) -> Completion:
    raw = scrub(response.model_dump(mode="json", exclude_none=True), secret)
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


def _openai_error(exc: openai.OpenAIError, *, timeout: float, secret: SecretStr) -> ProviderError:
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(f"openai: no answer within {timeout:g} s (timeout)", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        cause = type(exc.__cause__).__name__ if exc.__cause__ else "connection error"
        return ProviderError(f"openai: could not reach the server ({cause})", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = exc.body.get("message") if isinstance(exc.body, dict) else None
        retryable = status in RETRYABLE_STATUS or status >= 500
        if status == 429 and exc.code == "insufficient_quota":
            retryable = False  # the account is out of credit: waiting will not help
        return ProviderError(
            error_message(f"openai: HTTP {status}", detail, secret),
            retryable=retryable,
            retry_after=retry_after_of(exc.response.headers) if retryable else None,
            status=status,
        )
    return ProviderError(error_message("openai", type(exc).__name__, secret), retryable=False)
