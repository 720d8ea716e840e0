"""The third voter's matching, on literal proposals: same type on a shared span, same relation between the same
entities (either way round only when symmetric)."""

from app.annotation.crossval import ProposedEntity, ProposedRelation
from app.annotation.sides import Side
from app.annotation.voter import Voter


def _voter() -> Voter:
    side = Side(None, "tiny@run3")
    side.entities = [
        ProposedEntity("E1", "PER", "张伟", [(0, 2), (12, 14)]),
        ProposedEntity("E2", "ORG", "清华大学", [(5, 9)]),
        ProposedEntity("E3", "PER", "李娜", [(30, 32)]),
    ]
    side.relations = [ProposedRelation("E1", "E2", "毕业于", [0]), ProposedRelation("E3", "E1", "亲属", [1])]
    return Voter(side)


def test_an_entity_counts_when_a_span_and_the_type_agree() -> None:
    voter = _voter()
    assert voter.entity(101, "PER", [(12, 14)])  # one shared span is enough
    assert not voter.entity(102, "LOC", [(5, 9)])  # same span, another type
    assert not voter.entity(103, "PER", [(20, 22)])  # nowhere the voter looked
    assert voter.entity_of == {"E1": 101, "E2": 102}


def test_a_relation_counts_between_the_same_entities_with_the_same_type() -> None:
    voter = _voter()
    voter.entity(101, "PER", [(0, 2)])
    voter.entity(102, "ORG", [(5, 9)])
    voter.entity(103, "PER", [(30, 32)])
    assert voter.relation(101, 102, "毕业于", symmetric=False)
    assert not voter.relation(102, 101, "毕业于", symmetric=False)  # reversed
    assert not voter.relation(101, 102, "任职于", symmetric=False)  # another type
    assert voter.relation(101, 103, "亲属", symmetric=True)  # the voter said 103 → 101: symmetric, so it counts
    assert not voter.relation(101, 103, "亲属", symmetric=False)
