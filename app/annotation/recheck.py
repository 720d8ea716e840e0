"""The blind second opinion, the pure core: plan the questions, read the answers, settle single-model items.

Each LLM annotator gets one request per document (more only when the pairs exceed a request's size): the entities
to type, named without their type, and entity pairs to classify, where the pairs the *other* annotator proposed alone
are mixed with augmentation candidates nobody related and ordered by the same rule. Nothing in it says that a pair
was proposed, by whom, or as what. Answers are keyed by entity spans, which stay the same when a document's items
are rebuilt, so the answers can be applied to a fresh cross-validation.
"""

import json
import sys
from dataclasses import dataclass, field
from typing import Any

from app.annotation.augmentation import _closeness, allowed_types, pair_sentence_window
from app.annotation.schemas import RecheckOutput
from app.project.schemas import LabelSchema

NOT_AN_ENTITY = "NONE"
PAIRS_PER_REQUEST = 40
# More named entities than this and only the ones the request needs are listed.
ENTITIES_LISTED = 80

Pair = tuple[str, str]


def span_key(spans: list[tuple[int, int]]) -> str:
    """An entity's identity across rebuilds: its sorted mention spans."""
    return ",".join(f"{s}-{e}" for s, e in sorted(spans))


@dataclass(frozen=True)
class KnownEntity:
    key: str
    name: str
    type: str
    sentence_ids: tuple[int, ...]


@dataclass(frozen=True)
class Request:
    """One request: entities listed (E1, E2, ...), pairs as indices into them, the sentences shown."""

    entities: tuple[str, ...]
    pairs: tuple[tuple[int, int], ...]
    sentence_ids: tuple[int, ...]


@dataclass
class Look:
    """One annotator's blind answers about one document."""

    asked_entities: set[str] = field(default_factory=set)
    entity_types: dict[str, str] = field(default_factory=dict)
    asked_pairs: set[Pair] = field(default_factory=set)
    pairs: dict[Pair, tuple[str, list[int]]] = field(default_factory=dict)
    # Answers naming unknown entities or pairs, unknown or forbidden types: ignored, counted.
    ignored: int = 0

    def pair_answer(self, head: str, tail: str, symmetric: bool) -> str | None:
        """The relation type given for the pair (either direction for symmetric types), None for no relation."""
        answer = self.pairs.get((head, tail))
        if answer is None and symmetric:
            answer = self.pairs.get((tail, head))
        return answer[0] if answer else None

    def asked(self, head: str, tail: str) -> bool:
        return (head, tail) in self.asked_pairs or (tail, head) in self.asked_pairs

    def to_json(self) -> str:
        return json.dumps(
            {
                "asked_entities": sorted(self.asked_entities),
                "entity_types": self.entity_types,
                "asked_pairs": sorted(list(p) for p in self.asked_pairs),
                "pairs": [[h, t, kind, evidence] for (h, t), (kind, evidence) in sorted(self.pairs.items())],
                "ignored": self.ignored,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> "Look":
        data: dict[str, Any] = json.loads(text)
        return cls(
            asked_entities=set(data["asked_entities"]),
            entity_types=dict(data["entity_types"]),
            asked_pairs={(h, t) for h, t in data["asked_pairs"]},
            pairs={(h, t): (kind, list(evidence)) for h, t, kind, evidence in data["pairs"]},
            ignored=int(data.get("ignored", 0)),
        )


def plan(
    entities: dict[str, KnownEntity],
    *,
    pairs: list[Pair],
    to_type: list[str],
    n_sentences: int,
    per_request: int = PAIRS_PER_REQUEST,
) -> list[Request]:
    """Requests for one annotator: every pair once, nearest first whatever its origin; every entity to type."""
    if per_request < 1:
        raise ValueError("per_request must be at least 1")
    ordered = sorted(
        dict.fromkeys(p for p in pairs if p[0] in entities and p[1] in entities and p[0] != p[1]),
        key=lambda p: (*_closeness(list(entities[p[0]].sentence_ids), list(entities[p[1]].sentence_ids)), p),
    )
    chunks = [ordered[i : i + per_request] for i in range(0, len(ordered), per_request)] or [[]]
    typed = [k for k in dict.fromkeys(to_type) if k in entities]
    everyone = sorted(entities.values(), key=_first_position)
    requests = []
    for n, chunk in enumerate(chunks):
        needed = {k for p in chunk for k in p} | (set(typed) if n == 0 else set())
        if not needed:
            continue
        # Small documents list every entity, so the ones asked about do not stand out.
        listed = [e.key for e in everyone] if len(everyone) <= ENTITIES_LISTED else []
        if not set(needed) <= set(listed):
            listed = [e.key for e in everyone if e.key in needed]
        position = {k: i for i, k in enumerate(listed)}
        shown = pair_sentence_window(
            [s for k in needed for s in entities[k].sentence_ids],
            n_sentences,
        )
        requests.append(Request(tuple(listed), tuple((position[h], position[t]) for h, t in chunk), tuple(shown)))
    return requests


def _first_position(entity: KnownEntity) -> tuple[int, str]:
    first = entity.key.split(",", 1)[0]
    start = first.split("-", 1)[0]
    return (int(start) if start.isdigit() else sys.maxsize, entity.key)


def read_answer(
    look: Look,
    request: Request,
    answer: RecheckOutput,
    entities: dict[str, KnownEntity],
    schema: LabelSchema,
    n_sentences: int,
) -> None:
    """Fold one request's answer into the look; anything that does not fit the question is ignored and counted."""
    look.asked_entities.update(request.entities)
    pairs = [(request.entities[h], request.entities[t]) for h, t in request.pairs]
    look.asked_pairs.update(pairs)
    codes = set(schema.entity_codes()) | {NOT_AN_ENTITY}
    for item in answer.entities:
        if not 1 <= item.entity <= len(request.entities) or item.type not in codes:
            look.ignored += 1
            continue
        look.entity_types[request.entities[item.entity - 1]] = item.type
    for pair_answer in answer.pairs:
        if pair_answer.type == "NA":
            continue
        if not 1 <= pair_answer.pair <= len(pairs):
            look.ignored += 1
            continue
        head, tail = pairs[pair_answer.pair - 1]
        if pair_answer.type not in allowed_types(schema, entities[head].type, entities[tail].type):
            look.ignored += 1
            continue
        evidence = sorted({i for i in pair_answer.evidence if 0 <= i < n_sentences})
        look.pairs[(head, tail)] = (pair_answer.type, evidence)


@dataclass(frozen=True)
class Opinion:
    """What the other annotator's blind answer makes of a single-model item."""

    agreement: str  # confirmed | disputed | type_conflict, or the item's own class when it was not asked
    other_type: str | None = None


def entity_opinion(agreement: str, proposed_type: str, key: str, other: Look | None) -> Opinion:
    """A single-model entity: the same type → confirmed, NONE → disputed, another → type conflict."""
    if other is None or key not in other.asked_entities:
        return Opinion(agreement)
    given = other.entity_types.get(key)
    if given is None:  # listed but left unanswered: no opinion
        return Opinion(agreement)
    if given == NOT_AN_ENTITY:
        return Opinion("disputed")
    if given == proposed_type:
        return Opinion("confirmed", given)
    return Opinion("type_conflict", given)


def relation_opinion(agreement: str, proposed_type: str, pair: Pair, other: Look | None, *, symmetric: bool) -> Opinion:
    """A single-model relation: the other's type for the pair; a pair left out means no relation → disputed."""
    if other is None or not other.asked(*pair):
        return Opinion(agreement)
    given = other.pair_answer(*pair, symmetric=symmetric)
    if given is None:
        return Opinion("disputed")
    if given == proposed_type:
        return Opinion("confirmed", given)
    return Opinion("type_conflict", given)


@dataclass(frozen=True)
class Found:
    """A pair nobody had related that at least one annotator answered with a relation."""

    head: str
    tail: str
    type: str
    evidence: list[int]
    agreement: str  # confirmed | type_conflict | disputed | augmented
    # (side, type) of each annotator that gave a relation, A first.
    answers: tuple[tuple[str, str], ...]


def found_pairs(looks: dict[str, Look | None], related: set[Pair]) -> list[Found]:
    """Relations both annotators missed in their first pass, classed by the two blind answers ("a", "b")."""
    asked: set[Pair] = set()
    for look in looks.values():
        if look is not None:
            asked |= look.asked_pairs
    out = []
    for pair in sorted(asked):
        if pair in related or (pair[1], pair[0]) in related:
            continue
        answers = []
        for side in ("a", "b"):
            look = looks.get(side)
            if look is not None and pair in look.pairs:
                answers.append((side, *look.pairs[pair]))
        if not answers:
            continue
        others_asked = [s for s, look in looks.items() if look is not None and pair in look.asked_pairs]
        if len(answers) == 2:
            agreement = "confirmed" if answers[0][1] == answers[1][1] else "type_conflict"
        elif len(others_asked) == 2:
            agreement = "disputed"  # the other annotator was asked the same pair and saw no relation
        else:
            agreement = "augmented"
        evidence = sorted({i for _s, _t, ev in answers for i in ev})
        out.append(Found(pair[0], pair[1], answers[0][1], evidence, agreement, tuple((s, t) for s, t, _ev in answers)))
    return out
