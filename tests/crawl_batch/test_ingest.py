"""The ingestion job on real files and real databases: kept, filtered, deduplicated, resumable, never crashing."""

import gzip
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from app.crawl_batch import jobs as ingest_jobs
from app.crawl_batch import known_documents
from app.crawl_batch.jobs import ingest_batch
from app.crawl_batch.service import create_batch
from app.crawl_batch.uploads import StoredUpload
from app.models import (
    Annotator,
    BatchStatus,
    CrawlBatch,
    Document,
    DocumentStatus,
    Entity,
    Mention,
    Project,
    Relation,
)
from app.models.types import utcnow
from app.project.service import create_project
from app.webtext.dedup import is_current_signature, minhash_signature, signature_to_bytes
from app.webtext.pipeline import IngestPolicy, Processed, process_record
from app.webtext.records import RawRecord
from tests.conftest import FIXTURES
from tests.factories import html_page, warc_response

ZH_PARAGRAPHS = [
    "张伟于二零零八年毕业于北京大学计算机系，随后加入华为技术有限公司，担任软件工程师。",
    "二零一五年，他与大学同学李娜共同创办了一家位于深圳的人工智能公司，专注于自然语言处理。",
    "公司成立三年后获得多轮融资，员工人数超过两百人，产品覆盖金融、医疗和教育等多个行业。",
]


def _unique_text(i: int) -> str:
    """Chinese-looking text that shares no 5-grams with the others (so no near-duplicates)."""
    return "".join(chr(0x4E00 + (i * 7919 + k * 104729) % 20000) for k in range(120)) + "。"


class Ingest:
    """Commits for real (the job uses its own sessions), and deletes its project afterwards."""

    def __init__(self, engine: Engine, tmp: Path) -> None:
        self.engine = engine
        self.tmp = tmp
        self.project_ids: list[int] = []

    def project(self, **settings: object) -> int:
        with Session(self.engine) as s:
            p = create_project(s, name=f"ingest-{len(self.project_ids)}-{id(self)}", preset="zh-general")
            p.settings = {"languages": ["zh"], **settings}
            s.commit()
            assert p.id is not None
            self.project_ids.append(p.id)
            return p.id

    def batch(self, project_id: int, source: Path | bytes, filename: str, fmt: str | None = None) -> CrawlBatch:
        path = self.tmp / f"{len(list(self.tmp.iterdir()))}-{filename}"
        if isinstance(source, bytes):
            path.write_bytes(source)
        else:
            shutil.copy(source, path)
        with Session(self.engine) as s:
            project = s.get(Project, project_id)
            assert project is not None
            upload = StoredUpload(path, filename, path.stat().st_size, "0" * 64)
            batch = create_batch(s, project=project, upload=upload, fmt=fmt, created_by=None)  # type: ignore[arg-type]
            s.commit()
            assert batch.id is not None
            batch_id = batch.id
        ingest_batch(batch_id, engine=self.engine)
        return self.get(batch_id)

    def get(self, batch_id: int) -> CrawlBatch:
        with Session(self.engine) as s:
            batch = s.get(CrawlBatch, batch_id)
            assert batch is not None
            return batch

    def documents(self, project_id: int) -> list[Document]:
        with Session(self.engine) as s:
            return list(s.exec(select(Document).where(Document.project_id == project_id).order_by(col(Document.id))))

    def cleanup(self) -> None:
        with Session(self.engine) as s:
            for pid in self.project_ids:
                project = s.get(Project, pid)
                if project is not None:
                    s.delete(project)
            s.commit()


@pytest.fixture
def ing(engine: Engine, tmp_path: Path) -> Iterator[Ingest]:
    helper = Ingest(engine, tmp_path)
    yield helper
    helper.cleanup()


def test_whirlwind_warc_and_wet_become_documents(ing: Ingest) -> None:
    pid = ing.project(languages=["an", "es"])
    warc = ing.batch(pid, FIXTURES / "warc" / "whirlwind.warc.gz", "whirlwind.warc.gz")
    wet = ing.batch(pid, FIXTURES / "warc" / "whirlwind.warc.wet.gz", "whirlwind.warc.wet.gz")
    assert warc.status == BatchStatus.done, warc.failure_reason
    assert wet.status == BatchStatus.done
    assert warc.counts["kept"] == 1
    assert warc.bytes_read == warc.size_bytes
    doc = ing.documents(pid)[0]
    assert doc.url == "https://an.wikipedia.org/wiki/Escopete"
    assert doc.title.startswith("Escopete")
    assert doc.warc_record_id and doc.crawl_date is not None
    assert "Escopete" in doc.text
    assert all(doc.text[s:e].strip() == doc.text[s:e] and e > s for s, e in doc.sentences)


def test_gbk_and_big5_pages_decode_to_correct_chinese(ing: Ingest) -> None:
    pid = ing.project()
    gbk = html_page("朱镕基与国务院", [*ZH_PARAGRAPHS, "朱镕基曾任国务院总理，推动了多项经济改革。"], charset="gb2312")
    big5 = html_page(
        "臺灣大學",
        ["臺灣大學位於臺北市，是臺灣歷史最悠久的綜合大學之一，擁有眾多學院與研究中心。" * 2],
        nav="首頁 新聞 關於我們",
    )
    warc = warc_response("http://news.example.cn/a", gbk.encode("gb18030"), content_type="text/html") + warc_response(
        "http://tw.example.com/b", big5.encode("big5"), content_type="text/html; charset=big5"
    )
    batch = ing.batch(pid, warc, "pages.warc")
    assert batch.status == BatchStatus.done, (batch.failure_reason, batch.errors)
    docs = {d.url: d for d in ing.documents(pid)}
    simplified = docs["http://news.example.cn/a"]
    assert "朱镕基曾任国务院总理" in simplified.text
    assert simplified.title == "朱镕基与国务院"
    assert simplified.script == "hans"
    traditional = docs["http://tw.example.com/b"]
    assert "臺灣大學位於臺北市" in traditional.text
    assert traditional.script == "hant"
    assert "首页" not in simplified.text  # navigation boilerplate removed


def test_every_stored_column_reads_back_as_ingestion_made_it(ing: Ingest) -> None:
    pid = ing.project()
    text = "\n".join(ZH_PARAGRAPHS)
    line = {"url": "https://news.example.cn/x", "title": "公司新闻", "text": text}
    before = utcnow()
    batch = ing.batch(pid, json.dumps(line, ensure_ascii=False).encode(), "news.jsonl")
    assert batch.status == BatchStatus.done, batch.errors
    [doc] = ing.documents(pid)
    expected = process_record(
        RawRecord(kind="text", offset=0, text=text, title="公司新闻", url="https://news.example.cn/x"), IngestPolicy()
    )
    assert isinstance(expected, Processed)
    assert (doc.project_id, doc.batch_id, doc.url, doc.title) == (pid, batch.id, expected.url, expected.title)
    assert (doc.text, doc.language, doc.script, doc.text_hash) == (
        expected.text,
        expected.language,
        expected.script,
        expected.text_hash,
    )
    assert doc.sentences == [list(s) for s in expected.sentences]
    assert doc.minhash == expected.minhash and is_current_signature(doc.minhash)
    assert (doc.meta, doc.duplicate_urls, doc.status, doc.version) == ({}, [], DocumentStatus.new, 1)
    assert doc.created_at.tzinfo is not None and before <= doc.created_at <= utcnow()
    assert doc.locked_by_id is None and doc.curated_at is None


def test_crawl_dates_are_stored_in_utc(ing: Ingest) -> None:
    pid = ing.project()
    page = html_page("公司新闻", ZH_PARAGRAPHS).encode()
    record = warc_response("http://news.example.cn/a", page).replace(
        b"WARC-Date: 2024-05-18T10:00:00Z", b"WARC-Date: 2024-05-18T10:00:00+08:00"
    )
    batch = ing.batch(pid, record, "page.warc")
    assert batch.status == BatchStatus.done, batch.errors
    [doc] = ing.documents(pid)
    assert doc.crawl_date == datetime(2024, 5, 18, 2, 0, tzinfo=UTC)


def test_filters_are_counted_by_reason(ing: Ingest) -> None:
    pid = ing.project(min_chars=30)
    lines = [
        {"text": "太短了。", "url": "u1"},
        {"text": "This page is written in English and has nothing Chinese in it at all, none whatsoever.", "url": "u2"},
        {"text": "".join(ZH_PARAGRAPHS), "url": "u3"},
    ]
    raw = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines).encode()
    batch = ing.batch(pid, raw, "mixed.jsonl")
    assert batch.counts["records"] == 3
    assert batch.counts["kept"] == 1
    assert batch.counts["filtered:too_short"] == 1
    assert batch.counts["filtered:language"] == 1


def test_uploading_the_same_file_twice_creates_no_duplicates(ing: Ingest) -> None:
    pid = ing.project()
    raw = "\n".join(
        json.dumps(
            {"raw_content": p * 2, "url": f"https://a.example/{i}", "title": f"t{i}", "language": "zh"},
            ensure_ascii=False,
        )
        for i, p in enumerate(ZH_PARAGRAPHS)
    ).encode()
    first = ing.batch(pid, raw, "ccnet.jsonl")
    second = ing.batch(pid, raw, "ccnet-again.jsonl")
    assert first.counts["kept"] == 3
    assert second.counts.get("kept", 0) == 0
    assert second.counts["duplicates_exact"] == 3
    docs = ing.documents(pid)
    assert len(docs) == 3
    assert docs[0].duplicate_urls == ["https://a.example/0"]


def test_duplicate_urls_add_up_across_stores_and_batches_up_to_the_limit(
    ing: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_jobs, "PROCESS_RECORDS", 2)
    monkeypatch.setattr(ingest_jobs, "CHUNK_RECORDS", 1)
    monkeypatch.setattr(ingest_jobs, "MAX_DUPLICATE_URLS", 5)
    pid = ing.project()
    text = "".join(ZH_PARAGRAPHS)

    def lines(urls: list[str]) -> bytes:
        return "\n".join(json.dumps({"text": text, "url": url}, ensure_ascii=False) for url in urls).encode()

    first = ing.batch(pid, lines(["https://a.example/kept", "https://a.example/1", "https://a.example/2"]), "a.jsonl")
    assert first.counts["kept"] == 1 and first.counts["duplicates_exact"] == 2
    assert ing.documents(pid)[0].duplicate_urls == ["https://a.example/1", "https://a.example/2"]
    ing.batch(pid, lines([f"https://b.example/{i}" for i in range(4)]), "b.jsonl")
    [doc] = ing.documents(pid)
    assert doc.url == "https://a.example/kept" and doc.text == text
    assert doc.duplicate_urls == [
        "https://a.example/1",
        "https://a.example/2",
        "https://b.example/0",
        "https://b.example/1",
        "https://b.example/2",
    ]


def test_a_text_stored_meanwhile_by_another_batch_counts_as_a_duplicate(
    ing: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = ing.project()
    texts = [_unique_text(i) for i in range(3)]
    taken = process_record(RawRecord(kind="text", offset=0, text=texts[1]), IngestPolicy())
    assert isinstance(taken, Processed)
    start = ingest_jobs._start

    def start_then_store_one_elsewhere(engine: Engine, batch_id: int, slice_no: int) -> object:
        run = start(engine, batch_id, slice_no)
        # Another worker's batch stores the second text after this run loaded the project's hashes.
        with Session(engine) as session:
            session.add(Document(project_id=pid, text=texts[1], text_hash=taken.text_hash, url="https://other/1"))
            session.commit()
        return run

    monkeypatch.setattr(ingest_jobs, "_start", start_then_store_one_elsewhere)
    lines = "\n".join(json.dumps({"text": t, "url": f"https://a.example/{i}"}) for i, t in enumerate(texts))
    batch = ing.batch(pid, lines.encode(), "race.jsonl")
    assert batch.status == BatchStatus.done, (batch.failure_reason, batch.errors)
    assert (batch.counts["kept"], batch.counts["duplicates_exact"]) == (2, 1)
    docs = ing.documents(pid)
    assert sorted(d.url or "" for d in docs) == ["https://a.example/0", "https://a.example/2", "https://other/1"]
    assert all(d.sentences for d in docs if d.url and d.url.startswith("https://a."))


def test_near_duplicates_are_folded_into_the_kept_document(ing: Ingest) -> None:
    pid = ing.project()
    text = "".join(ZH_PARAGRAPHS) * 4
    near = text.replace("华为", "华伟", 1) + "（完）"
    raw = (
        json.dumps({"text": text, "url": "https://x.example/orig"}, ensure_ascii=False)
        + "\n"
        + json.dumps({"text": near, "url": "https://y.example/copy"}, ensure_ascii=False)
    ).encode()
    batch = ing.batch(pid, raw, "near.jsonl")
    assert batch.counts["kept"] == 1
    assert batch.counts["duplicates_near"] == 1
    assert ing.documents(pid)[0].duplicate_urls == ["https://y.example/copy"]


def test_existing_documents_are_loaded_chunk_by_chunk(ing: Ingest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(known_documents, "LOAD_CHUNK", 2)
    pid = ing.project(min_chars=10)
    texts = [_unique_text(i) * 2 for i in range(5)]

    def jsonl(items: list[tuple[str, str]]) -> bytes:
        return "\n".join(json.dumps({"text": t, "url": u}, ensure_ascii=False) for t, u in items).encode()

    first = ing.batch(pid, jsonl([(t, f"https://a.example/{i}") for i, t in enumerate(texts)]), "first.jsonl")
    assert first.counts["kept"] == 5
    near = texts[4][:-2] + "（完）"
    second = ing.batch(
        pid,
        jsonl([(texts[0], "https://b.example/0"), (near, "https://b.example/near"), (_unique_text(9), "")]),
        "b.jsonl",
    )
    assert second.counts["duplicates_exact"] == 1
    assert second.counts["duplicates_near"] == 1
    assert second.counts["kept"] == 1
    docs = ing.documents(pid)
    assert len(docs) == 6
    assert docs[0].duplicate_urls == ["https://b.example/0"]
    assert docs[4].duplicate_urls == ["https://b.example/near"]


def test_documents_signed_by_the_older_minhash_scheme_are_re_signed(
    ing: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(known_documents, "RESIGN_CHUNK", 2)
    pid = ing.project(min_chars=10)
    texts = [_unique_text(i) * 2 for i in range(3)]
    raw = "\n".join(json.dumps({"text": t, "url": f"https://a.example/{i}"}) for i, t in enumerate(texts))
    assert ing.batch(pid, raw.encode(), "first.jsonl").counts["kept"] == 3
    with Session(ing.engine) as s:
        for doc in s.exec(select(Document).where(Document.project_id == pid)):
            # What a document stored before one-permutation MinHash holds: 128 untagged uint32 values.
            doc.minhash = bytes(range(256)) * 2
            s.add(doc)
        s.commit()
    near = texts[2][:-2] + "（完）"
    second = ing.batch(pid, json.dumps({"text": near, "url": "https://b.example/near"}).encode(), "b.jsonl")
    assert second.counts["duplicates_near"] == 1
    docs = ing.documents(pid)
    assert all(is_current_signature(doc.minhash) for doc in docs)
    assert [doc.minhash for doc in docs] == [signature_to_bytes(minhash_signature(t)) for t in texts]
    assert docs[2].duplicate_urls == ["https://b.example/near"]


def test_invalid_json_lines_are_skipped_with_their_line_numbers(ing: Ingest) -> None:
    pid = ing.project()
    good = [json.dumps({"text": p * 2}, ensure_ascii=False) for p in ZH_PARAGRAPHS]
    raw = "\n".join([good[0], "{not json", good[1], '["a list"]', good[2]]).encode()
    batch = ing.batch(pid, raw, "some-bad.jsonl")
    assert batch.status == BatchStatus.done_with_errors
    assert batch.counts["kept"] == 3
    assert {e.get("line") for e in batch.errors} == {2, 4}


def test_lone_surrogates_from_json_escapes_are_stored_as_replacement_characters(ing: Ingest) -> None:
    # "\\ud800" is valid JSON but decodes to half a UTF-16 pair, which neither database can store.
    pid = ing.project()
    lines = [
        f'{{"text": "{ZH_PARAGRAPHS[0]}\\ud800{ZH_PARAGRAPHS[1]}", "title": "\\udfff标题", '
        '"url": "https://s.example/\\ud83d"}',
        json.dumps({"text": ZH_PARAGRAPHS[2] * 2}, ensure_ascii=False),
    ]
    batch = ing.batch(pid, "\n".join(lines).encode(), "surrogates.jsonl")
    assert batch.status == BatchStatus.done
    assert batch.counts["kept"] == 2
    doc = ing.documents(pid)[0]
    assert doc.text == ZH_PARAGRAPHS[0] + "\ufffd" + ZH_PARAGRAPHS[1]
    assert (doc.title, doc.url) == ("\ufffd标题", "https://s.example/\ufffd")


def test_docred_import_keeps_annotations_as_an_import_annotator(ing: Ingest) -> None:
    pid = ing.project()
    docs = json.loads((FIXTURES / "docred" / "redocred_dev.json").read_text())[:20]
    batch = ing.batch(pid, json.dumps(docs).encode(), "redocred_dev.json")
    assert batch.status == BatchStatus.done, batch.failure_reason
    assert batch.counts["kept"] == 20
    doc_ids = [d.id for d in ing.documents(pid)]
    with Session(ing.engine) as s:  # one session at a time: on SQLite each transaction takes the write lock
        annotators = s.exec(select(Annotator).where(Annotator.project_id == pid)).all()
        assert [(a.name, a.kind) for a in annotators] == [("import:redocred_dev", "import")]
        n_entities = s.exec(select(func.count()).select_from(Entity).where(col(Entity.document_id).in_(doc_ids))).one()
        n_mentions = s.exec(
            select(func.count()).select_from(Mention).where(col(Mention.document_id).in_(doc_ids))
        ).one()
        n_relations = s.exec(
            select(func.count()).select_from(Relation).where(col(Relation.document_id).in_(doc_ids))
        ).one()
    assert n_entities == sum(len(d["vertexSet"]) for d in docs)
    assert n_mentions == sum(len(v) for d in docs for v in d["vertexSet"])
    assert n_relations == sum(len(d["labels"]) for d in docs)
    first = ing.documents(pid)[0]
    assert first.title == docs[0]["title"]
    assert len(first.sentences) == len(docs[0]["sents"])


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("example-trunc.warc", {BatchStatus.done_with_errors}),
        ("example-bad.warc.gz.bad", {BatchStatus.done_with_errors, BatchStatus.failed}),
        ("example-wrong-chunks.warc.gz", {BatchStatus.done_with_errors}),
        ("bad.arc", {BatchStatus.done_with_errors, BatchStatus.failed}),
    ],
)
def test_malformed_fixtures_end_with_a_clear_error(ing: Ingest, fixture: str, expected: set[BatchStatus]) -> None:
    pid = ing.project(languages=[])
    batch = ing.batch(pid, FIXTURES / "warc" / fixture, fixture)
    assert batch.status in expected
    assert batch.failure_reason or batch.errors
    messages = [batch.failure_reason or ""] + [e["message"] for e in batch.errors]
    assert all(m == "" or len(m) > 10 for m in messages)


def test_truncated_warc_keeps_the_records_before_the_damage(ing: Ingest) -> None:
    pid = ing.project(languages=[], min_chars=10)
    batch = ing.batch(pid, FIXTURES / "warc" / "example-trunc.warc", "example-trunc.warc")
    assert batch.counts.get("records", 0) >= 1
    assert len(ing.documents(pid)) == batch.counts.get("kept", 0) >= 1


@pytest.mark.parametrize(
    ("content", "filename", "says"),
    [
        (b"", "empty.warc", "empty"),
        (bytes(range(256)) * 64, "random.bin", ""),
        (b"this is just some text, not an archive at all\n" * 50, "fake.warc.gz", ""),
    ],
)
def test_unreadable_files_fail_with_a_readable_reason(ing: Ingest, content: bytes, filename: str, says: str) -> None:
    pid = ing.project()
    batch = ing.batch(pid, content, filename)
    assert batch.status == BatchStatus.failed
    assert batch.failure_reason
    assert says in batch.failure_reason.lower()
    assert ing.documents(pid) == []


def test_an_oversized_record_is_an_error_not_a_crash(ing: Ingest) -> None:
    pid = ing.project()
    good = [json.dumps({"text": _unique_text(i)}, ensure_ascii=False).encode() + b"\n" for i in range(2)]
    bomb = gzip.compress(good[0] + b'{"text": "' + b"a" * (25 * 1024 * 1024) + b'"}\n' + good[1])
    batch = ing.batch(pid, bomb, "bomb.jsonl.gz")
    assert batch.status == BatchStatus.done_with_errors
    assert batch.counts.get("kept") == 2
    assert batch.errors[0]["line"] == 2


def test_a_bomb_in_the_first_record_fails_the_batch_with_the_reason(ing: Ingest) -> None:
    pid = ing.project()
    batch = ing.batch(pid, gzip.compress(b'{"text": "' + b"a" * (25 * 1024 * 1024) + b'"}\n'), "bomb.jsonl.gz")
    assert batch.status == BatchStatus.failed
    assert "decompression bomb" in (batch.failure_reason or "")


def test_a_killed_worker_resumes_without_duplicates(ing: Ingest, monkeypatch: pytest.MonkeyPatch) -> None:
    pid = ing.project(min_chars=10)
    texts = [_unique_text(i) for i in range(10)]
    raw = "\n".join(
        json.dumps({"text": t, "url": f"https://r.example/{i}"}, ensure_ascii=False) for i, t in enumerate(texts)
    )
    # Records are processed two at a time and stored three at a time: stores happen after records 4 and 8.
    monkeypatch.setattr(ingest_jobs, "PROCESS_RECORDS", 2)
    monkeypatch.setattr(ingest_jobs, "CHUNK_RECORDS", 3)
    original = ingest_jobs._handle
    calls = {"n": 0}

    def dying(run: object, items: object) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt("worker killed")  # not an Exception: nothing catches it, like SIGKILL
        original(run, items)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest_jobs, "_handle", dying)
    with pytest.raises(KeyboardInterrupt):
        ing.batch(pid, raw.encode(), "resume.jsonl")
    with Session(ing.engine) as s:
        batch = s.exec(select(CrawlBatch).where(CrawlBatch.project_id == pid)).one()
    assert batch.status == BatchStatus.running
    assert batch.checkpoint == 8
    assert batch.counts["kept"] == 8
    monkeypatch.setattr(ingest_jobs, "_handle", original)
    assert batch.id is not None
    ingest_batch(batch.id, engine=ing.engine)  # the job delivered again
    done = ing.get(batch.id)
    assert done.status == BatchStatus.done
    assert done.counts["kept"] == 10
    assert "duplicates_exact" not in done.counts
    assert len(ing.documents(pid)) == 10
    ingest_batch(batch.id, engine=ing.engine)  # and once more after it finished: a no-op
    assert ing.get(batch.id).counts == done.counts


def test_an_unexpected_error_fails_the_batch_but_not_the_worker(ing: Ingest, monkeypatch: pytest.MonkeyPatch) -> None:
    pid = ing.project()

    def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ingest_jobs, "process_records", broken)
    batch = ing.batch(pid, json.dumps({"text": "你好"}).encode(), "x.jsonl")
    assert batch.status == BatchStatus.failed
    assert batch.failure_reason is not None and "Internal error" in batch.failure_reason
    assert "boom" not in batch.failure_reason


def test_a_vanished_batch_is_a_no_op(engine: Engine) -> None:
    ingest_batch(10**9, engine=engine)


def test_non_html_and_non_200_responses_are_counted(ing: Ingest) -> None:
    pid = ing.project()
    page = html_page("新闻", ZH_PARAGRAPHS).encode()
    warc = (
        warc_response("http://a.example/logo.png", b"\x89PNG\r\n\x1a\n....", content_type="image/png")
        + warc_response("http://a.example/missing", page, status=404)
        + warc_response("http://a.example/ok", page)
    )
    batch = ing.batch(pid, warc, "mixed.warc")
    assert batch.status == BatchStatus.done
    assert batch.counts["records"] == 3
    assert batch.counts["filtered:not_html"] == 1
    assert batch.counts["filtered:http_status"] == 1
    assert batch.counts["kept"] == 1


def test_a_zip_with_unsafe_member_names_is_refused_whole(ing: Ingest) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("good.txt", "".join(ZH_PARAGRAPHS))
        archive.writestr("../../etc/evil.txt", "".join(ZH_PARAGRAPHS[::-1]))
    pid = ing.project()
    batch = ing.batch(pid, buffer.getvalue(), "upload.zip")
    assert batch.status == BatchStatus.failed
    assert "../../etc/evil.txt" in (batch.failure_reason or "")
    assert ing.documents(pid) == []
    assert not (ing.tmp.parent / "etc").exists()


def test_a_zip_of_jsonl_and_text_is_read_member_by_member(ing: Ingest) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.jsonl", json.dumps({"text": _unique_text(1), "url": "https://z.example/1"}))
        archive.writestr("b.txt", _unique_text(2))
    pid = ing.project()
    batch = ing.batch(pid, buffer.getvalue(), "two.zip")
    assert batch.status == BatchStatus.done, batch.failure_reason
    assert batch.counts["kept"] == 2
