"""Rate limits in real Redis: concurrency across clients, requests per minute."""

import asyncio
import time
import uuid

import redis.asyncio as aioredis

from app.annotation.ratelimit import Limits, RateLimiter
from app.config import get_settings


def _limiter(name: str, limits: Limits) -> tuple[aioredis.Redis, RateLimiter]:
    client = aioredis.Redis.from_url(get_settings().client_redis_url)
    return client, RateLimiter(client, f"{get_settings().redis_key_prefix}rl:{name}", limits)


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

    asyncio.run(main())
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

    *stamps, refilled = asyncio.run(main())
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

    asyncio.run(main())


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

    assert asyncio.run(main()) >= 0  # the second caller got the slot only after the first let go


def test_a_renewal_in_flight_when_the_call_ends_is_let_finish_not_cancelled() -> None:
    """Cancelling a Redis command at the wrong moment strands its pooled connection (redis-py takes it before its
    own cleanup is in place); enough of those exhausted the annotator's pool and every later call failed."""
    name = uuid.uuid4().hex
    events: list[str] = []

    async def main() -> tuple[int, int]:
        client = aioredis.Redis.from_url(get_settings().client_redis_url)
        limiter = RateLimiter(
            client, f"{get_settings().redis_key_prefix}rl:{name}", Limits(concurrency=2), lease_ttl_s=0.03
        )
        real_renew = limiter.renew

        async def slow_renew(lease: str) -> None:  # a renewal that is still running when the call ends
            events.append("renewing")
            try:
                await asyncio.sleep(0.05)
                await real_renew(lease)
                events.append("renewed")
            except asyncio.CancelledError:
                events.append("cancelled")
                raise

        limiter.renew = slow_renew  # type: ignore[method-assign]
        async with limiter.slot(1):
            await asyncio.sleep(0.02)  # the first renewal starts after 10 ms and is in flight at exit
        in_use = len(client.connection_pool._in_use_connections)  # type: ignore[attr-defined]
        leases = await client.zcard(limiter.keys[0])
        await client.aclose()
        return in_use, leases

    in_use, leases = asyncio.run(main())
    assert events == ["renewing", "renewed"]
    assert (in_use, leases) == (0, 0)
