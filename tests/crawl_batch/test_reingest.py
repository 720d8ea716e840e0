"""An upload that keeps nothing says why, and its ingestion runs again under the project's changed filters."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app.crawl_batch.jobs import ingest_batch
from app.crawl_batch.pipeline import explain_nothing_kept
from app.crawl_batch.service import rerun_ingestion
from app.models import BatchStatus, CrawlBatch, Document, Project, Role
from app.project.label_schema import ProjectSettings
from app.project.service import settings_of
from tests.conftest import FIXTURES
from tests.crawl_batch.test_ingest import Ingest
from tests.factories import bearer, login, make_project, make_token, make_user, page_csrf

WHIRLWIND = FIXTURES / "warc" / "whirlwind.warc.gz"  # one Aragonese page


@pytest.fixture
def ing(engine: Engine, tmp_path: Path) -> Iterator[Ingest]:
    helper = Ingest(engine, tmp_path)
    yield helper
    helper.cleanup()


def test_a_filtered_upload_explains_itself_and_keeps_its_pages_after_the_filters_change(ing: Ingest) -> None:
    pid = ing.project()
    batch = ing.batch(pid, WHIRLWIND, "whirlwind.warc.gz")
    assert (batch.status, batch.counts.get("kept", 0), batch.counts["detected_language:an"]) == ("done", 0, 1)
    # Detected, and shown as such: the upload itself said auto.
    assert (batch.format, batch.options["format"]) == ("warc", None)
    with Session(ing.engine) as s:
        project = s.get_one(Project, pid)
        assert explain_nothing_kept(batch, settings_of(project)) == [
            "1 record filtered: detected language an; this project keeps zh"
        ]
        project.settings = {**project.settings, "languages": ["zh", "an"]}
        s.add(project)
        rerun_ingestion(s, batch=s.get_one(CrawlBatch, batch.id))
        s.commit()
    queued = ing.get(batch.id or 0)
    assert (queued.status, queued.counts, queued.errors, queued.checkpoint, queued.bytes_read) == (
        "queued",
        {},
        [],
        0,
        0,
    )
    ingest_batch(batch.id or 0, engine=ing.engine)
    again = ing.get(batch.id or 0)
    assert (again.status, again.counts["kept"]) == ("done", 1)
    assert [d.batch_id for d in ing.documents(pid)] == [batch.id]
    with Session(ing.engine) as s:
        assert explain_nothing_kept(again, settings_of(s.get_one(Project, pid))) == []


def test_the_explanation_names_each_cause_and_its_setting() -> None:
    batch = CrawlBatch(
        project_id=1,
        filename="x.warc",
        status=BatchStatus.done_with_errors,
        counts={
            "records": 9,
            "kept": 0,
            "filtered:language": 3,
            "detected_language:en": 2,
            "detected_language:ja": 1,
            "filtered:too_short": 1,
            "filtered:not_html": 1,
            "duplicates_exact": 2,
            "errors": 1,
        },
    )
    settings = ProjectSettings(languages=["zh"], min_chars=80)
    assert explain_nothing_kept(batch, settings) == [
        "3 records filtered: detected language en (2), ja (1); this project keeps zh",
        "1 record filtered: not an HTML page",
        "1 record filtered: shorter than this project's minimum of 80 characters",
        "2 records repeated documents already in this project (duplicates are never kept twice)",
        "1 record could not be read (see the record errors)",
    ]
    assert explain_nothing_kept(CrawlBatch(project_id=1, filename="e", status=BatchStatus.done), settings) == [
        "The file held no records that could be read."
    ]
    # Something kept, still running or failed (the failure reason says why): nothing to explain.
    for status, counts in (
        (BatchStatus.done, {"records": 1, "kept": 1}),
        (BatchStatus.running, {}),
        (BatchStatus.failed, {}),
    ):
        quiet = CrawlBatch(project_id=1, filename="e", status=status, counts=counts)
        assert explain_nothing_kept(quiet, settings) == []


def _finished_batch(session: Session, project_id: int, tmp_path: Path, **kw: object) -> CrawlBatch:
    upload = tmp_path / "a.warc"
    upload.write_bytes(b"WARC/1.0\r\n")
    batch = CrawlBatch(
        project_id=project_id,
        filename="a.warc",
        upload_path=str(upload),
        status=BatchStatus.done,
        counts={"records": 1, "kept": 0, "filtered:language": 1},
        options={"format": "warc", "ingest_slice": 3},
        **kw,  # type: ignore[arg-type]
    )
    session.add(batch)
    session.commit()
    return batch


def test_reingest_over_the_api_is_for_admins_and_refused_while_ingesting_or_once_documents_are_kept(
    session: Session, app_client: TestClient, tmp_path: Path
) -> None:
    project = make_project(session)
    batch = _finished_batch(session, project.id or 0, tmp_path)
    url = f"/api/v1/batches/{batch.id}/reingest"
    reviewer = bearer(make_token(session, make_user(session, username="rev", role=Role.reviewer)))
    assert app_client.post(url, headers=reviewer).status_code == 403
    admin = bearer(make_token(session, make_user(session, username="adm")))
    assert app_client.post("/api/v1/batches/999999/reingest", headers=admin).status_code == 404

    answer = app_client.post(url, headers=admin)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"id": batch.id, "status": "queued"}
    session.refresh(batch)
    assert (batch.status, batch.counts, batch.format, batch.options) == ("queued", {}, "warc", {"format": "warc"})

    busy = app_client.post(url, headers=admin)
    assert busy.status_code == 409
    assert (
        busy.json()["detail"] == f"Batch {batch.id} is still being ingested; re-run its ingestion once it has finished."
    )

    batch.status = BatchStatus.done
    session.add(batch)
    session.add(Document(project_id=project.id or 0, batch_id=batch.id, text="文本", text_hash="h-reingest"))
    session.commit()
    kept = app_client.post(url, headers=admin, json={"format": "auto"})
    assert kept.status_code == 409
    assert "kept 1 document(s)" in kept.json()["detail"]

    other = _finished_batch(session, project.id or 0, tmp_path / "..")
    bad = app_client.post(f"/api/v1/batches/{other.id}/reingest", headers=admin, json={"format": "pdf"})
    assert bad.status_code == 422
    Path(other.upload_path or "").unlink()
    gone = app_client.post(f"/api/v1/batches/{other.id}/reingest", headers=admin)
    assert gone.status_code == 409
    assert "gone from the data directory" in gone.json()["detail"]
    # In another format than at upload (auto: detect it).
    Path(other.upload_path or "").write_bytes(b"x")
    auto = app_client.post(f"/api/v1/batches/{other.id}/reingest", headers=admin, json={"format": "auto"})
    assert auto.status_code == 202
    session.refresh(other)
    assert (other.format, other.options) == (None, {"format": None})


def test_the_batch_page_explains_an_empty_upload_and_offers_reingest(
    session: Session, app_client: TestClient, tmp_path: Path
) -> None:
    make_user(session)
    project = make_project(session)
    batch = _finished_batch(session, project.id or 0, tmp_path, format="warc")
    batch.counts = {**batch.counts, "detected_language:en": 1}
    batch.options = {"format": None}
    session.add(batch)
    session.commit()
    login(app_client)
    page = app_client.get(f"/batches/{batch.id}").text
    box = page.split('id="empty-explanation"')[1].split("</div>")[0]
    assert "1 record filtered: detected language en; this project keeps zh" in box
    assert f'href="/projects/{project.id}/edit"' in box
    assert f'action="/batches/{batch.id}/reingest"' in box
    assert '<span class="muted" id="batch-format">· warc (detected)</span>' in page
    assert 'data-stage="nothing_kept"' in page
    assert "every 1s" not in page

    refused = app_client.post(f"/batches/{batch.id}/reingest", follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token
    token = page_csrf(app_client, f"/batches/{batch.id}")
    done = app_client.post(f"/batches/{batch.id}/reingest", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/batches/{batch.id}"
    following = app_client.get(f"/batches/{batch.id}").text
    assert 'data-stage="ingesting"' in following
    assert 'hx-trigger="every 1s"' in following
    assert "empty-explanation" not in following
