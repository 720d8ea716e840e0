"""The generative formats: seq2seq (triples linearised, parsed back) and chat (OpenAI fine-tuning records whose
assistant answer is contract v1, parsed by the annotators' own parser and grounded back to the document)."""

import json
import re
from collections import Counter
from functools import cache
from typing import Any

import pytest

from app.annotation.contract import AnnotationOutput, parse_model_json
from app.annotation.grounding import ground_entity
from app.annotation.prompts import annotation_prompt
from app.annotation.runner import DEFAULT_WINDOW_TOKENS
from app.annotation.windows import make_windows
from app.dataset.datasheet import DatasheetTally
from app.dataset.exporters import (
    TargetError,
    Triple,
    chat_records,
    export_chat,
    export_seq2seq,
    linearise,
    parse_target,
    prepare,
    relations_outside_windows,
    seq2seq_records,
)
from app.dataset.exporters import chat as chat_module
from app.dataset.exporters.chat import ChatRecord
from app.evaluation.records import ExportDocument, ExportEntity, ExportMention, ExportRelation, from_docred
from app.project.label_schema import LabelSchema
from app.project.presets import DOCRED, DOCRED_GUIDELINES, ZH_GENERAL, ZH_GENERAL_GUIDELINES
from app.webtext.docred import parse_docred
from tests.conftest import FIXTURES

ZH_SCHEMA = LabelSchema.model_validate(ZH_GENERAL)


def _entity(index: int, kind: str, text: str, *surfaces: str, name: str | None = None) -> ExportEntity:
    mentions = []
    for surface in surfaces:
        start = text.index(surface)
        mentions.append(ExportMention(start, start + len(surface), surface, 0))
    return ExportEntity(index, kind, name if name is not None else surfaces[0], mentions)


def _sentences(text: str, ends: str = "。！？\n") -> list[tuple[int, int]]:
    out, start = [], 0
    for i, ch in enumerate(text):
        if ch in ends:
            out.append((start, i + 1))
            start = i + 1
    if start < len(text):
        out.append((start, len(text)))
    return out


@cache
def _redocred(n: int = 30) -> list[ExportDocument]:
    raws = json.loads((FIXTURES / "docred" / "redocred_dev.json").read_text())[:n]
    return [from_docred(parse_docred(raw), doc_id=str(i), language="en") for i, raw in enumerate(raws)]


def _curated_triples(doc: ExportDocument) -> Counter[Triple]:
    """The document's relations as triples, computed from the records (not through the exporter's windows)."""
    p = prepare(doc)
    keys = {(h, t, r.type) for h, t, r in p.relations}
    e = p.entities
    return Counter(Triple(e[h].name, e[h].type, r, e[t].name, e[t].type) for h, t, r in keys)


# seq2seq


def test_seq2seq_round_trips_the_curated_triples_of_redocred() -> None:
    for doc in _redocred():
        records = seq2seq_records(doc)
        assert len(records) == 1, "a DocRED document fits one window"
        record = records[0]
        assert record["input"] == doc.text
        assert Counter(parse_target(record["target"])) == _curated_triples(doc), doc.title


def test_seq2seq_target_is_ordered_by_head_then_tail_then_relation_code() -> None:
    text = "乙公司由甲创办。甲毕业于丙大学，甲也在乙公司任职。"
    doc = ExportDocument(
        "d1",
        "t",
        text,
        _sentences(text),
        [_entity(0, "PER", text, "甲"), _entity(1, "ORG", text, "乙公司"), _entity(2, "ORG", text, "丙大学")],
        [
            ExportRelation(0, 2, "毕业于", [1]),
            ExportRelation(0, 1, "任职于", [1]),
            ExportRelation(1, 0, "创办", [0]),
            ExportRelation(0, 1, "创办者", [0]),
        ],
    )
    [record] = seq2seq_records(doc)
    # 乙公司 is mentioned first (offset 0), then 甲 (4), then 丙大学; a pair's relations by code.
    assert record["target"] == (
        "乙公司 | ORG | 创办 | 甲 | PER ; 甲 | PER | 任职于 | 乙公司 | ORG ; 甲 | PER | 创办者 | 乙公司 | ORG ; "
        "甲 | PER | 毕业于 | 丙大学 | ORG"
    )
    assert record["id"] == "d1:0" and record["sentence_ids"] == [0, 1] and record["window"] == 0


def test_hostile_names_survive_the_linearisation() -> None:
    names = ["A|B", "x;y", "back\\slash", 'say "hi"', "𠮷野家😀", "line\nbreak", "\\|;", "<b>&amp;</b>", "末尾\\"]
    text = "，".join(names) + "。"
    entities = [_entity(i, "ORG" if i % 2 else "PER", text, n) for i, n in enumerate(names)]
    relations = [ExportRelation(i, i + 1, "r|;\\", [0]) for i in range(len(names) - 1)]
    doc = ExportDocument("h", "t", text, [(0, len(text))], entities, relations)
    line = b"".join(export_seq2seq([doc]))
    record = json.loads(line)
    assert line.endswith(b"\n") and line.count(b"\n") == 1, "one line: newlines inside strings are escaped"
    assert record["input"] == text
    parsed = parse_target(record["target"])
    assert Counter(parsed) == _curated_triples(doc)
    assert [t.head for t in parsed] == names[:-1] and {t.relation for t in parsed} == {"r|;\\"}


def test_parse_target_refuses_what_is_not_a_linearisation() -> None:
    assert parse_target("") == [] and parse_target("  ") == []
    assert parse_target("a|PER|r|b|ORG;c | PER | r | d | ORG") == [
        Triple("a", "PER", "r", "b", "ORG"),
        Triple("c", "PER", "r", "d", "ORG"),
    ]
    with pytest.raises(TargetError, match="lone backslash"):
        parse_target("a | PER | r | b | ORG\\")
    with pytest.raises(TargetError, match="triple 2 needs five"):
        parse_target("a | PER | r | b | ORG ; c | PER | r | d")
    with pytest.raises(TargetError, match="five non-empty"):
        parse_target("a | PER | r |  | ORG")
    assert linearise([Triple("a;", "T", "r", "b|", "T")]) == "a\\; | T | r | b\\| | T"


def _long_document() -> ExportDocument:
    """Forty sentences of about 80 characters: several windows of the default budget."""
    sentences = [f"第{i}句：张三在北京与李四谈到了上海的事情{'的确如此' * 15}。" for i in range(40)]
    text = "".join(sentences)
    spans = _sentences(text)
    mentions: dict[str, list[ExportMention]] = {"张三": [], "李四": [], "上海": []}
    for sid, (a, b) in enumerate(spans):
        for surface, found in mentions.items():
            start = text.index(surface, a, b)
            found.append(ExportMention(start, start + len(surface), surface, sid))
    far = text.index("北京", spans[39][0])
    entities = [
        ExportEntity(0, "PER", "张三", mentions["张三"][:2]),  # only in sentences 0 and 1
        ExportEntity(1, "PER", "李四", mentions["李四"]),
        ExportEntity(2, "LOC", "上海", mentions["上海"][20:21]),  # only in sentence 20
        ExportEntity(3, "LOC", "北京", [ExportMention(far, far + 2, "北京", 39)]),  # only in sentence 39
    ]
    relations = [
        ExportRelation(0, 1, "同事", [0]),
        ExportRelation(1, 2, "位于", [20]),
        ExportRelation(0, 3, "位于", [0, 39]),  # 张三 and 北京 never share a window
    ]
    return ExportDocument("long", "长", text, spans, entities, relations, language="zh")


def test_long_documents_become_overlapping_windows_never_truncated() -> None:
    doc = _long_document()
    records = seq2seq_records(doc)
    assert len(records) > 1
    covered = [sid for r in records for sid in r["sentence_ids"]]
    assert sorted(set(covered)) == list(range(len(doc.sentences))), "every sentence is in some window"
    for r in records:
        first, last = r["sentence_ids"][0], r["sentence_ids"][-1]
        assert r["input"] == doc.text[doc.sentences[first][0] : doc.sentences[last][1]]
        for triple in parse_target(r["target"]):
            assert triple.head in r["input"] and triple.tail in r["input"]
    found = {t for r in records for t in parse_target(r["target"])}
    assert found == {Triple("张三", "PER", "同事", "李四", "PER"), Triple("李四", "PER", "位于", "上海", "LOC")}
    # 张三 – 北京 is in no window: the datasheet says how many such relations a snapshot has.
    assert relations_outside_windows(doc) == 1 and relations_outside_windows(doc, window_tokens=10**6) == 0
    tally = DatasheetTally()
    tally.add(doc, "train")
    tally.add(_redocred()[0], "dev")
    assert tally.result().relations.outside_seq2seq_windows == 1


def test_examples_are_the_windows_of_the_annotators_windowing() -> None:
    for doc in [_long_document(), *_redocred(5)]:
        for budget in (30, 200, 1024, 3000):
            ids = [r["sentence_ids"] for r in seq2seq_records(doc, window_tokens=budget)]
            assert ids == make_windows(doc.text, doc.sentences, budget_tokens=budget), (doc.id, budget)


def test_documents_without_text_give_no_example_but_a_chunk_each() -> None:
    empty = ExportDocument("0", "", "", [])
    assert list(export_seq2seq([empty, empty])) == [b"", b""]
    assert list(export_chat([empty], schema=ZH_SCHEMA)) == [b""]


# chat


def test_chat_windows_are_the_annotators_default_ones() -> None:
    assert chat_module.WINDOW_TOKENS == DEFAULT_WINDOW_TOKENS


def _check_chat_record(record: ChatRecord, doc: ExportDocument, schema: LabelSchema, guidelines: str) -> None:
    assert list(record) == ["messages"]
    messages = record["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert all(list(m) == ["role", "content"] and isinstance(m["content"], str) for m in messages)
    output = parse_model_json(messages[2]["content"], AnnotationOutput)
    numbered = messages[1]["content"].split("\nSentences:\n", 1)[1]
    ids = [int(x) for x in re.findall(r"^\[(\d+)\] ", numbered, re.MULTILINE)]
    prompt = annotation_prompt(schema, guidelines, title=doc.title, text=doc.text, sentences=doc.sentences, ids=ids)
    assert (messages[0]["content"], messages[1]["content"]) == (prompt.system, prompt.user)
    assert {e.type for e in output.entities} <= set(schema.entity_codes())
    start, end = doc.sentences[ids[0]][0], doc.sentences[ids[-1]][1]
    by_id = {e.id: e for e in output.entities}
    curated = {(m.start, m.end): e for e in doc.entities for m in e.mentions if start <= m.start and m.end <= end}
    for e in output.entities:
        grounded = {(s.start, s.end) for s in ground_entity(doc.text, doc.sentences, e.name, e.mentions)}
        mine = {span for span, entity in curated.items() if entity.name == e.name and entity.type == e.type}
        # Grounding keeps the longer of overlapping occurrences ("The Woody Woodpecker Song" over its tail).
        inside = all(any(a <= x and y <= b for a, b in grounded) for x, y in mine)
        assert mine and inside, f"{e.name} grounds back to its curated mentions"
    for r in output.relations:
        assert r.head in by_id and r.tail in by_id and set(r.evidence) <= set(ids)


def test_chat_answers_parse_with_the_contract_parser_and_ground_back() -> None:
    text = '张三于2019年加入谷歌公司。\n“𠮷野家😀”在北京大学旁开业，张三说："好|吃;"！'
    doc = ExportDocument(
        "7",
        "张三 & <谷歌>",
        text,
        _sentences(text, "。！"),
        [
            _entity(0, "PER", text, "张三"),
            _entity(1, "ORG", text, "谷歌公司"),
            _entity(2, "ORG", text, "𠮷野家😀"),
            _entity(3, "ORG", text, "北京大学"),
        ],
        [ExportRelation(0, 1, "任职于", [0]), ExportRelation(2, 3, "位于", [1])],
        language="zh",
    )
    [record] = chat_records(doc, schema=ZH_SCHEMA, guidelines=ZH_GENERAL_GUIDELINES)
    _check_chat_record(record, doc, ZH_SCHEMA, ZH_GENERAL_GUIDELINES)
    answer = json.loads(record["messages"][2]["content"])
    assert answer["entities"][0] == {"id": "E1", "type": "PER", "name": "张三", "mentions": ["张三"]}
    assert answer["relations"] == [
        {"head": "E1", "tail": "E2", "type": "任职于", "evidence": [0]},
        {"head": "E3", "tail": "E4", "type": "位于", "evidence": [1]},
    ]
    assert "<谷歌>" in record["messages"][1]["content"], "data, not HTML: nothing is escaped"


def test_chat_records_of_redocred_are_valid_fine_tuning_records() -> None:
    schema = LabelSchema.model_validate(DOCRED)
    for doc in _redocred(10):
        line = b"".join(export_chat([doc], schema=schema, guidelines=DOCRED_GUIDELINES))
        [record] = [json.loads(x) for x in line.splitlines()]
        _check_chat_record(record, doc, schema, DOCRED_GUIDELINES)
        output = parse_model_json(record["messages"][2]["content"], AnnotationOutput)
        names = {e.id: (e.name, e.type) for e in output.entities}
        triples = Counter(Triple(*names[r.head], r.type, *names[r.tail]) for r in output.relations)
        assert triples == _curated_triples(doc)


def test_long_documents_are_asked_window_by_window_in_chat() -> None:
    doc = _long_document()
    records = chat_records(doc, schema=ZH_SCHEMA, window_tokens=1024)
    assert len(records) > 1
    for record in records:
        _check_chat_record(record, doc, ZH_SCHEMA, "")


def test_generative_exports_load_with_hf_datasets(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The consumers' loader: datasets.load_dataset("json", ...), offline."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets

    docs = [ExportDocument("0", "", "", []), _long_document(), *_redocred(3)]
    for name, chunks in (
        ("seq2seq", export_seq2seq(docs)),
        ("chat", export_chat(docs, schema=ZH_SCHEMA)),
    ):
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(b"".join(chunks))
        loaded = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / name))
        lines = [json.loads(x) for x in path.read_bytes().splitlines()]
        assert loaded.num_rows == len(lines) > len(docs) - 1
        assert loaded[0] == lines[0] and loaded[len(lines) - 1] == lines[-1]
