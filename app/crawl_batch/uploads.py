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
    boundary = _multipart_boundary(request, max_bytes=max_bytes, file_field=file_field)
    directory.mkdir(parents=True, exist_ok=True)
    receiver = _Receiver(directory / f".{uuid.uuid4().hex}.part", max_bytes=max_bytes, file_field=file_field)
    await receiver.read(request, boundary)
    return receiver.keep(directory)


def _multipart_boundary(request: Request, *, max_bytes: int, file_field: str) -> bytes:
    """The body's boundary, refusing a non-multipart body or one that declares itself too large up front."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidInput.for_field(file_field, "Send the file as multipart/form-data.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise _too_large(max_bytes)
    return boundary


class _Receiver:
    """The parser's callbacks: the file part streams to `target` while it is hashed, other fields are kept small."""

    def __init__(self, target: Path, *, max_bytes: int, file_field: str) -> None:
        self.target = target
        self.max_bytes = max_bytes
        self.file_field = file_field
        self.headers: dict[bytes, bytes] = {}
        self.fields: dict[str, str] = {}
        self.digest = hashlib.sha256()
        self.part = _Part()
        self.size = 0
        self.sink: IO[bytes] | None = None
        self.uploaded_name: str | None = None

    async def read(self, request: Request, boundary: bytes) -> None:
        """Feed the body to the parser; on any failure the partial file is removed before the error goes on."""
        parser = MultipartParser(
            boundary,
            {
                "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value,
                "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished,
                "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end,
            },
        )
        try:
            async for chunk in request.stream():
                parser.write(chunk)
            parser.finalize()
        except MultipartParseError as exc:
            self.discard()
            raise InvalidInput.for_field(self.file_field, f"The upload is not valid multipart data: {exc}") from None
        except ClientDisconnect:
            self.discard()
            # The client went away: nothing is wrong on our side, and nobody reads the answer. One line, no traceback.
            log.info("upload aborted by the client after %s bytes; nothing was stored", f"{self.size:,}")
            raise AppError("The upload was interrupted before it finished; nothing was stored.") from None
        except BaseException:
            self.discard()
            raise

    def keep(self, directory: Path) -> StoredUpload:
        """Give the finished file its final name in `directory`; refuse a body that carried no file."""
        if self.uploaded_name is None:
            self.target.unlink(missing_ok=True)
            raise InvalidInput.for_field(self.file_field, "Choose a file to upload.")
        original = self.uploaded_name
        final = directory / f"{uuid.uuid4().hex}-{safe_filename(original)}"
        self.target.rename(final)
        return StoredUpload(
            path=final, filename=original, size=self.size, sha256=self.digest.hexdigest(), fields=self.fields
        )

    def discard(self) -> None:
        if self.sink is not None:
            self.sink.close()
        self.target.unlink(missing_ok=True)

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.part.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        name = self.part.header_field.lower()
        self.headers[name] = self.headers.get(name, b"") + data[start:end]

    def on_header_end(self) -> None:
        self.part.header_field = b""

    def on_headers_finished(self) -> None:
        _, disp = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.part.name = disp.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = disp.get(b"filename")
        self.part.value = bytearray()
        if self.part.name == self.file_field and raw_filename is not None:
            self.sink = self.target.open("wb")
            self.uploaded_name = raw_filename.decode("utf-8", "replace")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.sink is not None and self.part.name == self.file_field:
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise _too_large(self.max_bytes)
            self.digest.update(chunk)
            self.sink.write(chunk)
        else:
            if len(self.part.value) + len(chunk) > _SMALL_FIELD_LIMIT:
                raise InvalidInput.for_field(self.part.name, "This field is too long.")
            self.part.value.extend(chunk)

    def on_part_end(self) -> None:
        if self.sink is not None and self.part.name == self.file_field:
            self.sink.close()
            self.sink = None
        elif self.part.name:
            self.fields[self.part.name] = self.part.value.decode("utf-8", "replace")
        self.headers.clear()
