"""The exporters' last guard: whatever name a record carries, every exported entity name occurs in the text."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from app.dataset.exporters import brat_files, docred_record, export_jsonl, jsonl_record
from app.evaluation.records import ExportDocument, ExportEntity, ExportMention

# A small alphabet so that names often do and often do not occur in the text; CJK, astral and blank included.
ALPHABET = st.sampled_from(list("美国斯坦福大学加州 𠮷a。"))


@st.composite
def documents(draw: st.DrawFn) -> ExportDocument:
    text = draw(st.text(ALPHABET, min_size=1, max_size=30))
    entities = []
    for index in range(draw(st.integers(0, 4))):
        mentions = []
        for _ in range(draw(st.integers(1, 3))):
            start = draw(st.integers(0, len(text) - 1))
            end = draw(st.integers(start + 1, len(text)))
            mentions.append(ExportMention(start, end, text[start:end], 0))
        name = draw(st.one_of(st.text(ALPHABET, max_size=8), st.sampled_from([m.text for m in mentions])))
        entities.append(ExportEntity(index, "ORG", name, mentions))
    return ExportDocument(id="d", title="t", text=text, sentences=[(0, len(text))], entities=entities)


@settings(max_examples=300, deadline=None)
@given(documents())
def test_every_exported_entity_name_occurs_in_the_text(doc: ExportDocument) -> None:
    jsonl = jsonl_record(doc)
    names = [e["name"] for e in jsonl["entities"]]
    names += [m["name"] for vertex in docred_record(doc)["vertexSet"] for m in vertex]
    assert all(name and name in doc.text for name in names), (names, doc.text)
    # A name the text holds is exported untouched (entities with only blank mentions are not exported).
    exported = [e for e in doc.entities if any(not m.text.isspace() for m in e.mentions)]
    for entity, out in zip(exported, jsonl["entities"], strict=True):
        if entity.name and entity.name in doc.text:
            assert out["name"] == entity.name
    assert brat_files(doc)  # the brat writer takes the same records


def test_a_stale_name_is_replaced_by_the_longest_mention() -> None:
    text = "张伟毕业于斯坦福大学。他在斯坦福读书。"
    mentions = [ExportMention(5, 10, "斯坦福大学", 0), ExportMention(13, 16, "斯坦福", 0)]
    doc = ExportDocument(
        id="d",
        title="t",
        text=text,
        sentences=[(0, len(text))],
        entities=[ExportEntity(0, "ORG", "美国斯坦福大学", mentions)],
    )
    [line] = b"".join(export_jsonl([doc])).decode().splitlines()
    assert json.loads(line)["entities"][0]["name"] == "斯坦福大学"
