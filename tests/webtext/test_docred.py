"""DocRED documents to text with code-point offsets."""

import json

import pytest

from app.webtext.docred import DocredError, parse_docred
from tests.conftest import FIXTURES


def _doc(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "title": "t",
        "sents": [["张", "三", "毕", "业", "于", "北", "京", "大", "学", "。"], ["𠮷", "野", "家", "😀", "。"]],
        "vertexSet": [
            [{"name": "张三", "pos": [0, 2], "sent_id": 0, "type": "PER"}],
            [{"name": "北京大学", "pos": [5, 9], "sent_id": 0, "type": "ORG"}],
            [{"name": "𠮷野家", "pos": [0, 3], "sent_id": 1, "type": "ORG"}],
        ],
        "labels": [{"h": 0, "t": 1, "r": "毕业于", "evidence": [0]}],
    }
    base.update(kw)
    return base


def test_chinese_tokens_join_without_spaces_and_offsets_are_code_points() -> None:
    doc = parse_docred(_doc())
    assert doc.text == "张三毕业于北京大学。𠮷野家😀。"
    assert doc.sentences == [(0, 10), (10, 15)]
    names = [doc.text[m.start : m.end] for e in doc.entities for m in e.mentions]
    assert names == ["张三", "北京大学", "𠮷野家"]
    assert doc.relations[0].type == "毕业于"


def test_english_tokens_join_with_spaces_and_every_mention_matches_the_text() -> None:
    docs = json.loads((FIXTURES / "docred" / "redocred_dev.json").read_text())
    for raw in docs[:50]:
        doc = parse_docred(raw)
        for entity, vertex in zip(doc.entities, raw["vertexSet"], strict=True):
            for mention, source in zip(entity.mentions, vertex, strict=True):
                tokens = raw["sents"][source["sent_id"]][source["pos"][0] : source["pos"][1]]
                assert doc.text[mention.start : mention.end] == " ".join(tokens)
        assert len(doc.relations) == len(raw["labels"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sents": "not a list"}, "token lists"),
        ({"vertexSet": [[{"name": "x", "pos": [0, 99], "sent_id": 0, "type": "PER"}]]}, "outside sentence 0"),
        ({"vertexSet": [[{"name": "x", "pos": [0, 1], "sent_id": 7, "type": "PER"}]]}, "outside sentence 7"),
        ({"vertexSet": [[]]}, "non-empty list"),
        ({"labels": [{"h": 0, "t": 9, "r": "x"}]}, "refers to entity 9"),
        ({"labels": [{"h": 0, "t": 1, "r": "x", "evidence": [5]}]}, "evidence outside"),
        ({"labels": [{"h": 0}]}, "needs 'h', 't' and 'r'"),
    ],
)
def test_broken_documents_are_explained(change: dict[str, object], message: str) -> None:
    with pytest.raises(DocredError, match=message):
        parse_docred(_doc(**change))
