"""Enqueue background jobs by name; they are sent only after the surrounding transaction commits."""

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession

log = logging.getLogger(__name__)
_PENDING = "concord_pending_jobs"


def enqueue(session: OrmSession, name: str, **ids: int | str) -> None:
    """Send job `name` (e.g. "crawl_batch.ingest") with these ids once `session` commits; drop it on rollback."""
    if not session.in_transaction():
        session.begin()  # so that a rollback before any SQL still ends this unit of work and its jobs
    session.info.setdefault(_PENDING, []).append((name, ids))


def _send(name: str, ids: dict[str, Any]) -> None:
    from workers.celery_app import celery_app  # late: the web process imports Celery only when it sends

    celery_app.send_task(name, kwargs=ids)


@event.listens_for(OrmSession, "after_commit")
def _after_commit(session: OrmSession) -> None:
    pending = session.info.pop(_PENDING, [])
    for name, ids in pending:
        try:
            _send(name, ids)
        except Exception:
            # The data is committed already: failing the request now would lie about it. The row keeps its
            # "queued" status, which the UI shows, and jobs are idempotent, so sending again is safe.
            log.exception("could not send job %s %s to the broker", name, ids)


@event.listens_for(OrmSession, "after_soft_rollback")
def _after_rollback(session: OrmSession, previous_transaction: Any) -> None:
    # Only a rollback of the whole unit of work drops its jobs; a savepoint rollback keeps them.
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
