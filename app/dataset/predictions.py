"""Prediction files as `concord evaluate` reads them: JSONL (Concord's export shape) or DocRED (a dataset, or a
results list placed on the gold's documents), each record checked, with the first bad one named."""

import json
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from app.dataset.exporters import docred_record
from app.evaluation.records import (
    DocumentMeta,
    ExportDocument,
    ExportEntity,
    ExportMention,
    ExportRelation,
    from_docred,
)
from app.evaluation.scores import EvaluationInputError, by_title
from app.webtext.docred import DocredError, parse_docred

# One record of a predictions file as json.loads gives it; each value is checked as it is read.
JsonRecord = Mapping[str, object]
_T = TypeVar("_T")


def load_predictions(source: bytes | str | Path, gold: Sequence[ExportDocument] | None = None) -> list[ExportDocument]:
    """Predictions from our JSONL or a DocRED JSON array (documents, or official results records).

    With gold, titles must be gold titles, a DocRED document without `sents` is read over the gold's tokens,
    results records ({title, h_idx, t_idx, r, evidence}) take the gold's entities, and mention offsets are
    carried onto the gold text when the prediction's text differs from it only in whitespace.
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EvaluationInputError(f"not UTF-8 at byte {exc.start}") from None
    gold_by_title = by_title(gold) if gold is not None else None
    if text.lstrip().startswith("["):
        return _load_docred(text, gold_by_title)
    return _load_jsonl(text, gold_by_title)


class _Bad(Exception):
    """A problem in one record, before it is given its place in the file."""


def _load_jsonl(text: str, gold: dict[str, ExportDocument] | None) -> list[ExportDocument]:
    out: list[ExportDocument] = []
    titles: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvaluationInputError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        title = raw.get("title") if isinstance(raw, dict) else None
        if isinstance(title, str):
            where += f" (title {title!r})"
        try:
            doc = _jsonl_document(raw)
            out.append(_place(doc, gold, titles))
        except (_Bad, DocredError) as exc:
            raise EvaluationInputError(f"{where}: {exc}") from None
    return out


def _load_docred(text: str, gold: dict[str, ExportDocument] | None) -> list[ExportDocument]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EvaluationInputError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    results: dict[str, list[ExportRelation]] = {}
    out: list[ExportDocument] = []
    titles: set[str] = set()
    for i, item in enumerate(items):
        title = item.get("title") if isinstance(item, dict) else None
        where = f"item {i}" + (f" (title {title!r})" if isinstance(title, str) else "")
        try:
            if not isinstance(item, dict) or not isinstance(title, str):
                raise _Bad("needs an object with a string 'title'")
            if "h_idx" in item or "t_idx" in item:
                results.setdefault(title, []).append(_result_relation(item, gold))
            else:
                out.append(_place(_docred_document(item, gold), gold, titles))
        except (_Bad, DocredError) as exc:
            raise EvaluationInputError(f"{where}: {exc}") from None
    if results and out:
        raise EvaluationInputError("mixes DocRED documents and results records; give one or the other")
    if results and gold is not None:
        out = [_with_relations(gold[title], relations) for title, relations in results.items()]
    return out


def _require(raw: JsonRecord, key: str, kind: type[_T], what: str) -> _T:
    value = raw.get(key)
    if key not in raw:
        raise _Bad(f"{what} is missing {key!r}")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Bad(f"{what}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _jsonl_document(raw: Any) -> ExportDocument:
    if not isinstance(raw, dict):
        raise _Bad("needs a JSON object")
    title = _require(raw, "title", str, "the document")
    raw_text = raw.get("text")
    text = raw_text if isinstance(raw_text, str) else ""
    entities: list[ExportEntity] = []
    for i, e in enumerate(_list(raw, "entities")):
        what = f"entities[{i}]"
        if not isinstance(e, dict):
            raise _Bad(f"{what} must be an object")
        mentions = []
        for j, m in enumerate(_require(e, "mentions", list, what)):
            if not isinstance(m, dict):
                raise _Bad(f"{what}.mentions[{j}] must be an object")
            start = _require(m, "start", int, f"{what}.mentions[{j}]")
            end = _require(m, "end", int, f"{what}.mentions[{j}]")
            if not 0 <= start < end or (text and end > len(text)):
                raise _Bad(f"{what}.mentions[{j}]: [{start}, {end}] is not a span of the text")
            sentence_id = m.get("sentence_id")
            mentions.append(
                ExportMention(start, end, text[start:end], sentence_id if isinstance(sentence_id, int) else -1)
            )
        index = e.get("index", i)
        entity_type = _require(e, "type", str, what)
        entities.append(
            ExportEntity(index if isinstance(index, int) else i, entity_type, str(e.get("name") or ""), mentions)
        )
    indices = {e.index for e in entities}
    relations = []
    for i, r in enumerate(_list(raw, "relations")):
        what = f"relations[{i}]"
        if not isinstance(r, dict):
            raise _Bad(f"{what} must be an object")
        head, tail = _require(r, "head", int, what), _require(r, "tail", int, what)
        for end_index in (head, tail):
            if end_index not in indices:
                raise _Bad(f"{what} refers to entity {end_index}, but there are {len(entities)} entities")
        evidence = r.get("evidence") or []
        if not isinstance(evidence, list) or not all(isinstance(x, int) for x in evidence):
            raise _Bad(f"{what}: 'evidence' must be a list of sentence indices")
        relations.append(ExportRelation(head, tail, _require(r, "type", str, what), evidence))
    raw_sentences = raw.get("sentences")
    sentences = raw_sentences if isinstance(raw_sentences, list) else []
    return ExportDocument(
        id=str(raw.get("id") or ""),
        title=title,
        text=text,
        sentences=[(int(s[0]), int(s[1])) for s in sentences if isinstance(s, list) and len(s) == 2],
        entities=entities,
        relations=relations,
        meta=DocumentMeta(has_text="text" in raw),
    )


def _list(raw: JsonRecord, key: str) -> list[object]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise _Bad(f"{key!r} must be a list")
    return value


def _docred_document(item: JsonRecord, gold: dict[str, ExportDocument] | None) -> ExportDocument:
    title = _require(item, "title", str, "the document")
    for key in ("vertexSet", "labels"):
        _require(item, key, list, "the document")
    if "sents" not in item:
        if gold is None or title not in gold:
            raise _Bad("the document is missing 'sents' (needed unless it is read over a gold document's tokens)")
        item = {**item, "sents": docred_record(gold[title])["sents"]}
    doc = from_docred(parse_docred(item))
    return ExportDocument(
        id="",
        title=doc.title,
        text=doc.text,
        sentences=doc.sentences,
        entities=doc.entities,
        relations=doc.relations,
        meta=DocumentMeta(has_text=True),
    )


def _result_relation(item: JsonRecord, gold: dict[str, ExportDocument] | None) -> ExportRelation:
    if gold is None:
        raise _Bad("DocRED results records ('h_idx', 't_idx') can only be read against the gold documents")
    ref = gold.get(_require(item, "title", str, "the record"))
    if ref is None:
        raise _Bad("this title is not in the gold")
    h, t = _require(item, "h_idx", int, "the record"), _require(item, "t_idx", int, "the record")
    relation = _require(item, "r", str, "the record")
    for index in (h, t):
        if not 0 <= index < len(ref.entities):
            raise _Bad(f"refers to entity {index}, but the gold vertexSet has {len(ref.entities)}")
    evidence = item.get("evidence") or []
    if not isinstance(evidence, list) or not all(isinstance(x, int) for x in evidence):
        raise _Bad("'evidence' must be a list of sentence indices")
    return ExportRelation(ref.entities[h].index, ref.entities[t].index, relation, evidence)


def _with_relations(ref: ExportDocument, relations: list[ExportRelation]) -> ExportDocument:
    return ExportDocument(
        id=ref.id,
        title=ref.title,
        text=ref.text,
        sentences=ref.sentences,
        entities=ref.entities,
        relations=relations,
        meta=DocumentMeta(entities_from="gold"),
    )


def _place(doc: ExportDocument, gold: dict[str, ExportDocument] | None, titles: set[str]) -> ExportDocument:
    """Check the title, and put the mentions on the gold text (offsets, sentences) when there is one."""
    if doc.title in titles:
        raise _Bad("this title appears twice in the predictions")
    titles.add(doc.title)
    if gold is None:
        return doc
    ref = gold.get(doc.title)
    if ref is None:
        raise _Bad("this title is not in the gold")
    move = _aligner(doc.text, ref.text) if doc.meta.has_text and doc.text != ref.text else None
    starts = [s for s, _ in ref.sentences]
    entities = []
    for e in doc.entities:
        mentions = []
        for m in e.mentions:
            start, end = move(m.start, m.end) if move else (m.start, m.end)
            if end > len(ref.text):
                raise _Bad(f"mention [{m.start}, {m.end}] is outside the gold text ({len(ref.text)})")
            sid = max(bisect_right(starts, start) - 1, 0)
            mentions.append(ExportMention(start, end, ref.text[start:end], sid))
        entities.append(ExportEntity(e.index, e.type, e.name, mentions))
    return ExportDocument(
        id=ref.id,
        title=doc.title,
        text=ref.text,
        sentences=ref.sentences,
        entities=entities,
        relations=doc.relations,
    )


def _aligner(source: str, target: str) -> Callable[[int, int], tuple[int, int]]:
    """Offsets in source → offsets in target, two texts equal once whitespace is removed."""
    src = [i for i, ch in enumerate(source) if not ch.isspace()]
    dst = [i for i, ch in enumerate(target) if not ch.isspace()]
    if len(src) != len(dst) or any(source[i] != target[j] for i, j in zip(src, dst, strict=True)):
        raise _Bad("its text differs from the gold text (beyond whitespace), so mentions cannot be aligned")

    def move(start: int, end: int) -> tuple[int, int]:
        first = bisect_right(src, start - 1)  # first non-blank at or after start
        last = bisect_right(src, end - 1) - 1  # last non-blank before end
        if last < first:
            raise _Bad(f"mention [{start}, {end}] covers only whitespace")
        return dst[first], dst[last] + 1

    return move
