"""Job "dataset.build_snapshot": write a snapshot's files, checksums and datasheet."""

from app.dataset.jobs import build_snapshot as build
from workers.celery_app import celery_app


@celery_app.task(name="dataset.build_snapshot")
def build_snapshot(snapshot_id: int) -> None:
    """Build the snapshot; a vanished or finished one is a no-op, a re-delivered one starts over."""
    build(snapshot_id)
