"""Stream a multipart upload straight to disk, hashing it, with a hard size limit (never held in memory)."""

import hashlib
import logging
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from app.errors import AppError, InvalidInput, PayloadTooLarge

log = logging.getLogger(__name__)

_SMALL_FIELD_LIMIT = 4096
_UNSAFE_NAME = re.compile(r"[^\w.\-]+")


@dataclass
class StoredUpload:
    path: Path
    filename: str
    size: int
    sha256: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class _Part:
    """The multipart part being parsed."""

    name: str = ""
    header_field: bytes = b""
    value: bytearray = field(default_factory=bytearray)


def safe_filename(name: str) -> str:
    """The base name only, reduced to harmless characters (the original is kept for display)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip() or "upload"
    return (_UNSAFE_NAME.sub("_", base).lstrip(".") or "upload")[:200]


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The file is larger than the upload limit of {limit / 1024**2:,.0f} MB.")


async def receive_upload(
    request: Request, *, directory: Path, max_bytes: int, file_field: str = "file"
) -> StoredUpload:
    """Parse the multipart body chunk by chunk; the file part goes to `directory`, other fields are kept small."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidInput.for_field(file_field, "Send the file as multipart/form-data.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise _too_large(max_bytes)

    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f".{uuid.uuid4().hex}.part"
    headers: dict[bytes, bytes] = {}
    fields: dict[str, str] = {}
    digest = hashlib.sha256()
    part = _Part()
    size = 0
    sink: IO[bytes] | None = None
    uploaded_name: str | None = None

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        name = part.header_field.lower()
        headers[name] = headers.get(name, b"") + data[start:end]

    def on_header_end() -> None:
        part.header_field = b""

    def on_headers_finished() -> None:
        nonlocal sink, uploaded_name
        _, disp = parse_options_header(headers.get(b"content-disposition", b""))
        part.name = disp.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = disp.get(b"filename")
        part.value = bytearray()
        if part.name == file_field and raw_filename is not None:
            sink = target.open("wb")
            uploaded_name = raw_filename.decode("utf-8", "replace")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal size
        chunk = data[start:end]
        if sink is not None and part.name == file_field:
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(max_bytes)
            digest.update(chunk)
            sink.write(chunk)
        else:
            if len(part.value) + len(chunk) > _SMALL_FIELD_LIMIT:
                raise InvalidInput.for_field(part.name, "This field is too long.")
            part.value.extend(chunk)

    def on_part_end() -> None:
        nonlocal sink
        if sink is not None and part.name == file_field:
            sink.close()
            sink = None
        elif part.name:
            fields[part.name] = part.value.decode("utf-8", "replace")
        headers.clear()

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        if sink is not None:
            sink.close()
        target.unlink(missing_ok=True)
        raise InvalidInput.for_field(file_field, f"The upload is not valid multipart data: {exc}") from None
    except ClientDisconnect:
        if sink is not None:
            sink.close()
        target.unlink(missing_ok=True)
        # The client went away: nothing is wrong on our side, and nobody reads the answer. One line, no traceback.
        log.info("upload aborted by the client after %s bytes; nothing was stored", f"{size:,}")
        raise AppError("The upload was interrupted before it finished; nothing was stored.") from None
    except BaseException:
        if sink is not None:
            sink.close()
        target.unlink(missing_ok=True)
        raise
    if uploaded_name is None:
        target.unlink(missing_ok=True)
        raise InvalidInput.for_field(file_field, "Choose a file to upload.")
    original = uploaded_name
    final = directory / f"{uuid.uuid4().hex}-{safe_filename(original)}"
    target.rename(final)
    return StoredUpload(path=final, filename=original, size=size, sha256=digest.hexdigest(), fields=fields)
