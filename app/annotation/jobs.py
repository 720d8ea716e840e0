"""The bodies of the annotation jobs (workers/annotation.py): run one annotator on one document, cross-validate,
the second look (augment), verification votes. They open and commit their own sessions, around the model calls."""

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from app.annotation import second_look_job, verification
from app.annotation.contract import AnnotationOutput
from app.annotation.model_annotator import ModelUnavailable, annotate_with_model
from app.annotation.prompts import (
    VERIFY_TEMPLATE_VERSION,
    prompt_version,
)
from app.annotation.rebuild import current_run, rebuild_document, review_started
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
from app.annotation.service import open_run, pair_of, voter_of
from app.db import get_engine, require_id
from app.jobs import enqueue
from app.models import (
    Annotator,
    AnnotatorKind,
    AnnotatorRun,
    Document,
    Entity,
    Mention,
    Project,
    Proposal,
    Relation,
    RunStatus,
)
from app.models.types import utcnow
from app.project.label_schema import LabelSchema
from app.project.service import label_schema_of, settings_of

log = logging.getLogger(__name__)


def run_annotator(document_id: int, annotator_id: int, *, engine: Engine | None = None) -> None:
    """Job "annotation.run": idempotent per (document, annotator, prompt version); never pays twice."""
    engine = engine or get_engine()
    started = _start_run(engine, document_id, annotator_id)
    if started is None:
        return
    output, ctx, status, error = _annotate(engine, started)
    _finish_run(engine, started.run_id, document_id, output, ctx, status, error)


@dataclass(frozen=True)
class _StartedRun:
    """A run marked running, with what the annotator reads, before any model is called."""

    run_id: int
    document_id: int
    annotator: Annotator
    project: Project
    schema: LabelSchema
    text: str
    sentences: list[tuple[int, int]]
    title: str


def _start_run(engine: Engine, document_id: int, annotator_id: int) -> _StartedRun | None:
    """Mark the run for this prompt version running; None when there is nothing to do (or it is already done)."""
    with Session(engine, expire_on_commit=False) as session:
        document = session.get(Document, document_id)
        annotator = session.get(Annotator, annotator_id)
        if document is None or annotator is None or annotator.kind == AnnotatorKind.imported:
            return None
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
            return None
        if run is None:
            run = AnnotatorRun(document_id=document_id, annotator_id=annotator_id, prompt_version=version)
        run.status = RunStatus.running
        run.error = None
        session.add(run)
        session.commit()
        text, sentences, title = document.text, [(s, e) for s, e in document.sentences], document.title
    return _StartedRun(require_id(run), document_id, annotator, project, schema, text, sentences, title)


def _annotate(
    engine: Engine, started: _StartedRun
) -> tuple[AnnotationOutput | None, CallContext | None, RunStatus, str | None]:
    """Call the annotator outside any transaction: its output (None on failure), usage, status and error."""
    document_id, annotator, project, schema = started.document_id, started.annotator, started.project, started.schema
    text, sentences, title = started.text, started.sentences, started.title
    ctx: CallContext | None = None
    try:
        if annotator.kind == AnnotatorKind.builtin:
            output = annotate_offline(annotator, text, sentences)
        elif annotator.kind == AnnotatorKind.model:
            output = annotate_with_model(engine, annotator, title=title, text=text, sentences=sentences)
        else:
            output, ctx = run_async(
                _annotate_llm(engine, annotator, project, document_id, schema, text, sentences, title)
            )
        return output, ctx, RunStatus.done, None
    except BudgetExhausted as exc:
        return None, ctx, RunStatus.budget, str(exc)
    except (RunFailure, ModelUnavailable) as exc:
        return None, ctx, RunStatus.failed, str(exc)
    except Exception as exc:
        log.exception("annotation of document %s by annotator %s failed", document_id, annotator.id)
        return None, ctx, RunStatus.failed, f"internal error ({type(exc).__name__}); see the worker log"


def _finish_run(
    engine: Engine,
    run_id: int,
    document_id: int,
    output: AnnotationOutput | None,
    ctx: CallContext | None,
    status: RunStatus,
    error: str | None,
) -> None:
    """Store the outcome on the run, then cross-validate if the pair is complete."""
    with Session(engine) as session:
        stored = session.get(AnnotatorRun, run_id)
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
    schema: LabelSchema,
    text: str,
    sentences: list[tuple[int, int]],
    title: str,
) -> tuple[AnnotationOutput, CallContext]:
    ctx = open_context(engine, annotator, project, document_id)
    output = await annotate_windows(ctx, schema, project.guidelines, title=title, text=text, sentences=sentences)
    return output, ctx


def _after_run(session: Session, document: Document) -> None:
    """When both annotators of the pair (and the third voter, if any) have finished or failed on the document,
    cross-validate it.

    The document row is locked first: on Postgres two runs finishing at once would otherwise each see the
    other still running (neither committed yet) and nobody would cross-validate. The second to take the
    lock sees the first's committed run.
    """
    session.flush()
    session.exec(select(Document.id).where(Document.id == document.id).with_for_update()).one()
    a, b = pair_of(session, project_id=document.project_id)
    finished = {RunStatus.done, RunStatus.failed}
    for annotator in (a, b, voter_of(session, project_id=document.project_id)):
        if annotator is None or annotator.kind == AnnotatorKind.imported:
            continue
        run = current_run(session, document, annotator)
        if run is None or run.status not in finished:
            return
    enqueue(session, "annotation.crossvalidate", document_id=require_id(document))


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
            # The second look rebuilds the items; verification votes follow it (see augment below).
            enqueue(session, "annotation.augment", document_id=document_id)
        elif settings.verification:
            enqueue(session, "annotation.verify", document_id=document_id)
        session.commit()


def augment(document_id: int, *, engine: Engine | None = None) -> None:
    """Job "annotation.augment": the blind second opinion on single-model items, mixed with the pairs both left out.

    Ask (app/annotation/second_look.py), then rebuild the document's items with the answers (nothing is rebuilt
    once review has started)."""
    engine = engine or get_engine()
    plan = second_look_job.plan(engine, document_id)
    if plan is None:
        return
    second = second_look_job.ask_all(engine, document_id, plan)
    second_look_job.apply(engine, document_id, second, verify=plan.settings.verification)


def verify(document_id: int, *, engine: Engine | None = None) -> None:
    """Job "annotation.verify": the other model's vote on each one-sided relation.

    For relations only A proposed ask B, and the other way round (LLM annotators only); store each vote."""
    engine = engine or get_engine()
    with Session(engine, expire_on_commit=False) as session:
        document = session.get(Document, document_id)
        if document is None:
            return
        project = session.get(Project, document.project_id)
        assert project is not None
        a, b = pair_of(session, project_id=require_id(project))
        single = col(Relation.agreement).in_(verification.SINGLE)
        relations = list(session.exec(select(Relation).where(Relation.document_id == document_id, single)))
        proposers = verification.proposers(session, [require_id(r) for r in relations])
        entities = {e.id: e for e in session.exec(select(Entity).where(Entity.document_id == document_id))}
        sentence_ids: dict[int, list[int]] = {}
        for m in session.exec(select(Mention).where(Mention.document_id == document_id)):
            sentence_ids.setdefault(m.entity_id, []).append(m.sentence_id)
        schema = label_schema_of(project)
        version = prompt_version(schema, project.guidelines, VERIFY_TEMPLATE_VERSION)
        text, sentences = document.text, [(s, e) for s, e in document.sentences]
    for verifier, proposer in ((b, a), (a, b)):
        if verifier is None or proposer is None or verifier.kind != AnnotatorKind.llm:
            continue
        chosen = [r for r in relations if proposers.get(require_id(r)) == {proposer.id}]
        if chosen:
            _verify(engine, document_id, project, verifier, version, chosen, entities, sentence_ids, text, sentences)


def _verify(
    engine: Engine,
    document_id: int,
    project: Project,
    verifier: Annotator,
    version: str,
    relations: list[Relation],
    entities: dict[int | None, Entity],
    sentence_ids: dict[int, list[int]],
    text: str,
    sentences: list[tuple[int, int]],
) -> None:
    schema = label_schema_of(project)
    with Session(engine, expire_on_commit=False) as session:
        run = open_run(session, document_id=document_id, annotator=verifier, version=version)
        session.commit()

    ctx = open_context(engine, verifier, project, document_id)
    ask = verification.ask_votes(ctx, schema, relations, entities, sentence_ids, text, sentences)
    try:
        votes, status, error = run_async(ask), RunStatus.done, None
    except BudgetExhausted as exc:
        votes, status, error = [], RunStatus.budget, str(exc)
    except RunFailure as exc:
        votes, status, error = [], RunStatus.failed, str(exc)
    with Session(engine) as session:
        stored = session.get(AnnotatorRun, run.id)
        if stored is None:
            return
        session.exec(delete(Proposal).where(col(Proposal.run_id) == stored.id))
        stored.status, stored.error, stored.finished_at = status, error, utcnow()
        stored.input_tokens, stored.output_tokens = ctx.usage.input_tokens, ctx.usage.output_tokens
        stored.cost, stored.latency_ms = ctx.usage.cost, ctx.usage.latency_ms
        session.add(stored)
        for relation, verdict in votes:
            session.add(
                Proposal(
                    run_id=require_id(stored),
                    item_kind="relation",
                    item_id=require_id(relation),
                    proposed_type=relation.type,
                    payload={"vote": verdict},
                )
            )
        session.commit()
