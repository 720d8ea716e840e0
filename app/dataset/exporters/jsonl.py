"""JSONL: one compact JSON object per document, with code-point offsets and full provenance; fixed keys and one
type per key, for Hugging Face `datasets` and pyarrow."""

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TypedDict

import orjson

from app.dataset.exporters.prepare import prepare
from app.evaluation.records import ExportDocument, ItemProvenance

_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":"))


# The shape of a JSONL line (docs/api.md), key order as written.
class NoteJson(TypedDict):
    key: str
    value: str


class ProposalJson(TypedDict):
    annotator: str
    prompt_version: str
    proposed_type: str
    augmentation: bool


class DecisionJson(TypedDict):
    reviewer: str
    decision: str
    at: str


class ItemProvenanceJson(TypedDict):
    status: str
    agreement: str
    proposals: list[ProposalJson]
    decisions: list[DecisionJson]
    notes: list[NoteJson]


class MentionJson(TypedDict):
    start: int
    end: int
    text: str
    sentence_id: int


class EntityJson(TypedDict):
    index: int
    type: str
    name: str
    mentions: list[MentionJson]
    provenance: ItemProvenanceJson


class RelationJson(TypedDict):
    head: int
    tail: int
    type: str
    evidence: list[int]
    provenance: ItemProvenanceJson


class DocumentProvenanceJson(TypedDict):
    source: str
    record_id: str
    crawl_date: str
    status: str
    split: str
    reviewers: list[str]
    notes: list[NoteJson]


class JsonlRecord(TypedDict):
    id: str
    title: str
    url: str
    language: str
    text: str
    sentences: list[list[int]]
    entities: list[EntityJson]
    relations: list[RelationJson]
    provenance: DocumentProvenanceJson


def _item_provenance(p: ItemProvenance) -> ItemProvenanceJson:
    return {
        "status": p.status,
        "agreement": p.agreement,
        "proposals": [
            {
                "annotator": x.annotator,
                "prompt_version": x.prompt_version,
                "proposed_type": x.proposed_type,
                "augmentation": x.augmentation,
            }
            for x in p.proposals
        ],
        "decisions": [{"reviewer": x.reviewer, "decision": x.decision, "at": x.at} for x in p.decisions],
        "notes": _notes(p.notes),
    }


def _notes(notes: dict[str, str]) -> list[NoteJson]:
    return [{"key": k, "value": str(v)} for k, v in sorted(notes.items())]


def jsonl_record(doc: ExportDocument) -> JsonlRecord:
    """One JSONL line's object: fixed keys and one type per key, for HF `datasets` and pyarrow."""
    p = prepare(doc)
    dp = doc.provenance
    return {
        "id": doc.id,
        "title": doc.title,
        "url": doc.url,
        "language": doc.language,
        "text": doc.text,
        "sentences": [[s, e] for s, e in doc.sentences],
        "entities": [
            {
                "index": i,
                "type": e.type,
                "name": e.name,
                "mentions": [
                    {"start": m.start, "end": m.end, "text": doc.text[m.start : m.end], "sentence_id": m.sentence_id}
                    for m in e.mentions
                ],
                "provenance": _item_provenance(e.provenance),
            }
            for i, e in enumerate(p.entities)
        ],
        "relations": [
            {
                "head": h,
                "tail": t,
                "type": r.type,
                "evidence": sorted(set(r.evidence)),
                "provenance": _item_provenance(r.provenance),
            }
            for h, t, r in p.relations
        ],
        "provenance": {
            "source": dp.source,
            "record_id": dp.record_id,
            "crawl_date": dp.crawl_date,
            "status": dp.status,
            "split": dp.split,
            "reviewers": list(dp.reviewers),
            "notes": _notes(dp.notes),
        },
    }


def json_line(record: Mapping[str, object]) -> bytes:
    """One compact JSON line (no blanks between tokens), newline included: orjson, or json for what it refuses."""
    try:
        line = orjson.dumps(record)
    except orjson.JSONEncodeError:
        # What orjson refuses (an integer beyond 64 bits, a non-string key) is written by json, as compact.
        line = _COMPACT_JSON.encode(record).encode()
    return line + b"\n"


def export_jsonl(docs: Iterable[ExportDocument]) -> Iterator[bytes]:
    """One JSON object per line, compact (no blanks between tokens); nothing at all for no documents."""
    for doc in docs:
        yield json_line(jsonl_record(doc))
