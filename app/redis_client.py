"""The Redis client for rate limits and throttling (the embedded server in the default setup)."""

from functools import lru_cache

import redis

from app.config import get_settings


@lru_cache
def get_redis() -> redis.Redis:
    """Process-wide client; connections are pooled and created lazily."""
    settings = get_settings()
    return redis.Redis.from_url(settings.client_redis_url, socket_timeout=5, socket_connect_timeout=5)


def key(*parts: str | int) -> str:
    """A namespaced key, so that tests and several deployments can share one server."""
    return get_settings().redis_key_prefix + ":".join(str(p) for p in parts)
