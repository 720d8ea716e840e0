"""Streaming readers for web archives: WARC and WET through FastWARC, ARC with a small parser of our own."""

import re
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from fastwarc.warc import ArchiveIterator, WarcHeader, WarcRecord, WarcRecordType

from app.webtext.compression import DECOMPRESSION_ERRORS, compression_of, open_decompressed
from app.webtext.http_payloads import PayloadError, decode_payload
from app.webtext.records import (
    MAX_RECORD_BYTES,
    MAX_TOTAL_BYTES,
    FormatError,
    LimitExceededError,
    RawRecord,
    ReadProgress,
    RecordError,
)

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
MAX_ARC_HEADER_LINE = 8192
_READ_CHUNK = 1024 * 1024
_ARC_DATE = re.compile(rb"\d{14,}")
_HTTP_HEAD_END = re.compile(rb"\r?\n\r?\n")
# Common Crawl labels WET records with ISO 639-3 codes; the rest of Concord speaks ISO 639-1.
_ISO639_3_TO_1 = {
    "zho": "zh", "yue": "zh", "eng": "en", "jpn": "ja", "kor": "ko", "spa": "es", "fra": "fr", "deu": "de",
    "rus": "ru", "por": "pt", "ita": "it", "ara": "ar", "vie": "vi", "tha": "th", "ind": "id", "msa": "ms",
    "nld": "nl", "pol": "pl", "tur": "tr", "ukr": "uk", "hin": "hi",
}  # fmt: skip


class _LineStream(Protocol):
    """What the ARC parser needs from a buffered stream (io.BufferedReader satisfies it)."""

    def readline(self, size: int | None = -1, /) -> bytes: ...

    def read(self, size: int | None = -1, /) -> bytes: ...


def iter_warc(
    path: Path,
    *,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    progress: ReadProgress | None = None,
) -> Iterator[RawRecord | RecordError]:
    """Yield HTML pages and WET text from a (compressed) WARC; a fault ends it with a fatal RecordError."""
    progress = progress if progress is not None else ReadProgress()
    if path.stat().st_size == 0:
        raise FormatError(f"{path.name} is empty")
    wanted = WarcRecordType.response | WarcRecordType.resource | WarcRecordType.conversion
    last_offset = 0
    seen = False
    python_side = ReadProgress()
    with ExitStack() as stack:
        file, source, gzipped = _open_warc(stack, path, python_side)
        alignment = _GzipAlignment(path) if gzipped else None
        # HTTP headers are parsed per record, so one bad header costs that record, not the rest of the file.
        records = iter(ArchiveIterator(source, parse_http=False, auto_decode="none"))
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            except DECOMPRESSION_ERRORS as exc:
                where = f"after the record at byte {last_offset}" if seen else "at the start of the file"
                yield RecordError(last_offset, f"unreadable WARC data {where}: {exc}", fatal=True)
                return
            seen = True
            last_offset = record.stream_pos
            if alignment is not None and (misaligned := alignment.check(last_offset)) is not None:
                yield misaligned
            progress.bytes_read = file.tell() if source is file else python_side.bytes_read
            block_length = record.content_length
            progress.decompressed_bytes += block_length
            if progress.decompressed_bytes > max_total_bytes:
                yield RecordError(last_offset, _total_limit_message(max_total_bytes), fatal=True)
                return
            if not record.record_type & wanted:
                continue
            if block_length > max_record_bytes:
                yield RecordError(
                    last_offset,
                    f"record {record.record_id} is {block_length:,} bytes, over the limit of "
                    f"{max_record_bytes:,} bytes per record",
                )
                continue
            result = _read_warc_record(record, max_record_bytes)
            if result is not None:
                yield result
                if isinstance(result, RecordError) and result.fatal:
                    return


def _open_warc(stack: ExitStack, path: Path, python_side: ReadProgress) -> tuple[BinaryIO, BinaryIO, bool]:
    """The file, the stream FastWARC reads, and whether the file is gzipped. FastWARC inflates gzip, zstd and lz4
    itself; bzip2 and xz WARCs go through Python's decompressors, which count what they read in python_side."""
    file = stack.enter_context(path.open("rb"))
    source: BinaryIO = file
    compression = compression_of(file.read(8))
    if compression in ("bzip2", "xz"):
        source = stack.enter_context(open_decompressed(path, progress=python_side))
    file.seek(0)
    return file, source, compression == "gzip"


class _GzipAlignment:
    """Whether a gzipped WARC was compressed record by record, as the standard asks: said once, as a warning.

    Checking the first records' gzip members is enough, since a file is compressed one way throughout; after
    them, two records at the same offset (one member holding several records) still tell."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reported = False
        self.previous_offset = -1
        self.checked = 0

    def check(self, offset: int) -> RecordError | None:
        self.checked += 1
        misaligned = not self.reported and (
            offset == self.previous_offset
            or (self.checked <= _ALIGNMENT_CHECKS and not _member_starts_record(self.path, offset))
        )
        self.previous_offset = offset
        if not misaligned:
            return None
        self.reported = True
        return RecordError(
            offset,
            "the gzip members do not line up with the WARC records (the file was not compressed record "
            "by record, as the WARC standard asks); records were read, but their offsets are unreliable",
        )


_ALIGNMENT_CHECKS = 16


def _member_starts_record(path: Path, offset: int) -> bool:
    """Whether the gzip member at `offset` begins with a WARC header (cheap: inflates a few bytes)."""
    with path.open("rb") as raw:
        raw.seek(offset)
        head = raw.read(512)
    try:
        return zlib.decompressobj(31).decompress(head, 16).startswith(b"WARC/")
    except zlib.error:
        return False


def iter_arc(
    path: Path,
    *,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    progress: ReadProgress | None = None,
) -> Iterator[RawRecord | RecordError]:
    """Yield HTML pages from a (gzipped) ARC file; offsets are positions in the uncompressed stream."""
    progress = progress if progress is not None else ReadProgress()
    if path.stat().st_size == 0:
        raise FormatError(f"{path.name} is empty")
    try:
        with open_decompressed(path, progress=progress, max_total_bytes=max_total_bytes) as stream:
            yield from _arc_records(stream, max_record_bytes)
    except LimitExceededError as exc:
        yield RecordError(progress.bytes_read, str(exc), fatal=True)
    except DECOMPRESSION_ERRORS as exc:
        yield RecordError(progress.bytes_read, f"ARC data is corrupt or truncated: {exc}", fatal=True)


def _read_warc_record(record: WarcRecord, max_bytes: int) -> RawRecord | RecordError | None:
    offset = record.stream_pos
    # FastWARC looks up its standard headers by enum member several times faster than by name.
    url = record.headers.get(WarcHeader.WARC_TARGET_URI)
    crawl_date = record.record_date
    if record.record_type == WarcRecordType.conversion:
        body, error = _read_body(record)
        if error:
            return error
        return RawRecord(
            kind="text",
            offset=offset,
            url=url,
            record_id=record.record_id,
            crawl_date=crawl_date,
            text=body.decode("utf-8", "replace"),
            content_type=record.headers.get(WarcHeader.CONTENT_TYPE),
            language_hint=_language_hint(record.headers.get("WARC-Identified-Content-Language")),
        )
    status = transfer = encoding = None
    content_type = record.headers.get(WarcHeader.CONTENT_TYPE)
    if record.record_type == WarcRecordType.response:
        if not record.is_http:
            return None
        try:
            record.parse_http()
        except OSError as exc:
            return RecordError(offset, f"record {record.record_id} has unreadable HTTP headers: {exc}")
        headers = record.http_headers
        status = headers.status_code
        content_type, transfer, encoding = _http_fields(headers.items())
    mime = content_type.split(";")[0].strip().lower() if content_type else None
    if mime is not None and mime not in HTML_TYPES:
        # Not read, but counted: the batch report says how many non-HTML responses were skipped.
        return _not_html(offset, url, record, status, content_type)
    body, error = _read_body(record)
    if error:
        return error
    try:
        body = decode_payload(body, transfer_encoding=transfer, content_encoding=encoding, max_bytes=max_bytes)
    except PayloadError as exc:
        return RecordError(offset, f"record {record.record_id} ({url}): {exc}")
    if mime is None and not _looks_like_html(body):
        return _not_html(offset, url, record, status, "application/octet-stream")
    if not body or body.isspace():  # as `not body.strip()`, without copying the body
        return RecordError(offset, f"record {record.record_id} ({url}) has no body")
    return RawRecord(
        kind="html",
        offset=offset,
        url=url,
        record_id=record.record_id,
        crawl_date=crawl_date,
        content_bytes=body,
        http_status=status,
        content_type=content_type,
    )


def _http_fields(items: tuple[tuple[str, str], ...]) -> tuple[str | None, str | None, str | None]:
    """The first Content-Type, Transfer-Encoding and Content-Encoding, names compared case-insensitively.

    One pass over the few headers costs a third of looking each up by name in FastWARC.
    """
    found: dict[str, str] = {}
    for name, value in items:
        found.setdefault(name.lower(), value)
    return found.get("content-type"), found.get("transfer-encoding"), found.get("content-encoding")


def _not_html(
    offset: int, url: str | None, record: WarcRecord, status: int | None, content_type: str | None
) -> RawRecord:
    return RawRecord(
        kind="html",
        offset=offset,
        url=url,
        record_id=record.record_id,
        crawl_date=record.record_date,
        http_status=status,
        content_type=content_type,
    )


def _read_body(record: WarcRecord) -> tuple[bytes, RecordError | None]:
    expected = record.content_length
    try:
        body = record.reader.read(expected)
    except OSError as exc:
        return b"", RecordError(record.stream_pos, f"record {record.record_id} is unreadable: {exc}", fatal=True)
    if len(body) < expected:
        message = (
            f"record {record.record_id} at byte {record.stream_pos} is truncated: "
            f"{len(body):,} of {expected:,} bytes present (file cut off or gzip stream corrupt)"
        )
        return b"", RecordError(record.stream_pos, message, fatal=True)
    return body, None


def _arc_records(stream: _LineStream, max_bytes: int) -> Iterator[RawRecord | RecordError]:
    position = 0
    resyncing = False
    while True:
        line = stream.readline(MAX_ARC_HEADER_LINE)
        if not line:
            return
        start, position = position, position + len(line)
        fields = line.strip().split()
        if not fields:
            continue
        header = _arc_header(fields)
        if header is None:
            if not resyncing:
                yield RecordError(start, f"malformed ARC header line {line.strip()[:80]!r}")
                resyncing = True
            continue
        url, date, mime, raw_length = header
        length = int(raw_length) if raw_length.isdigit() else -1
        if length < 0:
            yield RecordError(start, f"ARC record for {url} has an invalid length {raw_length!r}")
            resyncing = True
            continue
        resyncing = False
        if length > max_bytes:
            yield RecordError(start, f"ARC record for {url} is {length:,} bytes, over the limit of {max_bytes:,}")
            position += _skip(stream, length)
            continue
        body = stream.read(length)
        position += len(body)
        if len(body) < length:
            message = f"ARC record for {url} at byte {start} is truncated: {len(body):,} of {length:,} bytes"
            yield RecordError(start, message, fatal=True)
            return
        if url.startswith("filedesc:"):
            continue
        result = _arc_page(body, url=url, date=date, mime=mime, offset=start, max_bytes=max_bytes)
        if result is not None:
            yield result


def _arc_header(fields: list[bytes]) -> tuple[str, datetime | None, str, str] | None:
    # Version 1 lines have 5 fields, version 2 lines 10; the length is always last.
    if len(fields) not in (5, 10) or b":" not in fields[0] or not _ARC_DATE.fullmatch(fields[2]):
        return None
    url = fields[0].decode("utf-8", "replace")
    if "://" not in url and not url.startswith(("filedesc:", "dns:")):
        return None
    try:
        date = datetime.strptime(fields[2][:14].decode("ascii"), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        date = None
    return url, date, fields[3].decode("ascii", "replace").lower(), fields[-1].decode("ascii", "replace")


def _arc_page(
    body: bytes, *, url: str, date: datetime | None, mime: str, offset: int, max_bytes: int
) -> RawRecord | RecordError | None:
    status = None
    headers: dict[str, str] = {}
    if body.startswith(b"HTTP/"):
        match = _HTTP_HEAD_END.search(body)
        head, body = (body[: match.start()], body[match.end() :]) if match else (body, b"")
        lines = head.decode("latin-1").splitlines()
        parts = lines[0].split(None, 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        for header_line in lines[1:]:
            name, _, value = header_line.partition(":")
            headers[name.strip().lower()] = value.strip()
    content_type = headers.get("content-type") or mime
    if content_type.split(";")[0].strip().lower() not in HTML_TYPES:
        return None
    try:
        body = decode_payload(
            body,
            transfer_encoding=headers.get("transfer-encoding"),
            content_encoding=headers.get("content-encoding"),
            max_bytes=max_bytes,
        )
    except PayloadError as exc:
        return RecordError(offset, f"ARC record for {url}: {exc}")
    if not body.strip():
        return RecordError(offset, f"ARC record for {url} has no body")
    return RawRecord(
        kind="html",
        offset=offset,
        url=url,
        crawl_date=date,
        content_bytes=body,
        http_status=status,
        content_type=content_type,
    )


def _skip(stream: _LineStream, length: int) -> int:
    skipped = 0
    while skipped < length:
        chunk = stream.read(min(_READ_CHUNK, length - skipped))
        if not chunk:
            break
        skipped += len(chunk)
    return skipped


def _looks_like_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in head


def _language_hint(value: str | None) -> str | None:
    if not value:
        return None
    first = value.split(",")[0].strip().lower()
    return _ISO639_3_TO_1.get(first, first) or None


def _total_limit_message(limit: int) -> str:
    return f"the batch exceeds the limit of {limit:,} decompressed bytes; reading stopped"
