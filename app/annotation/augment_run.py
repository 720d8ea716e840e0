"""The second look at one document: augmentation and the blind second opinion, one request per LLM annotator.

Each LLM annotator of the pair is asked about the candidate pairs nobody related, mixed with every pair one of them
proposed alone and every type conflict, and types every listed entity, never told what was proposed. The document's
items are then rebuilt from both first passes with these answers applied: an item the other model confirms blind
becomes `confirmed`, one it rejects `disputed` (`retracted` when its proposer withdraws it too); a candidate pair
both give alike becomes `confirmed`, one only one gives `unconfirmed`, one they give different types
`type_conflict`. The cap counts questions: `augmentation_cap` 40 asks both about the 20 nearest candidates.

With the project's `recheck` off, only the first LLM annotator is asked about the candidates, with their types
shown, as before the blind second opinion existed (a pair found that way is `augmented`). Idempotent: the calls
come from the cache when already paid, and the rebuild starts from the first passes each time.
"""

import logging
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from app.annotation import recheck
from app.annotation.augmentation import CandidateEntity, allowed_types, candidate_pairs
from app.annotation.consolidate import Built, SecondLooks
from app.annotation.engine import rebuild_document, review_started
from app.annotation.prompts import (
    AUGMENT_TEMPLATE_VERSION,
    RECHECK_TEMPLATE_VERSION,
    augmentation_prompt,
    prompt_version,
    recheck_prompt,
)
from app.annotation.runner import BudgetExhausted, CallContext, RunFailure, ask_json, open_context, run_async
from app.annotation.schemas import AugmentationOutput, RecheckOutput
from app.annotation.service import open_run, pair_of
from app.jobs import enqueue
from app.models import Annotator, AnnotatorKind, AnnotatorRun, Document, Project, RunStatus
from app.models.types import utcnow
from app.project.schemas import LabelSchema
from app.project.service import label_schema_of, settings_of

log = logging.getLogger(__name__)
CONFLICT = "type_conflict"


@dataclass(frozen=True)
class _Ask:
    """What one annotator is asked about one document."""

    side: str
    annotator: Annotator
    requests: list[recheck.Request]
    run_id: int


def augment_document(engine: Engine, document_id: int) -> None:
    """Ask, then rebuild the document's items with the answers (nothing is rebuilt once review has started)."""
    with Session(engine, expire_on_commit=False) as session:
        document = session.get(Document, document_id)
        if document is None:
            return
        if review_started(session, document_id):
            _note(session, document, "augmentation", "skipped: review had started")
            return
        project = session.get(Project, document.project_id)
        assert project is not None
        schema, settings = label_schema_of(project), settings_of(project)
        a, b = pair_of(session, project_id=project.id or 0)
        llms = {s: x for s, x in (("a", a), ("b", b)) if x is not None and x.kind == AnnotatorKind.llm}
        if not llms:
            _note(session, document, "augmentation", "skipped: no LLM annotator in the pair")
            return
        built = rebuild_document(session, document)
        if built is None:
            session.commit()
            return
        blind = settings.recheck
        if not blind:  # augmentation alone: the first LLM annotator, as before the second opinion existed
            first = next(iter(llms))
            llms = {first: llms[first]}
        # The cap counts questions about new pairs: each candidate is asked of every annotator asked.
        cap = settings.augmentation_cap // len(llms) if settings.augmentation else 0
        candidates, skipped = _candidates(built, schema, cap)
        if skipped:
            document.meta = {**document.meta, "augmentation": f"skipped: {skipped}"}
        template = RECHECK_TEMPLATE_VERSION if blind else AUGMENT_TEMPLATE_VERSION
        version = prompt_version(schema, project.guidelines, template)
        asks: list[_Ask] = []
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
            asks.append(_Ask(side, annotator, requests, run.id or 0))
        session.commit()
        text, sentences = document.text, [(s, e) for s, e in document.sentences]

    second = SecondLooks()
    for ask in asks:
        ctx: CallContext | None = None
        look: recheck.Look | None = None
        error: str | None = None
        status = RunStatus.done
        try:
            ctx = open_context(engine, ask.annotator, project, document_id)
            look = run_async(_ask(ctx, schema, text, sentences, built, ask.requests, blind=blind))
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
        if settings.verification:  # votes attach to the rebuilt items
            enqueue(session, "annotation.verify", document_id=document_id)
        session.commit()


def _candidates(built: Built, schema: LabelSchema, cap: int) -> tuple[list[recheck.Pair], str | None]:
    """Type-compatible pairs nobody related, nearest first, as entity keys; or why there are none."""
    if cap <= 0:
        return [], None
    keys = list(built.entities)
    index = {k: i for i, k in enumerate(keys)}
    related = {(index[h], index[t]) for h, t, *_rest in built.relations if h in index and t in index}
    entities = [
        CandidateEntity(id=i, type=built.entities[k].type, sentence_ids=list(built.entities[k].sentence_ids))
        for i, k in enumerate(keys)
    ]
    result = candidate_pairs(entities, related, schema, cap=cap)
    return [(keys[h], keys[t]) for h, t in result.pairs], result.skipped_reason


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


async def _ask(
    ctx: CallContext,
    schema: LabelSchema,
    text: str,
    sentences: list[tuple[int, int]],
    built: Built,
    requests: list[recheck.Request],
    *,
    blind: bool,
) -> recheck.Look:
    look = recheck.Look()
    for request in requests:
        entities = [built.entities[k] for k in request.entities]
        codes = sorted({c for h, t in request.pairs for c in allowed_types(schema, entities[h].type, entities[t].type)})
        if blind:
            prompt = recheck_prompt(
                schema,
                text=text,
                sentences=sentences,
                ids=list(request.sentence_ids),
                entities=[e.name for e in entities],
                pairs=list(request.pairs),
                relation_codes=codes,
            )
            answer = await ask_json(ctx, prompt, RecheckOutput, purpose="recheck")
            recheck.read_answer(look, request, answer, built.entities, schema, len(sentences))
        else:
            prompt = augmentation_prompt(
                schema,
                text=text,
                sentences=sentences,
                ids=list(request.sentence_ids),
                entities=[(e.name, e.type) for e in entities],
                pairs=list(request.pairs),
                relation_codes=codes,
            )
            output = await ask_json(ctx, prompt, AugmentationOutput, purpose="augment")
            recheck.read_augmentation(look, request, output, built.entities, schema, len(sentences))
    return look
