"""seq2seq: the generative format (text in, linearised triples out) for T5/mT5-style trainers, one JSON line per
example; docs/api.md ("The seq2seq format") is the reference a trainer reads.

An example is a window of the document (examples.py): `input` is the window's text exactly as the document has it,
`target` its relations linearised as `head | head type | relation | tail | tail type`, triples joined by ` ; `.
Triples come in the order of the head's first mention in the window, then the tail's, then the relation code.
Inside a field, `\\`, `|` and `;` are escaped with a backslash; names never start or end with a blank, so a reader
may strip around separators. A window without relations has the empty target.
"""

from collections.abc import Iterable, Iterator
from typing import NamedTuple, TypedDict

from app.dataset.exporters.examples import Example, examples_of
from app.dataset.exporters.jsonl import json_line
from app.dataset.exporters.prepare import prepare
from app.evaluation.records import ExportDocument

LINEARISATION = "concord-triples-v1"
# Estimated tokens per window (app.annotation.windows.estimate_tokens: one per CJK character, else four characters
# each): mT5's usual input length, doubled; a longer document becomes several overlapping examples.
WINDOW_TOKENS = 1024
FIELD_SEPARATOR = " | "
TRIPLE_SEPARATOR = " ; "
_SPECIAL = ("\\", "|", ";")


class Triple(NamedTuple):
    head: str
    head_type: str
    relation: str
    tail: str
    tail_type: str


class TargetError(ValueError):
    """A target that is not a linearisation (a triple without its five fields, a dangling backslash)."""


def escape(field: str) -> str:
    for ch in _SPECIAL:  # the backslash first, so the escapes added after it are not doubled
        field = field.replace(ch, "\\" + ch)
    return field


def linearise(triples: Iterable[Triple]) -> str:
    return TRIPLE_SEPARATOR.join(FIELD_SEPARATOR.join(escape(f) for f in t) for t in triples)


def parse_target(target: str) -> list[Triple]:
    """The triples of a target (ours, or a model's answer in the same form); TargetError names what is wrong."""
    if not target.strip():
        return []
    triples: list[Triple] = []
    fields: list[str] = []
    field: list[str] = []
    chars = iter(target)
    for ch in chars:
        if ch == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise TargetError("the target ends with a lone backslash")
            field.append(escaped)
        elif ch == "|":
            fields.append("".join(field))
            field = []
        elif ch == ";":
            fields.append("".join(field))
            triples.append(_triple(fields, len(triples)))
            fields, field = [], []
        else:
            field.append(ch)
    fields.append("".join(field))
    triples.append(_triple(fields, len(triples)))
    return triples


def _triple(fields: list[str], number: int) -> Triple:
    parts = [f.strip() for f in fields]
    if len(parts) != 5 or not all(parts):
        raise TargetError(f"triple {number + 1} needs five non-empty fields, not {' | '.join(parts)!r}")
    return Triple(*parts)


class Seq2seqRecord(TypedDict):
    id: str
    document_id: str
    window: int
    sentence_ids: list[int]
    title: str
    language: str
    input: str
    target: str


def example_triples(example: Example) -> list[Triple]:
    """The example's relations as triples, in target order, each once."""
    keys = sorted({(h, t, r.type) for h, t, r in example.relations})
    entities = example.entities
    return [Triple(entities[h].name, entities[h].type, r, entities[t].name, entities[t].type) for h, t, r in keys]


def seq2seq_records(doc: ExportDocument, *, window_tokens: int = WINDOW_TOKENS) -> list[Seq2seqRecord]:
    """The document's examples as JSON objects with fixed keys (Hugging Face `datasets` reads them as they are)."""
    p = prepare(doc)
    return [
        {
            "id": f"{doc.id}:{example.window}",
            "document_id": doc.id,
            "window": example.window,
            "sentence_ids": example.sentence_ids,
            "title": doc.title,
            "language": doc.language,
            "input": doc.text[example.start : example.end],
            "target": linearise(example_triples(example)),
        }
        for example in examples_of(p, budget_tokens=window_tokens)
    ]


def relations_outside_windows(doc: ExportDocument, *, window_tokens: int = WINDOW_TOKENS) -> int:
    """How many of the document's relations are in no example's target: their head and tail never share a window."""
    p = prepare(doc)
    covered = {id(r) for example in examples_of(p, budget_tokens=window_tokens) for _, _, r in example.relations}
    return sum(id(r) not in covered for _, _, r in p.relations)


def export_seq2seq(docs: Iterable[ExportDocument], *, window_tokens: int = WINDOW_TOKENS) -> Iterator[bytes]:
    """One compact JSON line per example; one chunk per document (empty for a document without text)."""
    for doc in docs:
        yield b"".join(json_line(r) for r in seq2seq_records(doc, window_tokens=window_tokens))
