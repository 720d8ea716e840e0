"""Rate limits in real Redis: concurrency across clients, requests per minute."""

import asyncio
import threading
import time
import uuid
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from app.annotation.providers import Completion, ProviderError, call_with_retries
from app.annotation.ratelimit import Limits, RateLimiter
from app.config import get_settings
from tests.aio import run_async
from tests.fake_llm_server import FakeLLMServer, _Handler


def _limiter(name: str, limits: Limits) -> tuple[aioredis.Redis, RateLimiter]:
    limiter = RateLimiter.from_url(
        get_settings().client_redis_url, f"{get_settings().redis_key_prefix}rl:{name}", limits
    )
    return limiter.client, limiter


def test_concurrency_is_capped_across_independent_limiters() -> None:
    name = uuid.uuid4().hex
    peak = 0
    running = 0

    async def work(limiter: RateLimiter) -> None:
        nonlocal peak, running
        async with limiter.slot(10):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.05)
            running -= 1

    async def main() -> None:
        # Two limiters on one name stand for two worker processes.
        (c1, l1), (c2, l2) = _limiter(name, Limits(concurrency=3)), _limiter(name, Limits(concurrency=3))
        await asyncio.gather(*(work(l1 if i % 2 else l2) for i in range(12)))
        await c1.aclose()
        await c2.aclose()

    run_async(main())
    assert peak == 3


def test_requests_per_minute_bucket_admits_a_burst_then_waits() -> None:
    name = uuid.uuid4().hex

    async def main() -> list[float]:
        client, limiter = _limiter(name, Limits(concurrency=0, requests_per_minute=600))
        # Capacity 600/min refills 10 per second: once drained, 8 more admissions need most of a second.
        stamps = []
        drain_start = time.monotonic()
        for _ in range(600):
            await limiter.release(await limiter.acquire(1))
        refilled = (time.monotonic() - drain_start) * 10
        start = time.monotonic()
        for _ in range(8):
            await limiter.release(await limiter.acquire(1))
            stamps.append(time.monotonic() - start)
        await client.aclose()
        return [*stamps, refilled]

    *stamps, refilled = run_async(main())
    # Admissions beyond what refilled while draining had to wait for the bucket, at 10 per second.
    assert stamps[-1] >= (8 - refilled - 1) / 10


def test_a_dead_holder_frees_its_slot_after_the_lease_expires() -> None:
    name = uuid.uuid4().hex

    async def main() -> None:
        client, limiter = _limiter(name, Limits(concurrency=1))
        limiter.lease_ttl_ms = 200
        await limiter.acquire(1)  # never released, like a killed worker
        await asyncio.wait_for(limiter.acquire(1), timeout=5)
        await client.aclose()

    run_async(main())


def test_a_held_slot_is_renewed_so_nobody_takes_it_while_the_call_runs() -> None:
    name = uuid.uuid4().hex

    async def main() -> float:
        (c1, holder), (c2, other) = _limiter(name, Limits(concurrency=1)), _limiter(name, Limits(concurrency=1))
        holder.lease_ttl_ms = other.lease_ttl_ms = 300
        released_at = 0.0

        async def hold() -> None:
            nonlocal released_at
            async with holder.slot(1):
                await asyncio.sleep(1.0)  # more than three lease lifetimes
                released_at = time.monotonic()

        task = asyncio.create_task(hold())
        await asyncio.sleep(0.05)
        await other.acquire(1)
        acquired_at = time.monotonic()
        await task
        for client in (c1, c2):
            await client.aclose()
        return acquired_at - released_at

    assert run_async(main()) >= 0  # the second caller got the slot only after the first let go


class _CountingProvider:
    """A model call that counts itself in flight: retried (429), long (renewals needed), or stalling its event loop."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.done = 0

    async def complete(self, *, kind: str, attempt: list[int], **_kwargs: Any) -> Completion:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            attempt[0] += 1
            if kind == "retried" and attempt[0] == 1:
                raise ProviderError("429 Too Many Requests", retryable=True, retry_after=0.05, status=429)
            if kind == "stalls":
                time.sleep(STALL_S)  # CPU work or a starved thread: this loop runs nothing meanwhile
            else:
                await asyncio.sleep(LONG_CALL_S)
            with self.lock:
                self.done += 1
            return Completion(text="{}", input_tokens=1, output_tokens=1, finish="stop", latency_ms=1)
        finally:
            with self.lock:
                self.in_flight -= 1


LEASE_TTL_S = 0.5
LONG_CALL_S = 0.7  # longer than a lease: it holds its slot only through renewals
STALL_S = 1.2  # a stalled loop renews nothing for more than two lease lifetimes


def test_the_limit_holds_across_threads_with_retries_long_calls_and_stalled_loops() -> None:
    """Each thread stands for a worker thread: its own event loop, limiter and Redis connections. Before renewals
    left the event loop, a stalled loop's lease expired while its call ran and a waiting thread took the slot."""
    name = f"{get_settings().redis_key_prefix}rl:{uuid.uuid4().hex}"
    limit, threads, calls_each = 3, 10, 3
    provider = _CountingProvider()
    kinds = ("stalls", "retried", "long")

    async def worker(index: int) -> None:
        limiter = RateLimiter.from_url(
            get_settings().client_redis_url, name, Limits(concurrency=limit), lease_ttl_s=LEASE_TTL_S
        )
        for call in range(calls_each):
            async with limiter.slot(1):
                await call_with_retries(
                    provider,  # type: ignore[arg-type]
                    base_delay=0.01,
                    kind=kinds[(index + call) % len(kinds)],
                    attempt=[0],
                )
        await limiter.client.aclose()
        limiter.renew_client.close()

    barrier = threading.Barrier(threads)

    def run(index: int) -> None:
        barrier.wait()
        run_async(worker(index))

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert provider.done == threads * calls_each
    assert provider.peak == limit  # the limit was reached, and never passed


def test_a_lease_that_expired_while_its_call_ran_counts_again_at_the_next_renewal() -> None:
    name = uuid.uuid4().hex

    async def main() -> tuple[int, bool]:
        (c1, holder), (c2, other) = _limiter(name, Limits(concurrency=1)), _limiter(name, Limits(concurrency=1))
        holder.lease_ttl_ms = other.lease_ttl_ms = 300
        async with holder.slot(1):
            await c1.delete(holder.keys[0])  # expired and swept, as after a stall longer than a lease
            await asyncio.sleep(0.25)  # a renewal (every 100 ms) finds it gone and puts it back
            leases = int(await c1.zcard(holder.keys[0]))
            try:
                await asyncio.wait_for(other.acquire(1), timeout=0.3)
                let_in = True
            except TimeoutError:
                let_in = False
        for client in (c1, c2):
            await client.aclose()
        return leases, let_in

    assert run_async(main()) == (1, False)


def test_a_released_lease_is_never_renewed_back() -> None:
    """Renewals due all the time while slots come and go: none may put back a lease after its release."""
    name = uuid.uuid4().hex

    async def main() -> int:
        client, limiter = _limiter(name, Limits(concurrency=4))
        limiter.lease_ttl_ms = 30  # a renewal due every 10 ms

        async def one() -> None:
            async with limiter.slot(1):
                await asyncio.sleep(0.012)

        for _ in range(15):
            await asyncio.gather(*(one() for _ in range(4)))
        await asyncio.sleep(0.05)
        leases = int(await client.zcard(limiter.keys[0]))
        await client.aclose()
        return leases

    assert run_async(main()) == 0


def test_the_fake_server_counts_a_call_in_flight_only_until_its_answer_goes_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bench reads its limiter check from this count. A handler thread slow to resume after writing its
    answer (the machine is loaded) must not overlap the client's next call, which its slot rightly admitted."""
    sent = _Handler._send_json

    def slow_after_sending(self: _Handler, *args: Any, **kwargs: Any) -> None:
        sent(self, *args, **kwargs)
        time.sleep(0.3)

    monkeypatch.setattr(_Handler, "_send_json", slow_after_sending)
    with FakeLLMServer() as server, httpx.Client() as client:
        for _ in range(3):  # one call at a time, each new connection its own handler thread
            r = client.post(
                f"{server.openai_base_url}/chat/completions", json={"model": "m"}, headers={"Connection": "close"}
            )
            assert r.status_code == 200
        assert server.max_in_flight == 1
