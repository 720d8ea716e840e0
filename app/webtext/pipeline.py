"""From one raw record to a clean, sentence-split document, or the reason it was filtered out. Pure."""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import orjson

from app.webtext.dedup import Signature, fingerprint_many, signature_to_bytes
from app.webtext.docred import DocredDocument, DocredError, parse_docred
from app.webtext.extraction import (
    CharClasses,
    Extracted,
    Extractor,
    decode_html,
    detect_language,
    detect_script,
    extract_main_text,
)
from app.webtext.extraction_sandbox import ExtractionStoppedError, extract_with_time_limit
from app.webtext.markup_limits import nesting_depth

# Without it, the Python definitions below do the same, slower.
from app.webtext.native import compiled as _native
from app.webtext.records import RawRecord, storable
from app.webtext.sentences import split_sentences

HTML_MIME_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# NUL and other C0 controls (but tab and newline) are never content and break Postgres text columns. One class
# for them and lone surrogates: a text is scanned once for both.
_UNSTORABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
# Two or more blank lines in a row, once lines are stripped: they become one.
_BLANK_RUNS = re.compile("\n\n\n+")


@dataclass(frozen=True, slots=True)
class IngestPolicy:
    """A project's ingestion settings."""

    languages: frozenset[str] = frozenset({"zh"})
    min_chars: int = 50
    max_chars: int = 500_000
    min_cjk_ratio: float = 0.3
    extractor: str = "resiliparse"
    near_duplicate_threshold: float = 0.8
    # Work bounds per record, set by the operator (app.config), not per project: a page is skipped when its
    # HTML is larger or nests deeper than this, or when extracting its main text takes longer than
    # extract_seconds (None: extract in this process, without a time limit).
    max_html_bytes: int = 5 * 1024**2
    max_html_depth: int = 2000
    extract_seconds: float | None = None


_UNSIGNED: Signature = np.empty(0, dtype=np.uint32)


@dataclass(slots=True)
class Processed:
    """A document ready to store."""

    text: str
    # The sentence offsets as the JSON array stored ([[start, end], ...]): one string per document instead of a
    # tuple and two integers per sentence, which documents waiting to be stored would hold by the thousand.
    sentences_json: str
    # The exact and near-duplicate fingerprints, set by process_records for a whole chunk at once.
    text_hash: str = ""
    signature: Signature = field(default_factory=lambda: _UNSIGNED)
    title: str = ""
    url: str | None = None
    record_id: str | None = None
    crawl_date: datetime | None = None
    language: str | None = None
    script: str | None = None
    docred: DocredDocument | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def sentences(self) -> list[tuple[int, int]]:
        """The sentences as (start, end) code-point offsets, end exclusive."""
        return [(start, end) for start, end in orjson.loads(self.sentences_json)]

    @property
    def minhash(self) -> bytes:
        """The signature as stored."""
        return signature_to_bytes(self.signature)


@dataclass(frozen=True, slots=True)
class Filtered:
    """A record left out, and why (the batch counts each reason)."""

    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record not processed because it would cost too much work; the batch lists it with its errors."""

    message: str


def process_record(raw: RawRecord, policy: IngestPolicy) -> Processed | Filtered | Skipped:
    """Decode, extract, filter, split and fingerprint one record."""
    return process_records([raw], policy)[0]


def process_records(raws: Sequence[RawRecord], policy: IngestPolicy) -> list[Processed | Filtered | Skipped]:
    """process_record of each record, classifying characters and fingerprinting for the chunk at once (a chunk
    costs a fraction as much)."""
    prepared = [_prepare(raw, policy) for raw in raws]
    texts = [item for item in prepared if isinstance(item, _Text)]
    # Language, CJK share and script all look at the same character classes: classify each text once.
    classes = iter(CharClasses.of_each([item.text for item in texts]))
    results = [_judge(item, next(classes), policy) if isinstance(item, _Text) else item for item in prepared]
    kept = [result for result in results if isinstance(result, Processed)]
    digests, signatures = fingerprint_many([processed.text for processed in kept])
    for processed, digest, signature in zip(kept, digests, signatures, strict=True):
        processed.text_hash, processed.signature = digest, signature
    return results


@dataclass(frozen=True, slots=True)
class _Text:
    """A record's clean text, of an acceptable length, and its title."""

    raw: RawRecord
    text: str
    title: str


def _prepare(raw: RawRecord, policy: IngestPolicy) -> _Text | Processed | Filtered | Skipped:
    """Decode, extract and clean a record's text, and check its length."""
    if raw.kind == "docred":
        return _process_docred(raw)
    title = (raw.title or "").strip()
    if raw.kind == "html":
        if raw.http_status is not None and raw.http_status != 200:
            return Filtered("http_status", str(raw.http_status))
        mime = (raw.content_type or "text/html").split(";")[0].strip().lower()
        if mime not in HTML_MIME_TYPES:
            return Filtered("not_html", mime)
        body = raw.content_bytes or b""
        if len(body) > policy.max_html_bytes:
            return Skipped(f"skipped: HTML of {len(body):,} bytes (limit {policy.max_html_bytes:,})")
        html, _encoding = decode_html(body, http_content_type=raw.content_type)
        # A page with fewer tags than the limit cannot nest deeper (most pages): counting them is all it costs.
        depth = nesting_depth(html) if html.count("<") > policy.max_html_depth else 0
        if depth > policy.max_html_depth:
            return Skipped(f"skipped: HTML nested {depth:,} levels deep (limit {policy.max_html_depth:,})")
        try:
            extracted = _extract(html, raw.url, policy)
        except ExtractionStoppedError as exc:
            return Skipped(f"skipped: {exc}")
        # extract_main_text's lines are already stripped, non-empty and joined by "\n" alone.
        text = _clean_text(extracted.text, lines_clean=True)
        title = title or (extracted.title or "")
    else:
        text = _clean_text(unicodedata.normalize("NFC", raw.text or ""))
    if not text:
        return Filtered("empty")
    if len(text) < policy.min_chars:
        return Filtered("too_short", str(len(text)))
    if len(text) > policy.max_chars:
        return Filtered("too_long", str(len(text)))
    return _Text(raw, text, title)


def _extract(html: str, url: str | None, policy: IngestPolicy) -> Extracted:
    extractor: Extractor = policy.extractor  # type: ignore[assignment]
    if policy.extract_seconds is None:
        return extract_main_text(html, url=url, extractor=extractor)
    return extract_with_time_limit(html, url=url, extractor=extractor, seconds=policy.extract_seconds)


def _judge(item: _Text, classes: CharClasses, policy: IngestPolicy) -> Processed | Filtered:
    """Filter a text by language and CJK share, or split it into sentences."""
    raw, text = item.raw, item.text
    language = raw.language_hint or detect_language(text, classes=classes)[0]
    if policy.languages and language not in policy.languages:
        return Filtered("language", language)
    if "zh" in policy.languages and language == "zh" and classes.cjk_ratio() < policy.min_cjk_ratio:
        return Filtered("too_little_cjk")
    return Processed(
        text=text,
        sentences_json=orjson.dumps(split_sentences(text)).decode(),
        # Readers give storable titles, URLs and ids: only JSON escapes make lone surrogates, and the JSON
        # readers replace them.
        title=unicodedata.normalize("NFC", item.title)[:500],
        url=raw.url,
        record_id=raw.record_id,
        crawl_date=raw.crawl_date,
        language=language,
        script=detect_script(text, classes=classes) if language == "zh" else None,
    )


def _process_docred(raw: RawRecord) -> Processed | Filtered:
    # An imported dataset is kept whatever its language: it is compared with LLMs, not filtered like crawls.
    try:
        doc = parse_docred(raw.docred or {})
    except DocredError as exc:
        return Filtered("invalid_docred", str(exc))
    if not doc.text.strip():
        return Filtered("empty")
    language = detect_language(doc.text)[0]
    return Processed(
        text=doc.text,
        sentences_json=orjson.dumps(doc.sentences).decode(),
        title=storable(doc.title[:500]),
        record_id=storable(raw.record_id),
        language=language,
        script=detect_script(doc.text) if language == "zh" else None,
        docred=doc,
        meta={"docred_sents": doc.tokens},
    )


def _clean_text(text: str, *, lines_clean: bool = False) -> str:
    """Drop controls, replace lone surrogates, unify line ends, strip lines and collapse runs of blank lines."""
    if _native is not None:
        return _native.clean_text(text)
    return clean_text_in_python(text, lines_clean=lines_clean)


def clean_text_in_python(text: str, *, lines_clean: bool = False) -> str:
    """_clean_text's definition, used where the compiled module is not built.

    `lines_clean` says the lines are stripped, non-empty and joined by "\n" alone already, so that only a
    removed control character could leave work to do.
    """
    if lines_clean and not _UNSTORABLE.search(text):
        return text
    text = _UNSTORABLE.sub(_replace_unstorable, text.replace("\r\n", "\n").replace("\r", "\n"))
    text = "\n".join([line.rstrip() for line in text.split("\n")])
    return _BLANK_RUNS.sub("\n\n", text).strip()


def _replace_unstorable(match: re.Match[str]) -> str:
    """Controls go; a lone surrogate becomes U+FFFD, as undecodable bytes do."""
    return "\ufffd" if match.group() >= "\ud800" else ""
