"""Optional verification: the other model votes true/false on each relation only one annotator proposed.

The vote is evidence for reviewers and nothing more: in the source research each model approved 91–96% of the
other's disputed triples, so a vote never accepts anything by itself.
"""

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from app.annotation.augmentation import batches, pair_sentence_window
from app.annotation.prompts import VERIFY_TEMPLATE_VERSION, prompt_version, verification_prompt
from app.annotation.runner import BudgetExhausted, RunFailure, ask_json, open_context, run_async
from app.annotation.schemas import VerificationOutput
from app.annotation.service import open_run, pair_of
from app.models import (
    Agreement,
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
from app.project.service import label_schema_of

STATEMENTS_PER_REQUEST = 10


# Relations one annotator proposed and the other did not (its blind second opinion aside).
SINGLE = [Agreement.a_only, Agreement.b_only, Agreement.confirmed, Agreement.disputed, Agreement.augmented]


def verify_document(engine: Engine, document_id: int) -> None:
    """For relations only A proposed ask B, and the other way round (LLM annotators only); store each vote."""
    with Session(engine, expire_on_commit=False) as session:
        document = session.get(Document, document_id)
        if document is None:
            return
        project = session.get(Project, document.project_id)
        assert project is not None
        a, b = pair_of(session, project_id=project.id or 0)
        relations = list(
            session.exec(
                select(Relation).where(Relation.document_id == document_id, col(Relation.agreement).in_(SINGLE))
            )
        )
        proposers = _proposers(session, [r.id or 0 for r in relations])
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
        chosen = [r for r in relations if proposers.get(r.id or 0) == {proposer.id}]
        if chosen:
            _verify(engine, document_id, project, verifier, version, chosen, entities, sentence_ids, text, sentences)


def _proposers(session: Session, relation_ids: list[int]) -> dict[int, set[int]]:
    """Annotator ids whose own pass proposed each relation (blind answers and votes are not proposals)."""
    out: dict[int, set[int]] = {}
    if not relation_ids:
        return out
    for item_id, annotator_id, payload in session.exec(
        select(Proposal.item_id, AnnotatorRun.annotator_id, Proposal.payload)
        .join(AnnotatorRun, col(AnnotatorRun.id) == Proposal.run_id)
        .where(Proposal.item_kind == "relation", col(Proposal.item_id).in_(relation_ids))
    ):
        if not payload.get("recheck") and "vote" not in payload:
            out.setdefault(item_id, set()).add(annotator_id)
    return out


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

    async def ask() -> list[tuple[Relation, bool]]:
        votes: list[tuple[Relation, bool]] = []
        for chunk in batches([(r.id or 0, 0) for r in relations], STATEMENTS_PER_REQUEST):
            items = [next(r for r in relations if r.id == rid) for rid, _ in chunk]
            ids = pair_sentence_window(
                [
                    *(e for r in items for e in r.evidence),
                    *(s for r in items for s in (*sentence_ids.get(r.head_id, []), *sentence_ids.get(r.tail_id, []))),
                ],
                len(sentences),
            )
            statements = [
                (
                    entities[r.head_id].name,
                    entities[r.head_id].type,
                    r.type,
                    entities[r.tail_id].name,
                    entities[r.tail_id].type,
                )
                for r in items
            ]
            prompt = verification_prompt(schema, text=text, sentences=sentences, ids=ids, statements=statements)
            answer = await ask_json(ctx, prompt, VerificationOutput, purpose="verify")
            for vote in answer.votes:
                if 1 <= vote.item <= len(items):
                    votes.append((items[vote.item - 1], vote.verdict))
        return votes

    try:
        votes, status, error = run_async(ask()), RunStatus.done, None
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
                    run_id=stored.id or 0,
                    item_kind="relation",
                    item_id=relation.id or 0,
                    proposed_type=relation.type,
                    payload={"vote": verdict},
                )
            )
        session.commit()
