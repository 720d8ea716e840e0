"""Concurrency, requests per minute and tokens per minute per annotator, enforced across every worker process.

One Lua script in Redis (the embedded one by default, so both shapes share this code) holds a lease set for
concurrency and two token buckets; a caller waits until all three admit it.
"""

import asyncio
import logging
import random
import uuid
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_ACQUIRE = """
local leases, rpm_key, tpm_key = KEYS[1], KEYS[2], KEYS[3]
local lease_id, concurrency, rpm, tpm, want, ttl_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
if concurrency > 0 and redis.call('ZCARD', leases) >= concurrency then
  return 25
end
local function bucket(key, capacity, cost)
  if capacity <= 0 then return 0, nil end
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1]) or capacity
  local at = tonumber(state[2]) or now
  tokens = math.min(capacity, tokens + (now - at) * capacity / 60000)
  cost = math.min(cost, capacity)
  if tokens < cost then return math.ceil((cost - tokens) * 60000 / capacity), tokens end
  return 0, tokens - cost
end
local wait_r, left_r = bucket(rpm_key, rpm, 1)
local wait_t, left_t = bucket(tpm_key, tpm, want)
if wait_r > 0 or wait_t > 0 then return math.max(wait_r, wait_t) end
if left_r then redis.call('HSET', rpm_key, 'tokens', left_r, 'at', now); redis.call('PEXPIRE', rpm_key, 120000) end
if left_t then redis.call('HSET', tpm_key, 'tokens', left_t, 'at', now); redis.call('PEXPIRE', tpm_key, 120000) end
if concurrency > 0 then
  redis.call('ZADD', leases, now + ttl_ms, lease_id)
  redis.call('PEXPIRE', leases, ttl_ms * 2)
end
return 0
"""


@dataclass(frozen=True)
class Limits:
    concurrency: int = 4
    requests_per_minute: int = 0
    tokens_per_minute: int = 0


class RateLimiter:
    """Admission for one annotator's calls; `async with limiter.slot(tokens):` around each call."""

    def __init__(self, client: aioredis.Redis, name: str, limits: Limits, *, lease_ttl_s: float = 30) -> None:
        self.client = client
        self.keys = [f"{name}:leases", f"{name}:rpm", f"{name}:tpm"]
        self.limits = limits
        self.lease_ttl_ms = int(lease_ttl_s * 1000)
        self._script = client.register_script(_ACQUIRE)

    async def acquire(self, tokens: int) -> str:
        lease = uuid.uuid4().hex
        while True:
            wait_ms = int(
                await self._script(
                    keys=self.keys,
                    args=[
                        lease,
                        self.limits.concurrency,
                        self.limits.requests_per_minute,
                        self.limits.tokens_per_minute,
                        max(tokens, 1),
                        self.lease_ttl_ms,
                    ],
                )
            )
            if wait_ms == 0:
                return lease
            # Jitter keeps many waiting workers from polling in lockstep.
            await asyncio.sleep(wait_ms / 1000 * (0.5 + random.random()))  # noqa: S311

    async def release(self, lease: str) -> None:
        await self.client.zrem(self.keys[0], lease)

    async def renew(self, lease: str) -> None:
        """Push the lease's expiry forward; a holder that dies stops renewing and frees its slot."""
        seconds, microseconds = await self.client.time()
        now_ms = int(seconds) * 1000 + int(microseconds) // 1000
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zadd(self.keys[0], {lease: now_ms + self.lease_ttl_ms}, xx=True)
            pipe.pexpire(self.keys[0], self.lease_ttl_ms * 2)
            await pipe.execute()

    def slot(self, tokens: int) -> "_Slot":
        return _Slot(self, tokens)


class _Slot:
    def __init__(self, limiter: RateLimiter, tokens: int) -> None:
        self.limiter = limiter
        self.tokens = tokens
        self.lease = ""
        self._renewer: asyncio.Task[None] | None = None
        self._done = asyncio.Event()

    async def __aenter__(self) -> None:
        self.lease = await self.limiter.acquire(self.tokens)
        self._renewer = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        # Short leases, renewed while the call runs (a call may wait out a long Retry-After). The renewer is told to
        # stop, never cancelled: a Redis command cancelled at the wrong moment leaves its pooled connection in use
        # for good, and enough of those exhaust the pool.
        interval = self.limiter.lease_ttl_ms / 3000
        while not self._done.is_set():
            try:
                await asyncio.wait_for(self._done.wait(), timeout=interval)
                return
            except TimeoutError:
                pass
            try:
                await self.limiter.renew(self.lease)
            except RedisError as exc:  # a missed renewal only shortens the lease: the next one tries again
                log.warning("could not renew a rate-limit lease of %s: %s", self.limiter.keys[0], exc)

    async def __aexit__(self, *_exc: object) -> None:
        self._done.set()
        if self._renewer is not None:
            await self._renewer  # at once, or when a renewal in flight returns
        await self.limiter.release(self.lease)
