"""Agreement between annotators, and items against a curated gold: plain documents in, frozen figures out.

Documents are matched by `id`. Entity mentions compare by exact span and type. For relation agreement and
Cohen's kappa the two annotators' entities are first paired one-to-one by the exact mention spans they share
(type aside: a type conflict is an entity disagreement, not a reason to lose the entity's relations).
"""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.evaluation.records import ExportDocument, ExportEntity

Span = tuple[int, int]
MentionKey = tuple[int, int, str]
EntityKey = tuple[str, frozenset[Span]]
RelationKey = tuple[EntityKey, EntityKey, str]
NO_RELATION = "none"


@dataclass(frozen=True, slots=True)
class Score:
    precision: float
    recall: float
    f1: float
    correct: int
    predicted: int
    gold: int


def prf(correct: int, predicted: int, gold: int) -> Score:
    """Precision, recall and F1 from counts; 0 where a denominator is 0."""
    p = correct / predicted if predicted else 0.0
    r = correct / gold if gold else 0.0
    return Score(p, r, 2 * p * r / (p + r) if p + r else 0.0, correct, predicted, gold)


def _score(counts: Counter[str]) -> Score:
    return prf(counts["correct"], counts["predicted"], counts["gold"])


@dataclass(frozen=True, slots=True)
class Kappa:
    # None when chance agreement is total (one label throughout), or there is no pair.
    value: float | None
    pairs: int
    related_pairs: int


@dataclass(frozen=True, slots=True)
class PairAgreement:
    """A against B on the documents both annotated (and how many only one of them did)."""

    documents: int
    documents_only_a: int
    documents_only_b: int
    entities: Score
    relations: Score
    kappa: Kappa


@dataclass(frozen=True, slots=True)
class ClassPrecision:
    """An agreement class's items against the gold: how many, and the share the gold confirms."""

    mentions: int
    mention_precision: float | None
    relations: int
    relation_precision: float | None


@dataclass(frozen=True, slots=True)
class AgainstGold:
    documents: int
    mentions: Score
    relations: Score
    precision_by_agreement: Mapping[str, ClassPrecision]


@dataclass(frozen=True, slots=True)
class GoldScores:
    """One annotator against the curated gold; relations also split into intra- and cross-sentence."""

    documents: int
    mentions: Score
    relations: Score
    intra: Score
    cross: Score


def position_of(doc: ExportDocument) -> dict[int, int]:
    """Entity index → position in doc.entities."""
    return {e.index: i for i, e in enumerate(doc.entities)}


def mention_keys(doc: ExportDocument, entities: Iterable[ExportEntity] | None = None) -> set[MentionKey]:
    return {(m.start, m.end, e.type) for e in (doc.entities if entities is None else entities) for m in e.mentions}


def entity_key(entity: ExportEntity) -> EntityKey:
    return entity.type, frozenset((m.start, m.end) for m in entity.mentions)


def relation_keys(doc: ExportDocument, agreement: str | None = None) -> set[RelationKey]:
    """Strict relation keys: head and tail by type and exact mention spans, relation type exact."""
    by_index = {e.index: e for e in doc.entities}
    return {
        (entity_key(by_index[r.head]), entity_key(by_index[r.tail]), r.type)
        for r in doc.relations
        if r.head in by_index and r.tail in by_index and (agreement is None or r.provenance.agreement == agreement)
    }


def _by_id(docs: Sequence[ExportDocument]) -> dict[str, ExportDocument]:
    return {d.id: d for d in docs}


def _pair_entities(a: ExportDocument, b: ExportDocument) -> dict[int, int]:
    """A's entity positions → B's, one-to-one, most shared mention spans first."""
    owners: dict[Span, list[int]] = {}
    for j, entity in enumerate(b.entities):
        for m in entity.mentions:
            owners.setdefault((m.start, m.end), []).append(j)
    shared: Counter[tuple[int, int]] = Counter()
    for i, entity in enumerate(a.entities):
        for span in {(m.start, m.end) for m in entity.mentions}:
            for j in set(owners.get(span, ())):
                shared[i, j] += 1
    pairs: dict[int, int] = {}
    taken: set[int] = set()
    for (i, j), _ in sorted(shared.items(), key=lambda x: (-x[1], x[0])):
        if i not in pairs and j not in taken:
            pairs[i] = j
            taken.add(j)
    return pairs


def _labels(doc: ExportDocument) -> dict[tuple[int, int], str]:
    """(head position, tail position) → relation types joined with "|"."""
    position = position_of(doc)
    types: dict[tuple[int, int], set[str]] = {}
    for r in doc.relations:
        if r.head in position and r.tail in position:
            types.setdefault((position[r.head], position[r.tail]), set()).add(r.type)
    return {pair: "|".join(sorted(t)) for pair, t in types.items()}


def kappa_of_counts(pairs: Counter[tuple[str, str]]) -> float | None:
    """Cohen's kappa from the count of each (label by A, label by B) pair; None when chance agreement is total
    (one label throughout)."""
    n = sum(pairs.values())
    if not n:
        return None
    observed = sum(c for (x, y), c in pairs.items() if x == y) / n
    left: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for (x, y), c in pairs.items():
        left[x] += c
        right[y] += c
    expected = sum(left[k] * right[k] for k in left) / (n * n)
    return None if expected >= 1 else (observed - expected) / (1 - expected)


class AgreementTally:
    """A against B, fed one document pair at a time (constant memory over any number of documents): entity and
    relation P/R/F1, and kappa over candidate pairs, on the documents both annotated."""

    def __init__(self) -> None:
        self.documents = 0
        self.only_a = 0
        self.only_b = 0
        self.entities: Counter[str] = Counter()
        self.relations: Counter[str] = Counter()
        self.labelled: Counter[tuple[str, str]] = Counter()

    def add(self, doc_a: ExportDocument | None, doc_b: ExportDocument | None) -> None:
        if doc_a is None or doc_b is None:
            self.only_a += doc_b is None and doc_a is not None
            self.only_b += doc_a is None and doc_b is not None
            return
        self.documents += 1
        keys_a, keys_b = mention_keys(doc_a), mention_keys(doc_b)
        self.entities.update(correct=len(keys_a & keys_b), predicted=len(keys_a), gold=len(keys_b))
        pairs = _pair_entities(doc_a, doc_b)
        labels_a, labels_b = _labels(doc_a), _labels(doc_b)
        facts_a = {(h, t, r) for (h, t), rs in labels_a.items() for r in rs.split("|")}
        facts_b = {(h, t, r) for (h, t), rs in labels_b.items() for r in rs.split("|")}
        mapped = {(pairs[h], pairs[t], r) for h, t, r in facts_a if h in pairs and t in pairs}
        self.relations.update(correct=len(mapped & facts_b), predicted=len(facts_a), gold=len(facts_b))
        for h in sorted(pairs):
            for t in sorted(pairs):
                if h != t:
                    self.labelled[
                        labels_a.get((h, t), NO_RELATION), labels_b.get((pairs[h], pairs[t]), NO_RELATION)
                    ] += 1

    def figures(self) -> PairAgreement:
        return PairAgreement(
            documents=self.documents,
            documents_only_a=self.only_a,
            documents_only_b=self.only_b,
            entities=_score(self.entities),
            relations=_score(self.relations),
            kappa=Kappa(
                value=kappa_of_counts(self.labelled),
                pairs=sum(self.labelled.values()),
                related_pairs=sum(c for (x, y), c in self.labelled.items() if x != NO_RELATION or y != NO_RELATION),
            ),
        )


def against_gold(items: Sequence[ExportDocument], gold: Sequence[ExportDocument]) -> AgainstGold:
    """An annotator's (or any) items against a curated gold, on the documents both have, overall and per
    agreement class: mentions by span and type, relations strictly."""
    gold_docs = _by_id(gold)
    mention_counts: Counter[str] = Counter()
    relation_counts: Counter[str] = Counter()
    by_class: dict[str, Counter[str]] = {}
    documents = 0
    for doc in items:
        ref = gold_docs.get(doc.id)
        if ref is None:
            continue
        documents += 1
        gold_mentions, gold_relations = mention_keys(ref), relation_keys(ref)
        mine, my_relations = mention_keys(doc), relation_keys(doc)
        mention_counts.update(correct=len(mine & gold_mentions), predicted=len(mine), gold=len(gold_mentions))
        relation_counts.update(
            correct=len(my_relations & gold_relations), predicted=len(my_relations), gold=len(gold_relations)
        )
        for entity in doc.entities:
            keys = mention_keys(doc, [entity])
            counts = by_class.setdefault(entity.provenance.agreement or "unknown", Counter())
            counts.update(mentions=len(keys), mentions_correct=len(keys & gold_mentions))
        for agreement in {r.provenance.agreement for r in doc.relations}:
            keys_r = relation_keys(doc, agreement)
            counts = by_class.setdefault(agreement or "unknown", Counter())
            counts.update(relations=len(keys_r), relations_correct=len(keys_r & gold_relations))
    return AgainstGold(
        documents=documents,
        mentions=_score(mention_counts),
        relations=_score(relation_counts),
        precision_by_agreement={
            k: ClassPrecision(
                mentions=c["mentions"],
                mention_precision=c["mentions_correct"] / c["mentions"] if c["mentions"] else None,
                relations=c["relations"],
                relation_precision=c["relations_correct"] / c["relations"] if c["relations"] else None,
            )
            for k, c in sorted(by_class.items())
        },
    )


def is_intra_sentence(doc: ExportDocument, head: int, tail: int) -> bool:
    """True when some mention of the head and some mention of the tail share a sentence."""
    by_index = {e.index: e for e in doc.entities}
    h, t = by_index.get(head), by_index.get(tail)
    if h is None or t is None:
        return False
    return bool({m.sentence_id for m in h.mentions} & {m.sentence_id for m in t.mentions})


def _relation_keys_by_sentence(doc: ExportDocument) -> tuple[set[RelationKey], set[RelationKey]]:
    by_index = {e.index: e for e in doc.entities}
    intra: set[RelationKey] = set()
    cross: set[RelationKey] = set()
    for r in doc.relations:
        if r.head in by_index and r.tail in by_index:
            key = (entity_key(by_index[r.head]), entity_key(by_index[r.tail]), r.type)
            (intra if is_intra_sentence(doc, r.head, r.tail) else cross).add(key)
    return intra, cross


class GoldTally:
    """One annotator's items against the curated gold, a document at a time: mentions by span and type,
    relations strictly, and relations split into intra- and cross-sentence (each side by its own mentions)."""

    def __init__(self) -> None:
        self.documents = 0
        self.counts: dict[str, Counter[str]] = {k: Counter() for k in ("mentions", "relations", "intra", "cross")}

    def add(self, doc: ExportDocument, ref: ExportDocument) -> None:
        self.documents += 1
        self._count("mentions", mention_keys(doc), mention_keys(ref))
        self._count("relations", relation_keys(doc), relation_keys(ref))
        (mine_intra, mine_cross), (gold_intra, gold_cross) = (
            _relation_keys_by_sentence(doc),
            _relation_keys_by_sentence(ref),
        )
        self._count("intra", mine_intra, gold_intra)
        self._count("cross", mine_cross, gold_cross)

    def _count(self, name: str, mine: set[Any], gold: set[Any]) -> None:
        self.counts[name].update(correct=len(mine & gold), predicted=len(mine), gold=len(gold))

    def figures(self) -> GoldScores:
        scores = {k: _score(c) for k, c in self.counts.items()}
        return GoldScores(self.documents, scores["mentions"], scores["relations"], scores["intra"], scores["cross"])
