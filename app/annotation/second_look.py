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

The job "annotation.augment" (app/annotation/jobs.py) runs it; this module plans the questions and asks them.
"""

from dataclasses import dataclass

from app.annotation import recheck
from app.annotation.augmentation import CandidateEntity, allowed_types, candidate_pairs
from app.annotation.contract import AugmentationOutput, RecheckOutput
from app.annotation.prompts import augmentation_prompt, recheck_prompt
from app.annotation.runner import CallContext, ask_json
from app.annotation.sides import Built
from app.models import Annotator
from app.project.label_schema import LabelSchema


@dataclass(frozen=True)
class Ask:
    """What one annotator is asked about one document."""

    side: str
    annotator: Annotator
    requests: list[recheck.Request]
    run_id: int


def candidates(built: Built, schema: LabelSchema, cap: int) -> tuple[list[recheck.Pair], str | None]:
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


async def ask(
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
