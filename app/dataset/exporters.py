"""Streaming exporters: DocRED JSON, JSONL, brat standoff (zip) and CoNLL BIO, one document in memory at a time.

Every writer takes an iterable of ExportDocument and yields bytes. Entities without a (non-blank) mention are
not exported, with the relations that use them; entities are renumbered 0..n-1 in document order, which is
the `index` of the JSONL and the vertexSet index of DocRED. A structurally broken record (offsets outside the
text, a relation to an unknown entity, evidence outside the sentences) raises ExportError before any byte of
that document is yielded.

Tokens (DocRED, CoNLL): CJK characters one by one (the HacRED convention), other text as words, with
punctuation split off (word-internal ".", "'", "-" kept: "3.14", "n't"), and always cut at mention
boundaries so every mention covers whole tokens. DocRED documents imported with their tokens
(meta["docred_sents"]) reuse them. Round trip through app.crawl_batch.docred.parse_docred: exact when the
text is what the importer builds from tokens (imported DocRED, Chinese without spaces); otherwise equal up to
whitespace, which DocRED cannot carry (the importer joins tokens with one space, or none next to CJK).
"""

import io
import json
import re
import zipfile
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from app.crawl_batch.docred import _joiner
from app.dataset.records import ExportDocument, ExportEntity, ExportMention, ExportRelation, ItemProvenance

# The importer's CJK ranges (app.crawl_batch.docred._is_cjk, which its joiner uses), as a regex class.
_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0003ffff"
_WORD_CHAR = rf"[^\W{_CJK}]"
_WORD_TOKEN = re.compile(rf"(?!\s)[{_CJK}]|{_WORD_CHAR}+(?:[.'’\-]{_WORD_CHAR}+)*|\S")
_CHAR_TOKEN = re.compile(r"\S")
_BRAT_LINE = re.compile(r"[^\t\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

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


def _prepare(doc: ExportDocument) -> _Prepared:
    def fail(message: str) -> ExportError:
        return ExportError(f"document {doc.id!r} ({doc.title!r}): {message}")

    n = len(doc.text)
    previous = 0
    for i, (start, end) in enumerate(doc.sentences):
        if not previous <= start <= end <= n:
            raise fail(f"sentence {i} [{start}, {end}] is outside the text or overlaps the one before")
        previous = end
    sentences = list(doc.sentences) or ([(0, n)] if n else [])
    entities: list[ExportEntity] = []
    position: dict[int, int] = {}
    seen: set[int] = set()
    for entity in doc.entities:
        if entity.index in seen:
            raise fail(f"entity index {entity.index} appears twice")
        seen.add(entity.index)
        mentions = []
        for m in entity.mentions:
            if not 0 <= m.start < m.end <= n:
                raise fail(f"mention [{m.start}, {m.end}] of entity {entity.index} is outside the text ({n})")
            if doc.text[m.start : m.end].strip():
                mentions.append(m)
        if mentions:
            position[entity.index] = len(entities)
            entities.append(entity if mentions == entity.mentions else _with_mentions(entity, mentions))
    relations = []
    for r in doc.relations:
        for end_index in (r.head, r.tail):
            if end_index not in seen:
                raise fail(f"relation {r.type!r} refers to entity {end_index}, which does not exist")
        if any(not 0 <= e < len(doc.sentences) for e in r.evidence):
            raise fail(f"relation {r.type!r} has evidence outside the {len(doc.sentences)} sentences")
        if r.head in position and r.tail in position:
            relations.append((position[r.head], position[r.tail], r))
    return _Prepared(doc, sentences, entities, relations)


def _with_mentions(entity: ExportEntity, mentions: list[ExportMention]) -> ExportEntity:
    return ExportEntity(entity.index, entity.type, entity.name, mentions, entity.provenance)


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _sentence_of(starts: list[int], sentences: list[Span], offset: int) -> int:
    """The sentence containing offset, or -1 when it falls between sentences."""
    i = bisect_right(starts, offset) - 1
    return i if i >= 0 and sentences[i][0] <= offset < sentences[i][1] else -1


def _mention_spans(p: _Prepared) -> list[list[tuple[int, Span]]]:
    """Per entity, each mention as (sentence, span) trimmed of blanks and clipped to its sentence."""
    starts = [s for s, _ in p.sentences]
    out = []
    for entity in p.entities:
        spans = []
        for m in entity.mentions:
            start, end = _trim(p.doc.text, m.start, m.end)
            sid = _sentence_of(starts, p.sentences, start)
            if sid >= 0:
                spans.append((sid, (start, min(end, p.sentences[sid][1]))))
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
    p = _prepare(doc)
    mentions = _mention_spans(p)
    cuts = _sentence_cuts(p, mentions)
    text = doc.text
    original = _original_tokens(doc, p.sentences)
    sents: list[list[str]]
    if original is not None:
        spans = [_split_at(tokens, c) for tokens, c in zip(original, cuts, strict=True)]
        sents = [[text[a:b] for a, b in tokens] for tokens in spans]

        def token_range(sid: int, start: int, end: int) -> list[int] | None:
            return _token_range(spans[sid], start, end)

    else:
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


def export_docred(docs: Iterable[ExportDocument]) -> Iterator[bytes]:
    """A JSON array of DocRED documents, one document per chunk; `[]` for none."""
    yield b"["
    first = True
    for doc in docs:
        body = json.dumps(docred_record(doc), ensure_ascii=False).encode()
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
    p = _prepare(doc)
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
    """One JSON object per line; nothing at all for no documents."""
    for doc in docs:
        yield json.dumps(jsonl_record(doc), ensure_ascii=False).encode() + b"\n"


def _brat_type(name: str) -> str:
    # brat separates fields with spaces and tabs; a type must be one word.
    return re.sub(r"\s+", "_", name.strip()) or "UNKNOWN"


def brat_files(doc: ExportDocument) -> tuple[str, str]:
    """The .txt and .ann of one document. Offsets count code points, as brat does."""
    p = _prepare(doc)
    text = doc.text
    lines: list[str] = []
    first_t: list[str] = []
    t = 0
    for entity in p.entities:
        ids = []
        for m in entity.mentions:
            start, end = _trim(text, m.start, m.end)
            # A mention across a line break becomes a discontinuous span: brat's text field is one line.
            pieces = (_trim(text, *x.span()) for x in _BRAT_LINE.finditer(text, start, end))
            fragments = [f for f in pieces if f[1] > f[0]]
            t += 1
            offsets = ";".join(f"{a} {b}" for a, b in fragments)
            surface = " ".join(text[a:b] for a, b in fragments)
            lines.append(f"T{t}\t{_brat_type(entity.type)} {offsets}\t{surface}")
            ids.append(f"T{t}")
        first_t.append(ids[0])
        if len(ids) > 1:
            lines.append("*\tCoref " + " ".join(ids))
    notes = 0
    for r_id, (h, tail, r) in enumerate(p.relations, start=1):
        lines.append(f"R{r_id}\t{_brat_type(r.type)} Arg1:{first_t[h]} Arg2:{first_t[tail]}")
        if r.evidence:
            notes += 1
            evidence = ",".join(str(e) for e in sorted(set(r.evidence)))
            lines.append(f"#{notes}\tAnnotatorNotes R{r_id}\tevidence sentences: {evidence}")
    return text, "".join(line + "\n" for line in lines)


def brat_config(entity_types: Iterable[str], relation_types: Iterable[str]) -> str:
    """annotation.conf: the types, overlapping spans allowed, Coref as an equivalence."""
    lines = ["[entities]", *sorted({_brat_type(x) for x in entity_types}), "", "[relations]"]
    lines += [f"{x}\tArg1:<ENTITY>, Arg2:<ENTITY>" for x in sorted({_brat_type(x) for x in relation_types})]
    lines += [
        "Coref\tArg1:<ENTITY>, Arg2:<ENTITY>, <REL-TYPE>:symmetric-transitive",
        "<OVERLAP>\tArg1:<ENTITY>, Arg2:<ENTITY>, <OVL-TYPE>:<ANY>",
        "",
        "[events]",
        "",
        "[attributes]",
        "",
    ]
    return "\n".join(lines)


class _Chunks(io.RawIOBase):
    """A write-only, unseekable sink: zipfile then streams members with data descriptors."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self._chunks.append(data)
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _member(name: str) -> zipfile.ZipInfo:
    # A fixed timestamp: the same snapshot always zips to the same bytes (and checksum).
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _file_stem(doc_id: str, used: set[str]) -> str:
    stem = _UNSAFE_NAME.sub("_", doc_id)[:100].strip(".") or "doc"
    candidate, n = stem, 1
    while candidate.lower() in used or candidate.lower() == "annotation":
        n += 1
        candidate = f"{stem}-{n}"
    used.add(candidate.lower())
    return candidate


def export_brat(
    docs: Iterable[ExportDocument], *, entity_types: Iterable[str] = (), relation_types: Iterable[str] = ()
) -> Iterator[bytes]:
    """A zip of <id>.txt + <id>.ann per document and annotation.conf (the given types and every type seen)."""
    sink = _Chunks()
    seen_entities, seen_relations = set(entity_types), set(relation_types)
    used: set[str] = set()
    with zipfile.ZipFile(sink, "w") as archive:
        for doc in docs:
            txt, ann = brat_files(doc)
            stem = _file_stem(doc.id, used)
            seen_entities.update(e.type for e in doc.entities if e.mentions)
            seen_relations.update(r.type for r in doc.relations)
            archive.writestr(_member(f"{stem}.txt"), txt.encode())
            archive.writestr(_member(f"{stem}.ann"), ann.encode())
            yield sink.drain()
        archive.writestr(_member("annotation.conf"), brat_config(seen_entities, seen_relations).encode())
    yield sink.drain()


def conll_lines(doc: ExportDocument) -> list[str]:
    """BIO lines of one document, a blank line after each sentence.

    Chinese ("zh*") is tagged per character, other languages per word. Of overlapping or nested mentions
    only the longest is kept (the earlier one on a tie): BIO cannot nest.
    """
    p = _prepare(doc)
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
                tag = ("B-" if a == start else "I-") + _brat_type(kind)
            lines.append(f"{text[a:b]}\t{tag}")
        if tokens:
            lines.append("")
    return lines


def export_conll(docs: Iterable[ExportDocument]) -> Iterator[bytes]:
    """CoNLL BIO: `token<TAB>tag` lines, sentences separated by blank lines, `-DOCSTART-` before each document."""
    for doc in docs:
        yield "\n".join(["-DOCSTART-\tO", "", *conll_lines(doc), ""]).encode()
