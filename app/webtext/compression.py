"""Compressed inputs: which compression a file uses, and a decompressed stream metered against a limit."""

import bz2
import gzip
import io
import lzma
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from fastwarc.stream_io import Lz4Reader, ZstdReader

from app.webtext.records import MAX_TOTAL_BYTES, SNIFF_BYTES, LimitExceededError, ReadProgress

# What Python's and FastWARC's decompressors raise on corrupt or truncated input.
DECOMPRESSION_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


@contextmanager
def open_decompressed(
    path: Path, *, progress: ReadProgress, max_total_bytes: int = MAX_TOTAL_BYTES
) -> Iterator[io.BufferedReader]:
    """Open path as a buffered binary stream, transparently decompressed and metered against the limit."""
    with path.open("rb") as file:
        head = file.read(8)
        file.seek(0)
        source = _decompressor(head, file)
        raw = _MeteredReader(source, file, progress, max_total_bytes)
        yield io.BufferedReader(raw, buffer_size=SNIFF_BYTES)


def compression_of(head: bytes) -> str | None:
    """Name of the compression whose magic bytes start head, if any."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"\x28\xb5\x2f\xfd") or (head[1:4] == b"\x2a\x4d\x18" and 0x50 <= head[0] <= 0x5F):
        return "zstd"
    if head.startswith(b"\x04\x22\x4d\x18"):
        return "lz4"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return None


def _decompressor(head: bytes, file: BinaryIO) -> _Readable:
    compression = compression_of(head)
    if compression == "gzip":
        return gzip.GzipFile(fileobj=file, mode="rb")
    if compression == "zstd":
        return ZstdReader(file)
    if compression == "lz4":
        return Lz4Reader(file)
    if compression == "bzip2":
        return bz2.BZ2File(file)
    if compression == "xz":
        return lzma.LZMAFile(file)
    return file


class _MeteredReader(io.RawIOBase):
    """Counts decompressed bytes into a ReadProgress and stops at the limit, so a bomb cannot fill memory."""

    def __init__(self, source: _Readable, file: BinaryIO, progress: ReadProgress, limit: int) -> None:
        # read1 makes one decompression step per call; read() would loop and lose the bytes decoded
        # before a truncated or corrupt stream raises.
        self._read = getattr(source, "read1", source.read)
        self._file = file
        self._progress = progress
        self._limit = limit
        self._position = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        # FastWARC asks for the position of any stream it is given, seekable or not.
        return self._position

    def readinto(self, buffer: Any) -> int:
        data: bytes = self._read(len(buffer))
        count = len(data)
        buffer[:count] = data
        self._position += count
        self._progress.decompressed_bytes += count
        self._progress.bytes_read = self._file.tell()
        if self._progress.decompressed_bytes > self._limit:
            raise LimitExceededError(
                f"decompressed data exceeds the limit of {self._limit:,} bytes "
                f"after {self._progress.bytes_read:,} input bytes (possible decompression bomb)"
            )
        return count
