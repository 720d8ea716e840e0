"""Streaming exporters: DocRED JSON, JSONL and CoNLL BIO (brat standoff is in brat.py), one document in
memory at a time.

Every writer takes an iterable of ExportDocument and yields bytes. Entities without a (non-blank) mention are
not exported, with the relations that use them; entities are renumbered 0..n-1 in document order, which is
the `index` of the JSONL and the vertexSet index of DocRED. A name the text does not contain is never exported:
such an entity is named by its longest mention's text. A structurally broken record (offsets outside the
text, a relation to an unknown entity, evidence outside the sentences) raises ExportError before any byte of
that document is yielded.

Tokens (DocRED, CoNLL): CJK characters one by one (the HacRED convention), other text as words, with
punctuation split off (word-internal ".", "'", "-" kept: "3.14", "n't"), and always cut at mention
boundaries so every mention covers whole tokens. DocRED documents imported with their tokens
(meta["docred_sents"]) reuse them. Round trip through app.webtext.docred.parse_docred: exact when the
text is what the importer builds from tokens (imported DocRED, Chinese without spaces); otherwise equal up to
whitespace, which DocRED cannot carry (the importer joins tokens with one space, or none next to CJK).
"""

import json
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import orjson

from app.dataset.records import ExportDocument, ExportEntity, ExportMention, ExportRelation, ItemProvenance
from app.webtext.docred import _joiner

# The importer's CJK ranges (app.webtext.docred._is_cjk, which its joiner uses), as a regex class.
_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0003ffff"
_WORD_CHAR = rf"[^\W{_CJK}]"
_WORD_TOKEN = re.compile(rf"(?!\s)[{_CJK}]|{_WORD_CHAR}+(?:[.'’\-]{_WORD_CHAR}+)*|\S")
_CHAR_TOKEN = re.compile(r"\S")
# Where a character is not a token by itself: a blank, or a character of a word. Without either, every
# character of a sentence is a token (CJK text and its punctuation).
_NOT_ONE_CHAR_TOKEN = re.compile(rf"\s|{_WORD_CHAR}")
# json.dumps(..., ensure_ascii=False), made once: records are trees, so there is no cycle to look for.
_JSON = json.JSONEncoder(ensure_ascii=False, check_circular=False)
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":"))

Span = tuple[int, int]


class ExportError(ValueError):
    """A record that cannot be exported as it is; names the document."""


@dataclass(frozen=True, slots=True)
class _Prepared:
    doc: ExportDocument
    # Never empty when the text is not: a document without sentences is one sentence.
    sentences: list[Span]
    entities: list[ExportEntity]
    relations: list[tuple[int, int, ExportRelation]]  # head and tail as positions in `entities`


def _failure(doc: ExportDocument, message: str) -> ExportError:
    return ExportError(f"document {doc.id!r} ({doc.title!r}): {message}")


def prepare(doc: ExportDocument) -> _Prepared:
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
    return _Prepared(doc, sentences, entities, relations)


def _name_of(text: str, mentions: list[ExportMention]) -> str:
    """The last guard against a stale name (one the text does not contain): the longest mention's text."""
    return max((text[m.start : m.end].strip() for m in mentions), key=len)


def trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _mention_spans(p: _Prepared) -> list[list[tuple[int, Span]]]:
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


def _tokenize(text: str, span: Span, cuts: list[int], pattern: re.Pattern[str]) -> list[Span]:
    """Tokens of text[span] by pattern, never crossing a cut."""
    bounds = [span[0], *sorted({c for c in cuts if span[0] < c < span[1]}), span[1]]
    return [m.span() for a, b in pairwise(bounds) for m in pattern.finditer(text, a, b)]


def _original_tokens(doc: ExportDocument, sentences: list[Span]) -> list[list[Span]] | None:
    """Token spans of meta["docred_sents"] in the text, when the text is still the one they make."""
    sents = doc.meta.get("docred_sents")
    if not isinstance(sents, list) or len(sents) != len(sentences):
        return None
    pieces: list[str] = []
    length = 0
    previous = ""
    out: list[list[Span]] = []
    for tokens, sentence in zip(sents, sentences, strict=True):
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            return None
        spans: list[Span] = []
        for token in tokens:
            if token:
                sep = _joiner(previous, token) if previous else ""
                pieces.append(sep + token)
                length += len(sep)
                previous = token
            spans.append((length, length + len(token)))
            length += len(token)
        nonempty = [s for s in spans if s[1] > s[0]]
        if (nonempty[0][0], nonempty[-1][1]) != sentence if nonempty else sentence[0] != sentence[1]:
            return None
        out.append(spans)
    return out if "".join(pieces) == doc.text else None


def _split_at(spans: list[Span], cuts: list[int]) -> list[Span]:
    cut_set = sorted(set(cuts))
    out: list[Span] = []
    for a, b in spans:
        inner = [c for c in cut_set if a < c < b]
        out.extend(zip([a, *inner], [*inner, b], strict=True))
    return out


def _sentence_cuts(p: _Prepared, mentions: list[list[tuple[int, Span]]]) -> list[list[int]]:
    cuts: list[list[int]] = [[] for _ in p.sentences]
    for spans in mentions:
        for sid, (start, end) in spans:
            cuts[sid] += [start, end]
    return cuts


def _word_tokens(text: str, sentence: Span, cuts: list[int]) -> tuple[list[str], dict[int, int]]:
    """The tokens of a sentence by _WORD_TOKEN, never crossing a cut, and how many precede each cut (and each
    end of the sentence). findall, not finditer: no Match object per token (a CJK sentence is all tokens)."""
    start, end = sentence
    if _NOT_ONE_CHAR_TOKEN.search(text, start, end) is None:
        # One token per character, so a cut never splits one and the counts are offsets.
        return list(text[start:end]), {c: c - start for c in (start, *cuts, end)}
    tokens: list[str] = []
    before = {start: 0}
    for cut in sorted({c for c in cuts if start < c < end}):
        tokens += _WORD_TOKEN.findall(text, start, cut)
        before[cut] = len(tokens)
        start = cut
    tokens += _WORD_TOKEN.findall(text, start, end)
    before[end] = len(tokens)
    return tokens, before


def _token_range(tokens: list[Span], start: int, end: int) -> list[int] | None:
    """[first, last + 1] of the non-empty tokens inside [start, end) (tokens are cut at its ends)."""
    k = bisect_left(tokens, (start, start))
    while k < len(tokens) and tokens[k][0] == tokens[k][1]:
        k += 1
    last = k
    while last < len(tokens) and tokens[last][1] <= end:
        last += 1
    while last > k and tokens[last - 1][0] == tokens[last - 1][1]:
        last -= 1
    return [k, last] if last > k else None


def docred_record(doc: ExportDocument) -> dict[str, Any]:
    """One DocRED document: title, sents (token lists), vertexSet, labels."""
    p = prepare(doc)
    mentions = _mention_spans(p)
    text = doc.text
    sentences = p.sentences
    original = _original_tokens(doc, sentences)
    sents: list[list[str]]
    if original is not None:
        cuts = _sentence_cuts(p, mentions)
        spans = [_split_at(tokens, c) for tokens, c in zip(original, cuts, strict=True)]
        sents = [[text[a:b] for a, b in tokens] for tokens in spans]

        def token_range(sid: int, start: int, end: int) -> list[int] | None:
            return _token_range(spans[sid], start, end)

    elif not sentences or _NOT_ONE_CHAR_TOKEN.search(text, sentences[0][0], sentences[-1][1]) is None:
        # Every character of every sentence is a token (CJK text): no cut splits one, counts are offsets.
        sents = [list(text[a:b]) for a, b in sentences]

        def token_range(sid: int, start: int, end: int) -> list[int] | None:
            offset = sentences[sid][0]
            return [start - offset, end - offset] if end > start else None

    else:
        cuts = _sentence_cuts(p, mentions)
        # Mentions start and end at cuts: a mention's tokens are those between the counts at its two ends.
        words = [_word_tokens(text, s, c) for s, c in zip(p.sentences, cuts, strict=True)]
        sents = [tokens for tokens, _ in words]

        def token_range(sid: int, start: int, end: int) -> list[int] | None:
            before = words[sid][1]
            first, last = before[start], before[end]
            return [first, last] if last > first else None

    vertex_set: list[list[dict[str, Any]]] = []
    position: dict[int, int] = {}
    for i, (entity, entity_spans) in enumerate(zip(p.entities, mentions, strict=True)):
        vertex = []
        for sid, (start, end) in entity_spans:
            pos = token_range(sid, start, end)
            if pos:
                vertex.append({"name": text[start:end], "pos": pos, "sent_id": sid, "type": entity.type})
        if vertex:
            position[i] = len(vertex_set)
            vertex_set.append(vertex)
    labels = [
        {"h": position[h], "t": position[t], "r": r.type, "evidence": sorted(set(r.evidence))}
        for h, t, r in p.relations
        if h in position and t in position
    ]
    return {"title": doc.title, "sents": sents, "vertexSet": vertex_set, "labels": labels}


def _docred_json(doc: ExportDocument, record: dict[str, Any]) -> bytes:
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


def _item_provenance(p: ItemProvenance) -> dict[str, Any]:
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


def _notes(notes: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": str(v)} for k, v in sorted(notes.items())]


def jsonl_record(doc: ExportDocument) -> dict[str, Any]:
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


def export_jsonl(docs: Iterable[ExportDocument]) -> Iterator[bytes]:
    """One JSON object per line, compact (no blanks between tokens); nothing at all for no documents."""
    for doc in docs:
        record = jsonl_record(doc)
        try:
            line = orjson.dumps(record)
        except orjson.JSONEncodeError:
            # What orjson refuses (an integer beyond 64 bits, a non-string key) is written by json, as compact.
            line = _COMPACT_JSON.encode(record).encode()
        yield line + b"\n"


def type_word(name: str) -> str:
    """A type as one word: brat separates fields with spaces and tabs, CoNLL tags are one token."""
    return re.sub(r"\s+", "_", name.strip()) or "UNKNOWN"


def conll_lines(doc: ExportDocument) -> list[str]:
    """BIO lines of one document, a blank line after each sentence.

    Chinese ("zh*") is tagged per character, other languages per word. Of overlapping or nested mentions
    only the longest is kept (the earlier one on a tie): BIO cannot nest.
    """
    p = prepare(doc)
    text = doc.text
    candidates = [
        (span, entity.type) for entity, spans in zip(p.entities, _mention_spans(p), strict=True) for _, span in spans
    ]
    candidates.sort(key=lambda c: (c[0][0] - c[0][1], c[0][0]))
    kept: list[tuple[Span, str]] = []
    for span, kind in candidates:
        if span[1] > span[0] and all(span[1] <= a or b <= span[0] for (a, b), _ in kept):
            kept.append((span, kind))
    kept.sort()
    cuts = [x for (a, b), _ in kept for x in (a, b)]
    pattern = _CHAR_TOKEN if doc.language.lower().startswith("zh") else _WORD_TOKEN
    starts = [a for (a, _), _ in kept]
    lines: list[str] = []
    for sentence in p.sentences:
        tokens = _tokenize(text, sentence, cuts, pattern)
        for a, b in tokens:
            k = bisect_right(starts, a) - 1
            tag = "O"
            if k >= 0 and a < kept[k][0][1]:
                (start, _), kind = kept[k]
                tag = ("B-" if a == start else "I-") + type_word(kind)
            lines.append(f"{text[a:b]}\t{tag}")
        if tokens:
            lines.append("")
    return lines


def export_conll(docs: Iterable[ExportDocument]) -> Iterator[bytes]:
    """CoNLL BIO: `token<TAB>tag` lines, sentences separated by blank lines, `-DOCSTART-` before each document."""
    for doc in docs:
        yield "\n".join(["-DOCSTART-\tO", "", *conll_lines(doc), ""]).encode()
