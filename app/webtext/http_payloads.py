"""HTTP payloads as archived: undo chunked transfer and gzip/deflate/br content encoding, within a size limit."""

import re
import zlib

import brotli  # type: ignore[import-untyped]

_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class PayloadError(ValueError):
    """An HTTP payload whose transfer or content encoding cannot be undone."""


def decode_payload(
    body: bytes, *, transfer_encoding: str | None, content_encoding: str | None, max_bytes: int
) -> bytes:
    """Undo chunked transfer and gzip/deflate/br content encoding, never inflating beyond max_bytes."""
    if transfer_encoding and "chunked" in transfer_encoding.lower():
        body = _dechunk(body)
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    for coding in reversed(codings):
        if coding in ("", "identity"):
            continue
        try:
            body = _decode_content(body, coding, max_bytes)
        except PayloadError:
            # Some archivers store the decoded body but keep the original Content-Encoding header.
            if body.lstrip()[:1] == b"<":
                continue
            raise
    return body


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    position = 0
    while position < len(body):
        end = body.find(b"\n", position)
        line = body[position : end if end >= 0 else len(body)].split(b";")[0].strip()
        if not _CHUNK_SIZE.fullmatch(line):
            raise PayloadError(
                f"invalid chunked transfer encoding: bad chunk size {line[:20]!r} at payload byte {position}"
            )
        size = int(line, 16)
        if size == 0 or end < 0:
            break
        out += body[end + 1 : end + 1 + size]
        position = end + 1 + size
        # Each chunk ends with CRLF; tolerate a bare LF.
        position += 2 if body[position : position + 2] == b"\r\n" else 1
    # A body cut off mid-chunk keeps what arrived, like a browser would.
    return bytes(out)


def _decode_content(body: bytes, coding: str, max_bytes: int) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return _inflate(body, 16 + zlib.MAX_WBITS, coding, max_bytes)
    if coding == "deflate":
        try:
            return _inflate(body, zlib.MAX_WBITS, coding, max_bytes)
        except PayloadError:
            # Many servers send raw deflate without the zlib wrapper.
            return _inflate(body, -zlib.MAX_WBITS, coding, max_bytes)
    if coding == "br":
        try:
            out: bytes = brotli.Decompressor().process(body, output_buffer_limit=max_bytes + 1)
        except brotli.error as exc:
            raise PayloadError(f"corrupt br content encoding: {exc}") from exc
        return _within_limit(out, coding, max_bytes)
    raise PayloadError(f"unsupported Content-Encoding {coding!r}")


def _inflate(body: bytes, wbits: int, coding: str, max_bytes: int) -> bytes:
    try:
        out = zlib.decompressobj(wbits).decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise PayloadError(f"corrupt {coding} content encoding: {exc}") from exc
    return _within_limit(out, coding, max_bytes)


def _within_limit(out: bytes, coding: str, max_bytes: int) -> bytes:
    if len(out) > max_bytes:
        raise PayloadError(
            f"{coding} content inflates beyond the limit of {max_bytes:,} bytes (possible decompression bomb)"
        )
    return out
