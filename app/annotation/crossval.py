"""Cross-validation of two annotators: which entities and relations both proposed, and how they differ."""

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from app.annotation.grounding import normalize_name

# How an item of one annotator aligns with the other's: the machine classes of `models.Agreement`, before the
# second look adds confirmed, disputed, augmented and the rest.
AlignmentClass = Literal["agreed", "type_conflict", "a_only", "b_only"]

# Two spans that overlap without being identical count as the same mention from this IoU on.
MIN_SPAN_IOU = 0.5


@dataclass
class ProposedEntity:
    key: str
    type: str
    name: str
    # Grounded code-point spans; an entity without spans is ungrounded.
    spans: list[tuple[int, int]]


@dataclass
class ProposedRelation:
    # Entity keys of the same annotator.
    head: str
    tail: str
    type: str
    evidence: list[int]


@dataclass(frozen=True)
class EntityMatch:
    a_key: str | None
    b_key: str | None
    agreement: AlignmentClass


@dataclass
class EntityAlignment:
    """Every entity of both annotators exactly once: A's in input order, then B's unmatched ones."""

    matches: list[EntityMatch]

    def a_to_b(self) -> dict[str, str]:
        """A's key to B's key for every aligned pair (agreed or type conflict)."""
        return {m.a_key: m.b_key for m in self.matches if m.a_key is not None and m.b_key is not None}


@dataclass(frozen=True)
class RelationMatch:
    """Indices into the input lists; duplicates of a or b within the same side ride along with it."""

    a: int | None
    b: int | None
    agreement: AlignmentClass
    a_duplicates: tuple[int, ...] = field(default=())
    b_duplicates: tuple[int, ...] = field(default=())


def align_entities(a: list[ProposedEntity], b: list[ProposedEntity]) -> EntityAlignment:
    """Pair A's and B's entities one to one by mention overlap (ungrounded ones by name) and classify them."""
    _check_unique_keys(a, "A")
    _check_unique_keys(b, "B")
    b_of_a: dict[int, int] = {}
    taken: set[int] = set()
    for _, _, i, j in sorted(_span_candidates(a, b)):
        if i not in b_of_a and j not in taken:
            b_of_a[i] = j
            taken.add(j)
    # Ungrounded entities have nothing to overlap with: they align by normalized name and type only.
    waiting: dict[tuple[str, str], list[int]] = {}
    for j, entity in enumerate(b):
        if j not in taken and normalize_name(entity.name):
            waiting.setdefault((normalize_name(entity.name), entity.type), []).append(j)
    for i, entity in enumerate(a):
        if i in b_of_a:
            continue
        queue = waiting.get((normalize_name(entity.name), entity.type), [])
        found = next((j for j in queue if j not in taken and not (entity.spans and b[j].spans)), None)
        if found is not None:
            b_of_a[i] = found
            taken.add(found)
    matches: list[EntityMatch] = []
    for i, entity in enumerate(a):
        if i not in b_of_a:
            matches.append(EntityMatch(entity.key, None, "a_only"))
            continue
        other = b[b_of_a[i]]
        agreement: AlignmentClass = "agreed" if entity.type == other.type else "type_conflict"
        matches.append(EntityMatch(entity.key, other.key, agreement))
    matches += [EntityMatch(None, entity.key, "b_only") for j, entity in enumerate(b) if j not in taken]
    return EntityAlignment(matches)


def align_relations(
    a: list[ProposedRelation],
    b: list[ProposedRelation],
    matches: list[EntityMatch],
    symmetric_types: set[str],
) -> list[RelationMatch]:
    """Pair A's and B's relations over aligned entities; every input index is reported exactly once."""
    a_to_b = {m.a_key: m.b_key for m in matches if m.a_key is not None and m.b_key is not None}
    # A's relations are translated into B's entity keys; one whose head or tail is unaligned stays unmatched.
    a_groups = _collapse(
        [(a_to_b[r.head], a_to_b[r.tail], r.type) if r.head in a_to_b and r.tail in a_to_b else None for r in a],
        symmetric_types,
    )
    b_groups = _collapse([(r.head, r.tail, r.type) for r in b], symmetric_types)
    b_by_identity = {g.identity: g for g in b_groups if g.identity is not None}
    partner: dict[int, _Group] = {}
    agreement: dict[int, AlignmentClass] = {}
    used: set[int] = set()
    for g in a_groups:
        other = b_by_identity.get(g.identity) if g.identity is not None else None
        if other is not None:
            partner[g.first], agreement[g.first] = other, "agreed"
            used.add(other.first)
    by_pair: dict[tuple[str, str], list[_Group]] = {}
    for g in b_groups:
        if g.first not in used and g.relation is not None:
            by_pair.setdefault(g.relation[:2], []).append(g)
    for g in a_groups:
        if g.first in partner or g.relation is None:
            continue
        head, tail, kind = g.relation
        candidates = [o for o in by_pair.get((head, tail), []) if o.first not in used]
        # The reversed pair conflicts too when either type says direction does not matter.
        candidates += [
            o
            for o in by_pair.get((tail, head), [])
            if o.first not in used and (kind in symmetric_types or o.relation_type in symmetric_types)
        ]
        if candidates:
            other = min(candidates, key=lambda o: o.first)
            partner[g.first], agreement[g.first] = other, "type_conflict"
            used.add(other.first)
    out: list[RelationMatch] = []
    for g in a_groups:
        other = partner.get(g.first)
        if other is None:
            out.append(RelationMatch(g.first, None, "a_only", g.duplicates))
        else:
            out.append(RelationMatch(g.first, other.first, agreement[g.first], g.duplicates, other.duplicates))
    out += [RelationMatch(None, g.first, "b_only", (), g.duplicates) for g in b_groups if g.first not in used]
    return out


@dataclass
class _Group:
    """Relations of one side that say the same thing: the first index stands for the rest."""

    first: int
    relation: tuple[str, str, str] | None
    identity: tuple[str, str, str] | None
    duplicates: tuple[int, ...] = ()

    @property
    def relation_type(self) -> str | None:
        return None if self.relation is None else self.relation[2]


def _collapse(relations: Sequence[tuple[str, str, str] | None], symmetric: set[str]) -> list[_Group]:
    """Group equal relations (either direction for symmetric types); None marks one that cannot match."""
    groups: list[_Group] = []
    by_identity: dict[tuple[str, str, str], _Group] = {}
    for index, rel in enumerate(relations):
        if rel is None:
            groups.append(_Group(index, None, None))
            continue
        head, tail, kind = rel
        identity = (min(head, tail), max(head, tail), kind) if kind in symmetric else (head, tail, kind)
        group = by_identity.get(identity)
        if group is not None:
            group.duplicates += (index,)
            continue
        group = _Group(index, (head, tail, kind), identity)
        by_identity[identity] = group
        groups.append(group)
    return groups


def _check_unique_keys(entities: list[ProposedEntity], side: str) -> None:
    seen: set[str] = set()
    for entity in entities:
        if entity.key in seen:
            raise ValueError(f"annotator {side} has two entities with key {entity.key!r}")
        seen.add(entity.key)


def _span_candidates(a: list[ProposedEntity], b: list[ProposedEntity]) -> Iterable[tuple[float, int, int, int]]:
    """(-coverage IoU, -identical spans, i, j) for every pair sharing a span or a span with IoU >= 0.5."""
    b_spans = sorted((s, e, j) for j, entity in enumerate(b) for s, e in set(entity.spans) if e > s)
    b_starts = [s for s, _, _ in b_spans]
    longest = max((e - s for s, e, _ in b_spans), default=0)
    b_cover = [_merge(entity.spans) for entity in b]
    for i, entity in enumerate(a):
        identical: dict[int, int] = {}
        eligible: set[int] = set()
        for s, e in set(entity.spans):
            if e <= s:
                continue
            for k in range(bisect_left(b_starts, s - longest), bisect_left(b_starts, e)):
                bs, be, j = b_spans[k]
                inter = min(e, be) - max(s, bs)
                if inter <= 0:
                    continue
                if (bs, be) == (s, e):
                    identical[j] = identical.get(j, 0) + 1
                    eligible.add(j)
                elif inter / (max(e, be) - min(s, bs)) >= MIN_SPAN_IOU:
                    eligible.add(j)
        cover = _merge(entity.spans)
        for j in eligible:
            yield -_iou(cover, b_cover[j]), -identical.get(j, 0), i, j


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted disjoint intervals covering the same code points as spans."""
    merged: list[tuple[int, int]] = []
    for s, e in sorted(sp for sp in spans if sp[1] > sp[0]):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _iou(x: list[tuple[int, int]], y: list[tuple[int, int]]) -> float:
    """Code points covered by both over code points covered by either, for merged interval lists."""
    inter = 0
    i = j = 0
    while i < len(x) and j < len(y):
        inter += max(0, min(x[i][1], y[j][1]) - max(x[i][0], y[j][0]))
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    union = sum(e - s for s, e in x) + sum(e - s for s, e in y) - inter
    return inter / union if union else 0.0
