"""JSON columns keep what the application stores, on SQLite and Postgres."""

from sqlalchemy import text
from sqlmodel import Session

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
