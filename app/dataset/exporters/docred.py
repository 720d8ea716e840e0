"""DocRED JSON: a JSON array of {title, sents, vertexSet, labels}, one document per chunk.

Round trip through app.webtext.docred.parse_docred: exact when the text is what the importer builds from tokens
(imported DocRED, Chinese without spaces); otherwise equal up to whitespace, which DocRED cannot carry (the
importer joins tokens with one space, or none next to CJK).
"""

import json
from collections.abc import Iterable, Iterator
from typing import TypedDict

import orjson

from app.dataset.exporters.prepare import mention_spans, prepare
from app.dataset.exporters.tokens import (
    NOT_ONE_CHAR_TOKEN,
    original_tokens,
    sentence_cuts,
    split_at,
    token_range,
    word_tokens,
)
from app.evaluation.records import ExportDocument

# json.dumps(..., ensure_ascii=False), made once: records are trees, so there is no cycle to look for.
_JSON = json.JSONEncoder(ensure_ascii=False, check_circular=False)


class DocredMention(TypedDict):
    name: str
    pos: list[int]  # [first token, last token + 1] in the sentence
    sent_id: int
    type: str


class DocredLabel(TypedDict):
    h: int
    t: int
    r: str
    evidence: list[int]


class DocredRecord(TypedDict):
    title: str
    sents: list[list[str]]
    vertexSet: list[list[DocredMention]]
    labels: list[DocredLabel]


def docred_record(doc: ExportDocument) -> DocredRecord:
    """One DocRED document: title, sents (token lists), vertexSet, labels."""
    p = prepare(doc)
    mentions = mention_spans(p)
    text = doc.text
    sentences = p.sentences
    original = original_tokens(doc, sentences)
    sents: list[list[str]]
    if original is not None:
        cuts = sentence_cuts(p, mentions)
        spans = [split_at(tokens, c) for tokens, c in zip(original, cuts, strict=True)]
        sents = [[text[a:b] for a, b in tokens] for tokens in spans]

        def tokens_of(sid: int, start: int, end: int) -> list[int] | None:
            return token_range(spans[sid], start, end)

    elif not sentences or NOT_ONE_CHAR_TOKEN.search(text, sentences[0][0], sentences[-1][1]) is None:
        # Every character of every sentence is a token (CJK text): no cut splits one, counts are offsets.
        sents = [list(text[a:b]) for a, b in sentences]

        def tokens_of(sid: int, start: int, end: int) -> list[int] | None:
            offset = sentences[sid][0]
            return [start - offset, end - offset] if end > start else None

    else:
        cuts = sentence_cuts(p, mentions)
        # Mentions start and end at cuts: a mention's tokens are those between the counts at its two ends.
        words = [word_tokens(text, s, c) for s, c in zip(p.sentences, cuts, strict=True)]
        sents = [tokens for tokens, _ in words]

        def tokens_of(sid: int, start: int, end: int) -> list[int] | None:
            before = words[sid][1]
            first, last = before[start], before[end]
            return [first, last] if last > first else None

    vertex_set: list[list[DocredMention]] = []
    position: dict[int, int] = {}
    for i, (entity, entity_spans) in enumerate(zip(p.entities, mentions, strict=True)):
        vertex: list[DocredMention] = []
        for sid, (start, end) in entity_spans:
            pos = tokens_of(sid, start, end)
            if pos:
                vertex.append({"name": text[start:end], "pos": pos, "sent_id": sid, "type": entity.type})
        if vertex:
            position[i] = len(vertex_set)
            vertex_set.append(vertex)
    labels: list[DocredLabel] = [
        {"h": position[h], "t": position[t], "r": r.type, "evidence": sorted(set(r.evidence))}
        for h, t, r in p.relations
        if h in position and t in position
    ]
    return {"title": doc.title, "sents": sents, "vertexSet": vertex_set, "labels": labels}


def _docred_json(doc: ExportDocument, record: DocredRecord) -> bytes:
    """json.dumps(record, ensure_ascii=False).encode() of the docred_record of doc.

    orjson writes the same JSON without the spaces after "," and ":" (its escapes are json's), several times
    faster. Every string of the record is a piece of the text, the title or a type: when none of them has a
    "," or a ":" and no evidence is a float (written differently), adding the spaces back gives the same
    bytes. CJK text, punctuated with full-width "，" and "：", is usually such; other text is written by json.
    """
    try:
        strings = "".join((doc.text, doc.title, *(e.type for e in doc.entities), *(r.type for r in doc.relations)))
        plain = "," not in strings and ":" not in strings
    except TypeError:  # a type that is not a string
        plain = False
    if plain and all(type(e) is int for r in doc.relations for e in r.evidence):
        try:
            return orjson.dumps(record).replace(b",", b", ").replace(b":", b": ")
        except orjson.JSONEncodeError:
            pass  # a string that is not UTF-8, an integer beyond 64 bits: as json has it
    return _JSON.encode(record).encode()


def export_docred(docs: Iterable[ExportDocument]) -> Iterator[bytes]:
    """A JSON array of DocRED documents, one document per chunk; `[]` for none."""
    yield b"["
    first = True
    for doc in docs:
        body = _docred_json(doc, docred_record(doc))
        yield (b"\n" if first else b",\n") + body
        first = False
    yield b"]" if first else b"\n]\n"
