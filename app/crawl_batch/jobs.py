"""The body of job "crawl_batch.ingest" (workers/crawl_batch.py): stream records through app.webtext, filter,
dedup, store in small commits."""

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.config import get_settings
from app.crawl_batch.document_insert import DocumentInsert
from app.crawl_batch.imports import store_docred_annotations
from app.crawl_batch.known_documents import load_known_documents
from app.crawl_batch.pipeline import DETECTED_LANGUAGE
from app.db import get_engine
from app.jobs import enqueue
from app.models import BatchStatus, CrawlBatch, Document, Project
from app.models.types import utcnow
from app.project.label_schema import ProjectSettings
from app.project.service import settings_of
from app.webtext.exact_duplicates import TextHashIds
from app.webtext.formats import Format, detect_format
from app.webtext.near_duplicates import NearDuplicateIndex, deduplicate_chunk
from app.webtext.pipeline import Filtered, IngestPolicy, Processed, Skipped, process_records
from app.webtext.readers import READERS
from app.webtext.records import FormatError, RawRecord, ReadProgress, RecordError

log = logging.getLogger(__name__)
# Kept documents are stored, and progress saved, every this many documents or CHUNK_SECONDS, whichever is first:
# larger transactions write each touched index page to the SQLite journal fewer times.
CHUNK_RECORDS = 500
CHUNK_SECONDS = 1.0
# Records are processed this many at a time: their fingerprints are computed together, in a few NumPy calls.
PROCESS_RECORDS = 64
MAX_STORED_ERRORS = 1000
# A kept document lists at most this many URLs of its duplicates.
MAX_DUPLICATE_URLS = 1000
# A resumed slice works at least this many times as long as it took to read up to its checkpoint.
SKIP_FACTOR = 5
# The batch option holding the number of the slice being ingested (see _pause_for_others).
_SLICE = "ingest_slice"


@dataclass
class _Run:
    batch_id: int
    project_id: int
    policy: IngestPolicy
    counts: dict[str, int]
    errors: list[dict[str, Any]]
    consumed: int
    # Text hash -> document id (None for those this run stores: ingestion only asks whether a hash is taken);
    # compact, as it holds every document of the project.
    hashes: TextHashIds = field(default_factory=TextHashIds)
    index: NearDuplicateIndex | None = None
    pending: list[Processed] = field(default_factory=list)
    duplicate_urls: dict[str, list[str]] = field(default_factory=dict)
    fatal: str | None = None
    import_name: str = ""
    slice_no: int = 0

    def bump(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n


def ingest_batch(batch_id: int, *, engine: Engine | None = None, slice_no: int = 0) -> None:
    """Ingest one uploaded batch, or its next slice when other batches wait; resumable, and a finished or
    vanished batch, or a message for a slice already done, is a no-op."""
    engine = engine or get_engine()
    run = _start(engine, batch_id, slice_no)
    if run is None:
        return
    try:
        _consume(engine, run)
    except Exception as exc:
        log.exception("ingestion of batch %s failed", batch_id)
        _finish(engine, run, failed=f"Internal error while ingesting ({type(exc).__name__}); see the worker log.")


def _start(engine: Engine, batch_id: int, slice_no: int) -> _Run | None:
    with Session(engine) as session:
        batch = session.get(CrawlBatch, batch_id)
        if batch is None or batch.status in (BatchStatus.done, BatchStatus.done_with_errors, BatchStatus.failed):
            return None
        if batch.options.get(_SLICE, 0) != slice_no:
            # The message of a slice whose successor was sent already (delivered again after a worker died).
            return None
        project = session.get(Project, batch.project_id)
        if project is None:
            return None
        batch.status = BatchStatus.running
        batch.started_at = batch.started_at or utcnow()
        session.add(batch)
        session.commit()
        run = _Run(
            batch_id=batch_id,
            project_id=batch.project_id,
            policy=_policy(settings_of(project)),
            slice_no=slice_no,
            counts=dict(batch.counts),
            errors=list(batch.errors),
            consumed=batch.checkpoint,
            import_name="import:" + Path(batch.filename).name.split(".")[0][:80],
        )
        run.index = NearDuplicateIndex(threshold=run.policy.near_duplicate_threshold)
        if load_known_documents(session, project_id=batch.project_id, hashes=run.hashes, index=run.index):
            session.commit()
        return run


def _batch_paths(engine: Engine, batch_id: int) -> tuple[Path, str, Format | None]:
    with Session(engine) as session:
        batch = session.get(CrawlBatch, batch_id)
        assert batch is not None and batch.upload_path
        return Path(batch.upload_path), batch.filename, batch.options.get("format")


def _consume(engine: Engine, run: _Run) -> None:
    path, filename, fmt = _batch_paths(engine, run.batch_id)
    progress = ReadProgress()
    try:
        if fmt is None:
            fmt = detect_format(path, filename)
            _record_format(engine, run.batch_id, fmt)
        items = READERS[fmt](path, progress=progress)
    except FormatError as exc:
        _finish(engine, run, failed=str(exc))
        return
    except FileNotFoundError:
        _finish(engine, run, failed="The uploaded file is gone from the data directory.")
        return
    try:
        paused = _consume_items(engine, run, items, progress)
    finally:
        # Readers clean up what they unpacked when closed, which a paused or stopped read does not wait for.
        close = getattr(items, "close", None)
        if close is not None:
            close()
    if not paused:
        _finish(engine, run)


def _record_format(engine: Engine, batch_id: int, fmt: Format) -> None:
    """Show the detected format on the batch (the upload's own choice, auto or not, stays in its options)."""
    with Session(engine) as session:
        batch = session.get(CrawlBatch, batch_id)
        if batch is not None and batch.format != fmt:
            batch.format = fmt
            session.add(batch)
            session.commit()


def _consume_items(engine: Engine, run: _Run, items: Iterator[RawRecord | RecordError], progress: ReadProgress) -> bool:
    """Process the records after the checkpoint; True when the slice ended with records left, for other batches."""
    resume_after = run.consumed
    seen = 0
    chunk: list[RawRecord | RecordError] = []
    started = last_flush = time.monotonic()
    slice_seconds = get_settings().ingest_slice_seconds
    try:
        for item in items:
            seen += 1
            if seen <= resume_after:
                continue
            if seen == resume_after + 1 and resume_after:
                # A resumed slice reads its file again up to the checkpoint: it lasts long enough for that reading
                # to stay a small share of its time.
                skipped = time.monotonic() - started
                slice_seconds = slice_seconds and max(slice_seconds, SKIP_FACTOR * skipped)
                started = last_flush = time.monotonic()
            chunk.append(item)
            if len(chunk) < PROCESS_RECORDS:
                continue
            _handle(run, chunk)
            run.consumed = seen
            chunk = []
            if run.fatal:
                break
            if len(run.pending) >= CHUNK_RECORDS or time.monotonic() - last_flush >= CHUNK_SECONDS:
                _flush(engine, run, progress.bytes_read)
                last_flush = time.monotonic()
                if slice_seconds and last_flush - started >= slice_seconds and _pause_for_others(engine, run):
                    return True
    except FormatError as exc:
        run.fatal = str(exc)
    if chunk:
        # The last records, fewer than a chunk: those before a fatal error or the end of the file.
        _handle(run, chunk)
        run.consumed = seen
    _flush(engine, run, progress.bytes_read)
    return False


def _pause_for_others(engine: Engine, run: _Run) -> bool:
    """When another batch waits to start, queue this one's next slice behind it (after the checkpoint) and say so.

    A worker runs one job at a time: without this, a batch queued behind a huge one would wait until the huge
    one ends. The next slice resumes from the checkpoint; its message carries the slice number, so a message
    delivered again for a slice already done is recognised and dropped.
    """
    with Session(engine) as session:
        waiting = session.exec(
            select(CrawlBatch.id).where(CrawlBatch.status == BatchStatus.queued, CrawlBatch.id != run.batch_id).limit(1)
        ).first()
        batch = session.get(CrawlBatch, run.batch_id)
        if waiting is None or batch is None:
            return False
        batch.status = BatchStatus.queued
        batch.options = {**batch.options, _SLICE: run.slice_no + 1}
        session.add(batch)
        enqueue(session, "crawl_batch.ingest", batch_id=run.batch_id, slice_no=run.slice_no + 1)
        session.commit()
    log.info("batch %s pauses after %s records: another batch waits", run.batch_id, run.consumed)
    return True


def _handle(run: _Run, items: list[RawRecord | RecordError]) -> None:
    """Count, process and deduplicate a chunk of records in their order; a fatal error ends the chunk."""
    records: list[RawRecord] = []
    for item in items:
        if isinstance(item, RawRecord):
            records.append(item)
            continue
        _record_error(run, item)
        if item.fatal:
            run.fatal = item.message
            break
    if records:
        run.bump("records", len(records))
        results = process_records(records, run.policy)
        for record, result in zip(records, results, strict=True):
            if isinstance(result, Skipped):
                _record_error(run, RecordError(record.offset, result.message, member=record.member))
        _deduplicate(run, [result for result in results if not isinstance(result, Skipped)])


def _record_error(run: _Run, error: RecordError) -> None:
    run.bump("errors")
    if len(run.errors) < MAX_STORED_ERRORS:
        run.errors.append(error.as_dict())


def _policy(project: ProjectSettings) -> IngestPolicy:
    """The project's ingestion settings, with the operator's bounds on the work per record."""
    operator = get_settings()
    return IngestPolicy(
        languages=frozenset(project.languages),  # an empty list keeps every language
        min_chars=project.min_chars,
        max_chars=project.max_chars,
        min_cjk_ratio=project.min_cjk_ratio,
        extractor=project.extractor,
        near_duplicate_threshold=project.near_duplicate_threshold,
        max_html_bytes=operator.ingest_max_html_bytes,
        max_html_depth=operator.ingest_max_html_depth,
        extract_seconds=operator.ingest_extract_seconds or None,
    )


def _deduplicate(run: _Run, results: list[Processed | Filtered]) -> None:
    """Count the filtered records, and keep the processed ones that duplicate no document, in their order."""
    assert run.index is not None
    processed = [result for result in results if isinstance(result, Processed)]
    signatures = np.array([p.signature for p in processed], dtype=np.uint32).reshape(-1, run.index.num_perm)
    verdicts = iter(deduplicate_chunk(run.hashes, run.index, [p.text_hash for p in processed], signatures))
    for result in results:
        if isinstance(result, Filtered):
            run.bump(f"filtered:{result.reason}")
            if result.reason == "language" and result.detail:
                run.bump(DETECTED_LANGUAGE + result.detail)  # the batch page says which, when nothing is kept
            continue
        verdict = next(verdicts)
        if verdict.kind == "kept":
            run.pending.append(result)
            run.bump("kept")
            continue
        run.bump(f"duplicates_{verdict.kind}")
        if result.url:
            run.duplicate_urls.setdefault(verdict.original, []).append(result.url)


def _document(run: _Run, p: Processed) -> Document:
    return Document(
        project_id=run.project_id,
        batch_id=run.batch_id,
        url=p.url,
        title=p.title,
        warc_record_id=p.record_id,
        crawl_date=p.crawl_date,
        language=p.language,
        script=p.script,
        text=p.text,
        sentences=[list(s) for s in p.sentences],
        text_hash=p.text_hash,
        minhash=p.minhash,
        meta=p.meta,
    )


def _flush(engine: Engine, run: _Run, bytes_read: int) -> None:
    """Store pending documents, duplicate URLs and progress in one transaction (the resume checkpoint)."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            _store(session, run)
        except IntegrityError:
            # Another batch of this project stored one of these texts meanwhile: store one by one.
            session.rollback()
            _store(session, run, one_by_one=True)
        batch = session.get(CrawlBatch, run.batch_id)
        if batch is None:
            session.rollback()
            return
        batch.counts = dict(run.counts)
        batch.errors = list(run.errors)
        batch.checkpoint = run.consumed
        batch.bytes_read = max(batch.bytes_read, bytes_read)
        session.add(batch)
        session.commit()
    run.pending.clear()
    run.duplicate_urls.clear()


def _store(session: Session, run: _Run, *, one_by_one: bool = False) -> None:
    plain = [p for p in run.pending if p.docred is None] if not one_by_one else []
    if plain:
        # An executemany INSERT: ORM objects flushed one by one cost ten times as much, and asking for the new
        # ids back (INSERT … RETURNING) half as much again. Ingestion only needs to know that a text hash is
        # taken, which run.hashes says already.
        DocumentInsert.for_batch(session.connection(), project_id=run.project_id, batch_id=run.batch_id).execute(
            session.connection(), plain
        )
    for processed in run.pending:
        if processed.docred is None and not one_by_one:
            continue
        doc = _document(run, processed)
        if one_by_one:
            try:
                with session.begin_nested():
                    session.add(doc)
                    session.flush()
            except IntegrityError:
                run.bump("kept", -1)
                run.bump("duplicates_exact")
                continue
        else:
            session.add(doc)
            session.flush()
        run.hashes[processed.text_hash] = doc.id
        if processed.docred is not None and doc.id is not None:
            store_docred_annotations(
                session,
                project_id=run.project_id,
                document=doc,
                parsed=processed.docred,
                annotator_name=run.import_name,
            )
    if run.duplicate_urls:
        # Only the ids and lists: loading whole documents would read and parse their texts and sentences too.
        rows = session.execute(
            select(Document.id, Document.text_hash, Document.duplicate_urls).where(
                Document.project_id == run.project_id, col(Document.text_hash).in_(list(run.duplicate_urls))
            )
        ).all()
        if rows:
            session.execute(
                update(Document),
                [
                    {"id": doc_id, "duplicate_urls": [*urls, *run.duplicate_urls[digest]][:MAX_DUPLICATE_URLS]}
                    for doc_id, digest, urls in rows
                ],
            )


def _finish(engine: Engine, run: _Run, *, failed: str | None = None) -> None:
    with Session(engine) as session:
        batch = session.get(CrawlBatch, run.batch_id)
        if batch is None:
            return
        reason = failed or run.fatal
        if failed or (run.fatal and not run.counts.get("records")):
            batch.status = BatchStatus.failed
        elif run.fatal or run.counts.get("errors"):
            batch.status = BatchStatus.done_with_errors
        else:
            batch.status = BatchStatus.done
        batch.failure_reason = reason
        batch.counts = dict(run.counts)
        batch.errors = list(run.errors)
        batch.finished_at = utcnow()
        if batch.status != BatchStatus.failed:
            batch.bytes_read = batch.size_bytes
        session.add(batch)
        session.commit()
