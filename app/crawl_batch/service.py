"""Crawl batches: register an upload, look up progress."""

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.config import get_settings
from app.crawl_batch.uploads import StoredUpload, receive_upload
from app.errors import Conflict, InvalidInput, NotFound
from app.jobs import enqueue
from app.models import BatchStatus, CrawlBatch, Document, Project, User
from app.models.types import utcnow
from app.project.service import get_project
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


async def accept_upload(
    request: Request, session: Session, *, project_id: int, created_by: User, format_hint: str | None = None
) -> CrawlBatch:
    """The upload flow of the page and the API: stream the file to disk, register the batch, queue its ingestion.

    The multipart field `format` wins over `format_hint` (the API's query parameter). A refused upload leaves no
    file behind."""
    project = await run_in_threadpool(get_project, session, project_id)
    # End the transaction before streaming, the one commit a service makes: on SQLite an open transaction holds the
    # write lock the worker needs while a large file comes in.
    await run_in_threadpool(session.commit)
    upload = await receive_upload(request, directory=upload_dir(project_id), max_bytes=get_settings().max_upload_bytes)
    try:
        fmt = check_format(upload.fields.get("format") or format_hint)
        return await run_in_threadpool(
            lambda: create_batch(session, project=project, upload=upload, fmt=fmt, created_by=created_by)
        )
    except Exception:
        upload.path.unlink(missing_ok=True)
        raise


def rerun_ingestion(session: Session, *, batch: CrawlBatch, format_hint: str | None = None) -> CrawlBatch:
    """Ingest a finished batch's file again under the project's current settings (after its filters were changed),
    in the format given at upload unless `format_hint` names another (or auto).

    Only a batch that kept nothing: documents already kept may be annotated or reviewed, and would all come back as
    duplicates of themselves."""
    # Locked (Postgres) and read again: of two clicks at once, the second sees the first's queued batch (409).
    session.refresh(batch, with_for_update=True)
    if batch.status not in FINISHED:
        raise Conflict(f"Batch {batch.id} is still being ingested; re-run its ingestion once it has finished.")
    kept = session.exec(select(func.count()).select_from(Document).where(Document.batch_id == batch.id)).one()
    if kept:
        raise Conflict(
            f"Batch {batch.id} kept {kept:,} document(s), which may be annotated or reviewed already; only a batch "
            "that kept nothing can be ingested again. Upload the file again instead."
        )
    if not batch.upload_path or not Path(batch.upload_path).is_file():
        raise Conflict(f"The uploaded file of batch {batch.id} is gone from the data directory; upload it again.")
    assert batch.id is not None
    fmt = check_format(format_hint) if format_hint is not None else batch.options.get("format")
    batch.status = BatchStatus.queued
    batch.format = fmt
    # Only the upload's own choice carries over; the progress of the last ingestion (its slices) starts again.
    batch.options = {"format": fmt}
    batch.counts, batch.errors, batch.failure_reason = {}, [], None
    batch.checkpoint = batch.bytes_read = 0
    batch.started_at = batch.finished_at = None
    session.add(batch)
    session.flush()
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


def batch_report(batch: CrawlBatch) -> BatchReport:
    end = batch.finished_at or utcnow()
    elapsed = (end - batch.started_at).total_seconds() if batch.started_at else 0.0
    records = batch.counts.get("records", 0)
    if batch.status in FINISHED and batch.status != BatchStatus.failed:
        percent = 100.0
    else:
        percent = min(100.0, 100.0 * batch.bytes_read / batch.size_bytes) if batch.size_bytes else 0.0
    return BatchReport(batch, elapsed, records / elapsed if elapsed > 0 else 0.0, percent)
