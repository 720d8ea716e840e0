import pytest

from app.annotation.crossval import (
    EntityAlignment,
    EntityMatch,
    ProposedEntity,
    ProposedRelation,
    RelationMatch,
    align_entities,
    align_relations,
)

SYMMETRIC = {"亲属", "合作"}


def ent(key: str, type_: str, name: str, *spans: tuple[int, int]) -> ProposedEntity:
    return ProposedEntity(key=key, type=type_, name=name, spans=list(spans))


def rel(head: str, tail: str, type_: str, *evidence: int) -> ProposedRelation:
    return ProposedRelation(head=head, tail=tail, type=type_, evidence=list(evidence))


def triples(alignment: EntityAlignment) -> list[tuple[str | None, str | None, str]]:
    return [(m.a_key, m.b_key, m.agreement) for m in alignment.matches]


def check_entity_coverage(a: list[ProposedEntity], b: list[ProposedEntity], alignment: EntityAlignment) -> None:
    assert sorted(m.a_key for m in alignment.matches if m.a_key is not None) == sorted(e.key for e in a)
    assert sorted(m.b_key for m in alignment.matches if m.b_key is not None) == sorted(e.key for e in b)


def check_relation_coverage(n_a: int, n_b: int, matches: list[RelationMatch]) -> None:
    a_seen = [m.a for m in matches if m.a is not None] + [i for m in matches for i in m.a_duplicates]
    b_seen = [m.b for m in matches if m.b is not None] + [i for m in matches for i in m.b_duplicates]
    assert sorted(a_seen) == list(range(n_a))
    assert sorted(b_seen) == list(range(n_b))


# 张三在腾讯工作。张三的妻子是李四。 (张三 0-2 and 8-10, 腾讯 3-5, 李四 14-16)
A_ENTITIES = [
    ent("a1", "PER", "张三", (0, 2), (8, 10)),
    ent("a2", "ORG", "腾讯", (3, 5)),
    ent("a3", "PER", "李四", (14, 16)),
]
B_ENTITIES = [
    ent("b1", "ORG", "腾讯公司", (3, 5)),
    ent("b2", "PER", "张三", (8, 10), (0, 2)),
    ent("b3", "PER", "李四", (14, 16)),
]


def test_perfect_entity_agreement() -> None:
    alignment = align_entities(A_ENTITIES, B_ENTITIES)
    assert triples(alignment) == [("a1", "b2", "agreed"), ("a2", "b1", "agreed"), ("a3", "b3", "agreed")]
    assert alignment.a_to_b() == {"a1": "b2", "a2": "b1", "a3": "b3"}


def test_entity_type_conflict() -> None:
    b = [ent("b1", "LOC", "腾讯", (3, 5)), ent("b2", "PER", "张三", (0, 2))]
    alignment = align_entities(A_ENTITIES, b)
    assert triples(alignment) == [("a1", "b2", "agreed"), ("a2", "b1", "type_conflict"), ("a3", None, "a_only")]
    check_entity_coverage(A_ENTITIES, b, alignment)


def test_one_sided_entities_and_order() -> None:
    a = [ent("x", "PER", "王五", (20, 22))]
    b = [ent("y", "ORG", "阿里", (30, 32)), ent("z", "PER", "赵六", (40, 42))]
    assert triples(align_entities(a, b)) == [("x", None, "a_only"), (None, "y", "b_only"), (None, "z", "b_only")]


def test_overlapping_spans_align_from_iou_one_half() -> None:
    # 北京大学 (0, 4) against 北京大学附属医院 (0, 8): IoU 0.5; against 北京 (0, 2): IoU 0.5; (0, 1): 0.25.
    assert triples(align_entities([ent("a", "ORG", "北京大学", (0, 4))], [ent("b", "ORG", "x", (0, 8))])) == [
        ("a", "b", "agreed")
    ]
    assert triples(align_entities([ent("a", "ORG", "北京大学", (0, 4))], [ent("b", "ORG", "x", (1, 3))])) == [
        ("a", "b", "agreed")
    ]
    assert triples(align_entities([ent("a", "ORG", "北京大学", (0, 4))], [ent("b", "ORG", "x", (0, 1))])) == [
        ("a", None, "a_only"),
        (None, "b", "b_only"),
    ]


def test_many_to_one_overlap_is_resolved_one_to_one_by_best_overlap() -> None:
    # A merged two people into one entity; B kept them apart. The better-covered B entity wins.
    a = [ent("a", "PER", "张三", (0, 2), (10, 12), (20, 22))]
    b = [ent("b1", "PER", "张三", (20, 22)), ent("b2", "PER", "张三", (0, 2), (10, 12))]
    alignment = align_entities(a, b)
    assert triples(alignment) == [("a", "b2", "agreed"), (None, "b1", "b_only")]
    # The other way round: two A entities compete for one B entity.
    alignment = align_entities(b, a)
    assert triples(alignment) == [("b1", None, "a_only"), ("b2", "a", "agreed")]


def test_identical_spans_break_ties_before_input_order() -> None:
    a = [ent("a", "ORG", "北京大学", (0, 4))]
    b = [ent("b1", "ORG", "北京大", (0, 3), (0, 4)), ent("b2", "ORG", "北京大学", (0, 4))]
    # b1 and b2 cover the same code points; both share (0, 4); b1 comes first.
    assert triples(align_entities(a, b))[0] == ("a", "b1", "agreed")
    b = [ent("b1", "ORG", "北京大", (0, 3)), ent("b2", "ORG", "北京大学", (0, 4))]
    assert triples(align_entities(a, b))[0] == ("a", "b2", "agreed")


def test_ungrounded_entities_align_by_normalized_name_and_type() -> None:
    a = [ent("a1", "ORG", "ＡＢＣ 公司"), ent("a2", "ORG", "某机构"), ent("a3", "PER", "无名氏")]
    b = [ent("b1", "PER", "某机构"), ent("b2", "ORG", "abc公司"), ent("b3", "PER", "无名氏", (5, 8))]
    alignment = align_entities(a, b)
    assert triples(alignment) == [
        ("a1", "b2", "agreed"),
        ("a2", None, "a_only"),  # same name, other type: never aligned by name
        ("a3", "b3", "agreed"),  # one side ungrounded is enough to fall back to the name
        (None, "b1", "b_only"),
    ]


def test_grounded_entities_never_align_by_name_alone() -> None:
    a = [ent("a", "PER", "张三", (0, 2))]
    b = [ent("b", "PER", "张三", (50, 52))]
    assert triples(align_entities(a, b)) == [("a", None, "a_only"), (None, "b", "b_only")]


def test_empty_and_degenerate_inputs() -> None:
    assert align_entities([], []).matches == []
    assert triples(align_entities([], [ent("b", "PER", "x")])) == [(None, "b", "b_only")]
    # Zero-length spans count as no span at all.
    assert triples(align_entities([ent("a", "PER", "x", (3, 3))], [ent("b", "PER", "y", (3, 3))])) == [
        ("a", None, "a_only"),
        (None, "b", "b_only"),
    ]


def test_duplicate_keys_are_rejected() -> None:
    with pytest.raises(ValueError, match="'k'"):
        align_entities([ent("k", "PER", "x"), ent("k", "PER", "y")], [])


def test_many_entities_align_quickly() -> None:
    a = [ent(f"a{i}", "PER", f"n{i}", (i * 10, i * 10 + 3), (i * 10 + 5, i * 10 + 7)) for i in range(2000)]
    b = [ent(f"b{i}", "PER", f"n{i}", (i * 10 + 1, i * 10 + 3)) for i in reversed(range(2000))]
    alignment = align_entities(a, b)
    check_entity_coverage(a, b, alignment)
    assert all(m.agreement == "agreed" for m in alignment.matches)


MATCHES = align_entities(A_ENTITIES, B_ENTITIES).matches


def test_perfect_relation_agreement() -> None:
    a = [rel("a1", "a2", "任职于", 0), rel("a1", "a3", "配偶", 1)]
    b = [rel("b2", "b3", "配偶", 1), rel("b2", "b1", "任职于")]
    matches = align_relations(a, b, MATCHES, SYMMETRIC)
    assert matches == [RelationMatch(0, 1, "agreed"), RelationMatch(1, 0, "agreed")]


def test_relation_type_conflict() -> None:
    a = [rel("a1", "a2", "任职于")]
    b = [rel("b2", "b1", "创立")]
    assert align_relations(a, b, MATCHES, SYMMETRIC) == [RelationMatch(0, 0, "type_conflict")]


def test_agreement_is_preferred_over_conflict_when_a_pair_has_several_types() -> None:
    a = [rel("a1", "a2", "创立"), rel("a1", "a2", "任职于")]
    b = [rel("b2", "b1", "任职于"), rel("b2", "b1", "投资")]
    assert align_relations(a, b, MATCHES, SYMMETRIC) == [
        RelationMatch(0, 1, "type_conflict"),
        RelationMatch(1, 0, "agreed"),
    ]


def test_direction_matters_for_asymmetric_types() -> None:
    a = [rel("a1", "a3", "配偶")]
    b = [rel("b3", "b2", "配偶")]
    matches = align_relations(a, b, MATCHES, SYMMETRIC)
    assert matches == [RelationMatch(0, None, "a_only"), RelationMatch(None, 0, "b_only")]


def test_direction_does_not_matter_for_symmetric_types() -> None:
    a = [rel("a1", "a3", "亲属")]
    b = [rel("b3", "b2", "亲属")]
    assert align_relations(a, b, MATCHES, SYMMETRIC) == [RelationMatch(0, 0, "agreed")]


def test_reversed_pair_conflicts_when_either_type_is_symmetric() -> None:
    a = [rel("a1", "a3", "亲属")]
    b = [rel("b3", "b2", "配偶")]
    assert align_relations(a, b, MATCHES, SYMMETRIC) == [RelationMatch(0, 0, "type_conflict")]
    a = [rel("a1", "a3", "上级")]
    b = [rel("b3", "b2", "配偶")]
    assert align_relations(a, b, MATCHES, SYMMETRIC) == [
        RelationMatch(0, None, "a_only"),
        RelationMatch(None, 0, "b_only"),
    ]


def test_relations_over_unaligned_or_unknown_entities_are_one_sided() -> None:
    entities_a = [*A_ENTITIES, ent("a4", "ORG", "百度", (60, 62))]
    matches = align_entities(entities_a, B_ENTITIES).matches
    a = [rel("a1", "a4", "任职于"), rel("a1", "ghost", "任职于")]
    b = [rel("b2", "nobody", "任职于")]
    result = align_relations(a, b, matches, SYMMETRIC)
    assert result == [
        RelationMatch(0, None, "a_only"),
        RelationMatch(1, None, "a_only"),
        RelationMatch(None, 0, "b_only"),
    ]


def test_relations_over_type_conflicting_entities_still_align() -> None:
    b_entities = [ent("b1", "LOC", "腾讯", (3, 5)), ent("b2", "PER", "张三", (0, 2))]
    matches = align_entities(A_ENTITIES, b_entities).matches
    assert align_relations([rel("a1", "a2", "任职于")], [rel("b2", "b1", "任职于")], matches, SYMMETRIC) == [
        RelationMatch(0, 0, "agreed")
    ]


def test_duplicates_within_a_side_collapse_onto_their_first_index() -> None:
    a = [rel("a1", "a2", "任职于", 0), rel("a1", "a3", "亲属"), rel("a1", "a2", "任职于", 2), rel("a3", "a1", "亲属")]
    b = [rel("b2", "b1", "任职于"), rel("b2", "b1", "任职于"), rel("b3", "b2", "合作"), rel("b2", "b3", "合作")]
    matches = align_relations(a, b, MATCHES, SYMMETRIC)
    assert matches == [
        RelationMatch(0, 0, "agreed", a_duplicates=(2,), b_duplicates=(1,)),
        RelationMatch(1, 2, "type_conflict", a_duplicates=(3,), b_duplicates=(3,)),
    ]
    check_relation_coverage(len(a), len(b), matches)


def test_one_sided_duplicates_are_reported_once() -> None:
    b = [rel("b2", "b1", "任职于"), rel("b2", "b1", "任职于"), rel("b2", "b1", "任职于")]
    matches = align_relations([], b, MATCHES, SYMMETRIC)
    assert matches == [RelationMatch(None, 0, "b_only", b_duplicates=(1, 2))]
    check_relation_coverage(0, 3, matches)


def test_empty_relations() -> None:
    assert align_relations([], [], [], set()) == []
    assert align_relations([rel("a1", "a2", "任职于")], [], [], set()) == [RelationMatch(0, None, "a_only")]


def test_every_relation_index_appears_exactly_once_in_a_mixed_case() -> None:
    a = [rel(h, t, k) for h in ("a1", "a2", "a3") for t in ("a1", "a2", "a3") for k in ("亲属", "任职于", "配偶")]
    b = [rel(h, t, k) for h in ("b3", "b1", "b2") for t in ("b2", "b3") for k in ("配偶", "合作", "亲属", "x")]
    matches = align_relations(a, b, MATCHES, SYMMETRIC)
    check_relation_coverage(len(a), len(b), matches)
    assert {m.agreement for m in matches} == {"agreed", "type_conflict", "a_only", "b_only"}


def test_entity_match_is_a_plain_value() -> None:
    assert EntityMatch("a", None, "a_only") == EntityMatch("a", None, "a_only")
