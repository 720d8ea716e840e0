import bz2
import gzip
import json
import lzma
import random
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from fastwarc.stream_io import ZstdWriter

from app.webtext.compression import compression_of, open_decompressed
from app.webtext.formats import detect_format, is_unsafe_member_name
from app.webtext.records import FormatError, LimitExceededError, ReadProgress, RecordError

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
WARCS = FIXTURES / "warc"


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _random_bytes(size: int) -> bytes:
    return random.Random(42).randbytes(size)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("whirlwind.warc.gz", "warc"),
        ("whirlwind.warc.wet.gz", "wet"),
        ("example.warc.gz", "warc"),
        ("example.arc.gz", "arc"),
        ("example-iana.org-chunked.warc", "warc"),
        # The malformed fixtures still look like what they are; readers report their faults.
        ("example-trunc.warc", "warc"),
        ("example-bad.warc.gz.bad", "warc"),
        ("example-wrong-chunks.warc.gz", "warc"),
        ("bad.arc", "arc"),
    ],
)
def test_detects_archive_fixtures(name: str, expected: str) -> None:
    assert detect_format(WARCS / name, name) == expected


def test_detects_docred_fixture() -> None:
    path = FIXTURES / "docred" / "redocred_dev.json"
    assert detect_format(path, "redocred_dev.json") == "docred"


def test_content_wins_over_a_misleading_extension(tmp_path: Path) -> None:
    path = _write(tmp_path, "upload.bin", (WARCS / "whirlwind.warc.gz").read_bytes())
    assert detect_format(path, "upload.bin") == "warc"


def test_detects_zstd_warc(tmp_path: Path) -> None:
    path = tmp_path / "ww.warc.zst"
    writer = ZstdWriter(str(path))
    writer.write(gzip.decompress((WARCS / "whirlwind.warc.gz").read_bytes()))
    writer.close()
    assert compression_of(path.read_bytes()[:8]) == "zstd"
    assert detect_format(path, path.name) == "warc"


@pytest.mark.parametrize(
    ("name", "lines"),
    [
        ("ccnet.json.gz", [{"url": "http://a.cn", "raw_content": "你好", "language": "zh", "digest": "sha1:X"}]),
        ("generic.jsonl", [{"text": "hello"}, {"text": "world"}]),
        ("content.jsonl", [{"id": 1, "content": "内容"}]),
    ],
)
def test_detects_json_lines(tmp_path: Path, name: str, lines: list[dict[str, object]]) -> None:
    data = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode() + b"\n"
    path = _write(tmp_path, name, gzip.compress(data) if name.endswith(".gz") else data)
    assert detect_format(path, name) == "jsonl"


def test_detects_json_line_longer_than_the_sniff_sample(tmp_path: Path) -> None:
    line = json.dumps({"url": "http://a.cn", "raw_content": "长" * 200_000}, ensure_ascii=False)
    path = _write(tmp_path, "big.jsonl", line.encode() + b"\n")
    assert detect_format(path, "big.jsonl") == "jsonl"


def test_detects_html_and_text(tmp_path: Path) -> None:
    html = _write(tmp_path, "page", b"\n  <!DOCTYPE html><html><head><title>t</title></head></html>")
    gbk_text = _write(tmp_path, "novel.txt", "第一章 朱镕基\n正文。\n".encode("gb18030") * 50)
    big5_text = _write(tmp_path, "big5", "臺灣的學者們討論了問題。\n".encode("big5") * 50)
    utf16_text = _write(tmp_path, "utf16.txt", "\ufeff中文文本\r\n".encode("utf-16-le") * 20)
    assert detect_format(html, "page.htm") == "html"
    assert detect_format(gbk_text, "novel.txt") == "txt"
    assert detect_format(big5_text, "big5") == "txt"
    assert detect_format(utf16_text, "utf16.txt") == "txt"


def test_detects_zip(tmp_path: Path) -> None:
    path = tmp_path / "batch.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dir/a.txt", "你好")
    assert detect_format(path, "batch.zip") == "zip"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.warc.gz", b"", "is empty"),
        ("blank.txt", b" \n\t\r\n", "only whitespace"),
        ("gzipped-empty.jsonl.gz", gzip.compress(b"", mtime=0), "empty after decompression"),
        ("random.dat", _random_bytes(4096), "binary data"),
        ("random.gz", gzip.compress(_random_bytes(4096), mtime=0), "binary data"),
        ("fake.warc.gz", gzip.compress(b"just some text\n" * 10, mtime=0), "named like a web archive"),
        ("fake.warc", b"<html><body>hi</body></html>", "named like a web archive"),
        ("fake.zip", b"plain text, not a zip\n", "named like a zip"),
        ("notes.jsonl", b"plain text, not json\n", "named like a JSON file"),
        ("doc.pdf", b"%PDF-1.7\n" + _random_bytes(100), "PDF document"),
        ("corrupt.warc.gz", b"\x1f\x8b\x08\x00" + _random_bytes(500), "corrupt or truncated"),
        ("array.json", b'[{"text": "not docred"}]', "not DocRED"),
        ("numbers.json", b"[1, 2, 3]", "array of number values"),
        ("empty-array.json", b"[]", "empty JSON array"),
        ("pretty.json", b'{\n  "text": "one object over several lines"\n}\n', "expected JSON Lines"),
        ("no-text.jsonl", b'{"url": "http://a.cn", "body": "x"}\n', "need a string field"),
        ("broken.json", b'[{"title": "x", "sents": [', "not valid JSON"),
        ("bad-zip.zip", b"PK\x03\x04" + _random_bytes(200), "not a readable zip"),
    ],
)
def test_rejects_unreadable_files(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    path = _write(tmp_path, name, data)
    with pytest.raises(FormatError, match=message):
        detect_format(path, name)


def test_format_error_is_a_value_error() -> None:
    assert issubclass(FormatError, ValueError)
    assert issubclass(LimitExceededError, FormatError)


@pytest.mark.parametrize(
    "member", ["../evil.txt", "a/../../evil.txt", "/etc/passwd", "\\windows\\evil", "C:\\evil.txt", "a\\..\\b"]
)
def test_zip_slip_is_rejected(tmp_path: Path, member: str) -> None:
    path = tmp_path / "slip.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ok.txt", "fine")
        archive.writestr(zipfile.ZipInfo(member), "evil")
    with pytest.raises(FormatError, match=r"absolute or '\.\.' path"):
        detect_format(path, "slip.zip")


@pytest.mark.parametrize(
    ("name", "unsafe"),
    [("a/b.txt", False), ("a..b.txt", False), ("..", True), ("", True), ("a/\x00b", True), ("D:rel", True)],
)
def test_unsafe_member_names(name: str, unsafe: bool) -> None:
    assert is_unsafe_member_name(name) is unsafe


def test_zip_without_files_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "dirs.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("only/"), "")
    with pytest.raises(FormatError, match="without files"):
        detect_format(path, "dirs.zip")


def test_open_decompressed_stops_a_gzip_bomb(tmp_path: Path) -> None:
    bomb = gzip.compress(b"\0" * (8 * 1024 * 1024), 9)
    assert len(bomb) < 10_000
    path = _write(tmp_path, "bomb.txt.gz", bomb)
    progress = ReadProgress()
    with pytest.raises(LimitExceededError, match="decompression bomb"):
        _drain(path, progress, 1024 * 1024)
    assert progress.decompressed_bytes <= 1024 * 1024 + 128 * 1024


def _drain(path: Path, progress: ReadProgress, limit: int) -> None:
    with open_decompressed(path, progress=progress, max_total_bytes=limit) as stream:
        while stream.read(64 * 1024):
            pass


def test_open_decompressed_reports_progress(tmp_path: Path) -> None:
    data = "中文行\n".encode() * 10_000
    path = _write(tmp_path, "lines.txt.gz", gzip.compress(data))
    progress = ReadProgress()
    with open_decompressed(path, progress=progress) as stream:
        assert stream.read() == data
    assert progress.decompressed_bytes == len(data)
    assert progress.bytes_read == path.stat().st_size


@pytest.mark.parametrize(("compress", "name"), [(bz2.compress, "x.txt.bz2"), (lzma.compress, "x.txt.xz")])
def test_open_decompressed_other_codecs(tmp_path: Path, compress: Callable[[bytes], bytes], name: str) -> None:
    data = b"hello\n" * 100
    path = _write(tmp_path, name, compress(data))
    with open_decompressed(path, progress=ReadProgress()) as stream:
        assert stream.read() == data
    assert detect_format(path, name) == "txt"


def test_record_error_as_dict_drops_empty_fields() -> None:
    error = RecordError(120, "line 3: invalid JSON", line=3)
    assert error.as_dict() == {"offset": 120, "message": "line 3: invalid JSON", "line": 3, "fatal": False}


def test_detection_reads_only_a_sample(tmp_path: Path) -> None:
    # A 50 MB text file is classified from its first bytes.
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:
        handle.write(b"line of text\n" * (50 * 1024 * 1024 // 13))
    assert detect_format(path, "huge.txt") == "txt"
