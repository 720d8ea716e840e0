"""Model providers (OpenAI-compatible, Gemini) behind one Protocol, made from settings or an annotator's own
variables, and the one retry layer.

The SDKs' own retries are off: every attempt is ours, so attempt counts, delays and cost are ours to see.
Keys never leave the provider modules in a message, a repr or `Completion.raw`.
"""

import asyncio
import logging
import os
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from app.annotation.gemini_provider import GEMINI_DEFAULT_BASE_URL, GeminiProvider
from app.annotation.openai_provider import OPENAI_DEFAULT_BASE_URL, OpenAIProvider, ensure_json_word
from app.annotation.provider_base import DEFAULT_TIMEOUT, Completion, Finish, Provider, ProviderError
from app.config import Settings

__all__ = [
    "DEFAULT_TIMEOUT",
    "GEMINI_DEFAULT_BASE_URL",
    "OPENAI_DEFAULT_BASE_URL",
    "Completion",
    "Credentials",
    "Finish",
    "GeminiProvider",
    "OpenAIProvider",
    "Provider",
    "ProviderError",
    "call_with_retries",
    "close_provider",
    "ensure_json_word",
    "env_prefix_for",
    "make_provider",
    "resolve_credentials",
]

log = logging.getLogger(__name__)
_jitter = random.SystemRandom()


async def close_provider(provider: Provider) -> None:
    """Close the provider's HTTP pool, if it has one; call it before the event loop ends."""
    aclose = getattr(provider, "aclose", None)
    if aclose is not None:
        await aclose()


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
