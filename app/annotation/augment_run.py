"""Entity-pair augmentation for one document: ask about type-compatible pairs that neither annotator related."""

import logging

from sqlalchemy import Engine
from sqlmodel import Session, select

from app.annotation.augmentation import CandidateEntity, allowed_types, batches, candidate_pairs, pair_sentence_window
from app.annotation.consolidate import remove_items
from app.annotation.prompts import AUGMENT_TEMPLATE_VERSION, augmentation_prompt, prompt_version
from app.annotation.runner import BudgetExhausted, CallContext, RunFailure, ask_json, open_context, run_async
from app.annotation.schemas import AugmentationOutput
from app.annotation.service import pair_of
from app.models import (
    Agreement,
    Annotator,
    AnnotatorKind,
    AnnotatorRun,
    Document,
    Entity,
    ItemStatus,
    Mention,
    Project,
    Proposal,
    Relation,
    RunStatus,
)
from app.models.types import utcnow
from app.project.schemas import LabelSchema
from app.project.service import label_schema_of, settings_of

log = logging.getLogger(__name__)
# The default cap (40) fits one request: the shared instructions are paid once per document.
PAIRS_PER_REQUEST = 40


def _asker(session: Session, project_id: int) -> Annotator | None:
    a, b = pair_of(session, project_id=project_id)
    return next((x for x in (a, b) if x is not None and x.kind == AnnotatorKind.llm), None)


def augment_document(engine: Engine, document_id: int) -> None:
    """Idempotent: earlier augmented items are replaced; answers come from the call cache when already paid."""
    with Session(engine, expire_on_commit=False) as session:
        document = session.get(Document, document_id)
        if document is None:
            return
        project = session.get(Project, document.project_id)
        assert project is not None
        schema, settings = label_schema_of(project), settings_of(project)
        asker = _asker(session, project.id or 0)
        if asker is None:
            document.meta = {**document.meta, "augmentation": "skipped: no LLM annotator in the pair"}
            session.add(document)
            session.commit()
            return
        entities = list(session.exec(select(Entity).where(Entity.document_id == document_id, Entity.grounded)))
        sentence_ids: dict[int, list[int]] = {}
        for m in session.exec(select(Mention).where(Mention.document_id == document_id)):
            sentence_ids.setdefault(m.entity_id, []).append(m.sentence_id)
        relations = session.exec(
            select(Relation).where(Relation.document_id == document_id, Relation.agreement != Agreement.augmented)
        )
        related = {(r.head_id, r.tail_id) for r in relations}
        result = candidate_pairs(
            [
                CandidateEntity(id=e.id or 0, type=e.type, sentence_ids=sorted(set(sentence_ids.get(e.id or 0, []))))
                for e in entities
            ],
            related,
            schema,
            cap=settings.augmentation_cap,
        )
        if result.skipped_reason:
            document.meta = {**document.meta, "augmentation": f"skipped: {result.skipped_reason}"}
            session.add(document)
            session.commit()
            return
        version = prompt_version(schema, project.guidelines, AUGMENT_TEMPLATE_VERSION)
        run = session.exec(
            select(AnnotatorRun).where(
                AnnotatorRun.document_id == document_id,
                AnnotatorRun.annotator_id == asker.id,
                AnnotatorRun.prompt_version == version,
            )
        ).first()
        if run is None:
            run = AnnotatorRun(document_id=document_id, annotator_id=asker.id or 0, prompt_version=version)
        run.status = RunStatus.running
        session.add(run)
        session.commit()
        by_id = {e.id: e for e in entities}
        text, sentences = document.text, [(s, e) for s, e in document.sentences]

    answers: list[tuple[int, int, str, list[int]]] = []
    ctx = open_context(engine, asker, project, document_id)
    try:
        answers = run_async(_ask(ctx, schema, text, sentences, result.pairs, by_id, sentence_ids))
        status, error = RunStatus.done, None
    except BudgetExhausted as exc:
        status, error = RunStatus.budget, str(exc)
    except RunFailure as exc:
        status, error = RunStatus.failed, str(exc)

    with Session(engine) as session:
        remove_items(session, document_id=document_id, agreements=[Agreement.augmented], entities=False)
        stored = session.get(AnnotatorRun, run.id)
        if stored is None:
            return
        stored.status, stored.error, stored.finished_at = status, error, utcnow()
        stored.input_tokens, stored.output_tokens = ctx.usage.input_tokens, ctx.usage.output_tokens
        stored.cost, stored.latency_ms = ctx.usage.cost, ctx.usage.latency_ms
        session.add(stored)
        for head, tail, code, evidence in answers:
            relation = Relation(
                document_id=document_id,
                head_id=head,
                tail_id=tail,
                type=code,
                evidence=evidence,
                agreement=Agreement.augmented,
                status=ItemStatus.proposed,
            )
            session.add(relation)
            session.flush()
            session.add(
                Proposal(
                    run_id=stored.id or 0,
                    item_kind="relation",
                    item_id=relation.id or 0,
                    proposed_type=code,
                    augmentation=True,
                )
            )
        session.commit()


async def _ask(
    ctx: CallContext,
    schema: LabelSchema,
    text: str,
    sentences: list[tuple[int, int]],
    pairs: list[tuple[int, int]],
    by_id: dict[int | None, Entity],
    sentence_ids: dict[int, list[int]],
) -> list[tuple[int, int, str, list[int]]]:
    """Numbered pairs in batches, each with only the sentences that hold them (plus context)."""
    out: list[tuple[int, int, str, list[int]]] = []
    for chunk in batches(pairs, PAIRS_PER_REQUEST):
        ids = pair_sentence_window(
            [sid for h, t in chunk for sid in (*sentence_ids.get(h, []), *sentence_ids.get(t, []))],
            len(sentences),
        )
        members = list(dict.fromkeys(e for pair in chunk for e in pair))
        position = {entity_id: i for i, entity_id in enumerate(members)}
        codes = sorted({c for h, t in chunk for c in allowed_types(schema, by_id[h].type, by_id[t].type)})
        prompt = augmentation_prompt(
            schema,
            text=text,
            sentences=sentences,
            ids=ids,
            entities=[(by_id[e].name, by_id[e].type) for e in members],
            pairs=[(position[h], position[t]) for h, t in chunk],
            relation_codes=codes,
        )
        answer = await ask_json(ctx, prompt, AugmentationOutput, purpose="augment")
        for item in answer.pairs:
            if not 1 <= item.pair <= len(chunk) or item.type == "NA":
                continue
            head, tail = chunk[item.pair - 1]
            if item.type not in allowed_types(schema, by_id[head].type, by_id[tail].type):
                continue
            evidence = sorted({i for i in item.evidence if 0 <= i < len(sentences)})
            out.append((head, tail, item.type, evidence))
    return out
