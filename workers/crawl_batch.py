"""Job "crawl_batch.ingest": read, clean, dedup and store one uploaded batch."""

from app.crawl_batch.jobs import ingest_batch
from workers.celery_app import celery_app


@celery_app.task(name="crawl_batch.ingest")
def ingest(batch_id: int, slice_no: int = 0) -> None:
    """Ingest the batch, or its next slice; resumes from its checkpoint when delivered again."""
    ingest_batch(batch_id, slice_no=slice_no)
