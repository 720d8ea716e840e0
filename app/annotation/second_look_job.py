"""The second look's three transactions, run by the job "annotation.augment" (app/annotation/jobs.py): plan the
questions and open a run per annotator asked, ask each annotator outside any transaction, apply the answers by
rebuilding the document's items. What is asked and how is app/annotation/second_look.py."""

import logging
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from app.annotation import recheck, second_look
from app.annotation.prompts import AUGMENT_TEMPLATE_VERSION, RECHECK_TEMPLATE_VERSION, prompt_version
from app.annotation.rebuild import rebuild_document, review_started
from app.annotation.runner import BudgetExhausted, CallContext, RunFailure, open_context, run_async
from app.annotation.service import open_run, pair_of
from app.annotation.sides import Built, SecondLooks
from app.db import require_id
from app.jobs import enqueue
from app.models import AnnotatorKind, AnnotatorRun, Document, Project, RunStatus
from app.models.types import utcnow
from app.project.label_schema import LabelSchema, ProjectSettings
from app.project.service import label_schema_of, settings_of

log = logging.getLogger("app.annotation.jobs")  # the job's logger, as before its steps moved here
# The agreement class of an item the two annotators typed differently.
CONFLICT = "type_conflict"


@dataclass(frozen=True)
class Plan:
    """What the second look asks, with its runs opened, before any model is called."""

    project: Project
    schema: LabelSchema
    settings: ProjectSettings
    built: Built
    blind: bool
    text: str
    sentences: list[tuple[int, int]]
    asks: list[second_look.Ask]


def plan(engine: Engine, document_id: int) -> Plan | None:
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
    return Plan(project, schema, settings, built, blind, text, sentences, asks)


def ask_all(engine: Engine, document_id: int, plan: Plan) -> SecondLooks:
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


def apply(engine: Engine, document_id: int, second: SecondLooks, *, verify: bool) -> None:
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
