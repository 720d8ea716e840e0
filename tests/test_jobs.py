"""Jobs are sent to the real broker only after the transaction commits."""

import ast
import importlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlmodel import Session

import workers
from app.config import get_settings
from app.jobs import enqueue
from app.models import HealthProbe
from workers.celery_app import celery_app
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


def _app_imports(path: Path) -> set[str]:
    """The app modules a file imports from ("from app.x import jobs" counts as app.x.jobs)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "app":
            package = (Path(workers.__file__).parent.parent / node.module.replace(".", "/")).is_dir()
            modules.update(f"{node.module}.{a.name}" if package else node.module for a in node.names)
    return modules


@pytest.mark.parametrize("domain", ["crawl_batch", "annotation", "dataset", "training"])
def test_each_worker_module_hands_its_jobs_to_its_package_jobs_module(domain: str) -> None:
    # workers/<domain>.py defines the jobs "<domain>.verb"; their bodies live in app/<domain>/jobs.py.
    module = importlib.import_module(f"workers.{domain}")
    assert _app_imports(Path(str(module.__file__))) == {f"app.{domain}.jobs"}
    names = [name for name in celery_app.tasks if name.startswith(f"{domain}.")]
    assert names
    assert {celery_app.tasks[name].__module__ for name in names} == {module.__name__}
