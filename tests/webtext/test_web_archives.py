import bz2
import gzip
import lzma
from collections.abc import Callable
from pathlib import Path

import pytest
from fastwarc.stream_io import Lz4Writer, ZstdWriter

from app.webtext.extraction import decode_html
from app.webtext.records import FormatError, RawRecord, ReadProgress, RecordError
from app.webtext.web_archives import iter_arc, iter_warc

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
WARCS = FIXTURES / "warc"

Item = RawRecord | RecordError


def http_response(
    body: bytes, *, content_type: str = "text/html; charset=utf-8", status: int = 200, headers: str = ""
) -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n{headers}\r\n"
    return head.encode("latin-1") + body


def warc_record(
    block: bytes,
    *,
    record_type: str = "response",
    url: str = "http://news.example.cn/",
    record_id: str = "<urn:uuid:00000000-0000-0000-0000-000000000001>",
    content_type: str = "application/http; msgtype=response",
    extra: str = "",
) -> bytes:
    head = (
        f"WARC/1.0\r\nWARC-Type: {record_type}\r\nWARC-Record-ID: {record_id}\r\n"
        f"WARC-Date: 2024-05-18T01:58:10Z\r\nWARC-Target-URI: {url}\r\n{extra}"
        f"Content-Type: {content_type}\r\nContent-Length: {len(block)}\r\n\r\n"
    )
    return head.encode() + block + b"\r\n\r\n"


def page(text: str) -> bytes:
    return f"<html><head><title>t</title></head><body><p>{text}</p></body></html>".encode()


def write_warc(tmp_path: Path, records: list[bytes], name: str = "test.warc.gz") -> Path:
    path = tmp_path / name
    path.write_bytes(b"".join(gzip.compress(record) for record in records))
    return path


def pages_and_errors(items: list[Item]) -> tuple[list[RawRecord], list[RecordError]]:
    return [i for i in items if isinstance(i, RawRecord)], [i for i in items if isinstance(i, RecordError)]


# Real fixtures


def test_whirlwind_warc() -> None:
    path = WARCS / "whirlwind.warc.gz"
    progress = ReadProgress()
    items = list(iter_warc(path, progress=progress))
    assert len(items) == 1
    record = items[0]
    assert isinstance(record, RawRecord)
    assert record.kind == "html"
    assert record.url == "https://an.wikipedia.org/wiki/Escopete"
    assert record.record_id == "<urn:uuid:2aabeff2-67f5-4608-8466-e87c6296e2b6>"
    assert record.http_status == 200
    assert record.content_type == "text/html; charset=UTF-8"
    assert record.offset == 1023
    assert record.crawl_date is not None
    assert record.crawl_date.tzinfo is not None
    assert record.content_bytes is not None
    text, encoding = decode_html(record.content_bytes, http_content_type=record.content_type)
    assert encoding == "utf-8"
    assert "<title>Escopete - Biquipedia, a enciclopedia libre</title>" in text
    assert progress.bytes_read == path.stat().st_size


def test_whirlwind_wet() -> None:
    items = list(iter_warc(WARCS / "whirlwind.warc.wet.gz"))
    assert len(items) == 1
    record = items[0]
    assert isinstance(record, RawRecord)
    assert record.kind == "text"
    assert record.content_bytes is None
    assert record.text is not None
    assert "Escopete" in record.text
    assert record.language_hint == "es"
    assert record.url == "https://an.wikipedia.org/wiki/Escopete"


@pytest.mark.parametrize("compress", [bz2.compress, lzma.compress])
def test_bzip2_and_xz_warcs(tmp_path: Path, compress: Callable[[bytes], bytes]) -> None:
    path = tmp_path / "whirlwind.warc.compressed"
    path.write_bytes(compress(gzip.decompress((WARCS / "whirlwind.warc.gz").read_bytes())))
    progress = ReadProgress()
    (record,) = list(iter_warc(path, progress=progress))
    assert isinstance(record, RawRecord)
    assert record.url == "https://an.wikipedia.org/wiki/Escopete"
    assert progress.bytes_read == path.stat().st_size


@pytest.mark.parametrize("writer", [ZstdWriter, Lz4Writer])
def test_zstd_and_lz4_warcs(tmp_path: Path, writer: type[ZstdWriter] | type[Lz4Writer]) -> None:
    path = tmp_path / "whirlwind.warc.compressed"
    sink = writer(str(path))
    sink.write(gzip.decompress((WARCS / "whirlwind.warc.gz").read_bytes()))
    sink.close()
    (record,) = list(iter_warc(path))
    assert isinstance(record, RawRecord)
    assert record.url == "https://an.wikipedia.org/wiki/Escopete"


def test_gzip_content_encoding_is_undone() -> None:
    (record,) = list(iter_warc(WARCS / "example.warc.gz"))
    assert isinstance(record, RawRecord)
    assert record.content_bytes is not None
    assert record.content_bytes.startswith(b"<!doctype html>")
    assert b"Example Domain" in record.content_bytes


def test_chunked_transfer_encoding_is_undone() -> None:
    (record,) = list(iter_warc(WARCS / "example-iana.org-chunked.warc"))
    assert isinstance(record, RawRecord)
    assert record.content_bytes is not None
    assert record.content_bytes.startswith(b"<!doctype html>")
    assert record.content_bytes.rstrip().endswith(b"</html>")
    assert b"Internet Assigned Numbers Authority" in record.content_bytes


def test_truncated_warc_fixture_yields_records_then_a_fatal_error() -> None:
    items = list(iter_warc(WARCS / "example-trunc.warc"))
    pages, errors = pages_and_errors(items)
    assert [p.url for p in pages] == ["http://example.com/"]
    assert items[-1] is errors[0]
    assert errors[0].fatal
    assert errors[0].offset == 1197
    assert "Invalid WARC header" in errors[0].message


def test_whole_file_gzip_fixture_is_read() -> None:
    # example-bad.warc.gz.bad is one gzip member around all records, which warcio rejects because records
    # cannot be addressed by offset. The data itself is intact, so its pages are kept, with one warning.
    pages, errors = pages_and_errors(list(iter_warc(WARCS / "example-bad.warc.gz.bad")))
    assert len(errors) == 1
    assert not errors[0].fatal
    assert "do not line up with the WARC records" in errors[0].message
    assert [p.http_status for p in pages] == [200, 302]


def test_misaligned_gzip_members_fixture_is_read() -> None:
    # example-wrong-chunks.warc.gz splits a record across gzip members; read as one stream it is complete.
    pages, errors = pages_and_errors(list(iter_warc(WARCS / "example-wrong-chunks.warc.gz")))
    assert [e.fatal for e in errors] == [False]
    assert "do not line up with the WARC records" in errors[0].message
    assert len(pages) == 1
    assert pages[0].content_bytes is not None
    assert pages[0].content_bytes.rstrip().endswith(b"</html>")


def test_example_arc() -> None:
    (record,) = list(iter_arc(WARCS / "example.arc.gz"))
    assert isinstance(record, RawRecord)
    assert record.url == "http://example.com/"
    assert record.http_status == 200
    assert record.crawl_date is not None
    assert record.crawl_date.year == 2014
    assert record.content_bytes is not None
    assert record.content_bytes.startswith(b"<!doctype html>")


def test_malformed_arc_fixture_reports_each_bad_record() -> None:
    pages, errors = pages_and_errors(list(iter_arc(WARCS / "bad.arc")))
    assert pages == []
    assert [e.message.rsplit(" ", 1)[-1] for e in errors] == ["'-1'", "'-1'", "'abc'"]
    assert all("invalid length" in e.message for e in errors)
    assert [e.offset for e in errors] == sorted(e.offset for e in errors)


# Faults in files built here


def test_truncated_gzip_warc(tmp_path: Path) -> None:
    data = (WARCS / "whirlwind.warc.gz").read_bytes()
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(data[:10_000])
    items = list(iter_warc(path))
    assert len(items) == 1
    error = items[0]
    assert isinstance(error, RecordError)
    assert error.fatal
    assert error.offset == 1023
    assert "truncated" in error.message


def test_corrupt_gzip_member_keeps_earlier_records(tmp_path: Path) -> None:
    members = [gzip.compress(warc_record(http_response(page(f"第{i}页 " * 2000)))) for i in range(3)]
    broken = bytearray(members[2])
    broken[30:60] = b"\xff" * 30
    path = tmp_path / "corrupt.warc.gz"
    path.write_bytes(members[0] + members[1] + bytes(broken))
    items = list(iter_warc(path))
    pages, errors = pages_and_errors(items)
    assert len(pages) == 2
    assert len(errors) == 1
    assert errors[0].fatal
    assert items[-1] is errors[0]
    # The offset is that of the last good record: the reader cannot see where inside the stream zlib failed.
    assert errors[0].offset == len(members[0])
    assert "decompression error" in errors[0].message


def test_bad_chunked_encoding_costs_only_that_record(tmp_path: Path) -> None:
    bad = http_response(b"ZZ\r\n<html>x</html>\r\n0\r\n\r\n", headers="Transfer-Encoding: chunked\r\n")
    path = write_warc(tmp_path, [warc_record(bad), warc_record(http_response(page("好")))])
    items = list(iter_warc(path))
    assert isinstance(items[0], RecordError)
    assert not items[0].fatal
    assert "invalid chunked transfer encoding" in items[0].message
    assert isinstance(items[1], RawRecord)


def test_http_header_names_are_matched_whatever_their_case_and_the_first_one_counts(tmp_path: Path) -> None:
    body = gzip.compress(page("好"))
    encoded = "CONTENT-ENCODING: gzip\r\ncontent-type: text/plain\r\n"
    plain = http_response(b"just text", content_type="text/plain", headers="content-type: text/html\r\n")
    path = write_warc(tmp_path, [warc_record(http_response(body, headers=encoded)), warc_record(plain)])
    html, text = list(iter_warc(path))
    assert isinstance(html, RawRecord) and isinstance(text, RawRecord)
    assert html.content_type == "text/html; charset=utf-8" and html.content_bytes == gzip.decompress(body)
    assert text.content_type == "text/plain" and text.content_bytes is None


def test_content_encoding_bomb_is_limited(tmp_path: Path) -> None:
    bomb = gzip.compress(b"<html>" + b" " * (5 * 1024 * 1024), 9)
    record = warc_record(http_response(bomb, headers="Content-Encoding: gzip\r\n"))
    path = write_warc(tmp_path, [record, warc_record(http_response(page("好")))])
    items = list(iter_warc(path, max_record_bytes=1024 * 1024))
    assert isinstance(items[0], RecordError)
    assert "decompression bomb" in items[0].message
    assert isinstance(items[1], RawRecord)


def test_oversized_record_is_skipped(tmp_path: Path) -> None:
    big = warc_record(http_response(page("大" * 1_000_000)))
    path = write_warc(tmp_path, [big, warc_record(http_response(page("小")))])
    items = list(iter_warc(path, max_record_bytes=100_000))
    assert isinstance(items[0], RecordError)
    assert "over the limit" in items[0].message
    assert not items[0].fatal
    assert isinstance(items[1], RawRecord)


def test_batch_limit_stops_reading_across_files(tmp_path: Path) -> None:
    records = [warc_record(http_response(page("字" * 10_000))) for _ in range(5)]
    first = write_warc(tmp_path, records, "a.warc.gz")
    second = write_warc(tmp_path, records, "b.warc.gz")
    progress = ReadProgress()
    limit = 200_000
    first_items = list(iter_warc(first, max_total_bytes=limit, progress=progress))
    second_items = list(iter_warc(second, max_total_bytes=limit, progress=progress))
    assert all(isinstance(i, RawRecord) for i in first_items)
    assert isinstance(second_items[-1], RecordError)
    assert second_items[-1].fatal
    assert "batch exceeds the limit" in second_items[-1].message
    assert len(first_items) + len(second_items) - 1 < 10


def test_empty_body_and_non_html_responses(tmp_path: Path) -> None:
    records = [
        warc_record(http_response(b"")),
        warc_record(http_response(b"\x89PNG...", content_type="image/png")),
        warc_record(http_response(page("找不到"), status=404)),
        warc_record(b"GET / HTTP/1.1\r\n\r\n", record_type="request", content_type="application/http"),
        warc_record(page("资源"), record_type="resource", content_type="text/html"),
    ]
    items = list(iter_warc(write_warc(tmp_path, records)))
    assert isinstance(items[0], RecordError)
    assert "no body" in items[0].message
    # The PNG is not read, but reported so that the batch counts it as "not_html".
    assert isinstance(items[1], RawRecord)
    assert items[1].content_type == "image/png"
    assert items[1].content_bytes is None
    assert isinstance(items[2], RawRecord)
    assert items[2].http_status == 404
    assert isinstance(items[3], RawRecord)
    assert items[3].http_status is None
    assert len(items) == 4


def test_gbk_page_in_warc_decodes(tmp_path: Path) -> None:
    html = '<html><head><meta charset="gb2312"></head><body><p>朱镕基总理</p></body></html>'
    record = warc_record(http_response(html.encode("gbk"), content_type="text/html"))
    (item,) = list(iter_warc(write_warc(tmp_path, [record])))
    assert isinstance(item, RawRecord)
    assert item.content_bytes is not None
    assert "朱镕基" in decode_html(item.content_bytes, http_content_type=item.content_type)[0]


def test_empty_warc_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "empty.warc"
    path.write_bytes(b"")
    with pytest.raises(FormatError, match="empty"):
        list(iter_warc(path))


def test_random_bytes_in_a_warc_reader_end_with_an_error(tmp_path: Path) -> None:
    path = tmp_path / "noise.warc"
    path.write_bytes(bytes(range(256)) * 10)
    (error,) = list(iter_warc(path))
    assert isinstance(error, RecordError)
    assert error.fatal


def test_arc_limits_and_truncation(tmp_path: Path) -> None:
    def arc_record(url: str, body: bytes) -> bytes:
        return f"{url} 1.2.3.4 20140216050221 text/html {len(body)}\n".encode() + body + b"\n"

    header = arc_record("filedesc://t.arc", b"1 0 Test\nURL IP-address Archive-date Content-type Archive-length\n")
    ok = arc_record("http://a.cn/", http_response(page("好")))
    big = arc_record("http://big.cn/", http_response(page("大" * 10_000)))
    path = tmp_path / "t.arc.gz"
    path.write_bytes(b"".join(gzip.compress(r) for r in (header, big, ok)) + gzip.compress(ok[:-40]))
    items = list(iter_arc(path, max_record_bytes=5_000))
    assert [type(i).__name__ for i in items] == ["RecordError", "RawRecord", "RecordError"]
    assert isinstance(items[0], RecordError)
    assert "over the limit" in items[0].message
    assert isinstance(items[2], RecordError)
    assert items[2].fatal
    assert "truncated" in items[2].message


def test_corrupt_gzip_arc(tmp_path: Path) -> None:
    path = tmp_path / "bad.arc.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)))
    (error,) = list(iter_arc(path))
    assert isinstance(error, RecordError)
    assert error.fatal
    assert "corrupt or truncated" in error.message
