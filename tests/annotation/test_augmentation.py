from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.annotation.augmentation import (
    CandidateEntity,
    CandidateResult,
    allowed_types,
    batches,
    candidate_pairs,
    pair_sentence_window,
)
from app.project.label_schema import LabelSchema


def schema(*relations: dict[str, object]) -> LabelSchema:
    return LabelSchema.model_validate(
        {
            "entity_types": [{"code": c, "name": c} for c in ("PER", "ORG", "LOC")],
            "relation_types": [{"name": r["code"], **r} for r in relations],
        }
    )


SCHEMA = schema(
    {"code": "任职于", "head_types": ["PER"], "tail_types": ["ORG"]},
    {"code": "亲属", "head_types": ["PER"], "tail_types": ["PER"], "symmetric": True},
    {"code": "位于", "head_types": ["ORG"], "tail_types": ["LOC"]},
)


def e(id_: int, type_: str, *sentence_ids: int) -> CandidateEntity:
    return CandidateEntity(id=id_, type=type_, sentence_ids=list(sentence_ids))


def test_allowed_types_follow_direction() -> None:
    assert allowed_types(SCHEMA, "PER", "ORG") == ["任职于"]
    assert allowed_types(SCHEMA, "ORG", "PER") == []
    assert allowed_types(SCHEMA, "PER", "PER") == ["亲属"]
    assert allowed_types(SCHEMA, "LOC", "ORG") == []


def test_allowed_types_empty_lists_mean_any_type() -> None:
    s = schema({"code": "提及", "head_types": [], "tail_types": ["LOC"]}, {"code": "相关"})
    assert allowed_types(s, "ORG", "LOC") == ["提及", "相关"]
    assert allowed_types(s, "LOC", "ORG") == ["相关"]
    assert allowed_types(s, "UNKNOWN", "LOC") == ["提及", "相关"]


def test_allowed_types_include_symmetric_types_in_either_direction() -> None:
    s = schema({"code": "合作", "head_types": ["PER"], "tail_types": ["ORG"], "symmetric": True})
    assert allowed_types(s, "PER", "ORG") == ["合作"]
    assert allowed_types(s, "ORG", "PER") == ["合作"]


def test_candidates_are_type_compatible_and_ranked_by_closeness() -> None:
    entities = [e(1, "PER", 0), e(2, "ORG", 0, 4), e(3, "PER", 2), e(4, "LOC", 9)]
    result = candidate_pairs(entities, set(), SCHEMA)
    # (1, 2) share a sentence; (1, 3) and (3, 2) are two sentences apart and tie; (2, 4) are five apart.
    assert result == CandidateResult([(1, 2), (1, 3), (3, 2), (2, 4)], None, 4)


def test_more_shared_sentences_rank_first_at_equal_distance() -> None:
    entities = [e(1, "PER", 0, 1, 2), e(2, "ORG", 0), e(3, "ORG", 0, 1, 5), e(4, "ORG", 3, 4)]
    assert candidate_pairs(entities, set(), SCHEMA).pairs == [(1, 3), (1, 2), (1, 4)]


def test_entities_without_sentences_rank_last() -> None:
    entities = [e(1, "PER"), e(2, "ORG", 0), e(3, "PER", 100)]
    assert candidate_pairs(entities, set(), SCHEMA).pairs == [(3, 2), (1, 2), (1, 3)]


def test_symmetric_only_pairs_are_asked_once() -> None:
    entities = [e(5, "PER", 0), e(2, "PER", 0), e(9, "PER", 1)]
    assert candidate_pairs(entities, set(), SCHEMA).pairs == [(2, 5), (2, 9), (5, 9)]


def test_symmetric_only_pairs_follow_the_declared_direction() -> None:
    s = schema({"code": "合作", "head_types": ["PER"], "tail_types": ["ORG"], "symmetric": True})
    assert candidate_pairs([e(1, "ORG", 0), e(2, "PER", 0)], set(), s).pairs == [(2, 1)]


def test_both_directions_when_both_are_allowed() -> None:
    s = schema({"code": "上级"}, {"code": "亲属", "symmetric": True})
    assert candidate_pairs([e(1, "PER", 0), e(2, "PER", 0)], set(), s).pairs == [(1, 2), (2, 1)]


def test_related_pairs_are_excluded_in_either_direction() -> None:
    entities = [e(1, "PER", 0), e(2, "ORG", 0), e(3, "PER", 0)]
    result = candidate_pairs(entities, {(2, 1), (1, 3), (77, 1), (3, 3)}, SCHEMA)
    assert result.pairs == [(3, 2)]
    assert result.total == 1


def test_no_self_pairs_and_no_relation_types() -> None:
    assert candidate_pairs([e(1, "PER", 0)], set(), SCHEMA).pairs == []
    empty = schema()
    assert candidate_pairs([e(1, "PER", 0), e(2, "ORG", 0)], set(), empty) == CandidateResult([], None, 0)
    assert candidate_pairs([], set(), SCHEMA) == CandidateResult([], None, 0)


def test_cap_keeps_the_best() -> None:
    entities = [e(0, "ORG", 0)] + [e(i, "PER", i) for i in range(1, 30)]
    s = schema({"code": "任职于", "head_types": ["PER"], "tail_types": ["ORG"]})
    result = candidate_pairs(entities, set(), s, cap=3)
    assert result.pairs == [(1, 0), (2, 0), (3, 0)]
    assert result.total == 29
    assert candidate_pairs(entities, set(), s, cap=0).pairs == []


def test_explosion_is_skipped_with_a_reason() -> None:
    entities = [e(i, "PER", i) for i in range(60)] + [e(100 + i, "ORG", i) for i in range(60)]
    result = candidate_pairs(entities, set(), SCHEMA)
    # 60 x 60 任职于 pairs and C(60, 2) 亲属 pairs.
    assert result == CandidateResult([], "5370 candidate pairs exceed the limit of 2000", 5370)
    assert candidate_pairs(entities, set(), SCHEMA, max_candidates_before_cap=5370).total == 5370


def test_explosion_check_does_not_enumerate_pairs() -> None:
    entities = [e(i, "PER", i % 50) for i in range(20_000)]
    result = candidate_pairs(entities, set(), SCHEMA)
    assert result.pairs == []
    assert result.skipped_reason == "199990000 candidate pairs exceed the limit of 2000"


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="unique"):
        candidate_pairs([e(1, "PER"), e(1, "ORG")], set(), SCHEMA)
    with pytest.raises(ValueError, match="negative"):
        candidate_pairs([], set(), SCHEMA, cap=-1)


RELATIONS: list[dict[str, object]] = [
    {"code": "r1", "head_types": ["PER"], "tail_types": ["ORG"]},
    {"code": "r2", "head_types": ["ORG"], "tail_types": ["ORG", "LOC"]},
    {"code": "r3", "head_types": ["PER"], "tail_types": ["PER", "LOC"], "symmetric": True},
    {"code": "r4", "head_types": [], "tail_types": ["LOC"]},
    {"code": "r5", "head_types": ["LOC"], "tail_types": ["ORG"], "symmetric": True},
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["PER", "ORG", "LOC"]), max_size=12),
    st.sets(st.integers(0, len(RELATIONS) - 1)),
    st.sets(st.tuples(st.integers(0, 12), st.integers(0, 12))),
)
def test_candidates_match_a_brute_force_reference(
    types: list[str], chosen: set[int], related: set[tuple[int, int]]
) -> None:
    s = schema(*(RELATIONS[i] for i in sorted(chosen)))
    entities = [e(i, t, i % 4) for i, t in enumerate(types)]
    result = candidate_pairs(entities, related, s, cap=10_000, max_candidates_before_cap=10_000)
    expected: set[tuple[int, int]] = set()
    for x, y in combinations(entities, 2):
        if (x.id, y.id) in related or (y.id, x.id) in related:
            continue
        directed = [rt for rt in s.relation_types if not rt.symmetric]
        ok_xy = any(
            (not rt.head_types or x.type in rt.head_types) and (not rt.tail_types or y.type in rt.tail_types)
            for rt in directed
        )
        ok_yx = any(
            (not rt.head_types or y.type in rt.head_types) and (not rt.tail_types or x.type in rt.tail_types)
            for rt in directed
        )
        expected |= {(x.id, y.id)} if ok_xy else set()
        expected |= {(y.id, x.id)} if ok_yx else set()
        if not ok_xy and not ok_yx and allowed_types(s, x.type, y.type):
            one = [p for p in result.pairs if set(p) == {x.id, y.id}]
            assert len(one) == 1
            expected.add(one[0])
    assert set(result.pairs) == expected
    assert len(result.pairs) == result.total
    for head, tail in result.pairs:
        assert allowed_types(s, types[head], types[tail])


def test_pair_sentence_window_merges_context() -> None:
    assert pair_sentence_window([3, 3, 9], 10) == [2, 3, 4, 8, 9]
    assert pair_sentence_window([0, 5], 10, context=0) == [0, 5]
    assert pair_sentence_window([0, 5], 10, context=3) == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert pair_sentence_window([-1, 10, 42], 10) == []
    assert pair_sentence_window([], 10) == []
    assert pair_sentence_window([0], 0) == []
    with pytest.raises(ValueError, match="context"):
        pair_sentence_window([1], 10, context=-1)


def test_batches() -> None:
    pairs = [(i, i + 1) for i in range(25)]
    chunks = batches(pairs)
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert [p for c in chunks for p in c] == pairs
    assert batches([], 3) == []
    assert batches(pairs[:2], 1) == [[(0, 1)], [(1, 2)]]
    with pytest.raises(ValueError, match="size"):
        batches(pairs, 0)
