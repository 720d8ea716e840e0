"""Crawl batches: register an upload, look up progress."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from app.config import get_settings
from app.crawl_batch.uploads import StoredUpload
from app.errors import InvalidInput, NotFound
from app.jobs import enqueue
from app.models import BatchStatus, CrawlBatch, Project, User
from app.models.types import utcnow
from app.webtext.formats import Format

FORMATS: tuple[Format, ...] = ("warc", "wet", "arc", "jsonl", "docred", "txt", "html", "zip")
FINISHED = frozenset({BatchStatus.done, BatchStatus.done_with_errors, BatchStatus.failed})


def upload_dir(project_id: int) -> Path:
    return get_settings().data_dir / "uploads" / f"project-{project_id}"


def check_format(value: str | None) -> Format | None:
    """A format hint from the uploader, or None to detect it from the content."""
    if value is None or value.strip() in ("", "auto"):
        return None
    value = value.strip().lower()
    if value not in FORMATS:
        raise InvalidInput.for_field("format", f"Unknown format {value!r}; use one of {', '.join(FORMATS)} or auto.")
    return value


def create_batch(
    session: Session, *, project: Project, upload: StoredUpload, fmt: Format | None, created_by: User | None
) -> CrawlBatch:
    """Register an uploaded file and queue its ingestion."""
    assert project.id is not None
    batch = CrawlBatch(
        project_id=project.id,
        filename=upload.filename[:500],
        size_bytes=upload.size,
        sha256=upload.sha256,
        upload_path=str(upload.path),
        format=fmt,
        options={"format": fmt},
        created_by_id=created_by.id if created_by else None,
    )
    session.add(batch)
    session.flush()
    assert batch.id is not None
    enqueue(session, "crawl_batch.ingest", batch_id=batch.id)
    return batch


def get_batch(session: Session, batch_id: int) -> CrawlBatch:
    batch = session.get(CrawlBatch, batch_id)
    if batch is None:
        raise NotFound(f"Batch {batch_id} does not exist.")
    return batch


def list_batches(session: Session, *, project_id: int) -> list[CrawlBatch]:
    query = select(CrawlBatch).where(CrawlBatch.project_id == project_id).order_by(col(CrawlBatch.id).desc())
    return list(session.exec(query).all())


@dataclass(frozen=True)
class BatchReport:
    """What the batch page and API show about progress."""

    batch: CrawlBatch
    elapsed_seconds: float
    records_per_second: float
    percent: float

    @property
    def finished(self) -> bool:
        return self.batch.status in FINISHED

    def filters(self) -> dict[str, int]:
        return {k.split(":", 1)[1]: v for k, v in sorted(self.batch.counts.items()) if k.startswith("filtered:")}

    def as_dict(self) -> dict[str, Any]:
        b = self.batch
        return {
            "id": b.id,
            "project_id": b.project_id,
            "filename": b.filename,
            "format": b.format,
            "status": b.status,
            "size_bytes": b.size_bytes,
            "bytes_read": b.bytes_read,
            "percent": round(self.percent, 1),
            "counts": b.counts,
            "filtered": self.filters(),
            "errors": b.errors,
            "failure_reason": b.failure_reason,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "records_per_second": round(self.records_per_second, 1),
            "created_at": b.created_at.isoformat(),
            "started_at": b.started_at.isoformat() if b.started_at else None,
            "finished_at": b.finished_at.isoformat() if b.finished_at else None,
        }


def batch_report(batch: CrawlBatch) -> BatchReport:
    end = batch.finished_at or utcnow()
    elapsed = (end - batch.started_at).total_seconds() if batch.started_at else 0.0
    records = batch.counts.get("records", 0)
    if batch.status in FINISHED and batch.status != BatchStatus.failed:
        percent = 100.0
    else:
        percent = min(100.0, 100.0 * batch.bytes_read / batch.size_bytes) if batch.size_bytes else 0.0
    return BatchReport(batch, elapsed, records / elapsed if elapsed > 0 else 0.0, percent)
