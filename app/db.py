"""Database engine and the unit of work: the request or the job commits, services only flush."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Annotated, Any, Protocol

import orjson
from fastapi import Depends
from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

from app.config import get_settings

SQLITE_PAGE_SIZE = 16384


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, issue BEGIN: savepoints and transactional DDL then work as documented.
    dbapi_connection.isolation_level = None
    # WAL lets the web process read while the worker writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # A document's text (6 KB for 2,000 Chinese characters) fits in a 16 KiB page instead of spilling into
    # overflow pages: storing documents takes half the CPU. It only applies to a new database file; an
    # existing one keeps the page size it was created with.
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads, then writes while the
    # worker has committed meanwhile, fails at once with SQLITE_BUSY_SNAPSHOT instead of waiting.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _json_dumps(value: Any) -> str:
    # orjson writes JSON columns (sentences, spans, counts) several times faster than the json module; what it
    # cannot represent (integers beyond 64 bits) goes through the json module, as before.
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def json_loads(text: str | bytes) -> Any:
    """Decode JSON as stored: by orjson, and by the json module what only it reads (NaN in older SQLite rows,
    integers beyond 64 bits)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def make_engine(url: str) -> Engine:
    """An engine for a URL, with the SQLite settings that make two processes share one file safely."""
    json_options: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": json_loads}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **json_options)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **json_options)


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine for the configured database."""
    settings = get_settings()
    if settings.embedded_database:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.sqlalchemy_url)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits when the block ends normally and rolls back otherwise."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def get_session() -> Iterator[Session]:
    """Request-scoped session; committed after the route returns, before the response is sent."""
    with session_scope() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


class _Stored(Protocol):
    @property
    def id(self) -> int | None: ...


def require_id(row: _Stored) -> int:
    """The id of a row that has been flushed. A row without one is a bug, said loudly instead of read as 0."""
    if row.id is None:
        raise RuntimeError(f"{type(row).__name__} has no id yet: flush it before using its id")
    return row.id
