"""The blind second opinion, the pure core: plan the questions, read the answers, settle single-model items.

Each LLM annotator gets one request per document (more only when the pairs exceed a request's size): the entities
to type, named without their type, and entity pairs to classify, where the pairs the *other* annotator proposed alone
are mixed with augmentation candidates nobody related and ordered by the same rule. Nothing in it says that a pair
was proposed, by whom, or as what. Answers are keyed by entity spans, which stay the same when a document's items
are rebuilt, so the answers can be applied to a fresh cross-validation.
"""

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from app.annotation.augmentation import allowed_types, closeness, pair_sentence_window
from app.annotation.contract import AugmentationOutput, RecheckOutput
from app.project.label_schema import LabelSchema

NOT_AN_ENTITY = "NONE"
# The default cap (40 candidates) plus a long document's single-model pairs fit in one request: the sentences, the
# largest part of a request, are paid once per annotator.
PAIRS_PER_REQUEST = 200

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
    # Every relation type given for a pair (a pair may hold several), with its evidence.
    pairs: dict[Pair, dict[str, list[int]]] = field(default_factory=dict)
    # Answers naming unknown entities or pairs, unknown or forbidden types: ignored, counted.
    ignored: int = 0

    def pair_types(self, head: str, tail: str, symmetric: set[str]) -> set[str]:
        """The relation types given for the pair (symmetric ones in either direction); empty for no relation."""
        given = set(self.pairs.get((head, tail), {}))
        return given | {t for t in self.pairs.get((tail, head), {}) if t in symmetric}

    def asked(self, head: str, tail: str) -> bool:
        return (head, tail) in self.asked_pairs or (tail, head) in self.asked_pairs

    def to_json(self) -> str:
        return json.dumps(
            {
                "asked_entities": sorted(self.asked_entities),
                "entity_types": self.entity_types,
                "asked_pairs": sorted(list(p) for p in self.asked_pairs),
                "pairs": [
                    [h, t, kind, evidence]
                    for (h, t), types in sorted(self.pairs.items())
                    for kind, evidence in sorted(types.items())
                ],
                "ignored": self.ignored,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> "Look":
        data: dict[str, Any] = json.loads(text)
        pairs: dict[Pair, dict[str, list[int]]] = {}
        for h, t, kind, evidence in data["pairs"]:
            pairs.setdefault((h, t), {})[kind] = list(evidence)
        return cls(
            asked_entities=set(data["asked_entities"]),
            entity_types=dict(data["entity_types"]),
            asked_pairs={(h, t) for h, t in data["asked_pairs"]},
            pairs=pairs,
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
        key=lambda p: (*closeness(list(entities[p[0]].sentence_ids), list(entities[p[1]].sentence_ids)), p),
    )
    chunks = [ordered[i : i + per_request] for i in range(0, len(ordered), per_request)] or [[]]
    typed = [k for k in dict.fromkeys(to_type) if k in entities]
    everyone = sorted(entities.values(), key=_first_position)
    requests = []
    for n, chunk in enumerate(chunks):
        needed = {k for p in chunk for k in p} | (set(typed) if n == 0 else set())
        if not needed:
            continue
        # In text order, every one typed alike: nothing tells which were proposed alone.
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


# "E1 任职于 E4 0 2": head label, relation type code, tail label, evidence sentence numbers (commas tolerated).
_RELATION = re.compile(r"E(\d+)\s+(\S+)\s+E(\d+)((?:[\s,]+\d+)*)[\s,]*")
_LABEL = re.compile(r"E(\d+)")
# Longer than any well-formed relation string of a request: ignored unread.
MAX_RELATION_CHARS = 400


def read_answer(
    look: Look,
    request: Request,
    answer: RecheckOutput,
    entities: dict[str, KnownEntity],
    schema: LabelSchema,
    n_sentences: int,
) -> None:
    """Fold one blind request's answer into the look; anything that does not fit the question is ignored and
    counted (an unknown label or type, a pair not asked, a string that is no relation)."""
    look.asked_entities.update(request.entities)
    asked = {(request.entities[h], request.entities[t]) for h, t in request.pairs}
    look.asked_pairs.update(asked)
    codes = set(schema.entity_codes()) | {NOT_AN_ENTITY}
    for label, kind in answer.types.items():
        index = _index(label, len(request.entities))
        if index is None or kind not in codes:
            look.ignored += 1
            continue
        look.entity_types[request.entities[index]] = kind
    symmetric = {r.code for r in schema.relation_types if r.symmetric}
    for line in answer.relations:
        match = _RELATION.fullmatch(line.strip()) if len(line) <= MAX_RELATION_CHARS else None
        if match is None:
            look.ignored += 1
            continue
        h, t = _index(f"E{match[1]}", len(request.entities)), _index(f"E{match[3]}", len(request.entities))
        kind = match[2]
        if kind == "NA":
            continue
        pair = (request.entities[h], request.entities[t]) if h is not None and t is not None else None
        if pair is not None and pair not in asked and kind in symmetric and (pair[1], pair[0]) in asked:
            pair = (pair[1], pair[0])  # a symmetric type given the other way round
        if pair is None or pair not in asked:
            look.ignored += 1
            continue
        evidence = [int(x) for x in re.findall(r"\d+", match[4])]
        _take_relation(look, pair, kind, evidence, entities, schema, n_sentences)


def read_augmentation(
    look: Look,
    request: Request,
    answer: AugmentationOutput,
    entities: dict[str, KnownEntity],
    schema: LabelSchema,
    n_sentences: int,
) -> None:
    """Fold an augmentation answer (numbered pairs, types shown: the second opinion off) into the look."""
    pairs = [(request.entities[h], request.entities[t]) for h, t in request.pairs]
    look.asked_pairs.update(pairs)
    for pair_answer in answer.pairs:
        if pair_answer.type == "NA":
            continue
        if not 1 <= pair_answer.pair <= len(pairs):
            look.ignored += 1
            continue
        _take_relation(
            look, pairs[pair_answer.pair - 1], pair_answer.type, pair_answer.evidence, entities, schema, n_sentences
        )


def _index(label: str, n: int) -> int | None:
    """The 0-based index of "E<k>" among n listed entities, or None."""
    match = _LABEL.fullmatch(label.strip())
    k = int(match[1]) if match else 0
    return k - 1 if 1 <= k <= n else None


def _take_relation(
    look: Look,
    pair: Pair,
    kind: str,
    evidence: list[int],
    entities: dict[str, KnownEntity],
    schema: LabelSchema,
    n_sentences: int,
) -> None:
    head, tail = pair
    if kind not in allowed_types(schema, entities[head].type, entities[tail].type):
        look.ignored += 1
        return
    look.pairs.setdefault(pair, {})[kind] = sorted({i for i in evidence if 0 <= i < n_sentences})


@dataclass(frozen=True)
class Opinion:
    """What the other annotator's blind answer makes of a single-model item."""

    # confirmed | type_conflict | disputed | retracted, or the item's own class when the other was not asked
    agreement: str
    other_type: str | None = None


def entity_opinion(
    agreement: str, proposed_type: str, key: str, other: Look | None, *, own: Look | None = None
) -> Opinion:
    """A single-model entity: the other's type the same → confirmed, another → type conflict, NONE → disputed.
    The proposer's own blind answer refines it: if it no longer gives the type, confirmed becomes disputed (the
    blind answers disagree) and disputed becomes retracted (neither gives it)."""
    if other is None or key not in other.asked_entities:
        return Opinion(agreement)
    given = other.entity_types.get(key)
    if given is None:  # listed but left unanswered: no opinion
        return Opinion(agreement)
    withdrawn = own is not None and key in own.asked_entities and own.entity_types.get(key) not in (None, proposed_type)
    if given == proposed_type:
        # The blind answers disagree when the proposer itself no longer gives the type.
        return Opinion("disputed" if withdrawn else "confirmed", given)
    if given != NOT_AN_ENTITY:
        return Opinion("type_conflict", given)
    return Opinion("retracted" if withdrawn else "disputed")


def relation_opinion(
    agreement: str, proposed_type: str, pair: Pair, other: Look | None, *, symmetric: set[str], own: Look | None = None
) -> Opinion:
    """A single-model relation: the other's types for the pair (a pair left out means no relation → disputed),
    refined by the proposer's own blind answer as for entities."""
    if other is None or not other.asked(*pair):
        return Opinion(agreement)
    given = other.pair_types(*pair, symmetric)
    withdrawn = own is not None and own.asked(*pair) and proposed_type not in own.pair_types(*pair, symmetric)
    if proposed_type in given:
        # The blind answers disagree when the proposer itself no longer gives the type.
        return Opinion("disputed" if withdrawn else "confirmed", proposed_type)
    if given:
        return Opinion("type_conflict", sorted(given)[0])
    return Opinion("retracted" if withdrawn else "disputed")


def settled_entity_type(types: tuple[str, str], key: str, looks: dict[str, Look | None]) -> str | None:
    """A type conflict both models settle blind: asked to type the name, each gives the same one of the two."""
    a, b = looks.get("a"), looks.get("b")
    if a is None or b is None:
        return None
    given = a.entity_types.get(key)
    return given if given is not None and given == b.entity_types.get(key) and given in types else None


def settled_relation_type(
    types: tuple[str, str], pair: Pair, looks: dict[str, Look | None], symmetric: set[str]
) -> str | None:
    """A relation type conflict both models settle blind: each gives one and the same of the two types."""
    a, b = looks.get("a"), looks.get("b")
    if a is None or b is None or not (a.asked(*pair) and b.asked(*pair)):
        return None
    common = a.pair_types(*pair, symmetric) & b.pair_types(*pair, symmetric) & set(types)
    return next(iter(common)) if len(common) == 1 else None


@dataclass(frozen=True)
class Found:
    """A relation nobody had proposed that at least one annotator gave when asked about the pair."""

    head: str
    tail: str
    type: str
    evidence: list[int]
    agreement: str  # confirmed | type_conflict | unconfirmed | augmented
    # (side, type) answers: the annotators that gave this type first, then the other's type in a conflict.
    answers: tuple[tuple[str, str], ...]


def found_pairs(looks: dict[str, Look | None], related: set[Pair]) -> list[Found]:
    """Relations both annotators missed in their first pass, one per pair and type, classed by the blind answers."""
    asked: set[Pair] = set()
    for look in looks.values():
        if look is not None:
            asked |= look.asked_pairs
    out = []
    for pair in sorted(asked):
        if pair in related or (pair[1], pair[0]) in related:
            continue
        given = {
            side: look.pairs.get(pair, {})
            for side, look in sorted(looks.items())
            if look is not None and pair in look.asked_pairs
        }
        for kind in sorted({k for types in given.values() for k in types}):
            sides = [side for side, types in given.items() if kind in types]
            others = [side for side in given if side not in sides]
            evidence = sorted({i for side in sides for i in given[side][kind]})
            answers = [(side, kind) for side in sides]
            if not others:
                agreement = "confirmed" if len(sides) == 2 else "augmented"
            elif given[others[0]]:
                agreement = "type_conflict"  # the other related the pair, as something else
                answers.append((others[0], sorted(given[others[0]])[0]))
            else:
                agreement = "unconfirmed"  # the other was asked the same pair and saw no relation
            out.append(Found(pair[0], pair[1], kind, evidence, agreement, tuple(answers)))
    return out
