"""Optional verification: the other model votes true/false on each relation only one annotator proposed.

The vote is evidence for reviewers and nothing more: in the source research each model approved 91–96% of the
other's disputed triples, so a vote never accepts anything by itself. The job "annotation.verify"
(app/annotation/jobs.py) runs it; this module picks the relations and asks for the votes.
"""

from sqlmodel import Session, col, select

from app.annotation.augmentation import batches, pair_sentence_window
from app.annotation.contract import VerificationOutput
from app.annotation.prompts import verification_prompt
from app.annotation.runner import CallContext, ask_json
from app.db import require_id
from app.models import Agreement, AnnotatorRun, Entity, Proposal, Relation
from app.project.label_schema import LabelSchema

STATEMENTS_PER_REQUEST = 10


# Relations one annotator proposed and the other did not (its blind second opinion aside).
SINGLE = [Agreement.a_only, Agreement.b_only, Agreement.confirmed, Agreement.disputed, Agreement.augmented]


def proposers(session: Session, relation_ids: list[int]) -> dict[int, set[int]]:
    """Annotator ids of the pair whose own pass proposed each relation (blind answers, votes and the third voter's
    agreement are not the pair's proposals)."""
    out: dict[int, set[int]] = {}
    if not relation_ids:
        return out
    for item_id, annotator_id, payload in session.exec(
        select(Proposal.item_id, AnnotatorRun.annotator_id, Proposal.payload)
        .join(AnnotatorRun, col(AnnotatorRun.id) == Proposal.run_id)
        .where(Proposal.item_kind == "relation", col(Proposal.item_id).in_(relation_ids))
    ):
        if not payload.get("recheck") and not payload.get("voter") and "vote" not in payload:
            out.setdefault(item_id, set()).add(annotator_id)
    return out


async def ask_votes(
    ctx: CallContext,
    schema: LabelSchema,
    relations: list[Relation],
    entities: dict[int | None, Entity],
    sentence_ids: dict[int, list[int]],
    text: str,
    sentences: list[tuple[int, int]],
) -> list[tuple[Relation, bool]]:
    """The verifier's true/false vote on each relation, asked STATEMENTS_PER_REQUEST at a time."""
    votes: list[tuple[Relation, bool]] = []
    for chunk in batches([(require_id(r), 0) for r in relations], STATEMENTS_PER_REQUEST):
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
