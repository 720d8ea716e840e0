"""JSON columns keep what the application stores, on SQLite and Postgres; SQLite files get the settings
documents need."""

import sqlite3
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session

from app.db import SQLITE_PAGE_SIZE, make_engine
from app.models import CrawlBatch
from tests.factories import make_project


def test_json_columns_round_trip_what_json_allows(session: Session) -> None:
    project = make_project(session)
    big = 2**70  # beyond 64 bits: written by the json module's fallback
    batch = CrawlBatch(
        project_id=project.id or 0,
        filename="a.warc.gz",
        counts={"kept": 3, "filtered:language": 1},
        errors=[{"offset": big, "message": "密钥 <b>\u0000 𠮷"}],
        options={"format": None, "nested": {"pair": (1, 2)}},
    )
    session.add(batch)
    session.flush()
    session.expire_all()
    stored = session.get(CrawlBatch, batch.id)
    assert stored is not None
    assert stored.counts == {"kept": 3, "filtered:language": 1}
    assert stored.errors == [{"offset": big, "message": "密钥 <b>\u0000 𠮷"}]
    assert stored.options == {"format": None, "nested": {"pair": [1, 2]}}


def test_json_the_json_module_wrote_still_reads(session: Session) -> None:
    # Rows written before orjson took over, with the json module's spacing; on SQLite they may even hold NaN,
    # which only the json module reads (Postgres refuses NaN in JSON, so it never stored one).
    nan_allowed = session.get_bind().dialect.name == "sqlite"
    project = make_project(session)
    batch = CrawlBatch(project_id=project.id or 0, filename="b.txt")
    session.add(batch)
    session.flush()
    session.execute(
        text("UPDATE crawl_batch SET counts = :counts WHERE id = :id"),
        {"counts": '{"kept": 1, "rate": NaN}' if nan_allowed else '{"kept": 1, "rate": 0.5}', "id": batch.id},
    )
    session.expire_all()
    stored = session.get(CrawlBatch, batch.id)
    assert stored is not None
    assert stored.counts["kept"] == 1
    rate = stored.counts["rate"]
    assert rate != rate if nan_allowed else rate == 0.5  # NaN is the one value unequal to itself


def test_a_new_sqlite_database_gets_pages_that_hold_a_document(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE t (x TEXT)"))
        assert connection.execute(text("PRAGMA page_size")).scalar() == SQLITE_PAGE_SIZE
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def test_an_existing_sqlite_database_keeps_its_page_size(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE t (x TEXT)")
        old.execute("INSERT INTO t VALUES ('kept')")
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA page_size")).scalar() == 4096
        assert connection.execute(text("SELECT x FROM t")).scalar() == "kept"
    engine.dispose()
