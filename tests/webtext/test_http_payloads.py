"""Archived HTTP payloads: chunked transfer and content encodings undone, within the limit."""

import gzip
import zlib

import brotli  # type: ignore[import-untyped]
import pytest

from app.webtext.http_payloads import PayloadError, decode_payload
from tests.webtext.test_web_archives import page


def test_decode_payload_codings() -> None:
    body = page("内容")
    limit = 1024 * 1024
    assert (
        decode_payload(zlib.compress(body), transfer_encoding=None, content_encoding="deflate", max_bytes=limit) == body
    )
    raw = zlib.compressobj(wbits=-15)
    raw_deflate = raw.compress(body) + raw.flush()
    assert decode_payload(raw_deflate, transfer_encoding=None, content_encoding="deflate", max_bytes=limit) == body
    assert decode_payload(brotli.compress(body), transfer_encoding=None, content_encoding="br", max_bytes=limit) == body
    both = gzip.compress(brotli.compress(body))
    assert decode_payload(both, transfer_encoding=None, content_encoding="br, gzip", max_bytes=limit) == body
    chunked = b"5\r\n<html\r\n3;ext=1\r\n>hi\r\n0\r\n\r\n"
    assert decode_payload(chunked, transfer_encoding="chunked", content_encoding=None, max_bytes=limit) == b"<html>hi"


def test_decode_payload_keeps_already_decoded_bodies() -> None:
    body = page("已解码")
    assert decode_payload(body, transfer_encoding=None, content_encoding="gzip", max_bytes=1000) == body


def test_decode_payload_errors() -> None:
    with pytest.raises(PayloadError, match="unsupported Content-Encoding"):
        decode_payload(b"\x00\x01", transfer_encoding=None, content_encoding="compress", max_bytes=100)
    with pytest.raises(PayloadError, match="corrupt gzip"):
        decode_payload(b"\x1f\x8b\x08garbage", transfer_encoding=None, content_encoding="gzip", max_bytes=100)
    bomb = brotli.compress(b"a" * 100_000)
    with pytest.raises(PayloadError, match="decompression bomb"):
        decode_payload(bomb, transfer_encoding=None, content_encoding="br", max_bytes=1000)


def test_truncated_chunked_body_keeps_what_arrived() -> None:
    assert (
        decode_payload(b"100\r\n<html>", transfer_encoding="chunked", content_encoding=None, max_bytes=9) == b"<html>"
    )
