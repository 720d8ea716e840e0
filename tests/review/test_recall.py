"""The recall audit's arithmetic with literal inputs: matching blind items, Wilson intervals, missing relations."""

import pytest

from app.review.recall import (
    MarkedEntity,
    MarkedRelation,
    match_blind,
    missing_relations,
    recall_of,
    record_items,
    tally,
    wilson_interval,
)


def ent(eid: int, etype: str, *spans: tuple[int, int]) -> MarkedEntity:
    return MarkedEntity(eid, etype, frozenset(spans))


@pytest.mark.parametrize(
    ("found", "n", "low", "high"),
    [
        # Reference values of the Wilson score interval at 95% (Newcombe 1998, method 3).
        (5, 10, 0.2366, 0.7634),
        (8, 10, 0.4902, 0.9433),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (1, 1, 0.2065, 1.0),
    ],
)
def test_wilson_interval_matches_reference_values(found: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(found, n)
    assert interval is not None
    assert interval[0] == pytest.approx(low, abs=1e-4)
    assert interval[1] == pytest.approx(high, abs=1e-4)
    assert 0.0 <= interval[0] <= found / n <= interval[1] <= 1.0


def test_nothing_marked_has_no_recall_and_no_interval() -> None:
    assert wilson_interval(0, 0) is None
    r = recall_of(0, 0)
    assert (r.marked, r.found, r.recall, r.low, r.high) == (0, 0, None, None, None)
    missing = missing_relations(120, r)
    assert (missing.curated_relations, missing.estimate, missing.low, missing.high) == (120, None, None, None)


def test_missing_relations_is_curated_times_one_minus_r_over_r_with_the_interval() -> None:
    m = missing_relations(100, recall_of(8, 10))
    assert m.estimate == pytest.approx(25.0)
    # The interval comes from r's: its upper end gives the fewest missing, its lower end the most.
    assert m.low == pytest.approx(100 * (1 - 0.94332) / 0.94332, abs=0.01)
    assert m.high == pytest.approx(100 * (1 - 0.49016) / 0.49016, abs=0.01)
    assert m.low is not None and m.estimate is not None and m.high is not None
    assert m.low < m.estimate < m.high


def test_a_pipeline_that_found_nothing_gives_no_upper_limit() -> None:
    m = missing_relations(100, recall_of(0, 10))
    assert m.estimate is None and m.high is None
    assert m.low == pytest.approx(100 * (1 - 0.27753) / 0.27753, abs=0.01)


def test_a_pipeline_that_found_everything_may_still_miss_some() -> None:
    m = missing_relations(50, recall_of(10, 10))
    assert (m.estimate, m.low) == (0.0, 0.0)
    assert m.high == pytest.approx(50 * (1 - 0.72247) / 0.72247, abs=0.01)


def test_an_entity_is_found_by_a_shared_mention_of_the_same_type() -> None:
    blind = [
        ent(1, "PER", (0, 2)),  # one mention of a two-mention proposal: found, not identical
        ent(2, "ORG", (3, 7)),  # the same spans and type: found and folded
        ent(3, "LOC", (10, 12)),  # proposed as ORG: not found
        ent(4, "PER", (20, 23)),  # the proposal's span is 20–22: overlapping is not found
        ent(5, "PER", (30, 32)),  # nobody proposed anything here
    ]
    machine = [
        ent(11, "PER", (0, 2), (15, 17)),
        ent(12, "ORG", (3, 7)),
        ent(13, "ORG", (10, 12)),
        ent(14, "PER", (20, 22)),
        ent(15, "LOC"),  # ungrounded: no span, nothing to match
    ]
    match = match_blind(blind, [], machine, [])
    assert dict(match.entity_found) == {1: True, 2: True, 3: False, 4: False, 5: False}
    assert dict(match.entity_fold) == {2: 12}


def test_identical_proposals_fold_into_the_first_of_them() -> None:
    match = match_blind([ent(1, "PER", (0, 2))], [], [ent(9, "PER", (0, 2)), ent(7, "PER", (0, 2))], [])
    assert dict(match.entity_fold) == {1: 7}


def test_a_relation_is_found_between_the_entities_its_ends_were_found_as() -> None:
    blind = [ent(1, "PER", (0, 2)), ent(2, "ORG", (3, 7)), ent(3, "PER", (40, 42)), ent(4, "LOC", (50, 52))]
    machine = [ent(11, "PER", (0, 2), (15, 17)), ent(12, "ORG", (3, 7)), ent(13, "PER", (40, 42))]
    blind_relations = [
        MarkedRelation(101, 1, 2, "任职于"),  # found (head found by one mention); not folded (head not identical)
        MarkedRelation(102, 1, 2, "创办"),  # the models proposed 任职于 only
        MarkedRelation(103, 2, 1, "任职于"),  # reversed, and the type is not symmetric
        MarkedRelation(104, 3, 1, "同事"),  # symmetric: proposed the other way round
        MarkedRelation(105, 1, 4, "出生于"),  # its tail was never proposed
    ]
    machine_relations = [MarkedRelation(201, 11, 12, "任职于"), MarkedRelation(202, 11, 13, "同事")]
    match = match_blind(blind, blind_relations, machine, machine_relations, symmetric={"同事"})
    assert dict(match.relation_found) == {101: True, 102: False, 103: False, 104: True, 105: False}
    assert dict(match.relation_fold) == {}


def test_a_relation_folds_when_both_its_entities_fold() -> None:
    blind = [ent(1, "PER", (0, 2)), ent(2, "ORG", (3, 7))]
    machine = [ent(11, "PER", (0, 2)), ent(12, "ORG", (3, 7))]
    match = match_blind(
        blind,
        [MarkedRelation(101, 1, 2, "任职于"), MarkedRelation(102, 2, 1, "位于")],
        machine,
        [MarkedRelation(201, 11, 12, "任职于")],
    )
    assert dict(match.relation_fold) == {101: 201}
    assert dict(match.relation_found) == {101: True, 102: False}


def test_tally_gives_recall_per_kind_and_per_type() -> None:
    items = [
        ("entity", "PER", True),
        ("entity", "PER", False),
        ("entity", "ORG", True),
        ("relation", "任职于", True),
        ("relation", "任职于", True),
        ("relation", "同事", False),
    ]
    overall, by_type = tally(items)
    assert (overall["entity"].found, overall["entity"].marked) == (2, 3)
    assert overall["relation"].recall == pytest.approx(2 / 3)
    assert [(t.kind, t.type, t.estimate.found, t.estimate.marked) for t in by_type] == [
        ("entity", "ORG", 1, 1),
        ("entity", "PER", 1, 2),
        ("relation", "任职于", 2, 2),  # sorted by code point: 任 U+4EFB before 同 U+540C
        ("relation", "同事", 0, 1),
    ]
    empty, none = tally([])
    assert (empty["entity"].marked, empty["relation"].recall, none) == (0, None, ())


def test_stored_records_are_read_leniently() -> None:
    record = {
        "entities": [{"type": "PER", "spans": [[0, 2]], "found": True}, {"type": "ORG", "found": "yes"}, "junk"],
        "relations": [{"type": "任职于", "head": [[0, 2]], "tail": [[3, 7]], "found": False}, {"found": True}],
    }
    assert record_items(record) == [("entity", "PER", True), ("entity", "ORG", False), ("relation", "任职于", False)]
    assert record_items(None) == [] and record_items({"entities": "x"}) == [] and record_items([1, 2]) == []
