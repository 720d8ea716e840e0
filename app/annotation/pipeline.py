"""The batch's stage after ingestion, read from the annotators' runs and the documents: the one computation of it;
and the batch's progress as its page and its API answer show it."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, Select, and_, case, func, not_, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from app.annotation.prompts import AUGMENT_TEMPLATE_VERSION, RECHECK_TEMPLATE_VERSION, VERIFY_TEMPLATE_VERSION
from app.annotation.schemas import AnnotatorProgress
from app.annotation.service import (
    SecondLookSummary,
    agreement_counts,
    batch_annotation_report,
    pair_of,
    second_look_summary,
)
from app.crawl_batch.pipeline import ANNOTATION_REQUESTED, BatchPipeline, BatchStage, ingestion_stage
from app.models import Annotator, AnnotatorKind, AnnotatorRun, CrawlBatch, Document, DocumentStatus, Project, RunStatus
from app.models.types import utcnow
from app.project.service import settings_of

# How long cross-checking or the second look may go without a run finishing before the page stops waiting for it:
# one whose job failed never comes, and polling must end.
STALL_AFTER = timedelta(minutes=10)
FINISHED_RUNS = (RunStatus.done, RunStatus.failed, RunStatus.budget)
OPEN_RUNS = (RunStatus.queued, RunStatus.running)


@dataclass(frozen=True)
class BatchProgress:
    """A batch on its way to review: its stage, each annotator's runs and cost, the agreement classes of its
    entities and relations, and how the second look went."""

    pipeline: BatchPipeline
    annotators: list[AnnotatorProgress]
    agreement: dict[str, dict[str, int]]
    second_look: SecondLookSummary


def batch_progress(session: Session, *, batch: CrawlBatch) -> BatchProgress:
    """What the batch page and GET /api/v1/batches/{id} show past ingestion, read in one place."""
    assert batch.id is not None
    pipeline = batch_pipeline(session, batch=batch)  # first: the counts read after it are final (batch_pipeline)
    return BatchProgress(
        pipeline=pipeline,
        annotators=batch_annotation_report(session, batch_id=batch.id),
        agreement=agreement_counts(session, batch_id=batch.id),
        second_look=second_look_summary(session, batch_id=batch.id),
    )


def _first_pass() -> ColumnElement[bool]:
    """A document run, not a second look or a verification vote."""
    version = col(AnnotatorRun.prompt_version)
    later = (AUGMENT_TEMPLATE_VERSION, RECHECK_TEMPLATE_VERSION, VERIFY_TEMPLATE_VERSION)
    return not_(or_(*(version.startswith(v) for v in later)))


def batch_pipeline(session: Session, *, batch: CrawlBatch) -> BatchPipeline:
    """Where the batch stands: ingesting, then annotating, cross-checking, augmenting, and ready for review.

    Read it before the counts a page shows with it: when it says a stage has ended, what that stage wrote has
    been committed, so counts read afterwards are final."""
    assert batch.id is not None
    pair = [a for a in pair_of(session, project_id=batch.project_id) if a is not None]
    runnable = [a.id for a in pair if a.kind != AnnotatorKind.imported and a.id is not None]
    documents = session.execute(sa_select(func.count()).where(col(Document.batch_id) == batch.id)).scalar_one()
    stage = ingestion_stage(batch)
    if stage is not None:
        return BatchPipeline(stage, documents, 0, 0, 0, len(pair))

    docs = sa_select(col(Document.id)).where(col(Document.batch_id) == batch.id).scalar_subquery()
    runs = and_(col(AnnotatorRun.document_id).in_(docs), _first_pass())
    if not _requested(session, batch, runs, runnable):
        return BatchPipeline(BatchStage.not_annotated, documents, 0, 0, 0, len(pair))

    annotated_ids = _all_finished(runs, runnable)
    annotated = documents if not runnable else _count(session, annotated_ids)
    ready_ids = sa_select(col(Document.id)).where(col(Document.batch_id) == batch.id)
    if runnable:
        ready_ids = ready_ids.where(col(Document.id).in_(annotated_ids))
    waiting_cross = _waiting_cross_check(session, ready_ids, runs, pair)
    cross_checked = annotated - waiting_cross
    waiting_second = _waiting_second_look(session, batch, ready_ids, runs, pair)
    second_looked = cross_checked - waiting_second if waiting_second is not None else 0

    counts = (documents, annotated, cross_checked, second_looked, len(pair))
    if annotated < documents:
        return BatchPipeline(BatchStage.annotating, *counts)
    if not waiting_cross and not waiting_second:
        return BatchPipeline(BatchStage.ready, *counts)
    stage = BatchStage.cross_checking if waiting_cross else BatchStage.augmenting
    return BatchPipeline(stage, *counts, stalled=_stalled(session, docs))


def _all_finished(runs: ColumnElement[bool], runnable: list[int]) -> Select[Any]:
    """Documents on which every runnable annotator of the pair has finished, and none has a run still open."""
    finished = case((col(AnnotatorRun.status).in_(FINISHED_RUNS), col(AnnotatorRun.annotator_id)))
    still_open = func.sum(case((col(AnnotatorRun.status).in_(OPEN_RUNS), 1), else_=0))
    return (
        sa_select(col(AnnotatorRun.document_id))
        .where(runs, col(AnnotatorRun.annotator_id).in_(runnable))
        .group_by(col(AnnotatorRun.document_id))
        .having(func.count(func.distinct(finished)) == len(runnable), still_open == 0)
    )


def _waiting_cross_check(
    session: Session, ready_ids: Select[Any], runs: ColumnElement[bool], pair: list[Annotator]
) -> int:
    """Annotated documents not yet cross-validated (which marks a document annotated); one with no done run (both
    failed) has nothing to cross-check."""
    pair_ids = [a.id for a in pair if a.id is not None]
    with_done_run = sa_select(col(AnnotatorRun.document_id)).where(
        runs, col(AnnotatorRun.annotator_id).in_(pair_ids), col(AnnotatorRun.status) == RunStatus.done
    )
    return _count(
        session, ready_ids.where(col(Document.status) == DocumentStatus.new, col(Document.id).in_(with_done_run))
    )


def _waiting_second_look(
    session: Session, batch: CrawlBatch, ready_ids: Select[Any], runs: ColumnElement[bool], pair: list[Annotator]
) -> int | None:
    """Cross-checked documents an LLM annotated whose second look has not ended; None when the project asks for
    no second look (or has no LLM in its pair)."""
    llm_ids = [a.id for a in pair if a.kind == AnnotatorKind.llm and a.id is not None]
    if not llm_ids or not _second_look_asked(session, batch):
        return None
    llm_done = sa_select(col(AnnotatorRun.document_id)).where(
        runs, col(AnnotatorRun.annotator_id).in_(llm_ids), col(AnnotatorRun.status) == RunStatus.done
    )
    return _count(
        session,
        ready_ids.where(
            col(Document.status) == DocumentStatus.annotated,
            col(Document.id).in_(llm_done),
            col(Document.meta)["second_look"].as_string().is_(None),
        ),
    )


def _stalled(session: Session, docs: ScalarSelect[Any]) -> bool:
    """No run of the batch has finished for STALL_AFTER: a job that failed never reports, and polling must end."""
    last = session.execute(
        sa_select(func.max(col(AnnotatorRun.finished_at))).where(col(AnnotatorRun.document_id).in_(docs))
    ).scalar_one()
    return last is None or utcnow() - last > STALL_AFTER


def _second_look_asked(session: Session, batch: CrawlBatch) -> bool:
    """Whether the batch's project asks for a second look after cross-checking (as annotation.crossvalidate does)."""
    settings = settings_of(session.get_one(Project, batch.project_id))
    return bool((settings.augmentation and settings.augmentation_cap > 0) or settings.recheck)


def _requested(session: Session, batch: CrawlBatch, runs: ColumnElement[bool], runnable: list[int]) -> bool:
    """Annotation was asked for: the batch says so, or a runnable annotator has a run, or a document was
    cross-validated (an import's own annotations)."""
    if batch.options.get(ANNOTATION_REQUESTED):
        return True
    has_run = session.execute(
        sa_select(col(AnnotatorRun.id)).where(runs, col(AnnotatorRun.annotator_id).in_(runnable)).limit(1)
    ).first()
    if has_run is not None:
        return True
    moved = session.execute(
        sa_select(col(Document.id))
        .where(col(Document.batch_id) == batch.id, col(Document.status) != DocumentStatus.new)
        .limit(1)
    ).first()
    return moved is not None


def _count(session: Session, query: Select[Any]) -> int:
    return int(session.execute(sa_select(func.count()).select_from(query.subquery())).scalar_one())
