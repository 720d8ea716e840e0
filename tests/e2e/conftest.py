"""Live Concord instances: the embedded default, and Postgres + Redis."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL, REDIS_URL, _fresh_postgres, _reachable, require_service
from tests.live_server import LiveConcord, run_cli

E2E_POSTGRES_URL = POSTGRES_URL.rsplit("/", 1)[0] + "/concord_e2e"
E2E_REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/14"


@pytest.fixture(scope="session")
def embedded_concord(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConcord]:
    """`concord serve` on a fresh data directory, exactly as the README runs it."""
    live = LiveConcord(tmp_path_factory.mktemp("embedded") / "concord-data").start()
    yield live
    live.stop()


@pytest.fixture(scope="session")
def production_concord(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConcord]:
    """Postgres + a real Redis broker, configured only through DATABASE_URL and REDIS_URL."""
    require_service("Postgres", _reachable(POSTGRES_URL, 5432), POSTGRES_URL)
    require_service("Redis", _reachable(REDIS_URL, 6379), REDIS_URL)
    import redis

    redis.Redis.from_url(E2E_REDIS_URL).flushdb()
    _fresh_postgres(E2E_POSTGRES_URL)
    data_dir: Path = tmp_path_factory.mktemp("production") / "concord-data"
    live = LiveConcord(data_dir, DATABASE_URL=E2E_POSTGRES_URL, REDIS_URL=E2E_REDIS_URL)
    migrated = run_cli(["migrate"], live.env)
    assert migrated.returncode == 0, migrated.stderr
    yield live.start()
    live.stop()


@pytest.fixture(scope="session", params=["embedded", "production"])
def live_concord(request: pytest.FixtureRequest) -> LiveConcord:
    """Each deployment shape in turn."""
    fixture: LiveConcord = request.getfixturevalue(f"{request.param}_concord")
    return fixture
