"""What every exporter starts from: a document checked and its entities renumbered (prepare), mentions trimmed
and placed in their sentences, types as one word."""

import re
from bisect import bisect_right
from dataclasses import dataclass

from app.evaluation.records import ExportDocument, ExportEntity, ExportMention, ExportRelation

Span = tuple[int, int]


class ExportError(ValueError):
    """A record that cannot be exported as it is; names the document."""


@dataclass(frozen=True, slots=True)
class Prepared:
    doc: ExportDocument
    # Never empty when the text is not: a document without sentences is one sentence.
    sentences: list[Span]
    entities: list[ExportEntity]
    relations: list[tuple[int, int, ExportRelation]]  # head and tail as positions in `entities`


def _failure(doc: ExportDocument, message: str) -> ExportError:
    return ExportError(f"document {doc.id!r} ({doc.title!r}): {message}")


def prepare(doc: ExportDocument) -> Prepared:
    text = doc.text
    n = len(text)
    previous = 0
    for i, (start, end) in enumerate(doc.sentences):
        if not previous <= start <= end <= n:
            raise _failure(doc, f"sentence {i} [{start}, {end}] is outside the text or overlaps the one before")
        previous = end
    sentences = list(doc.sentences) or ([(0, n)] if n else [])
    entities: list[ExportEntity] = []
    position: dict[int, int] = {}
    for entity in doc.entities:
        index = entity.index
        if index in position:
            raise _failure(doc, f"entity index {index} appears twice")
        for m in entity.mentions:
            if not 0 <= m.start < m.end <= n:
                raise _failure(doc, f"mention [{m.start}, {m.end}] of entity {index} is outside the text ({n})")
        mentions = [m for m in entity.mentions if not text[m.start : m.end].isspace()]
        if mentions:
            position[index] = len(entities)
            name = entity.name if entity.name and entity.name in text else _name_of(text, mentions)
            if name != entity.name or len(mentions) != len(entity.mentions):
                entity = ExportEntity(entity.index, entity.type, name, mentions, entity.provenance)
            entities.append(entity)
        else:
            position[index] = -1
    relations = []
    n_sentences = len(doc.sentences)
    for r in doc.relations:
        head, tail = position.get(r.head), position.get(r.tail)
        if head is None or tail is None:
            missing = r.head if head is None else r.tail
            raise _failure(doc, f"relation {r.type!r} refers to entity {missing}, which does not exist")
        for e in r.evidence:
            if not 0 <= e < n_sentences:
                raise _failure(doc, f"relation {r.type!r} has evidence outside the {n_sentences} sentences")
        if head >= 0 and tail >= 0:
            relations.append((head, tail, r))
    return Prepared(doc, sentences, entities, relations)


def _name_of(text: str, mentions: list[ExportMention]) -> str:
    """The last guard against a stale name (one the text does not contain): the longest mention's text."""
    return max((text[m.start : m.end].strip() for m in mentions), key=len)


def trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def mention_spans(p: Prepared) -> list[list[tuple[int, Span]]]:
    """Per entity, each mention as (sentence, span) trimmed of blanks and clipped to its sentence (none when it
    starts between sentences)."""
    text = p.doc.text
    sentences = p.sentences
    starts = [s for s, _ in sentences]
    out = []
    for entity in p.entities:
        spans = []
        for m in entity.mentions:
            start, end = m.start, m.end
            if text[start].isspace() or text[end - 1].isspace():
                start, end = trim(text, start, end)
            sid = bisect_right(starts, start) - 1
            if sid >= 0 and start < sentences[sid][1]:
                spans.append((sid, (start, min(end, sentences[sid][1]))))
        out.append(spans)
    return out


def type_word(name: str) -> str:
    """A type as one word: brat separates fields with spaces and tabs, CoNLL tags are one token."""
    return re.sub(r"\s+", "_", name.strip()) or "UNKNOWN"
