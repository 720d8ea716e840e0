"""Jobs are sent to the real broker only after the transaction commits."""

import json
from collections.abc import Iterator

import pytest
import redis
from sqlmodel import Session

from app.config import get_settings
from app.jobs import enqueue
from app.models import HealthProbe
from workers.health import probe

QUEUE = get_settings().redis_key_prefix + "concord"  # the broker prefixes its keys like ours


@pytest.fixture
def queue() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(get_settings().client_redis_url)
    client.delete(QUEUE)
    yield client
    client.delete(QUEUE)


def _sent(queue: redis.Redis) -> list[tuple[str, dict[str, int]]]:
    out = []
    for raw in queue.lrange(QUEUE, 0, -1):
        message = json.loads(raw)
        body = json.loads(__import__("base64").b64decode(message["body"]))
        out.append((message["headers"]["task"], body[1]))
    return out


def test_job_is_sent_after_commit(session: Session, queue: redis.Redis) -> None:
    enqueue(session, "health.probe", probe_id=41)
    assert _sent(queue) == []
    session.commit()
    assert _sent(queue) == [("health.probe", {"probe_id": 41})]


def test_job_is_dropped_on_rollback(session: Session, queue: redis.Redis) -> None:
    enqueue(session, "health.probe", probe_id=42)
    session.rollback()
    session.commit()
    assert _sent(queue) == []


def test_savepoint_rollback_keeps_the_outer_jobs(session: Session, queue: redis.Redis) -> None:
    enqueue(session, "health.probe", probe_id=43)
    nested = session.begin_nested()
    nested.rollback()
    session.commit()
    assert _sent(queue) == [("health.probe", {"probe_id": 43})]


def test_probe_job_records_status_and_is_idempotent(engine: object, db_url: str) -> None:
    # The job opens its own session on the configured database: point it at this backend's.
    from app import db

    db.get_engine.cache_clear()
    original = get_settings().database_url
    get_settings().database_url = db_url
    try:
        with db.session_scope() as s:
            row = HealthProbe()
            s.add(row)
            s.flush()
            probe_id = row.id
        probe(probe_id)
        with db.session_scope() as s:
            first = s.get(HealthProbe, probe_id)
            assert first is not None and first.status == "done" and first.worker
            done_at = first.done_at
        probe(probe_id)  # delivered again after a crash: nothing changes
        probe(10**9)  # the row is gone: a no-op, not an error
        with db.session_scope() as s:
            again = s.get(HealthProbe, probe_id)
            assert again is not None and again.done_at == done_at
            s.delete(again)
    finally:
        get_settings().database_url = original
        db.get_engine.cache_clear()
