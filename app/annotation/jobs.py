"""The bodies of the annotation jobs (workers/annotation.py): run one annotator on one document, cross-validate,
the second look (augment), verification votes. They open and commit their own sessions, around the model calls."""

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from app.annotation import recheck, second_look, verification
from app.annotation.contract import AnnotationOutput
from app.annotation.model_annotator import ModelUnavailable, annotate_with_model
from app.annotation.prompts import (
    AUGMENT_TEMPLATE_VERSION,
    RECHECK_TEMPLATE_VERSION,
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
from app.annotation.sides import Built, SecondLooks
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
from app.project.label_schema import LabelSchema, ProjectSettings
from app.project.service import label_schema_of, settings_of

log = logging.getLogger(__name__)
# The agreement class of an item the two annotators typed differently.
CONFLICT = "type_conflict"


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
        elif annotator.kind == AnnotatorKind.model:
            output = annotate_with_model(engine, annotator, title=title, text=text, sentences=sentences)
        else:
            output, ctx = run_async(
                _annotate_llm(engine, annotator, project, document_id, schema, text, sentences, title)
            )
        status, error = RunStatus.done, None
    except BudgetExhausted as exc:
        output, status, error = None, RunStatus.budget, str(exc)
    except (RunFailure, ModelUnavailable) as exc:
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
    plan = _plan_second_look(engine, document_id)
    if plan is None:
        return
    second = _ask_second_look(engine, document_id, plan)
    _apply_second_look(engine, document_id, second, verify=plan.settings.verification)


@dataclass(frozen=True)
class _SecondLookPlan:
    """What the second look asks, with its runs opened, before any model is called."""

    project: Project
    schema: LabelSchema
    settings: ProjectSettings
    built: Built
    blind: bool
    text: str
    sentences: list[tuple[int, int]]
    asks: list[second_look.Ask]


def _plan_second_look(engine: Engine, document_id: int) -> _SecondLookPlan | None:
    """Rebuild the items from the first passes and open a run per LLM annotator to ask; None when nothing is asked."""
    with Session(engine, expire_on_commit=False) as session:
        document = session.get(Document, document_id)
        if document is None:
            return None
        if review_started(session, document_id):
            _note(session, document, "augmentation", "skipped: review had started")
            return None
        project = session.get(Project, document.project_id)
        assert project is not None
        schema, settings = label_schema_of(project), settings_of(project)
        a, b = pair_of(session, project_id=require_id(project))
        llms = {s: x for s, x in (("a", a), ("b", b)) if x is not None and x.kind == AnnotatorKind.llm}
        if not llms:
            _note(session, document, "augmentation", "skipped: no LLM annotator in the pair")
            return None
        built = rebuild_document(session, document)
        if built is None:
            session.commit()
            return None
        blind = settings.recheck
        if not blind:  # augmentation alone: the first LLM annotator, as before the second opinion existed
            first = next(iter(llms))
            llms = {first: llms[first]}
        # The cap counts questions about new pairs: each candidate is asked of every annotator asked.
        cap = settings.augmentation_cap // len(llms) if settings.augmentation else 0
        candidates, skipped = second_look.candidates(built, schema, cap)
        if skipped:
            document.meta = {**document.meta, "augmentation": f"skipped: {skipped}"}
        template = RECHECK_TEMPLATE_VERSION if blind else AUGMENT_TEMPLATE_VERSION
        version = prompt_version(schema, project.guidelines, template)
        asks: list[second_look.Ask] = []
        # Everything goes to both: a candidate one finds, the other confirms (`confirmed`) or not (`unconfirmed`);
        # a single-model item the other confirms or disputes, and the proposer's own blind answer tells a disputed
        # item it still holds from one it withdraws; a type conflict both settle blind on one type is confirmed.
        both = [(h, t) for h, t, _type, cls, alone in built.relations if blind and (alone or cls == CONFLICT)]
        to_type = [k for k, (cls, alone) in built.entity_class.items() if blind and (alone or cls == CONFLICT)]
        for side, annotator in llms.items():
            requests = recheck.plan(
                built.entities, pairs=[*candidates, *both], to_type=to_type, n_sentences=len(document.sentences)
            )
            if not requests:
                continue
            run = open_run(session, document_id=document_id, annotator=annotator, version=version)
            asks.append(second_look.Ask(side, annotator, requests, require_id(run)))
        session.commit()
        text, sentences = document.text, [(s, e) for s, e in document.sentences]
    return _SecondLookPlan(project, schema, settings, built, blind, text, sentences, asks)


def _ask_second_look(engine: Engine, document_id: int, plan: _SecondLookPlan) -> SecondLooks:
    """Ask each annotator in turn, outside any transaction; a failed ask leaves that side's items for review."""
    second = SecondLooks()
    for ask in plan.asks:
        ctx: CallContext | None = None
        look: recheck.Look | None = None
        error: str | None = None
        status = RunStatus.done
        try:
            ctx = open_context(engine, ask.annotator, plan.project, document_id)
            look = run_async(
                second_look.ask(ctx, plan.schema, plan.text, plan.sentences, plan.built, ask.requests, blind=plan.blind)
            )
        except BudgetExhausted as exc:
            status, error = RunStatus.budget, str(exc)
        except RunFailure as exc:
            status, error = RunStatus.failed, str(exc)
        except Exception as exc:  # the other annotator's answers still count; this one's items stay for review
            log.exception("second look at document %s by annotator %s failed", document_id, ask.annotator.id)
            status, error = RunStatus.failed, f"internal error ({type(exc).__name__}); see the worker log"
        second.looks[ask.side] = look
        second.run_ids[ask.side] = ask.run_id
        if error is not None:
            second.missing[ask.side] = f"{ask.annotator.name}: {error}"
        _store_run(engine, ask.run_id, ctx, status, error, look)
    return second


def _apply_second_look(engine: Engine, document_id: int, second: SecondLooks, *, verify: bool) -> None:
    """Rebuild the document's items with the answers and say how the second look went (unless review started)."""
    with Session(engine) as session:
        document = session.get(Document, document_id)
        if document is None:
            return
        if review_started(session, document_id):
            _note(session, document, "augmentation", "answers kept but not applied: review had started")
            return
        rebuild_document(session, document, second)
        ignored = sum(look.ignored for look in second.looks.values() if look is not None)
        summary = "; ".join(second.missing.values()) or "done"
        if ignored:
            summary += f"; {ignored} answer(s) ignored (unknown pairs, entities or types)"
        document.meta = {**document.meta, "second_look": summary}
        session.add(document)
        if verify:  # votes attach to the rebuilt items
            enqueue(session, "annotation.verify", document_id=document_id)
        session.commit()


def _store_run(
    engine: Engine,
    run_id: int,
    ctx: CallContext | None,
    status: RunStatus,
    error: str | None,
    look: recheck.Look | None,
) -> None:
    with Session(engine) as session:
        stored = session.get(AnnotatorRun, run_id)
        if stored is None:
            return
        stored.status, stored.error, stored.finished_at = status, error, utcnow()
        if ctx is not None:
            stored.input_tokens, stored.output_tokens = ctx.usage.input_tokens, ctx.usage.output_tokens
            stored.cost, stored.latency_ms = ctx.usage.cost, ctx.usage.latency_ms
        stored.raw_response = look.to_json() if look is not None else None
        session.add(stored)
        session.commit()


def _note(session: Session, document: Document, key: str, value: str) -> None:
    document.meta = {**document.meta, key: value}
    session.add(document)
    session.commit()


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
