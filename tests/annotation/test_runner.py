"""Window outputs merge into one document output."""

from app.annotation.contract import AnnotationOutput, EntityOut, RelationOut
from app.annotation.runner import merge_outputs


def test_entities_merge_across_windows_and_relations_follow_them() -> None:
    first = AnnotationOutput(
        entities=[
            EntityOut(id="E1", type="PER", name="张伟", mentions=["张伟"]),
            EntityOut(id="E2", type="ORG", name="北京大学", mentions=["北大"]),
        ],
        relations=[RelationOut(head="E1", tail="E2", type="毕业于", evidence=[0])],
    )
    second = AnnotationOutput(
        entities=[
            EntityOut(id="E1", type="ORG", name="北京大学", mentions=["北京大学"]),
            EntityOut(id="E9", type="PER", name="张 伟", mentions=["张伟先生"]),
        ],
        relations=[
            RelationOut(head="E9", tail="E1", type="毕业于", evidence=[3]),
            RelationOut(head="E9", tail="E404", type="毕业于", evidence=[3]),
        ],
    )
    merged = merge_outputs([first, second])
    assert [(e.id, e.type, e.name) for e in merged.entities] == [("E1", "PER", "张伟"), ("E2", "ORG", "北京大学")]
    assert merged.entities[0].mentions == ["张伟", "张 伟", "张伟先生"]
    assert merged.entities[1].mentions == ["北京大学", "北大"]
    assert [(r.head, r.tail, r.evidence) for r in merged.relations] == [("E1", "E2", [0, 3])]
