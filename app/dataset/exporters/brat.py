"""brat standoff: a zip of <id>.txt and <id>.ann per document plus annotation.conf, streamed one document at a
time. Offsets count code points, as brat does; entities and relations are those prepare keeps."""

import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

from app.dataset.exporters.prepare import prepare, trim, type_word
from app.evaluation.records import ExportDocument

_BRAT_LINE = re.compile(r"[^\t\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def brat_files(doc: ExportDocument) -> tuple[str, str]:
    """The .txt and .ann of one document. Offsets count code points, as brat does."""
    p = prepare(doc)
    text = doc.text
    lines: list[str] = []
    first_t: list[str] = []
    t = 0
    for entity in p.entities:
        ids = []
        for m in entity.mentions:
            start, end = trim(text, m.start, m.end)
            # A mention across a line break becomes a discontinuous span: brat's text field is one line.
            pieces = (trim(text, *x.span()) for x in _BRAT_LINE.finditer(text, start, end))
            fragments = [f for f in pieces if f[1] > f[0]]
            t += 1
            offsets = ";".join(f"{a} {b}" for a, b in fragments)
            surface = " ".join(text[a:b] for a, b in fragments)
            lines.append(f"T{t}\t{type_word(entity.type)} {offsets}\t{surface}")
            ids.append(f"T{t}")
        first_t.append(ids[0])
        if len(ids) > 1:
            lines.append("*\tCoref " + " ".join(ids))
    notes = 0
    for r_id, (h, tail, r) in enumerate(p.relations, start=1):
        lines.append(f"R{r_id}\t{type_word(r.type)} Arg1:{first_t[h]} Arg2:{first_t[tail]}")
        if r.evidence:
            notes += 1
            evidence = ",".join(str(e) for e in sorted(set(r.evidence)))
            lines.append(f"#{notes}\tAnnotatorNotes R{r_id}\tevidence sentences: {evidence}")
    return text, "".join(line + "\n" for line in lines)


def brat_config(entity_types: Iterable[str], relation_types: Iterable[str]) -> str:
    """annotation.conf: the types, overlapping spans allowed, Coref as an equivalence."""
    lines = ["[entities]", *sorted({type_word(x) for x in entity_types}), "", "[relations]"]
    lines += [f"{x}\tArg1:<ENTITY>, Arg2:<ENTITY>" for x in sorted({type_word(x) for x in relation_types})]
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
