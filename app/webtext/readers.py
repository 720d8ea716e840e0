"""Streaming readers for JSON Lines, plain text, HTML files, DocRED arrays and zips, and the dispatcher."""

import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import ijson  # type: ignore[import-untyped]

from app.webtext.compression import DECOMPRESSION_ERRORS, open_decompressed
from app.webtext.extraction import decode_html
from app.webtext.formats import TEXT_FIELDS, Format, check_zip_members, detect_format
from app.webtext.records import (
    MAX_RECORD_BYTES,
    MAX_TOTAL_BYTES,
    SNIFF_BYTES,
    FormatError,
    LimitExceededError,
    RawRecord,
    ReadProgress,
    RecordError,
    storable,
)
from app.webtext.web_archives import iter_arc, iter_warc
from app.webtext.zip_members import unpack_member, workdir_for

Item = RawRecord | RecordError
_SKIP_CHUNK = 1024 * 1024
# Epoch timestamps above this are in milliseconds.
_EPOCH_MS_THRESHOLD = 10**11


class Reader(Protocol):
    """Signature shared by every iter_* reader."""

    def __call__(
        self,
        path: Path,
        *,
        max_record_bytes: int = ...,
        max_total_bytes: int = ...,
        progress: ReadProgress | None = ...,
    ) -> Iterator[Item]: ...


def iter_records(
    path: Path,
    filename: str,
    *,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    progress: ReadProgress | None = None,
) -> Iterator[Item]:
    """Detect the format of path (raising FormatError) and stream its records and record errors."""
    reader = READERS[detect_format(path, filename)]
    return reader(path, max_record_bytes=max_record_bytes, max_total_bytes=max_total_bytes, progress=progress)


def iter_jsonl(
    path: Path,
    *,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    progress: ReadProgress | None = None,
) -> Iterator[Item]:
    """Yield one text record per JSON line (CCNet raw_content, or text/content); bad lines become errors."""
    progress = progress if progress is not None else ReadProgress()
    _require_content(path)
    offset = line_no = 0
    with open_decompressed(path, progress=progress, max_total_bytes=max_total_bytes) as stream:
        while True:
            try:
                line = stream.readline(max_record_bytes + 1)
                too_long = len(line) > max_record_bytes and not line.endswith(b"\n")
                overflow = _skip_line(stream) if too_long else None
            except LimitExceededError as exc:
                yield RecordError(offset, str(exc), line=line_no + 1, fatal=True)
                return
            except DECOMPRESSION_ERRORS as exc:
                message = f"compressed data is corrupt or truncated after line {line_no}: {exc}"
                yield RecordError(offset, message, line=line_no + 1, fatal=True)
                return
            if not line:
                return
            line_no += 1
            start, offset = offset, offset + len(line) + (overflow or 0)
            if overflow is not None:
                message = f"line {line_no} is longer than the limit of {max_record_bytes:,} bytes"
                yield RecordError(start, message, line=line_no)
                continue
            if line_no == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            if line.strip():
                yield _jsonl_record(line, start, line_no)


def iter_text(
    path: Path,
    *,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    progress: ReadProgress | None = None,
) -> Iterator[Item]:
    """Yield a text file as one record, or as consecutive line-aligned parts when it exceeds the record limit.

    Offsets are character offsets in the decoded text; the charset is detected from the first 64 KB.
    """
    progress = progress if progress is not None else ReadProgress()
    _require_content(path)
    with open_decompressed(path, progress=ReadProgress(), max_total_bytes=SNIFF_BYTES * 2) as sniff:
        sample = sniff.read(SNIFF_BYTES)
    encoding = _text_encoding(sample)
    content_type = f"text/plain; charset={encoding}"
    part: list[str] = []
    part_start = part_chars = position = 0
    with (
        open_decompressed(path, progress=progress, max_total_bytes=max_total_bytes) as stream,
        io.TextIOWrapper(stream, encoding=encoding, errors="replace") as text,
    ):
        while True:
            try:
                line = text.readline(max_record_bytes + 1)
                too_long = len(line) > max_record_bytes and not line.endswith("\n")
                overflow = _skip_text_line(text) if too_long else None
            except LimitExceededError as exc:
                yield RecordError(position, str(exc), fatal=True)
                return
            except DECOMPRESSION_ERRORS as exc:
                yield RecordError(position, f"compressed data is corrupt or truncated: {exc}", fatal=True)
                return
            if position == 0:
                line = line.removeprefix("\ufeff")
            start, position = position, position + len(line) + (overflow or 0)
            if overflow is not None:
                yield RecordError(start, f"a line is longer than the limit of {max_record_bytes:,} characters")
                continue
            if part and (not line or part_chars + len(line) > max_record_bytes):
                body = "".join(part)
                if body.strip():
                    yield RawRecord(kind="text", offset=part_start, text=body, content_type=content_type)
                part, part_chars = [], 0
            if not line:
                return
            if not part:
                part_start = start
            part.append(line)
            part_chars += len(line)


def iter_html(
    path: Path,
    *,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    progress: ReadProgress | None = None,
) -> Iterator[Item]:
    """Yield a single HTML file as one undecoded page."""
    progress = progress if progress is not None else ReadProgress()
    _require_content(path)
    try:
        with open_decompressed(path, progress=progress, max_total_bytes=max_total_bytes) as stream:
            body = stream.read(max_record_bytes + 1)
    except LimitExceededError as exc:
        yield RecordError(0, str(exc), fatal=True)
        return
    except DECOMPRESSION_ERRORS as exc:
        yield RecordError(0, f"compressed data is corrupt or truncated: {exc}", fatal=True)
        return
    if len(body) > max_record_bytes:
        yield RecordError(0, f"the page is larger than the limit of {max_record_bytes:,} bytes")
    elif not body.strip():
        yield RecordError(0, "the page has no content")
    else:
        yield RawRecord(kind="html", offset=0, content_bytes=body)


def iter_docred(
    path: Path,
    *,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    progress: ReadProgress | None = None,
) -> Iterator[Item]:
    """Yield each document of a DocRED JSON array, parsed incrementally; record_id is its array index."""
    progress = progress if progress is not None else ReadProgress()
    _require_content(path)
    index = -1
    with open_decompressed(path, progress=progress, max_total_bytes=max_total_bytes) as stream:
        consumed = progress.decompressed_bytes
        try:
            for index, doc in enumerate(ijson.items(stream, "item", use_float=True)):
                # Byte counts advance in 64 KB steps, so these offsets and sizes are approximate.
                offset, size = progress.decompressed_bytes, progress.decompressed_bytes - consumed
                consumed = progress.decompressed_bytes
                if size > max_record_bytes:
                    yield RecordError(offset, f"document {index} is larger than {max_record_bytes:,} bytes")
                elif not isinstance(doc, dict) or not isinstance(doc.get("sents"), list):
                    yield RecordError(offset, f"item {index} is not a DocRED document (it has no 'sents' list)")
                else:
                    yield _docred_record(doc, index, offset)
        except LimitExceededError as exc:
            yield RecordError(progress.decompressed_bytes, str(exc), fatal=True)
        except ijson.JSONError as exc:
            message = f"invalid JSON after document {index}: {str(exc).splitlines()[0]}"
            yield RecordError(progress.decompressed_bytes, message, fatal=True)
        except DECOMPRESSION_ERRORS as exc:
            message = f"compressed data is corrupt or truncated after document {index}: {exc}"
            yield RecordError(progress.decompressed_bytes, message, fatal=True)
        else:
            if index < 0:
                yield RecordError(0, "no documents found: the file is not a non-empty JSON array")


def iter_zip(
    path: Path,
    *,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    progress: ReadProgress | None = None,
) -> Iterator[Item]:
    """Read every member of a zip by its detected format; unsafe member names reject the whole archive.

    Every member, read or rejected, counts its size toward max_total_bytes; reading stops at the limit. Members
    are unpacked one at a time beside the zip, and nothing unpacked outlives the read, however it ends.
    """
    progress = progress if progress is not None else ReadProgress()
    members = check_zip_members(path, path.name)
    workdir = workdir_for(path)
    # Left by a worker that died mid-read: this read starts over.
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(mode=0o700)
    try:
        with zipfile.ZipFile(path) as archive:
            for index, info in enumerate(members):
                progress.bytes_read = info.header_offset
                # The member's own name never touches the file system.
                target = workdir / f"member-{index}"
                try:
                    yield from _zip_member(archive, info, target, max_record_bytes, max_total_bytes, progress)
                except LimitExceededError as exc:
                    yield RecordError(info.header_offset, f"{info.filename}: {exc}", member=info.filename, fatal=True)
                    return
                finally:
                    target.unlink(missing_ok=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _zip_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    target: Path,
    max_record_bytes: int,
    max_total_bytes: int,
    progress: ReadProgress,
) -> Iterator[Item]:
    before = progress.decompressed_bytes
    fmt: Format | None = None
    try:
        problem = unpack_member(archive, info, target, max_total_bytes - before)
        if problem is None:
            fmt = detect_format(target, info.filename)
    except (FormatError, zipfile.BadZipFile, RuntimeError, NotImplementedError, *DECOMPRESSION_ERRORS) as exc:
        if isinstance(exc, LimitExceededError):
            raise
        problem = str(exc)
    # Charged whether the member is read or not (its reader counts again what it decompresses).
    progress.decompressed_bytes = before + info.file_size
    if fmt is None:
        yield RecordError(info.header_offset, f"{info.filename}: {problem}", member=info.filename)
        return
    if fmt == "zip":
        message = f"{info.filename}: nested zip archives are not read"
        yield RecordError(info.header_offset, message, member=info.filename)
        return
    member_progress = ReadProgress(decompressed_bytes=before)
    reader = READERS[fmt]
    for item in reader(
        target, max_record_bytes=max_record_bytes, max_total_bytes=max_total_bytes, progress=member_progress
    ):
        progress.decompressed_bytes = max(before + info.file_size, member_progress.decompressed_bytes)
        share = member_progress.bytes_read / max(info.file_size, 1)
        progress.bytes_read = info.header_offset + int(info.compress_size * min(share, 1.0))
        yield replace(item, member=info.filename)
    progress.decompressed_bytes = max(before + info.file_size, member_progress.decompressed_bytes)


def _jsonl_record(line: bytes, offset: int, line_no: int) -> Item:
    try:
        obj = json.loads(line)
    except UnicodeDecodeError:
        return RecordError(offset, f"line {line_no} is not UTF-8", line=line_no)
    except json.JSONDecodeError as exc:
        return RecordError(offset, f"line {line_no}: invalid JSON ({exc.msg}, column {exc.colno})", line=line_no)
    if not isinstance(obj, dict):
        return RecordError(offset, f"line {line_no}: expected a JSON object, got {type(obj).__name__}", line=line_no)
    text = next((obj[key] for key in TEXT_FIELDS if isinstance(obj.get(key), str)), None)
    if text is None:
        fields = "/".join(TEXT_FIELDS)
        return RecordError(offset, f"line {line_no} has no string field {fields}", line=line_no)
    return RawRecord(
        kind="text",
        offset=offset,
        url=_string(obj, "url", "source_url"),
        title=_string(obj, "title"),
        record_id=_string(obj, "id", "digest", "doc_id"),
        crawl_date=_date(obj.get("date_download") or obj.get("crawl_date") or obj.get("date")),
        text=text,
        language_hint=_string(obj, "language", "lang"),
    )


def _docred_record(doc: dict[str, Any], index: int, offset: int) -> RawRecord:
    title = doc.get("title")
    return RawRecord(
        kind="docred",
        offset=offset,
        title=title if isinstance(title, str) else None,
        record_id=str(index),
        docred=doc,
    )


def _string(obj: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str) and value:
            return storable(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def _date(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > _EPOCH_MS_THRESHOLD else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text_encoding(sample: bytes) -> str:
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if len(sample) == SNIFF_BYTES:
        # Cut at a newline so the sample does not end inside a multi-byte character.
        sample = sample[: sample.rfind(b"\n") + 1] or sample
    return decode_html(sample, http_content_type=None)[1]


def _skip_line(stream: io.BufferedReader) -> int:
    skipped = 0
    while chunk := stream.readline(_SKIP_CHUNK):
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return skipped


def _skip_text_line(text: io.TextIOWrapper) -> int:
    skipped = 0
    while chunk := text.readline(_SKIP_CHUNK):
        skipped += len(chunk)
        if chunk.endswith("\n"):
            break
    return skipped


def _require_content(path: Path) -> None:
    if path.stat().st_size == 0:
        raise FormatError(f"{path.name} is empty")


READERS: dict[Format, Reader] = {
    "warc": iter_warc,
    "wet": iter_warc,
    "arc": iter_arc,
    "jsonl": iter_jsonl,
    "docred": iter_docred,
    "txt": iter_text,
    "html": iter_html,
    "zip": iter_zip,
}
