"""DocRED documents (title, sents, vertexSet, labels) to text with code-point offsets, and back. Pure."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field


class DocredError(ValueError):
    """A DocRED document whose structure does not hold together."""


@dataclass(frozen=True, slots=True)
class DocredMention:
    start: int
    end: int
    sent_id: int
    name: str


@dataclass(frozen=True, slots=True)
class DocredEntity:
    type: str
    mentions: list[DocredMention]

    @property
    def name(self) -> str:
        return self.mentions[0].name if self.mentions else ""


@dataclass(frozen=True, slots=True)
class DocredRelation:
    head: int
    tail: int
    type: str
    evidence: list[int]


@dataclass(slots=True)
class DocredDocument:
    title: str
    text: str
    sentences: list[tuple[int, int]]
    tokens: list[list[str]]
    entities: list[DocredEntity] = field(default_factory=list)
    relations: list[DocredRelation] = field(default_factory=list)


class SpannedEntity(BaseModel):
    """An entity whose mentions are already offsets: [start, end, sentence id]."""

    id: str
    type: str
    name: str
    spans: list[list[int]]


class SpannedRelation(BaseModel):
    head: str
    tail: str
    type: str
    evidence: list[int] = Field(default_factory=list)


class SpannedOutput(BaseModel):
    """An imported document's annotations with offsets, kept as its import run's raw response so cross-validation
    can be redone at any time (app/annotation/rebuild.py reads it back)."""

    entities: list[SpannedEntity] = Field(default_factory=list)
    relations: list[SpannedRelation] = Field(default_factory=list)


def spanned(doc: DocredDocument) -> SpannedOutput:
    """The document's entities (E0, E1, … in vertexSet order) and relations, mentions as offsets."""
    return SpannedOutput(
        entities=[
            SpannedEntity(id=f"E{i}", type=e.type, name=e.name, spans=[[m.start, m.end, m.sent_id] for m in e.mentions])
            for i, e in enumerate(doc.entities)
        ],
        relations=[
            SpannedRelation(head=f"E{r.head}", tail=f"E{r.tail}", type=r.type, evidence=r.evidence)
            for r in doc.relations
        ],
    )


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x2E80 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0xFF00 <= code <= 0xFFEF or 0x20000 <= code <= 0x3FFFF
    )


def _joiner(left: str, right: str) -> str:
    # Chinese tokenized by character joins without spaces; everything else with one space.
    return "" if left and right and (_is_cjk(left[-1]) or _is_cjk(right[0])) else " "


def parse_docred(doc: Mapping[str, Any]) -> DocredDocument:
    """Text from the token lists (offsets of every token kept), entities with mention offsets, relations."""
    sents = doc.get("sents")
    if not isinstance(sents, list) or not all(
        isinstance(s, list) and all(isinstance(t, str) for t in s) for s in sents
    ):
        raise DocredError("'sents' must be a list of token lists")
    pieces: list[str] = []
    length = 0
    token_spans: list[list[tuple[int, int]]] = []
    sentences: list[tuple[int, int]] = []
    previous = ""
    for tokens in sents:
        spans: list[tuple[int, int]] = []
        for token in tokens:
            if not token:
                spans.append((length, length))
                continue
            if previous:
                sep = _joiner(previous, token)
                pieces.append(sep)
                length += len(sep)
            spans.append((length, length + len(token)))
            pieces.append(token)
            length += len(token)
            previous = token
        token_spans.append(spans)
        nonempty = [sp for sp in spans if sp[1] > sp[0]]
        sentences.append((nonempty[0][0], nonempty[-1][1]) if nonempty else (length, length))
    text = "".join(pieces)
    entities = [_entity(i, v, sents, token_spans, text) for i, v in enumerate(doc.get("vertexSet") or [])]
    relations = [_relation(i, label, len(entities), len(sents)) for i, label in enumerate(doc.get("labels") or [])]
    return DocredDocument(
        title=str(doc.get("title") or ""),
        text=text,
        sentences=sentences,
        tokens=sents,
        entities=entities,
        relations=relations,
    )


def _entity(
    index: int, vertex: Any, sents: list[list[str]], token_spans: list[list[tuple[int, int]]], text: str
) -> DocredEntity:
    if not isinstance(vertex, list) or not vertex:
        raise DocredError(f"vertexSet[{index}] must be a non-empty list of mentions")
    mentions: list[DocredMention] = []
    types: list[str] = []
    for j, mention in enumerate(vertex):
        try:
            sent_id = int(mention["sent_id"])
            first, last = (int(p) for p in mention["pos"])
        except (KeyError, TypeError, ValueError):
            raise DocredError(f"vertexSet[{index}][{j}] needs 'sent_id' and 'pos' [start, end]") from None
        if not 0 <= sent_id < len(sents) or not 0 <= first < last <= len(sents[sent_id]):
            raise DocredError(f"vertexSet[{index}][{j}]: pos {[first, last]} is outside sentence {sent_id}")
        start, end = token_spans[sent_id][first][0], token_spans[sent_id][last - 1][1]
        mentions.append(DocredMention(start, end, sent_id, text[start:end]))
        types.append(str(mention.get("type") or "MISC"))
    # DocRED annotates a type per mention; the entity takes the most frequent one.
    return DocredEntity(type=max(set(types), key=types.count), mentions=mentions)


def _relation(index: int, label: Any, n_entities: int, n_sents: int) -> DocredRelation:
    try:
        head, tail, rel = int(label["h"]), int(label["t"]), str(label["r"])
        evidence = sorted({int(e) for e in label.get("evidence") or []})
    except (KeyError, TypeError, ValueError):
        raise DocredError(f"labels[{index}] needs 'h', 't' and 'r'") from None
    if not (0 <= head < n_entities and 0 <= tail < n_entities):
        raise DocredError(f"labels[{index}] refers to entity {max(head, tail)}, but there are {n_entities}")
    if any(not 0 <= e < n_sents for e in evidence):
        raise DocredError(f"labels[{index}] has evidence outside the {n_sents} sentences")
    return DocredRelation(head, tail, rel, evidence)
