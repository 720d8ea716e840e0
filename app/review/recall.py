"""The recall audit's arithmetic (a pure core): which blind items the pipeline proposed, and what that implies.

A reviewer's blind item is *found* when the pipeline had proposed it before anyone decided anything:

- an entity, when a machine entity of the same type had at least one of its mention spans (the same start and
  end). A reviewer often marks one mention of an entity the models found with all of its mentions; that is still
  the entity found. A different type or only overlapping boundaries is not found.
- a relation, when a machine relation of the same type joins a machine entity found for its head to one found
  for its tail (either direction for a symmetric type).

Folding at the reveal is stricter: only an item identical to a proposal (an entity with the same type and the
same set of spans; a relation with the same type between the entities it folded into) is settled on its own.
"""

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Span = tuple[int, int]
# The two-sided 95% normal quantile.
Z95 = 1.959963984540054
KINDS = ("entity", "relation")


@dataclass(frozen=True)
class MarkedEntity:
    """An entity as the matching sees it: its id, type and mention spans (code points)."""

    id: int
    type: str
    spans: frozenset[Span]


@dataclass(frozen=True)
class MarkedRelation:
    id: int
    head: int
    tail: int
    type: str


@dataclass(frozen=True)
class BlindMatch:
    """Per blind item: whether the pipeline proposed it, and the identical proposal it folds into, if any."""

    entity_found: Mapping[int, bool]
    relation_found: Mapping[int, bool]
    entity_fold: Mapping[int, int]
    relation_fold: Mapping[int, int]


def match_blind(
    blind_entities: Collection[MarkedEntity],
    blind_relations: Collection[MarkedRelation],
    machine_entities: Collection[MarkedEntity],
    machine_relations: Collection[MarkedRelation],
    symmetric: Collection[str] = (),
) -> BlindMatch:
    """Match the reviewer's blind items against the pipeline's proposals (see the module's rules)."""
    by_span: dict[tuple[Span, str], list[int]] = {}
    identical: dict[tuple[frozenset[Span], str], int] = {}
    for m in sorted(machine_entities, key=lambda e: e.id):
        for span in m.spans:
            by_span.setdefault((span, m.type), []).append(m.id)
        if m.spans:
            identical.setdefault((m.spans, m.type), m.id)
    found_as: dict[int, set[int]] = {}
    entity_fold: dict[int, int] = {}
    for be in blind_entities:
        found_as[be.id] = {mid for span in be.spans for mid in by_span.get((span, be.type), [])}
        target = identical.get((be.spans, be.type))
        if target is not None:
            entity_fold[be.id] = target
    related: dict[tuple[int, int, str], int] = {}
    for mr in sorted(machine_relations, key=lambda r: r.id):
        related.setdefault((mr.head, mr.tail, mr.type), mr.id)
        if mr.type in symmetric:
            related.setdefault((mr.tail, mr.head, mr.type), mr.id)
    relation_found: dict[int, bool] = {}
    relation_fold: dict[int, int] = {}
    for b in blind_relations:
        heads, tails = found_as.get(b.head, set()), found_as.get(b.tail, set())
        relation_found[b.id] = any((h, t, b.type) in related for h in heads for t in tails)
        head, tail = entity_fold.get(b.head), entity_fold.get(b.tail)
        if head is not None and tail is not None and (head, tail, b.type) in related:
            relation_fold[b.id] = related[(head, tail, b.type)]
    return BlindMatch(
        entity_found={eid: bool(ids) for eid, ids in found_as.items()},
        relation_found=relation_found,
        entity_fold=entity_fold,
        relation_fold=relation_fold,
    )


def wilson_interval(found: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of found/n (95% by default); None when nothing was counted."""
    if n <= 0:
        return None
    p = found / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    # At 0 and n the ends are exactly 0 and 1; computed, they would be off by a rounding error.
    low = 0.0 if found == 0 else (centre - spread) / scale
    high = 1.0 if found == n else (centre + spread) / scale
    return low, high


@dataclass(frozen=True)
class Recall:
    """Blind items marked, how many the pipeline proposed, their share and its 95% Wilson interval."""

    marked: int
    found: int
    recall: float | None
    low: float | None
    high: float | None


def recall_of(found: int, marked: int) -> Recall:
    interval = wilson_interval(found, marked)
    if interval is None:
        return Recall(marked, found, None, None, None)
    return Recall(marked, found, found / marked, interval[0], interval[1])


@dataclass(frozen=True)
class TypeRecall:
    kind: str
    type: str
    estimate: Recall


@dataclass(frozen=True)
class MissingRelations:
    """An estimate, not a count: relations the curated set lacks if the pipeline's recall is what the audit saw.

    curated × (1 − r) / r, with the interval from r's interval; `high` is None when r's lower end is 0 (no
    upper limit can be given), and everything is None when no blind relation was marked.
    """

    curated_relations: int
    estimate: float | None
    low: float | None
    high: float | None


def _missing(curated: int, r: float | None) -> float | None:
    if r is None or r <= 0:
        return None
    return curated * (1 - r) / r


def missing_relations(curated: int, recall: Recall) -> MissingRelations:
    """The relations missing from `curated` curated ones, estimated from the relation recall."""
    return MissingRelations(
        curated_relations=curated,
        estimate=_missing(curated, recall.recall),
        low=_missing(curated, recall.high),
        high=_missing(curated, recall.low),
    )


def tally(items: Iterable[tuple[str, str, bool]]) -> tuple[dict[str, Recall], tuple[TypeRecall, ...]]:
    """(kind, type, found) items → recall per kind (entity, relation) and per kind and type."""
    per_kind: dict[str, list[int]] = {kind: [0, 0] for kind in KINDS}
    per_type: dict[tuple[str, str], list[int]] = {}
    for kind, item_type, found in items:
        for c in (per_kind.setdefault(kind, [0, 0]), per_type.setdefault((kind, item_type), [0, 0])):
            c[0] += bool(found)
            c[1] += 1
    overall = {kind: recall_of(found, marked) for kind, (found, marked) in per_kind.items()}
    by_type = tuple(
        TypeRecall(kind, item_type, recall_of(found, marked))
        for (kind, item_type), (found, marked) in sorted(per_type.items())
    )
    return overall, by_type


def record_items(record: Any) -> list[tuple[str, str, bool]]:
    """(kind, type, found) of every item a stored blind record holds; anything malformed is skipped."""
    if not isinstance(record, Mapping):
        return []
    out = []
    for kind, key in (("entity", "entities"), ("relation", "relations")):
        items = record.get(key)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, Mapping) and isinstance(item.get("type"), str):
                out.append((kind, str(item["type"]), item.get("found") is True))
    return out
