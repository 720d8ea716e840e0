"""Hostile uploads bound ingestion's work: deep pages are skipped quickly, slow extractions are stopped, small
damaged files keep their records, and a huge batch lets batches queued behind it go first."""

import gzip
import json
import random
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from app import jobs
from app.config import get_settings
from app.crawl_batch import jobs as ingest_jobs
from app.crawl_batch.jobs import ingest_batch
from app.crawl_batch.service import create_batch
from app.crawl_batch.uploads import StoredUpload
from app.models import BatchStatus, CrawlBatch, Project
from app.webtext import extraction_sandbox
from app.webtext.extraction import extract_main_text
from app.webtext.extraction_sandbox import ExtractionStoppedError, extract_with_time_limit
from app.webtext.markup_limits import nesting_depth
from app.webtext.pipeline import IngestPolicy, Skipped, process_record
from app.webtext.records import RawRecord
from tests.crawl_batch.test_ingest import ZH_PARAGRAPHS, Ingest, _unique_text
from tests.factories import html_page, warc_response


@pytest.fixture
def ing(engine: Engine, tmp_path: Path) -> Iterator[Ingest]:
    helper = Ingest(engine, tmp_path)
    yield helper
    helper.cleanup()


def _random_text(i: int) -> str:
    rng = random.Random(i)
    return "".join(chr(0x4E00 + rng.randrange(20000)) for _ in range(80)) + "。"


def _nested(levels: int) -> bytes:
    return ("<html><body>" + "<div>" * levels + "深" + "</div>" * levels + "</body></html>").encode()


def _pages(*bodies: bytes) -> bytes:
    return b"".join(warc_response(f"http://example.cn/{i}", body) for i, body in enumerate(bodies))


def _good(i: int) -> bytes:
    return html_page(f"第{i}篇", [*ZH_PARAGRAPHS, _unique_text(i)]).encode()


@pytest.mark.parametrize(
    ("html", "depth"),
    [
        ("", 0),
        ("plain text, a < b > c", 0),
        ("<div><DIV><span>x</span></DIV></div>", 3),
        # Void elements, self-closing tags and omitted end tags do not nest.
        ("<div><br><img src='/a/b'><input/><p>one<p>two<li>three<custom-tag/></div>", 1),
        # Stray end tags close nothing, and give no credit for later starts.
        ("</div></div></div><div><div></div></div>", 2),
        ("<!-- <div><div> --><div>", 1),
    ],
)
def test_nesting_depth(html: str, depth: int) -> None:
    assert nesting_depth(html) == depth


def test_nesting_depth_of_200000_levels_takes_well_under_a_second() -> None:
    html = _nested(200_000).decode()
    started = time.monotonic()
    assert nesting_depth(html) == 200_000
    assert time.monotonic() - started < 1.0


def test_the_pipeline_skips_a_page_over_the_depth_limit_before_extracting_it() -> None:
    policy = IngestPolicy(max_html_depth=100)
    deep = process_record(RawRecord(kind="html", offset=0, content_bytes=_nested(101)), policy)
    assert deep == Skipped("skipped: HTML nested 101 levels deep (limit 100)")
    shallow = process_record(RawRecord(kind="html", offset=0, content_bytes=_good(1)), policy)
    assert not isinstance(shallow, Skipped)


@pytest.mark.parametrize(
    "html",
    [
        html_page("标题 𠮷", ZH_PARAGRAPHS),
        "<html><body><p>没有标题的页面，只有一段正文。</p></body></html>",
        "   ",
    ],
)
def test_the_helper_process_extracts_exactly_what_extraction_in_process_does(html: str) -> None:
    in_process = extract_main_text(html, url="http://example.cn/")
    assert extract_with_time_limit(html, url="http://example.cn/", extractor="resiliparse", seconds=30) == in_process


def test_a_crashing_parser_stops_one_page_and_the_next_page_gets_a_new_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    page = html_page("标题", ZH_PARAGRAPHS)
    extract_with_time_limit(page, url=None, extractor="resiliparse", seconds=30)
    original = extraction_sandbox._Helper.extract

    def crash_first(self: Any, *args: Any) -> Any:
        self.process.kill()  # as a segfault in the parser would
        monkeypatch.setattr(extraction_sandbox._Helper, "extract", original)
        return original(self, *args)

    monkeypatch.setattr(extraction_sandbox._Helper, "extract", crash_first)
    with pytest.raises(ExtractionStoppedError, match=r"crashed \(its process ended with code -9\)"):
        extract_with_time_limit(page, url=None, extractor="resiliparse", seconds=30)
    assert extract_with_time_limit(page, url=None, extractor="resiliparse", seconds=30).text


def test_a_deeply_nested_page_is_skipped_quickly_and_the_next_pages_are_kept(ing: Ingest) -> None:
    pid = ing.project()
    ing.batch(pid, _pages(_good(0)), "warm-up.warc")  # starts the extraction helper process
    started = time.monotonic()
    batch = ing.batch(pid, _pages(_good(1), _nested(200_000), _good(2), _good(3)), "deep.warc")
    assert time.monotonic() - started < 3.0
    assert batch.status == BatchStatus.done_with_errors
    assert batch.counts["kept"] == 3
    (error,) = batch.errors
    limit = get_settings().ingest_max_html_depth
    assert error["message"] == f"skipped: HTML nested 200,000 levels deep (limit {limit:,})"
    assert error["offset"] > 0
    assert len(ing.documents(pid)) == 4


def test_a_page_over_the_html_size_limit_is_skipped(ing: Ingest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "ingest_max_html_bytes", 20_000)
    pid = ing.project()
    big = html_page("大", [_unique_text(i) for i in range(100)]).encode()
    batch = ing.batch(pid, _pages(_good(1), big, _good(2)), "big.warc")
    assert batch.counts["kept"] == 2
    assert batch.errors[0]["message"].startswith(f"skipped: HTML of {len(big):,} bytes (limit 20,000)")


def test_an_extraction_past_the_time_limit_is_stopped_and_ingestion_goes_on(
    ing: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the depth guard, 30,000 levels keep resiliparse busy for many seconds.
    monkeypatch.setattr(get_settings(), "ingest_max_html_depth", 1_000_000)
    monkeypatch.setattr(get_settings(), "ingest_extract_seconds", 1.0)
    pid = ing.project()
    ing.batch(pid, _pages(_good(0)), "warm-up.warc")  # starts the helper process
    started = time.monotonic()
    batch = ing.batch(pid, _pages(_good(1), _nested(30_000), _good(2)), "slow.warc")
    assert time.monotonic() - started < 8.0
    assert batch.counts["kept"] == 2
    assert [e["message"] for e in batch.errors] == ["skipped: main-text extraction took over 1 s (limit 1 s)"]


def test_a_small_truncated_gzip_keeps_the_records_before_the_damage(ing: Ingest) -> None:
    pid = ing.project(min_chars=10)
    data = gzip.compress(
        b"".join(json.dumps({"text": _unique_text(i)[:40]}, ensure_ascii=False).encode() + b"\n" for i in range(6))
    )
    # Like the 432-byte file of the report: the whole file fits in the format check's sample.
    cut = data[: len(data) * 3 // 4]
    assert len(cut) < 600
    batch = ing.batch(pid, cut, "small.jsonl.gz")
    assert batch.status == BatchStatus.done_with_errors, batch.failure_reason
    assert batch.counts["kept"] >= 2
    assert "corrupt or truncated" in (batch.failure_reason or "")
    assert len(ing.documents(pid)) == batch.counts["kept"]


def test_a_small_batch_queued_behind_a_huge_one_finishes_first(ing: Ingest, monkeypatch: pytest.MonkeyPatch) -> None:
    queue: deque[tuple[str, dict[str, Any]]] = deque()
    monkeypatch.setattr(jobs, "_send", lambda name, ids: queue.append((name, ids)))
    # Slices end at every store (the huge batch has 40 of them) so that the test stays small.
    monkeypatch.setattr(ingest_jobs, "CHUNK_RECORDS", 1)
    monkeypatch.setattr(ingest_jobs, "PROCESS_RECORDS", 8)
    monkeypatch.setattr(get_settings(), "ingest_slice_seconds", 1e-9)
    pid = ing.project(min_chars=10)

    def upload(name: str, texts: list[str]) -> int:
        path = ing.tmp / name
        path.write_bytes(b"".join(json.dumps({"text": t}, ensure_ascii=False).encode() + b"\n" for t in texts))
        with Session(ing.engine) as s:
            project = s.get(Project, pid)
            assert project is not None
            upload = StoredUpload(path, name, path.stat().st_size, "0" * 64)
            batch = create_batch(s, project=project, upload=upload, fmt=None, created_by=None)
            s.commit()
            assert batch.id is not None
            return batch.id

    huge = upload("huge.jsonl", [_random_text(i) for i in range(320)])
    small = upload("small.jsonl", [_random_text(1000 + i) for i in range(3)])
    finished: list[int] = []
    delivered = 0
    while queue:
        name, ids = queue.popleft()
        assert name == "crawl_batch.ingest"
        delivered += 1
        ingest_batch(ids["batch_id"], engine=ing.engine, slice_no=ids.get("slice_no", 0))
        if ing.get(ids["batch_id"]).status == BatchStatus.done:
            finished.append(ids["batch_id"])
        # The same message delivered again (its worker died before acknowledging it) changes nothing.
        ingest_batch(ids["batch_id"], engine=ing.engine, slice_no=ids.get("slice_no", 0))
    assert finished == [small, huge]
    assert delivered == 3
    with Session(ing.engine) as s:
        big = s.get(CrawlBatch, huge)
        assert big is not None
        assert big.counts["kept"] == 320, big.counts
        assert big.counts["records"] == 320
    assert len(ing.documents(pid)) == 323
