"""One annotator's pass over one document: windows → prompts → cached, rate-limited calls → contract output.

Every paid call is stored (and committed) the moment it returns, keyed by the hash of everything sent, so a
re-run or a killed worker never pays twice for the same request.
"""

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis.asyncio as aioredis
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.annotation.builtin import BUILTIN_PROVIDERS, annotate_builtin
from app.annotation.contract import AnnotationOutput, EntityOut, OutputError, RelationOut, parse_model_json
from app.annotation.cost import call_cost
from app.annotation.prompts import REPAIR, Prompt, annotation_prompt, prompt_version
from app.annotation.providers import Completion, ProviderError, call_with_retries, make_provider, resolve_credentials
from app.annotation.ratelimit import Limits, RateLimiter
from app.annotation.service import project_spent
from app.annotation.windows import WindowEntity, estimate_tokens, make_windows, merge_entities
from app.config import get_settings
from app.db import require_id
from app.models import Annotator, AnnotatorKind, LlmCall, Project
from app.project.label_schema import LabelSchema

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")
BUILTIN_VERSION = "builtin-v1"
DEFAULT_WINDOW_TOKENS = 3000
CALL_LOCK_SECONDS = 15


class RunFailure(Exception):
    """The annotator could not produce a usable answer; the reason is shown per document."""


class BudgetExhausted(RunFailure):
    """The project's budget cap is reached; annotating again after raising it resumes."""


class Truncated(Exception):
    """The answer hit the output-token limit: the window is split and asked again."""


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    latency_ms: int = 0
    calls: int = 0
    cached: int = 0

    def add(self, call: LlmCall, *, cached: bool) -> None:
        self.input_tokens += call.input_tokens
        self.output_tokens += call.output_tokens
        self.cost += float(call.cost)
        self.latency_ms += call.latency_ms
        self.calls += 1
        self.cached += int(cached)


@dataclass
class CallContext:
    """What every call of one run needs."""

    engine: Engine
    annotator: Annotator
    project: Project
    document_id: int | None
    provider: Any = None
    limiter: RateLimiter | None = None
    usage: Usage = field(default_factory=Usage)


def version_for(annotator: Annotator, schema: LabelSchema, guidelines: str) -> str:
    """The prompt version a run of this annotator is stored under."""
    if annotator.kind == AnnotatorKind.imported:
        return "import"
    if annotator.provider in BUILTIN_PROVIDERS:
        return BUILTIN_VERSION
    if annotator.kind == AnnotatorKind.model:
        # One version per trained model: a model switched in annotates every document afresh.
        return f"model-run-{annotator.parameters.get('training_run')}"
    return prompt_version(schema, guidelines)


def parameters(annotator: Annotator) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "temperature": 0.0,
        "max_output_tokens": 4096,
        "concurrency": 4,
        "requests_per_minute": 0,
        "tokens_per_minute": 0,
        "window_tokens": DEFAULT_WINDOW_TOKENS,
        "timeout": 120.0,
    }
    return {**defaults, **annotator.parameters}


def request_hash(annotator: Annotator, prompt: Prompt) -> str:
    params = parameters(annotator)
    payload = [
        annotator.provider,
        annotator.model,
        params["temperature"],
        params["max_output_tokens"],
        params.get("json_mode"),
        prompt.system,
        prompt.user,
        prompt.json_schema,
    ]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def _cached(engine: Engine, digest: str) -> LlmCall | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.exec(select(LlmCall).where(LlmCall.request_hash == digest)).first()


def _spent(engine: Engine, project_id: int) -> float:
    with Session(engine) as session:
        return project_spent(session, project_id=project_id)


def _store(engine: Engine, call: LlmCall) -> LlmCall:
    with Session(engine, expire_on_commit=False) as session:
        session.add(call)
        try:
            session.commit()
        except Exception:
            # The same request finished in another worker meanwhile: its stored answer wins.
            session.rollback()
            existing = session.exec(select(LlmCall).where(LlmCall.request_hash == call.request_hash)).first()
            if existing is None:
                raise
            return existing
    return call


async def paid_call(ctx: CallContext, prompt: Prompt, *, purpose: str) -> tuple[LlmCall, bool]:
    """The stored answer for this exact request, or a new call (budget, rate limits, retries) stored at once."""
    digest = request_hash(ctx.annotator, prompt)
    hit = await asyncio.to_thread(_cached, ctx.engine, digest)
    if hit is not None:
        ctx.usage.add(hit, cached=True)
        return hit, True
    budget = ctx.project.settings.get("budget_usd")
    if budget is not None and await asyncio.to_thread(_spent, ctx.engine, require_id(ctx.project)) >= float(budget):
        raise BudgetExhausted(f"the project's budget of ${float(budget):.2f} is spent")
    params = parameters(ctx.annotator)
    assert ctx.limiter is not None and ctx.provider is not None
    # One caller per request: a copy of this job delivered again meanwhile waits for the answer instead of paying.
    # The lock is short and renewed while the call runs, so a killed worker's lock is gone within seconds.
    client = ctx.limiter.client
    lock = f"{get_settings().redis_key_prefix}call:{digest}"
    while not await client.set(lock, "1", nx=True, ex=CALL_LOCK_SECONDS):
        await asyncio.sleep(0.5)
        hit = await asyncio.to_thread(_cached, ctx.engine, digest)
        if hit is not None:
            ctx.usage.add(hit, cached=True)
            return hit, True
    renewer = asyncio.get_running_loop().create_task(_keep_lock(client, lock))
    try:
        hit = await asyncio.to_thread(_cached, ctx.engine, digest)  # answered while we waited for the lock
        if hit is not None:
            ctx.usage.add(hit, cached=True)
            return hit, True
        return await _call_and_store(ctx, prompt, digest, purpose, params)
    finally:
        renewer.cancel()
        await client.delete(lock)


async def _keep_lock(client: aioredis.Redis, lock: str) -> None:
    while True:
        await asyncio.sleep(CALL_LOCK_SECONDS / 3)
        await client.expire(lock, CALL_LOCK_SECONDS)


async def _call_and_store(
    ctx: CallContext, prompt: Prompt, digest: str, purpose: str, params: dict[str, Any]
) -> tuple[LlmCall, bool]:
    assert ctx.limiter is not None and ctx.provider is not None
    prepare = getattr(ctx.provider, "prepare", None)
    if prepare is not None:
        prepare()
    started = time.monotonic()
    async with ctx.limiter.slot(estimate_tokens(prompt.system + prompt.user) + int(params["max_output_tokens"])):
        try:
            completion: Completion = await call_with_retries(
                ctx.provider,
                system=prompt.system,
                user=prompt.user,
                json_schema=prompt.json_schema,
                temperature=float(params["temperature"]),
                max_output_tokens=int(params["max_output_tokens"]),
            )
        except ProviderError as exc:
            raise RunFailure(f"{ctx.annotator.provider} call failed: {exc}") from None
    call = LlmCall(
        request_hash=digest,
        annotator_id=require_id(ctx.annotator),
        document_id=ctx.document_id,
        purpose=purpose,
        text=completion.text,
        finish=completion.finish,
        input_tokens=completion.input_tokens,
        output_tokens=completion.output_tokens,
        cost=call_cost(
            completion.input_tokens,
            completion.output_tokens,
            price_input_per_m=float(ctx.annotator.price_input_per_m),
            price_output_per_m=float(ctx.annotator.price_output_per_m),
        ),
        latency_ms=completion.latency_ms or int((time.monotonic() - started) * 1000),
    )
    call = await asyncio.to_thread(_store, ctx.engine, call)
    ctx.usage.add(call, cached=False)
    return call, False


async def ask_json(ctx: CallContext, prompt: Prompt, model: type[T], *, purpose: str) -> T:
    """A contract object: tolerant parse, then one repair request, then a recorded failure."""
    call, _ = await paid_call(ctx, prompt, purpose=purpose)
    if call.finish == "length":
        raise Truncated()
    if call.finish == "safety":
        raise RunFailure("the provider blocked the request or the answer (safety filter)")
    try:
        return parse_model_json(call.text, model)
    except OutputError as first:
        repair = Prompt(prompt.system, f"{prompt.user}\n\n{REPAIR.format(problem=first)}", prompt.json_schema)
        fixed, _ = await paid_call(ctx, repair, purpose="repair")
        if fixed.finish == "length":
            raise Truncated() from None
        try:
            return parse_model_json(fixed.text, model)
        except OutputError as second:
            raise RunFailure(f"invalid output after one repair request: {second}") from None


def merge_outputs(outputs: list[AnnotationOutput]) -> AnnotationOutput:
    """One document-level output from per-window outputs: entities merged by normalized name and type."""
    merged = merge_entities(
        [[WindowEntity(e.id, e.type, e.name, list(e.mentions)) for e in out.entities] for out in outputs]
    )
    entities = [
        EntityOut(id=f"E{i + 1}", type=m.type, name=m.name, mentions=list(dict.fromkeys([m.name, *m.mentions])))
        for i, m in enumerate(merged.entities)
    ]
    relations: dict[tuple[str, str, str], RelationOut] = {}
    for window, out in enumerate(outputs):
        for r in out.relations:
            head, tail = merged.index.get((window, r.head)), merged.index.get((window, r.tail))
            if head is None or tail is None:
                continue
            key = (entities[head].id, entities[tail].id, r.type)
            if key in relations:
                relations[key].evidence = sorted({*relations[key].evidence, *r.evidence})
            else:
                relations[key] = RelationOut(head=key[0], tail=key[1], type=r.type, evidence=sorted(set(r.evidence)))
    return AnnotationOutput(entities=entities, relations=list(relations.values()))


async def annotate_windows(
    ctx: CallContext, schema: LabelSchema, guidelines: str, *, title: str, text: str, sentences: list[tuple[int, int]]
) -> AnnotationOutput:
    """Never truncates: windows within the token budget; a window cut off by the output limit is halved."""
    budget = int(parameters(ctx.annotator)["window_tokens"])
    pending = make_windows(text, sentences, budget_tokens=budget) or [[]]
    outputs: list[AnnotationOutput] = []
    while pending:
        ids = pending.pop(0)
        prompt = annotation_prompt(schema, guidelines, title=title, text=text, sentences=sentences, ids=ids)
        try:
            outputs.append(await ask_json(ctx, prompt, AnnotationOutput, purpose="annotate"))
        except Truncated:
            if len(ids) <= 1:
                raise RunFailure("the answer for a single sentence exceeded the output-token limit") from None
            half = len(ids) // 2
            pending[:0] = [ids[:half], ids[half:]]
    return merge_outputs(outputs)


# One event loop per worker thread, kept across jobs, so that model clients (and their connection pools and TLS
# contexts) and Redis connections are built once per thread instead of once per job.
_local = threading.local()


def run_async(coro: Coroutine[Any, Any, R]) -> R:
    """Run a coroutine on this thread's own long-lived event loop."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _local.loop = loop
        _local.providers = {}
        _local.limiters = {}
    return loop.run_until_complete(coro)


def _credentials_digest(annotator: Annotator) -> str:
    """Which key and endpoint the annotator would use now, as a digest (a changed setting means a new client)."""
    if annotator.provider not in ("openai", "gemini"):
        return ""
    credentials = resolve_credentials(annotator.provider, settings=get_settings(), annotator_env_prefix=annotator.name)
    key = credentials.key.get_secret_value() if credentials.key is not None else None
    return hashlib.sha256(json.dumps([key, credentials.base_url]).encode()).hexdigest()


def open_context(engine: Engine, annotator: Annotator, project: Project, document_id: int | None) -> CallContext:
    """Provider client and rate limiter for one run, reused across runs of this thread (keys from the environment)."""
    settings = get_settings()
    params = parameters(annotator)
    allowed = {"openai": ("timeout", "json_mode"), "gemini": ("timeout", "api_version")}.get(annotator.provider, ())
    options = {k: params[k] for k in allowed if params.get(k) is not None}
    providers: dict[tuple[Any, ...], Any] = _local.__dict__.setdefault("providers", {})
    key = (
        annotator.name,
        annotator.provider,
        annotator.model,
        json.dumps(options, sort_keys=True),
        _credentials_digest(annotator),
    )
    if key not in providers:
        try:
            providers[key] = make_provider(
                annotator.provider, annotator.model, settings=settings, annotator_env_prefix=annotator.name, **options
            )
        except ProviderError as exc:
            raise RunFailure(str(exc)) from None
    limits = Limits(
        concurrency=int(params["concurrency"]),
        requests_per_minute=int(params["requests_per_minute"]),
        tokens_per_minute=int(params["tokens_per_minute"]),
    )
    name = f"{settings.redis_key_prefix}annotator:{annotator.id}"
    limiters: dict[tuple[Any, ...], RateLimiter] = _local.__dict__.setdefault("limiters", {})
    limiter_key = (settings.client_redis_url, name, limits)
    if limiter_key not in limiters:
        limiters[limiter_key] = RateLimiter.from_url(settings.client_redis_url, name, limits)
    return CallContext(engine, annotator, project, document_id, provider=providers[key], limiter=limiters[limiter_key])


def annotate_offline(annotator: Annotator, text: str, sentences: list[tuple[int, int]]) -> AnnotationOutput:
    return annotate_builtin(annotator.provider, text, sentences)
