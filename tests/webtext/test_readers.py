import gzip
import json
import tempfile
import zipfile
from collections.abc import Generator
from itertools import islice
from pathlib import Path

import pytest

from app.webtext.extraction import decode_html
from app.webtext.readers import iter_docred, iter_html, iter_jsonl, iter_records, iter_text, iter_zip
from app.webtext.records import FormatError, RawRecord, ReadProgress, RecordError

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
DOCRED = FIXTURES / "docred" / "redocred_dev.json"

Item = RawRecord | RecordError


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _jsonl(*objects: object) -> bytes:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects).encode()


def _records(items: list[Item]) -> list[RawRecord]:
    return [i for i in items if isinstance(i, RawRecord)]


def _errors(items: list[Item]) -> list[RecordError]:
    return [i for i in items if isinstance(i, RecordError)]


# JSON Lines


def test_ccnet_jsonl_fields(tmp_path: Path) -> None:
    line = {
        "url": "http://news.example.cn/1",
        "date_download": "2019-02-15T19:46:29Z",
        "digest": "sha1:ABC",
        "title": "标题",
        "raw_content": "第一段。\n第二段。",
        "language": "zh",
        "language_score": 0.98,
    }
    path = _write(tmp_path, "ccnet.json.gz", gzip.compress(_jsonl(line)))
    (record,) = list(iter_jsonl(path))
    assert isinstance(record, RawRecord)
    assert record.kind == "text"
    assert record.text == "第一段。\n第二段。"
    assert record.url == "http://news.example.cn/1"
    assert record.title == "标题"
    assert record.record_id == "sha1:ABC"
    assert record.language_hint == "zh"
    assert record.crawl_date is not None
    assert record.crawl_date.isoformat() == "2019-02-15T19:46:29+00:00"


def test_invalid_jsonl_lines_are_skipped_with_line_numbers(tmp_path: Path) -> None:
    data = (
        _jsonl({"text": "一"})
        + b"{broken json\n"
        + b"\n"
        + b"[1, 2]\n"
        + _jsonl({"url": "http://x.cn"})
        + "不是UTF-8".encode("gbk")
        + b"\n"
        + _jsonl({"content": "二", "id": 7, "date": 1_700_000_000_000})
    )
    items = list(iter_jsonl(_write(tmp_path, "mixed.jsonl", data)))
    assert [r.text for r in _records(items)] == ["一", "二"]
    errors = _errors(items)
    assert [e.line for e in errors] == [2, 4, 5, 6]
    assert "invalid JSON" in errors[0].message
    assert "expected a JSON object" in errors[1].message
    assert "no string field" in errors[2].message
    assert "not UTF-8" in errors[3].message
    assert not any(e.fatal for e in errors)
    assert errors[0].offset == len(_jsonl({"text": "一"}))
    last = _records(items)[-1]
    assert last.record_id == "7"
    assert last.crawl_date is not None
    assert last.crawl_date.year == 2023


def test_overlong_jsonl_line_is_skipped(tmp_path: Path) -> None:
    data = _jsonl({"text": "长" * 50_000}, {"text": "短"})
    items = list(iter_jsonl(_write(tmp_path, "long.jsonl", data), max_record_bytes=10_000))
    assert isinstance(items[0], RecordError)
    assert items[0].line == 1
    assert "longer than the limit" in items[0].message
    assert isinstance(items[1], RawRecord)
    assert items[1].text == "短"
    assert items[1].offset == len(_jsonl({"text": "长" * 50_000}))


def test_jsonl_with_bom(tmp_path: Path) -> None:
    path = _write(tmp_path, "bom.jsonl", b"\xef\xbb\xbf" + _jsonl({"text": "有BOM"}))
    assert [r.text for r in _records(list(iter_jsonl(path)))] == ["有BOM"]


def test_truncated_gzip_jsonl_keeps_earlier_lines(tmp_path: Path) -> None:
    data = gzip.compress(_jsonl(*({"text": f"第{i}行"} for i in range(5000))))
    items = list(iter_jsonl(_write(tmp_path, "cut.jsonl.gz", data[: len(data) // 2])))
    records, errors = _records(items), _errors(items)
    assert len(records) > 100
    assert len(errors) == 1
    assert errors[0].fatal
    assert "corrupt or truncated" in errors[0].message
    assert errors[0].line == len(records) + 1


def test_jsonl_bomb_stops_at_the_batch_limit(tmp_path: Path) -> None:
    data = gzip.compress(_jsonl(*({"text": "x" * 1000} for _ in range(20_000))), 9)
    progress = ReadProgress()
    items = list(iter_jsonl(_write(tmp_path, "bomb.jsonl.gz", data), max_total_bytes=1_000_000, progress=progress))
    assert isinstance(items[-1], RecordError)
    assert items[-1].fatal
    assert "decompression bomb" in items[-1].message
    assert progress.decompressed_bytes < 1_200_000


# Plain text and HTML files


def test_gbk_text_file(tmp_path: Path) -> None:
    text = "第一章 朱镕基\n\n这是正文的第一段。\n这是第二段。\n" * 20
    (record,) = list(iter_text(_write(tmp_path, "novel.txt", text.encode("gb18030"))))
    assert isinstance(record, RawRecord)
    assert record.kind == "text"
    assert record.text == text
    assert record.content_type == "text/plain; charset=gb18030"


def test_big5_text_file(tmp_path: Path) -> None:
    text = "臺灣的學者們在這次會議上討論了關於語言學習與教育發展的許多問題。\n" * 10
    (record,) = list(iter_text(_write(tmp_path, "tw.txt", text.encode("big5"))))
    assert isinstance(record, RawRecord)
    assert record.text == text


def test_utf16_text_file(tmp_path: Path) -> None:
    text = "中文文本\n第二行\n"
    (record,) = list(iter_text(_write(tmp_path, "u16.txt", text.encode("utf-16"))))
    assert isinstance(record, RawRecord)
    assert record.text == text


def test_large_text_file_is_split_on_lines(tmp_path: Path) -> None:
    lines = [f"第{i}行的内容。\n" for i in range(1000)]
    items = list(iter_text(_write(tmp_path, "big.txt", "".join(lines).encode()), max_record_bytes=2000))
    records = _records(items)
    assert len(records) > 1
    assert all(r.text is not None and len(r.text) <= 2000 for r in records)
    assert "".join(r.text or "" for r in records) == "".join(lines)
    assert [r.offset for r in records] == sorted(r.offset for r in records)


def test_overlong_text_line_is_reported(tmp_path: Path) -> None:
    data = ("短行\n" + "长" * 5000 + "\n" + "又一行\n").encode()
    items = list(iter_text(_write(tmp_path, "t.txt", data), max_record_bytes=1000))
    assert [type(i).__name__ for i in items] == ["RecordError", "RawRecord"]
    assert "".join(r.text or "" for r in _records(items)) == "短行\n又一行\n"


def test_html_file_keeps_bytes_for_decoding(tmp_path: Path) -> None:
    html = '<html><head><meta charset="gb2312"><title>新闻</title></head><body><p>朱镕基</p></body></html>'
    (record,) = list(iter_html(_write(tmp_path, "page.html", html.encode("gbk"))))
    assert isinstance(record, RawRecord)
    assert record.kind == "html"
    assert record.content_bytes is not None
    assert "朱镕基" in decode_html(record.content_bytes, http_content_type=None)[0]


def test_html_file_over_the_limit(tmp_path: Path) -> None:
    path = _write(tmp_path, "big.html", b"<html>" + b"x" * 5000)
    (error,) = list(iter_html(path, max_record_bytes=1000))
    assert isinstance(error, RecordError)
    assert "larger than the limit" in error.message


# DocRED


def test_docred_fixture_streams_documents() -> None:
    progress = ReadProgress()
    first = list(islice(iter_docred(DOCRED, progress=progress), 3))
    assert all(isinstance(r, RawRecord) and r.kind == "docred" for r in first)
    record = first[0]
    assert isinstance(record, RawRecord)
    assert record.docred is not None
    assert record.title == record.docred["title"]
    assert record.record_id == "0"
    assert {"title", "sents", "vertexSet", "labels"} <= set(record.docred)
    assert isinstance(record.docred["sents"][0][0], str)
    assert isinstance(record.docred["vertexSet"][0][0]["pos"][0], int)
    # Only a prefix of the 3 MB file was read to produce three documents.
    assert progress.decompressed_bytes < DOCRED.stat().st_size


def test_docred_fixture_has_500_documents() -> None:
    items = list(iter_docred(DOCRED))
    assert len(items) == 500
    assert not _errors(items)


def test_truncated_docred_yields_documents_then_a_fatal_error(tmp_path: Path) -> None:
    data = DOCRED.read_bytes()[:200_000]
    items = list(iter_docred(_write(tmp_path, "cut.json", data)))
    records, errors = _records(items), _errors(items)
    assert len(records) > 5
    assert len(errors) == 1
    assert errors[0].fatal
    assert f"after document {len(records) - 1}" in errors[0].message


def test_docred_items_without_sentences(tmp_path: Path) -> None:
    data = json.dumps([{"title": "a", "sents": [["A", "."]], "vertexSet": []}, {"title": "b"}, 3]).encode()
    items = list(iter_docred(_write(tmp_path, "d.json", data)))
    assert isinstance(items[0], RawRecord)
    assert [e.message for e in _errors(items)] == [
        "item 1 is not a DocRED document (it has no 'sents' list)",
        "item 2 is not a DocRED document (it has no 'sents' list)",
    ]


# Zip


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_zip_members_are_dispatched_by_content(tmp_path: Path) -> None:
    warc = (FIXTURES / "warc" / "whirlwind.warc.gz").read_bytes()
    path = _zip(
        tmp_path / "batch.zip",
        {
            "crawl/whirlwind.warc.gz": warc,
            "crawl/ccnet.jsonl": _jsonl({"raw_content": "中文", "url": "http://a.cn"}, {"nope": 1}),
            "notes/readme.txt": "说明文字。\n".encode(),
            "empty.txt": b"",
            "nested.zip": (_zip(tmp_path / "inner.zip", {"a.txt": b"x"})).read_bytes(),
            "photo.png": b"\x89PNG\r\n\x1a\n" + bytes(100),
        },
    )
    progress = ReadProgress()
    items = list(iter_zip(path, progress=progress))
    records = _records(items)
    assert [(r.member, r.kind) for r in records] == [
        ("crawl/whirlwind.warc.gz", "html"),
        ("crawl/ccnet.jsonl", "text"),
        ("notes/readme.txt", "text"),
    ]
    errors = {e.member: e.message for e in _errors(items)}
    assert set(errors) == {"crawl/ccnet.jsonl", "empty.txt", "nested.zip", "photo.png"}
    assert "is empty" in errors["empty.txt"]
    assert "nested zip" in errors["nested.zip"]
    assert "PNG image" in errors["photo.png"]
    assert not any(e.fatal for e in _errors(items))
    assert progress.decompressed_bytes > len(warc)
    assert 0 < progress.bytes_read <= path.stat().st_size


def test_zip_slip_rejects_the_archive_before_extracting(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    path = _zip(workdir / "slip.zip", {"ok.txt": b"fine", "../evil.txt": b"evil"})
    with pytest.raises(FormatError, match=r"evil\.txt"):
        list(iter_zip(path))
    assert not (tmp_path / "evil.txt").exists()
    assert sorted(p.name for p in workdir.iterdir()) == ["slip.zip"]


def test_zip_bomb_member_is_limited(tmp_path: Path) -> None:
    path = _zip(tmp_path / "bomb.zip", {"a.txt": b"ok\n", "zeros.txt": b"\0" * (8 * 1024 * 1024)})
    assert path.stat().st_size < 100_000
    items = list(iter_zip(path, max_total_bytes=1024 * 1024))
    assert isinstance(items[0], RawRecord)
    assert isinstance(items[-1], RecordError)
    assert items[-1].fatal
    assert items[-1].member == "zeros.txt"
    assert "limit" in items[-1].message


@pytest.fixture
def system_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system temp directory, watched: ingestion must leave nothing there."""
    directory = tmp_path / "system-tmp"
    directory.mkdir()
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.mark.parametrize(
    ("member", "readable"),
    [
        # Rejected members (binary) counted nothing before: six of them passed a 10 MiB budget.
        (b"\0" * (8 * 1024**2), False),
        (b"\x89PNG\r\n\x1a\n" + bytes(8 * 1024**2), False),
        ("一行中文。\n".encode() * (8 * 1024**2 // 16), True),
    ],
)
def test_zip_of_many_members_stops_at_the_budget(
    tmp_path: Path, system_tmp: Path, member: bytes, readable: bool
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    path = _zip(data_dir / "many.zip", {f"m{i}.txt": member for i in range(6)})
    assert path.stat().st_size < 1024**2
    progress = ReadProgress()
    items = list(iter_zip(path, max_total_bytes=10 * 1024**2, progress=progress))
    errors = _errors(items)
    assert errors[-1].fatal
    assert errors[-1].member == "m1.txt"
    assert "exceed what remains of the batch limit" in errors[-1].message
    assert bool(_records(items)) is readable
    assert progress.decompressed_bytes <= 10 * 1024**2
    assert sorted(p.name for p in data_dir.iterdir()) == ["many.zip"]
    assert list(system_tmp.iterdir()) == []


def test_zip_members_lying_about_their_size_are_cut_and_never_pass_the_budget(tmp_path: Path) -> None:
    path = _zip(tmp_path / "liar.zip", {f"m{i}.txt": b"line\n" * (2 * 1024**2 // 5) for i in range(6)})
    # Each central directory entry now declares 1,000 bytes for a 2 MiB member.
    data = bytearray(path.read_bytes())
    entry = data.find(b"PK\x01\x02")
    while entry >= 0:
        data[entry + 24 : entry + 28] = (1000).to_bytes(4, "little")
        entry = data.find(b"PK\x01\x02", entry + 46)
    path.write_bytes(bytes(data))
    progress = ReadProgress()
    items = list(iter_zip(path, max_total_bytes=3 * 1024**2, progress=progress))
    assert progress.decompressed_bytes <= 3 * 1024**2
    assert items
    assert all(isinstance(item, RecordError) and "m" in (item.member or "") for item in items)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["liar.zip"]


def test_zip_members_are_unpacked_beside_the_zip_and_removed_when_reading_stops(
    tmp_path: Path, system_tmp: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    path = _zip(data_dir / "two.zip", {"a.jsonl": _jsonl({"text": "一"}, {"text": "二"}), "b.txt": b"three\n"})
    items = iter_zip(path)
    assert isinstance(items, Generator)
    next(items)
    during = [p.name for p in data_dir.iterdir()]
    items.close()
    assert len(during) == 2
    assert sorted(p.name for p in data_dir.iterdir()) == ["two.zip"]
    assert list(system_tmp.iterdir()) == []


# Dispatch


def test_iter_records_dispatches_and_rejects(tmp_path: Path) -> None:
    wet = FIXTURES / "warc" / "whirlwind.warc.wet.gz"
    (record,) = list(iter_records(wet, wet.name))
    assert isinstance(record, RawRecord)
    assert record.kind == "text"
    with pytest.raises(FormatError, match="is empty"):
        iter_records(_write(tmp_path, "e.jsonl", b""), "e.jsonl")
    with pytest.raises(FormatError, match="binary data"):
        iter_records(_write(tmp_path, "r.bin", bytes(range(256)) * 20), "r.bin")


def test_readers_raise_on_empty_files(tmp_path: Path) -> None:
    path = _write(tmp_path, "empty", b"")
    for reader in (iter_jsonl, iter_text, iter_html, iter_docred):
        with pytest.raises(FormatError, match="empty"):
            list(reader(path))


def _small_truncated_jsonl_gz(records: int = 8) -> bytes:
    """A few hundred bytes of gzip cut three quarters in: whole lines first, then the damage."""
    texts = ("".join(chr(0x4E00 + (i * 7919 + k * 104729) % 20000) for k in range(60)) for i in range(records))
    lines = _jsonl(*({"text": text} for text in texts))
    data = gzip.compress(lines)
    return data[: len(data) * 3 // 4]


def test_a_small_truncated_gzip_keeps_the_lines_before_the_damage(tmp_path: Path) -> None:
    data = _small_truncated_jsonl_gz()
    assert len(data) < 1500
    path = _write(tmp_path, "cut.jsonl.gz", data)
    items = list(iter_records(path, path.name))
    records, errors = _records(items), _errors(items)
    assert len(records) >= 3
    assert [e.fatal for e in errors] == [True]
    assert "corrupt or truncated" in errors[0].message
