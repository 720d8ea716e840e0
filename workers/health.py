"""Job "health.probe": proves that a worker receives jobs and reaches the database."""

import os
import socket

from app.db import session_scope
from app.models import HealthProbe
from app.models.types import utcnow
from workers.celery_app import celery_app


@celery_app.task(name="health.probe")
def probe(probe_id: int) -> None:
    """Mark the probe done; a vanished probe is a no-op."""
    with session_scope() as session:
        row = session.get(HealthProbe, probe_id)
        if row is None or row.status == "done":
            return
        row.status = "done"
        row.worker = f"{socket.gethostname()}:{os.getpid()}"
        row.done_at = utcnow()
        session.add(row)
