"""Concurrency, requests per minute and tokens per minute per annotator, enforced across every worker process.

One Lua script in Redis (the embedded one by default, so both shapes share this code) holds a lease set for
concurrency and two token buckets; a caller waits until all three admit it.

A lease expires unless renewed, so that a killed worker's slots come back. Renewals are made by one thread per
process, not by the event loop that runs the call: a loop busy or stalled for longer than a lease (CPU work, a
starved thread on a loaded machine) would otherwise let its lease expire while its call is still at the
provider, and another caller would take the slot: one call too many in flight. A renewal that finds its lease
gone (expired all the same, or deleted by hand) puts it back, so the count is right again at once.
"""

import asyncio
import logging
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import redis
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

# Extends a live lease; puts back one that is gone (its call is still running): 1 when it had to.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl_ms = tonumber(ARGV[2])
local added = redis.call('ZADD', KEYS[1], now + ttl_ms, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl_ms * 2)
return added
"""


@dataclass(frozen=True)
class Limits:
    concurrency: int = 4
    requests_per_minute: int = 0
    tokens_per_minute: int = 0


@dataclass
class _Held:
    renew: Any  # the renewal script on the limiter's blocking client
    key: str
    ttl_ms: int
    due: float = field(default=0.0)


class _Keeper:
    """The process's lease renewer: one daemon thread renewing every lease held in this process."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # Also in a forked child: the parent's thread and lock state do not carry over.
        self._cond = threading.Condition()
        self._held: dict[str, _Held] = {}
        self._started = False

    def hold(self, lease: str, held: _Held) -> None:
        with self._cond:
            if not self._started:
                threading.Thread(target=self._run, name="ratelimit-renewer", daemon=True).start()
                self._started = True
            held.due = time.monotonic() + held.ttl_ms / 3000
            self._held[lease] = held
            self._cond.notify()

    def drop(self, lease: str) -> None:
        """Stop renewing the lease; when this returns, no renewal of it is running or will run."""
        with self._cond:
            self._held.pop(lease, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                due = [lease for lease, held in self._held.items() if held.due <= time.monotonic()]
            for lease in due:
                with self._cond:  # one renewal at a time under the lock: drop() waits for it to finish
                    held = self._held.get(lease)
                    if held is not None:
                        held.due = time.monotonic() + self._renew(lease, held)
            with self._cond:
                soonest = min((h.due for h in self._held.values()), default=time.monotonic() + 60)
                self._cond.wait(timeout=max(soonest - time.monotonic(), 0.001))

    @staticmethod
    def _renew(lease: str, held: _Held) -> float:
        """Seconds until this lease's next renewal."""
        try:
            if held.renew(keys=[held.key], args=[lease, held.ttl_ms]) == 1:
                log.warning("a rate-limit lease of %s had expired while its call ran; it counts again", held.key)
        except RedisError as exc:  # the lease shortens: try again soon, well before it runs out
            log.warning("could not renew a rate-limit lease of %s: %s", held.key, exc)
            return min(1.0, held.ttl_ms / 10000)
        except Exception:  # the thread renews every lease of the process: it must outlive any one failure
            log.exception("renewing a rate-limit lease of %s failed", held.key)
            return min(1.0, held.ttl_ms / 10000)
        return held.ttl_ms / 3000


_keeper = _Keeper()
os.register_at_fork(after_in_child=_keeper._reset)


class RateLimiter:
    """Admission for one annotator's calls; `async with limiter.slot(tokens):` around each call.

    `client` (asyncio) takes and releases leases on the caller's event loop; `renew_client` (blocking, same
    Redis) is used by the process's renewal thread."""

    def __init__(
        self,
        client: aioredis.Redis,
        renew_client: redis.Redis,
        name: str,
        limits: Limits,
        *,
        lease_ttl_s: float = 30,
    ) -> None:
        self.client = client
        self.renew_client = renew_client
        self.keys = [f"{name}:leases", f"{name}:rpm", f"{name}:tpm"]
        self.limits = limits
        self.lease_ttl_ms = int(lease_ttl_s * 1000)
        self._script = client.register_script(_ACQUIRE)
        self._renew_script = renew_client.register_script(_RENEW)

    @classmethod
    def from_url(cls, url: str, name: str, limits: Limits, *, lease_ttl_s: float = 30) -> "RateLimiter":
        # A renewal never waits long on a hung server: it gives up and tries again well within the lease.
        renew_client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        return cls(aioredis.Redis.from_url(url), renew_client, name, limits, lease_ttl_s=lease_ttl_s)

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

    def slot(self, tokens: int) -> "_Slot":
        return _Slot(self, tokens)


class _Slot:
    def __init__(self, limiter: RateLimiter, tokens: int) -> None:
        self.limiter = limiter
        self.tokens = tokens
        self.lease = ""

    async def __aenter__(self) -> None:
        self.lease = await self.limiter.acquire(self.tokens)
        if self.limiter.limits.concurrency > 0:
            _keeper.hold(self.lease, _Held(self.limiter._renew_script, self.limiter.keys[0], self.limiter.lease_ttl_ms))

    async def __aexit__(self, *_exc: object) -> None:
        # Renewals stop first (waiting out one in progress), then the slot is given back: a renewal never runs
        # after the release, which would put a lease nobody holds back for a whole lifetime.
        _keeper.drop(self.lease)
        await self.limiter.release(self.lease)
