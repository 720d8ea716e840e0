"""Augmentation: type-compatible entity pairs that neither annotator related, ranked for a second look."""

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from itertools import combinations, product

from app.project.label_schema import LabelSchema, RelationType

_FAR = sys.maxsize


@dataclass
class CandidateEntity:
    id: int
    type: str
    # Sentences holding a mention of the entity.
    sentence_ids: list[int]


@dataclass
class CandidateResult:
    # Ordered (head id, tail id) pairs, best first.
    pairs: list[tuple[int, int]]
    skipped_reason: str | None = None
    # Candidate pairs before the cap (also when skipped).
    total: int = 0


def allowed_types(schema: LabelSchema, head_type: str, tail_type: str) -> list[str]:
    """Relation codes the schema allows from head_type to tail_type; symmetric ones in either direction."""
    return [
        rt.code
        for rt in schema.relation_types
        if _allows(rt, head_type, tail_type) or (rt.symmetric and _allows(rt, tail_type, head_type))
    ]


def candidate_pairs(
    entities: list[CandidateEntity],
    related: set[tuple[int, int]],
    schema: LabelSchema,
    *,
    cap: int = 40,
    max_candidates_before_cap: int = 2000,
) -> CandidateResult:
    """Unrelated, type-compatible ordered pairs, nearest first, at most cap; none if they explode."""
    if cap < 0 or max_candidates_before_cap < 0:
        raise ValueError("cap and max_candidates_before_cap cannot be negative")
    by_id = {e.id: e for e in entities}
    if len(by_id) != len(entities):
        raise ValueError("entity ids must be unique")
    directions = _direction_table(schema)
    groups: dict[str, list[CandidateEntity]] = {}
    for entity in sorted(entities, key=lambda e: e.id):
        groups.setdefault(entity.type, []).append(entity)
    # Counted from type group sizes first so an exploding document costs no pair enumeration.
    total = 0
    for t1, t2 in combinations(sorted(groups), 2):
        total += len(groups[t1]) * len(groups[t2]) * _width(directions(t1, t2))
    for kind, members in groups.items():
        total += len(members) * (len(members) - 1) // 2 * _width(directions(kind, kind))
    done = {(min(x, y), max(x, y)) for x, y in related if x != y and x in by_id and y in by_id}
    total -= sum(_width(directions(by_id[x].type, by_id[y].type)) for x, y in done)
    if total > max_candidates_before_cap:
        return CandidateResult([], f"{total} candidate pairs exceed the limit of {max_candidates_before_cap}", total)
    pairs: list[tuple[int, int]] = []
    for t1, t2 in [*combinations(sorted(groups), 2), *((t, t) for t in groups)]:
        if not _width(directions(t1, t2)) and not _width(directions(t2, t1)):
            continue
        couples = combinations(groups[t1], 2) if t1 == t2 else product(groups[t1], groups[t2])
        for x, y in couples:
            low, high = (x, y) if x.id < y.id else (y, x)
            if (low.id, high.id) in done:
                continue
            forward, backward = directions(low.type, high.type)
            if forward:
                pairs.append((low.id, high.id))
            if backward:
                pairs.append((high.id, low.id))
    sentences = {e.id: sorted(set(e.sentence_ids)) for e in entities}
    pairs.sort(key=lambda p: (*closeness(sentences[p[0]], sentences[p[1]]), p))
    return CandidateResult(pairs[:cap], None, total)


def pair_sentence_window(pair_sentence_ids: list[int], n_sentences: int, context: int = 1) -> list[int]:
    """Sorted sentence ids to show for a batch of pairs: each mention's sentence and context around it."""
    if context < 0:
        raise ValueError("context cannot be negative")
    shown: set[int] = set()
    for sid in pair_sentence_ids:
        if 0 <= sid < n_sentences:
            shown.update(range(max(0, sid - context), min(n_sentences, sid + context + 1)))
    return sorted(shown)


def batches(pairs: list[tuple[int, int]], size: int = 10) -> list[list[tuple[int, int]]]:
    """Pairs in consecutive batches of at most size."""
    if size < 1:
        raise ValueError("size must be at least 1")
    return [pairs[i : i + size] for i in range(0, len(pairs), size)]


def _allows(rt: RelationType, head_type: str, tail_type: str) -> bool:
    return (not rt.head_types or head_type in rt.head_types) and (not rt.tail_types or tail_type in rt.tail_types)


def _direction_table(schema: LabelSchema) -> Callable[[str, str], tuple[bool, bool]]:
    relation_types = list(schema.relation_types)

    @cache
    def directions(low_type: str, high_type: str) -> tuple[bool, bool]:
        """Whether to ask (low, high) and (high, low), for entities low and high with low.id < high.id."""
        forward = any(not rt.symmetric and _allows(rt, low_type, high_type) for rt in relation_types)
        backward = any(not rt.symmetric and _allows(rt, high_type, low_type) for rt in relation_types)
        if forward or backward:
            # A symmetric type is asked along with whichever direction is already asked.
            return forward, backward
        sym_forward = any(rt.symmetric and _allows(rt, low_type, high_type) for rt in relation_types)
        sym_backward = any(rt.symmetric and _allows(rt, high_type, low_type) for rt in relation_types)
        # Symmetric-only pairs are asked once: in the schema's declared direction, else lower id first.
        return sym_forward, sym_backward and not sym_forward

    return directions


def _width(direction: tuple[bool, bool]) -> int:
    return int(direction[0]) + int(direction[1])


def closeness(a: list[int], b: list[int]) -> tuple[int, int]:
    """(minimum sentence distance, minus the number of shared sentences) of two sorted id lists."""
    if not a or not b:
        return _FAR, 0
    best = _FAR
    shared = 0
    i = j = 0
    while i < len(a) and j < len(b):
        best = min(best, abs(a[i] - b[j]))
        if a[i] == b[j]:
            shared += 1
            i += 1
            j += 1
        elif a[i] < b[j]:
            i += 1
        else:
            j += 1
    return best, -shared
