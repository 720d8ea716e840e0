"""The bodies of the annotation jobs: run one annotator on one document, cross-validate, augment."""

import hashlib
import logging
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from app.annotation import consolidate
from app.annotation.runner import (
    BudgetExhausted,
    CallContext,
    RunFailure,
    annotate_offline,
    annotate_windows,
    open_context,
    run_async,
    version_for,
)
from app.annotation.schemas import AnnotationOutput, SpannedOutput
from app.annotation.service import pair_of
from app.db import get_engine
from app.jobs import enqueue
from app.models import Annotator, AnnotatorKind, AnnotatorRun, Decision, Document, Project, RunStatus
from app.models.types import utcnow
from app.project.service import label_schema_of, settings_of

log = logging.getLogger(__name__)


def run_annotator(document_id: int, annotator_id: int, *, engine: Engine | None = None) -> None:
    """Job "annotation.run": idempotent per (document, annotator, prompt version); never pays twice."""
    engine = engine or get_engine()
    with Session(engine, expire_on_commit=False) as session:
        document = session.get(Document, document_id)
        annotator = session.get(Annotator, annotator_id)
        if document is None or annotator is None or annotator.kind == AnnotatorKind.imported:
            return
        project = session.get(Project, document.project_id)
        assert project is not None
        schema = label_schema_of(project)
        version = version_for(annotator, schema, project.guidelines)
        run = session.exec(
            select(AnnotatorRun).where(
                AnnotatorRun.document_id == document_id,
                AnnotatorRun.annotator_id == annotator_id,
                AnnotatorRun.prompt_version == version,
            )
        ).first()
        if run is not None and run.status == RunStatus.done:
            _after_run(session, document)
            session.commit()
            return
        if run is None:
            run = AnnotatorRun(document_id=document_id, annotator_id=annotator_id, prompt_version=version)
        run.status = RunStatus.running
        run.error = None
        session.add(run)
        session.commit()
        text, sentences, title = document.text, [(s, e) for s, e in document.sentences], document.title

    ctx: CallContext | None = None
    try:
        if annotator.kind == AnnotatorKind.builtin:
            output = annotate_offline(annotator, text, sentences)
        else:
            output, ctx = run_async(
                _annotate_llm(engine, annotator, project, document_id, schema, text, sentences, title)
            )
        status, error = RunStatus.done, None
    except BudgetExhausted as exc:
        output, status, error = None, RunStatus.budget, str(exc)
    except RunFailure as exc:
        output, status, error = None, RunStatus.failed, str(exc)
    except Exception as exc:
        log.exception("annotation of document %s by annotator %s failed", document_id, annotator_id)
        output, status, error = None, RunStatus.failed, f"internal error ({type(exc).__name__}); see the worker log"

    with Session(engine) as session:
        stored = session.get(AnnotatorRun, run.id)
        document = session.get(Document, document_id)
        if stored is None or document is None:
            return
        stored.status = status
        stored.error = error
        stored.finished_at = utcnow()
        if output is not None:
            stored.raw_response = output.model_dump_json()
            stored.request_hash = hashlib.sha256(stored.raw_response.encode()).hexdigest()
        if ctx is not None:
            stored.input_tokens, stored.output_tokens = ctx.usage.input_tokens, ctx.usage.output_tokens
            stored.cost, stored.latency_ms = ctx.usage.cost, ctx.usage.latency_ms
        session.add(stored)
        _after_run(session, document)
        session.commit()


async def _annotate_llm(
    engine: Engine,
    annotator: Annotator,
    project: Project,
    document_id: int,
    schema: Any,
    text: str,
    sentences: list[tuple[int, int]],
    title: str,
) -> tuple[AnnotationOutput, CallContext]:
    ctx = open_context(engine, annotator, project, document_id)
    output = await annotate_windows(ctx, schema, project.guidelines, title=title, text=text, sentences=sentences)
    return output, ctx


def _after_run(session: Session, document: Document) -> None:
    """When both annotators of the pair have finished (or failed) on the document, cross-validate it.

    The document row is locked first: on Postgres two runs finishing at once would otherwise each see the
    other still running (neither committed yet) and nobody would cross-validate. The second to take the
    lock sees the first's committed run.
    """
    session.flush()
    session.exec(select(Document.id).where(Document.id == document.id).with_for_update()).one()
    a, b = pair_of(session, project_id=document.project_id)
    finished = {RunStatus.done, RunStatus.failed}
    for annotator in (a, b):
        if annotator is None or annotator.kind == AnnotatorKind.imported:
            continue
        run = _current_run(session, document, annotator)
        if run is None or run.status not in finished:
            return
    enqueue(session, "annotation.crossvalidate", document_id=document.id or 0)


def _current_run(session: Session, document: Document, annotator: Annotator) -> AnnotatorRun | None:
    """The annotator's run under the current prompt version (an old prompt's results are never reused)."""
    project = session.get(Project, document.project_id)
    assert project is not None
    version = version_for(annotator, label_schema_of(project), project.guidelines)
    return session.exec(
        select(AnnotatorRun).where(
            AnnotatorRun.document_id == document.id,
            AnnotatorRun.annotator_id == annotator.id,
            AnnotatorRun.prompt_version == version,
        )
    ).first()


def _side(session: Session, document: Document, annotator: Annotator | None, schema: Any) -> consolidate.Side | None:
    """An annotator's grounded proposals for the document, or None when it has no finished run."""
    if annotator is None:
        return None
    run = _current_run(session, document, annotator)
    if run is None or run.status != RunStatus.done or not run.raw_response:
        return None
    if annotator.kind == AnnotatorKind.imported:
        return consolidate.side_from_spans(SpannedOutput.model_validate_json(run.raw_response), run, annotator.name)
    output = AnnotationOutput.model_validate_json(run.raw_response)
    sentences = [(s, e) for s, e in document.sentences]
    return consolidate.side_from_output(document.text, sentences, output, run, schema, annotator.name)


def rebuild_document(
    session: Session, document: Document, second: consolidate.SecondLooks | None = None
) -> consolidate.Built | None:
    """Cross-validate the pair's finished runs into the document's items (None when neither has finished)."""
    project = session.get(Project, document.project_id)
    assert project is not None
    schema, settings = label_schema_of(project), settings_of(project)
    a, b = pair_of(session, project_id=project.id or 0)
    side_a, side_b = _side(session, document, a, schema), _side(session, document, b, schema)
    if side_a is None and side_b is None:
        return None
    return consolidate.rebuild(
        session,
        document=document,
        schema=schema,
        settings=settings,
        side_a=side_a or consolidate.Side(None, a.name if a else ""),
        side_b=side_b or consolidate.Side(None, b.name if b else ""),
        second=second,
    )


def review_started(session: Session, document_id: int) -> bool:
    return session.exec(select(Decision.id).where(Decision.document_id == document_id)).first() is not None


def crossvalidate(document_id: int, *, engine: Engine | None = None) -> None:
    """Job "annotation.crossvalidate": ground both outputs, align them, store items with agreement classes."""
    engine = engine or get_engine()
    with Session(engine) as session:
        document = session.get(Document, document_id)
        if document is None:
            return
        if review_started(session, document_id):
            return  # people have started reviewing: machine proposals are not rebuilt under them
        if rebuild_document(session, document) is None:
            return
        project = session.get(Project, document.project_id)
        assert project is not None
        settings = settings_of(project)
        if (settings.augmentation and settings.augmentation_cap > 0) or settings.recheck:
            # The second look rebuilds the items; verification votes follow it (see augment_run).
            enqueue(session, "annotation.augment", document_id=document_id)
        elif settings.verification:
            enqueue(session, "annotation.verify", document_id=document_id)
        session.commit()


def augment(document_id: int, *, engine: Engine | None = None) -> None:
    """Job "annotation.augment": the blind second opinion on single-model items, mixed with the pairs both left out."""
    from app.annotation import augment_run

    engine = engine or get_engine()
    augment_run.augment_document(engine, document_id)


def verify(document_id: int, *, engine: Engine | None = None) -> None:
    """Job "annotation.verify": the other model's vote on each one-sided relation."""
    from app.annotation.verify import verify_document

    verify_document(engine or get_engine(), document_id)
