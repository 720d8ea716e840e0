"""Exporters: DocRED (round trip through the importer), JSONL (one type per key), brat zip, CoNLL BIO."""

import io
import itertools
import json
import random
import re
import zipfile
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest

from app.dataset.exporters import (
    ExportError,
    brat_files,
    conll_lines,
    docred_record,
    export_brat,
    export_conll,
    export_docred,
    export_jsonl,
    jsonl_record,
    prepare,
)
from app.dataset.exporters.prepare import mention_spans
from app.dataset.exporters.tokens import CJK, WORD_TOKEN, sentence_cuts, token_range, tokenize
from app.evaluation.records import (
    DecisionRecord,
    DocumentProvenance,
    ExportDocument,
    ExportEntity,
    ExportMention,
    ExportRelation,
    ItemProvenance,
    ProposalRecord,
    from_docred,
)
from app.webtext.docred import DocredDocument, _is_cjk, parse_docred
from tests.conftest import FIXTURES


def _mention(text: str, surface: str, sentence_id: int = 0, nth: int = 0) -> ExportMention:
    start = -1
    for _ in range(nth + 1):
        start = text.index(surface, start + 1)
    return ExportMention(start, start + len(surface), surface, sentence_id)


def _entity(index: int, kind: str, *mentions: ExportMention, provenance: ItemProvenance | None = None) -> ExportEntity:
    return ExportEntity(
        index, kind, mentions[0].text if mentions else "", list(mentions), provenance or ItemProvenance()
    )


ZH = "张三于2019年加入谷歌公司。𠮷野家😀在北京大学旁开业！"
ZH_SENTS = [(0, ZH.index("。") + 1), (ZH.index("。") + 1, len(ZH))]


def _zh_doc(**kw: Any) -> ExportDocument:
    base: dict[str, Any] = {
        "id": "7",
        "title": "张三 & <谷歌>",
        "text": ZH,
        "sentences": ZH_SENTS,
        "language": "zh",
        "entities": [
            _entity(0, "PER", _mention(ZH, "张三")),
            _entity(1, "ORG", _mention(ZH, "谷歌公司")),
            _entity(2, "ORG", _mention(ZH, "𠮷野家", 1)),
            _entity(3, "ORG", _mention(ZH, "北京大学", 1)),
            _entity(4, "LOC", _mention(ZH, "北京", 1)),  # nested in 北京大学
        ],
        "relations": [
            ExportRelation(0, 1, "P108", [0]),
            ExportRelation(2, 4, "P131", [1]),
            ExportRelation(2, 0, "founded_by", [0, 1, 1]),
        ],
    }
    base.update(kw)
    return ExportDocument(**base)


def _spans(doc: DocredDocument | ExportDocument) -> list[list[tuple[int, int]]]:
    return [[(m.start, m.end) for m in e.mentions] for e in doc.entities]


def _relations(doc: DocredDocument | ExportDocument) -> list[tuple[int, int, str, list[int]]]:
    return [(r.head, r.tail, r.type, sorted(set(r.evidence))) for r in doc.relations]


@cache
def _fixture() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = json.loads((FIXTURES / "docred" / "redocred_dev.json").read_text())
    return docs


# DocRED


def test_token_pattern_uses_the_importers_cjk_ranges() -> None:
    pattern = re.compile(f"[{CJK}]")
    for code in [0x2E7F, 0x2E80, 0x4E00, 0x9FFF, 0xA000, 0xF8FF, 0xF900, 0xFAFF, 0xFF0C, 0xFFEF, 0x1F600, 0x20BB7]:
        assert bool(pattern.match(chr(code))) == _is_cjk(chr(code)), hex(code)


def test_chinese_document_round_trips_exactly_through_the_importer() -> None:
    doc = _zh_doc()
    record = docred_record(doc)
    assert record["sents"][0][:5] == ["张", "三", "于", "2019", "年"]
    assert "𠮷" in record["sents"][1] and "😀" in record["sents"][1]
    back = parse_docred(json.loads(json.dumps(record)))
    assert back.title == doc.title
    assert back.text == doc.text
    assert back.sentences == doc.sentences
    assert _spans(back) == _spans(doc)
    assert [e.type for e in back.entities] == ["PER", "ORG", "ORG", "ORG", "LOC"]
    assert _relations(back) == _relations(doc)


def test_nested_mentions_keep_their_own_token_ranges() -> None:
    record = docred_record(_zh_doc())
    university, beijing = record["vertexSet"][3][0], record["vertexSet"][4][0]
    assert university["pos"][0] == beijing["pos"][0]
    assert university["pos"][1] - university["pos"][0] == 4
    assert beijing["pos"][1] - beijing["pos"][0] == 2
    assert university["sent_id"] == beijing["sent_id"] == 1


def test_english_is_split_into_words_and_cut_at_mention_boundaries() -> None:
    text = "Acme's CEO, Jane Doe, moved to U.S. in 3.14 days."
    doc = ExportDocument(
        "e",
        "en",
        text,
        [(0, len(text))],
        [_entity(0, "ORG", _mention(text, "Acme")), _entity(1, "PER", _mention(text, "Jane Doe"))],
        [ExportRelation(1, 0, "employer", [0])],
        language="en",
    )
    record = docred_record(doc)
    assert record["sents"][0] == [
        "Acme",
        "'",
        "s",
        "CEO",
        ",",
        "Jane",
        "Doe",
        ",",
        "moved",
        "to",
        "U.S",
        ".",
        "in",
        "3.14",
        "days",
        ".",
    ]
    assert record["vertexSet"][1][0]["pos"] == [5, 7]
    back = parse_docred(record)
    # DocRED cannot carry the original spacing: equal up to whitespace, mentions and relations intact.
    assert re.sub(r"\s", "", back.text) == re.sub(r"\s", "", text)
    assert [back.text[m.start : m.end] for e in back.entities for m in e.mentions] == ["Acme", "Jane Doe"]
    assert _relations(back) == [(1, 0, "employer", [0])]


@pytest.mark.parametrize("keep_tokens", [True, False])
def test_redocred_fixture_round_trips(keep_tokens: bool) -> None:
    raws = _fixture()[:25]
    docs = []
    for i, raw in enumerate(raws):
        doc = from_docred(parse_docred(raw), doc_id=str(i), language="en")
        if not keep_tokens:
            doc = ExportDocument(doc.id, doc.title, doc.text, doc.sentences, doc.entities, doc.relations)
        docs.append(doc)
    exported = json.loads(b"".join(export_docred(docs)))
    assert len(exported) == len(raws)
    for raw, doc, record in zip(raws, docs, exported, strict=True):
        back = parse_docred(record)
        assert _relations(back) == _relations(doc)
        assert [e.type for e in back.entities] == [e.type for e in doc.entities]
        assert [[m.sent_id for m in e.mentions] for e in back.entities] == [
            [m.sentence_id for m in e.mentions] for e in doc.entities
        ]
        if keep_tokens:
            assert record["sents"] == raw["sents"]
            assert back.text == doc.text
            assert back.sentences == doc.sentences
            assert _spans(back) == _spans(doc)
        else:
            assert re.sub(r"\s", "", back.text) == re.sub(r"\s", "", doc.text)
            assert len(back.sentences) == len(doc.sentences)
            assert [[re.sub(r"\s", "", m.name) for m in e.mentions] for e in back.entities] == [
                [re.sub(r"\s", "", m.text) for m in e.mentions] for e in doc.entities
            ]


def test_stale_docred_tokens_are_ignored_when_the_text_was_edited() -> None:
    raw = {"title": "t", "sents": [["张", "三", "。"]], "vertexSet": [], "labels": []}
    doc = from_docred(parse_docred(raw))
    edited = ExportDocument("1", "t", "李四。", [(0, 3)], meta=doc.meta)
    assert docred_record(edited)["sents"] == [["李", "四", "。"]]


def test_a_mention_inside_an_imported_token_splits_it() -> None:
    doc = from_docred(parse_docred({"title": "t", "sents": [["北京大学", "。"]], "vertexSet": [], "labels": []}))
    doc = ExportDocument(
        doc.id, doc.title, doc.text, doc.sentences, [_entity(0, "LOC", _mention(doc.text, "北京"))], meta=doc.meta
    )
    record = docred_record(doc)
    assert record["sents"] == [["北京", "大学", "。"]]
    assert parse_docred(record).text == "北京大学。"


def test_entities_without_mentions_are_dropped_and_the_rest_renumbered() -> None:
    text = "甲 乙。"
    doc = ExportDocument(
        "1",
        "t",
        text,
        [(0, 4)],
        [
            _entity(10, "PER"),  # no mention: not exportable
            _entity(20, "PER", ExportMention(0, 1, "甲", 0)),
            _entity(30, "PER", ExportMention(2, 3, "乙", 0), ExportMention(1, 2, " ", 0)),  # a blank mention
        ],
        [ExportRelation(20, 30, "knows"), ExportRelation(10, 20, "knows")],
    )
    record = docred_record(doc)
    assert len(record["vertexSet"]) == 2
    assert len(record["vertexSet"][1]) == 1
    assert record["labels"] == [{"h": 0, "t": 1, "r": "knows", "evidence": []}]
    line = jsonl_record(doc)
    assert [e["index"] for e in line["entities"]] == [0, 1]
    assert [(r["head"], r["tail"]) for r in line["relations"]] == [(0, 1)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"relations": [ExportRelation(0, 99, "x")]}, "refers to entity 99"),
        ({"relations": [ExportRelation(0, 1, "x", [2])]}, "evidence outside the 2 sentences"),
        ({"entities": [_entity(0, "PER", ExportMention(5, 999, "", 0))]}, "outside the text"),
        ({"entities": [_entity(0, "PER", _mention(ZH, "张三")), _entity(0, "PER", _mention(ZH, "谷歌"))]}, "twice"),
        ({"sentences": [(0, 15), (10, 20)]}, "sentence 1"),
    ],
)
def test_broken_records_raise_export_error_naming_the_document(change: dict[str, Any], message: str) -> None:
    doc = _zh_doc(relations=[], **{k: v for k, v in change.items() if k != "relations"})
    if "relations" in change:
        doc = _zh_doc(relations=change["relations"])
    for export in (export_docred, export_jsonl, export_brat, export_conll):
        with pytest.raises(ExportError, match=message) as caught:
            b"".join(export([doc]))
        assert "'7'" in str(caught.value)


def test_every_format_streams_one_document_at_a_time() -> None:
    pulled: list[int] = []

    def docs() -> Iterator[ExportDocument]:
        for i in range(3):
            pulled.append(i)
            yield _zh_doc(id=str(i))

    for export in (export_docred, export_jsonl, export_brat, export_conll):
        pulled.clear()
        chunks = export(docs())
        first = next(chunks)
        if export is export_docred:
            assert first == b"["
            next(chunks)
        assert pulled == [0], export.__name__
        rest = list(chunks)
        assert pulled == [0, 1, 2]
        assert len(rest) >= 2


def test_zero_documents_make_valid_empty_files() -> None:
    assert b"".join(export_docred([])) == b"[]"
    assert json.loads(b"".join(export_docred([]))) == []
    assert b"".join(export_jsonl([])) == b""
    assert b"".join(export_conll([])) == b""
    archive = zipfile.ZipFile(io.BytesIO(b"".join(export_brat([]))))
    assert archive.namelist() == ["annotation.conf"]
    assert archive.testzip() is None


def test_an_empty_document_exports_in_every_format() -> None:
    empty = ExportDocument("0", "", "", [])
    assert json.loads(b"".join(export_docred([empty]))) == [{"title": "", "sents": [], "vertexSet": [], "labels": []}]
    assert parse_docred(docred_record(empty)).text == ""
    assert json.loads(b"".join(export_jsonl([empty])))["entities"] == []
    assert b"".join(export_conll([empty])) == b"-DOCSTART-\tO\n\n"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(export_brat([empty]))))
    assert archive.read("0.txt") == b"" and archive.read("0.ann") == b""


# JSONL


def _shape(value: Any) -> Any:
    """The Arrow-like type of a JSON value: None for null or an empty list's unknown items."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        item: Any = None
        for x in value:
            item = _unify(item, _shape(x))
        return ("list", item)
    assert isinstance(value, dict)
    assert value, "an empty object has no struct type"
    return ("struct", tuple(sorted((k, _shape(v)) for k, v in value.items())))


def _unify(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == "list" == b[0] if isinstance(a, tuple) and isinstance(b, tuple) else False:
        return ("list", _unify(a[1], b[1]))
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == "struct" == b[0]:
        keys_a, keys_b = dict(a[1]), dict(b[1])
        assert keys_a.keys() == keys_b.keys(), f"keys differ: {keys_a.keys() ^ keys_b.keys()}"
        return ("struct", tuple(sorted((k, _unify(keys_a[k], keys_b[k])) for k in keys_a)))
    assert a == b, f"{a} vs {b}"
    return a


def test_jsonl_keeps_one_type_per_key_across_lines() -> None:
    rich = ItemProvenance(
        status="accepted",
        agreement="type_conflict",
        proposals=[ProposalRecord("gpt", "v3", "ORG"), ProposalRecord("gemini", "v3", "LOC", augmentation=True)],
        decisions=[DecisionRecord("alice", "accepted", "2025-01-02T03:04:05+00:00")],
        notes={"verifier_votes": "2", "comment": "<b>见</b>"},
    )
    docs = [
        _zh_doc(),
        _zh_doc(
            id="8",
            entities=[_entity(0, "PER", _mention(ZH, "张三"), provenance=rich)],
            relations=[ExportRelation(0, 0, "self", [], rich)],
            provenance=DocumentProvenance(
                "batch 1", "<urn:uuid:1>", "2024-05-01", "curated", "train", ["alice"], {"k": "v"}
            ),
            url="https://例子.cn/?a=1&b=<2>",
        ),
        ExportDocument("9", "", "", []),
    ]
    lines = b"".join(export_jsonl(docs)).decode().splitlines()
    assert len(lines) == 3
    shape = None
    for line in lines:
        shape = _unify(shape, _shape(json.loads(line)))
    second = json.loads(lines[1])
    entity = second["entities"][0]
    assert entity["mentions"] == [{"start": 0, "end": 2, "text": "张三", "sentence_id": 0}]
    assert entity["provenance"]["proposals"][1] == {
        "annotator": "gemini",
        "prompt_version": "v3",
        "proposed_type": "LOC",
        "augmentation": True,
    }
    assert entity["provenance"]["decisions"][0]["reviewer"] == "alice"
    assert entity["provenance"]["notes"] == [
        {"key": "comment", "value": "<b>见</b>"},
        {"key": "verifier_votes", "value": "2"},
    ]
    assert second["provenance"]["reviewers"] == ["alice"]
    assert second["url"] == "https://例子.cn/?a=1&b=<2>"


def test_jsonl_offsets_are_code_points() -> None:
    line = json.loads(b"".join(export_jsonl([_zh_doc()])))
    for entity in line["entities"]:
        for m in entity["mentions"]:
            assert line["text"][m["start"] : m["end"]] == m["text"]
    assert line["entities"][2]["mentions"][0]["start"] == ZH.index("𠮷")
    assert [r["evidence"] for r in line["relations"]] == [[0], [1], [0, 1]]


# brat


def test_brat_zip_has_text_standoff_and_config() -> None:
    text = "😀𠮷 Jane Doe met\nJohn\nSmith.\tJane Doe left."
    doc = ExportDocument(
        "../evil id",
        "t",
        text,
        [(0, len(text))],
        [
            _entity(0, "PER", _mention(text, "Jane Doe"), _mention(text, "Jane Doe", nth=1)),
            _entity(1, "PER", _mention(text, "John\nSmith")),
            _entity(2, "NAME TYPE", _mention(text, "Jane")),
        ],
        [ExportRelation(0, 1, "met with", [0])],
    )
    archive = zipfile.ZipFile(io.BytesIO(b"".join(export_brat([doc], entity_types=["ORG"]))))
    assert sorted(archive.namelist()) == ["_evil_id.ann", "_evil_id.txt", "annotation.conf"]
    stored_text = archive.read("_evil_id.txt").decode()
    assert stored_text == text
    ann = archive.read("_evil_id.ann").decode().splitlines()
    for line in ann:
        if line.startswith("T"):
            _, type_offsets, surface = line.split("\t")
            fragments = type_offsets.split(" ", 1)[1].split(";")
            pieces = [stored_text[int(a) : int(b)] for a, b in (f.split() for f in fragments)]
            assert " ".join(pieces) == surface, line
    assert ann[0] == f"T1\tPER {text.index('Jane')} {text.index('Jane') + 8}\tJane Doe"
    assert "*\tCoref T1 T2" in ann
    john = text.index("John")
    assert f"T3\tPER {john} {john + 4};{john + 5} {john + 10}\tJohn Smith" in ann
    assert "T4\tNAME_TYPE" in ann[4]
    assert "R1\tmet_with Arg1:T1 Arg2:T3" in ann
    assert "#1\tAnnotatorNotes R1\tevidence sentences: 0" in ann
    conf = archive.read("annotation.conf").decode()
    entities_section = conf.split("[relations]")[0].split()
    assert entities_section == ["[entities]", "NAME_TYPE", "ORG", "PER"]
    assert "met_with\tArg1:<ENTITY>, Arg2:<ENTITY>" in conf
    assert "Coref\tArg1:<ENTITY>, Arg2:<ENTITY>, <REL-TYPE>:symmetric-transitive" in conf


def test_brat_export_is_deterministic_and_names_are_unique() -> None:
    docs = [_zh_doc(id="a"), _zh_doc(id="a"), _zh_doc(id="annotation")]
    first, second = b"".join(export_brat(docs)), b"".join(export_brat(docs))
    assert first == second
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert sorted(names) == sorted(
        ["a.txt", "a.ann", "a-2.txt", "a-2.ann", "annotation-2.txt", "annotation-2.ann", "annotation.conf"]
    )


def test_brat_overlapping_mentions_each_get_a_text_bound() -> None:
    _, ann = brat_files(_zh_doc())
    start = ZH.index("北京")
    assert f"T4\tORG {start} {start + 4}\t北京大学" in ann.splitlines()
    assert f"T5\tLOC {start} {start + 2}\t北京" in ann.splitlines()


# CoNLL


def test_conll_chinese_is_per_character_and_keeps_the_longer_of_nested_mentions() -> None:
    lines = conll_lines(_zh_doc())
    tokens = [line.split("\t") for line in lines if line]
    assert all(len(t[0]) == 1 for t in tokens)  # 2019 is four lines, 𠮷 and 😀 one each
    tags = dict(zip((t[0] for t in tokens), (t[1] for t in tokens), strict=False))
    assert tags["𠮷"] == "B-ORG" and tags["😀"] == "O"
    assert tags["北"] == "B-ORG" and tags["京"] == "I-ORG" and tags["学"] == "I-ORG"
    assert "B-LOC" not in {t[1] for t in tokens}
    assert lines.count("") == 2  # one blank after each sentence


def test_conll_other_languages_are_per_word_with_documents_separated() -> None:
    text = "Jane Doe founded Acme Corp. It grew."
    doc = ExportDocument(
        "1",
        "t",
        text,
        [(0, 27), (27, len(text))],
        [
            _entity(0, "PER", _mention(text, "Jane Doe")),
            _entity(1, "ORG", _mention(text, "Acme Corp")),
            _entity(2, "ORG", _mention(text, "Acme")),
        ],
        language="en",
    )
    out = b"".join(export_conll([doc, doc])).decode()
    assert out.count("-DOCSTART-\tO\n\n") == 2
    block = out.split("-DOCSTART-\tO\n\n")[1]
    assert block == ("Jane\tB-PER\nDoe\tI-PER\nfounded\tO\nAcme\tB-ORG\nCorp\tI-ORG\n.\tO\n\nIt\tO\ngrew\tO\n.\tO\n\n")


def test_jsonl_loads_with_hf_datasets(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dataset consumers' loader: datasets.load_dataset("json", ...), offline."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets

    rich = ItemProvenance("accepted", "agreed", [ProposalRecord("gpt", "v1")], [DecisionRecord("bob", "accepted")])
    docs = [
        ExportDocument("0", "", "", []),
        _zh_doc(entities=[_entity(0, "PER", _mention(ZH, "张三"), provenance=rich)], relations=[]),
        _zh_doc(id="2", provenance=DocumentProvenance(notes={"k": "v"}, reviewers=["bob"])),
    ]
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"".join(export_jsonl(docs)))
    loaded = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == 3
    assert loaded[1]["entities"][0]["provenance"]["proposals"][0]["annotator"] == "gpt"
    assert loaded[1]["text"] == ZH
    assert loaded[2]["provenance"]["notes"] == [{"key": "k", "value": "v"}]


def test_jsonl_reads_with_pyarrow_json_as_hf_datasets_does() -> None:
    # HF datasets' "json" builder reads JSONL with pyarrow.json, in blocks.
    import pyarrow.json as pa_json

    rich = ItemProvenance("accepted", "agreed", [ProposalRecord("gpt", "v1")], [DecisionRecord("bob", "accepted")])
    docs = [
        ExportDocument("0", "", "", []),
        _zh_doc(entities=[_entity(0, "PER", _mention(ZH, "张三"), provenance=rich)], relations=[]),
        _zh_doc(id="2", provenance=DocumentProvenance(notes={"k": "v"}, reviewers=["bob"])),
    ]
    table = pa_json.read_json(io.BytesIO(b"".join(export_jsonl(docs))))
    assert table.num_rows == 3
    rows = table.to_pylist()
    assert rows[1]["entities"][0]["provenance"]["proposals"][0]["annotator"] == "gpt"
    assert rows[2]["provenance"]["notes"] == [{"key": "k", "value": "v"}]


def test_docred_tokens_and_positions_equal_the_span_tokenizers_on_random_documents() -> None:
    """docred_record counts tokens between cuts (findall); the spans of tokenize with token_range are the
    reference it must agree with, blanks, CJK, astral characters and word-internal punctuation included."""
    rng = random.Random(7)
    alphabet = [*"ab张三。，! .-'’3\n\t 𠮷😀ＡＢ", "abc", "3.14", "n't", "U.S."]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25)))
        points = sorted({0, len(text), *(rng.randint(0, len(text)) for _ in range(rng.randint(0, 3)))})
        sentences = list(itertools.pairwise(points)) if rng.random() < 0.8 else []
        entities = []
        for i in range(rng.randint(0, 4)):
            mentions = []
            for _ in range(rng.randint(0, 3) if text else 0):
                start = rng.randrange(len(text))
                end = rng.randint(start + 1, len(text))
                mentions.append(ExportMention(start, end, text[start:end], 0))
            entities.append(ExportEntity(i, "T", "x", mentions))
        doc = ExportDocument("1", "t", text, sentences, entities)
        record = docred_record(doc)
        prepared = prepare(doc)
        spans = mention_spans(prepared)
        cuts = sentence_cuts(prepared, spans)
        tokens = [tokenize(text, s, c, WORD_TOKEN) for s, c in zip(prepared.sentences, cuts, strict=True)]
        assert record["sents"] == [[text[a:b] for a, b in sentence] for sentence in tokens]
        expected = [
            [(sid, token_range(tokens[sid], start, end)) for sid, (start, end) in entity_spans]
            for entity_spans in spans
        ]
        expected = [[(sid, pos) for sid, pos in vertex if pos] for vertex in expected]
        assert [[(m["sent_id"], m["pos"]) for m in vertex] for vertex in record["vertexSet"]] == [
            vertex for vertex in expected if vertex
        ]
