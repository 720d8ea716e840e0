"""Agreement between annotators and items against a curated gold."""

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict

import pytest

from app.evaluation.metrics import AgreementTally, PairAgreement, against_gold, kappa_of_counts, prf
from app.evaluation.records import ExportDocument, ExportEntity, ExportMention, ExportRelation, ItemProvenance

TEXT = "张三毕业于北京大学，后来在𠮷野家😀工作。李四也是。"


def annotator_agreement(a: Sequence[ExportDocument], b: Sequence[ExportDocument]) -> PairAgreement:
    """A against B as the dashboard tallies it: document pairs by id, then the documents only B has."""
    b_docs = {d.id: d for d in b}
    tally = AgreementTally()
    for doc_a in a:
        tally.add(doc_a, b_docs.get(doc_a.id))
    a_ids = {d.id for d in a}
    for doc_b in b:
        if doc_b.id not in a_ids:
            tally.add(None, doc_b)
    return tally.figures()


def _m(surface: str, nth: int = 0) -> ExportMention:
    start = -1
    for _ in range(nth + 1):
        start = TEXT.index(surface, start + 1)
    return ExportMention(start, start + len(surface), surface, 0)


def _e(index: int, kind: str, *mentions: ExportMention, agreement: str = "") -> ExportEntity:
    return ExportEntity(index, kind, mentions[0].text, list(mentions), ItemProvenance(agreement=agreement))


def _r(head: int, tail: int, kind: str, agreement: str = "") -> ExportRelation:
    return ExportRelation(head, tail, kind, [0], ItemProvenance(agreement=agreement))


def _doc(entities: list[ExportEntity], relations: list[ExportRelation], doc_id: str = "1") -> ExportDocument:
    return ExportDocument(doc_id, "t", TEXT, [(0, len(TEXT))], entities, relations)


def test_prf_handles_empty_counts() -> None:
    assert prf(0, 0, 0).f1 == 0.0
    score = prf(2, 4, 3)
    assert (score.precision, score.recall) == (0.5, 2 / 3)
    assert score.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))


def test_cohen_kappa_matches_a_worked_example() -> None:
    # 50 items: both yes 20, both no 15, A yes/B no 5, A no/B yes 10 → po 0.7, pe 0.5, kappa 0.4.
    pairs = [("yes", "yes")] * 20 + [("no", "no")] * 15 + [("yes", "no")] * 5 + [("no", "yes")] * 10
    assert kappa_of_counts(Counter(pairs)) == pytest.approx(0.4)
    assert kappa_of_counts(Counter([("none", "none")] * 4)) is None  # one label throughout: undefined
    assert kappa_of_counts(Counter()) is None


def test_annotator_agreement_pairs_entities_despite_type_conflicts() -> None:
    a = _doc(
        [_e(0, "PER", _m("张三")), _e(1, "ORG", _m("北京大学")), _e(2, "ORG", _m("𠮷野家"))],
        [_r(0, 1, "educated_at")],
    )
    # B calls 北京大学 a LOC (a type conflict), finds 李四 too, and relates 张三 to 𠮷野家 as well.
    b = _doc(
        [
            _e(5, "LOC", _m("北京大学")),
            _e(6, "PER", _m("张三")),
            _e(7, "ORG", _m("𠮷野家")),
            _e(8, "PER", _m("李四")),
        ],
        [_r(6, 5, "educated_at"), _r(6, 7, "employer")],
    )
    result = annotator_agreement([a, _doc([], [], "only-a")], [b])
    assert result.documents == 1 and result.documents_only_a == 1
    assert (result.entities.correct, result.entities.predicted, result.entities.gold) == (2, 3, 4)
    assert (result.relations.correct, result.relations.predicted, result.relations.gold) == (1, 1, 2)
    # Three paired entities → six ordered pairs; A: one relation, B: two (one shared).
    # po = 5/6; pe = (1·1 + 5·4)/36 = 21/36; kappa = (30/36 − 21/36)/(15/36) = 0.6.
    assert result.kappa.pairs == 6
    assert result.kappa.related_pairs == 2
    assert result.kappa.value == pytest.approx(0.6)
    json.dumps(asdict(result))


def test_entity_pairing_is_one_to_one_by_shared_mentions() -> None:
    merged = [_e(0, "PER", _m("张三")), _e(1, "ORG", _m("北京大学"), _m("𠮷野家"))]
    split = [_e(0, "PER", _m("张三")), _e(1, "ORG", _m("北京大学")), _e(2, "ORG", _m("𠮷野家"))]
    # Either way round, only one of the split entities can pair with the merged one.
    for a, b in [
        (_doc(merged, [_r(0, 1, "x")]), _doc(split, [_r(0, 1, "x"), _r(0, 2, "x")])),
        (
            _doc(split, [_r(0, 1, "x"), _r(0, 2, "x")]),
            _doc(merged, [_r(0, 1, "x")]),
        ),
    ]:
        result = annotator_agreement([a], [b])
        assert result.relations.correct == 1
        assert result.kappa.pairs == 2


def test_items_against_gold_overall_and_per_agreement_class() -> None:
    gold = _doc([_e(0, "PER", _m("张三")), _e(1, "ORG", _m("北京大学"))], [_r(0, 1, "educated_at")])
    items = _doc(
        [
            _e(0, "PER", _m("张三"), agreement="agreed"),
            _e(1, "ORG", _m("北京大学"), agreement="agreed"),
            _e(2, "ORG", _m("𠮷野家"), agreement="a_only"),
            _e(3, "LOC", _m("李四"), agreement="a_only"),
        ],
        [_r(0, 1, "educated_at", "agreed"), _r(0, 2, "employer", "a_only")],
    )
    result = against_gold([items, _doc([], [], "not-in-gold")], [gold])
    assert result.documents == 1
    assert (result.mentions.correct, result.mentions.predicted, result.mentions.gold) == (2, 4, 2)
    assert result.relations.precision == 0.5 and result.relations.recall == 1.0
    assert result.precision_by_agreement["agreed"].mention_precision == 1.0
    assert result.precision_by_agreement["a_only"].mention_precision == 0.0
    assert result.precision_by_agreement["a_only"].relation_precision == 0.0
    assert result.precision_by_agreement["agreed"].relation_precision == 1.0
