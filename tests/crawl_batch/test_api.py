"""Batches over the API: uploads stream to disk, limits, roles (documents: tests/document)."""

import json
import logging
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from app.config import get_settings
from app.crawl_batch.service import upload_dir
from app.models import CrawlBatch, Role
from tests.aio import run_async
from tests.factories import bearer, make_project, make_token, make_user


def _batches(session: Session) -> int:
    return session.exec(select(func.count()).select_from(CrawlBatch)).one()


def _files(project_id: int) -> list[Path]:
    folder = upload_dir(project_id)
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.fixture
def admin_headers(session: Session) -> dict[str, str]:
    return bearer(make_token(session, make_user(session, username="admin-api")))


def test_upload_is_stored_and_queued(session: Session, app_client: TestClient, admin_headers: dict[str, str]) -> None:
    project = make_project(session)
    body = json.dumps({"text": "今天天气很好。" * 20}, ensure_ascii=False).encode()
    response = app_client.post(
        f"/api/v1/projects/{project.id}/batches",
        files={"file": ("day.jsonl", body)},
        data={"format": "jsonl"},
        headers=admin_headers,
    )
    assert response.status_code == 202, response.text
    batch = session.get(CrawlBatch, response.json()["id"])
    assert batch is not None
    assert (batch.status, batch.filename, batch.format, batch.size_bytes) == ("queued", "day.jsonl", "jsonl", len(body))
    assert Path(batch.upload_path or "").read_bytes() == body
    status = app_client.get(f"/api/v1/batches/{batch.id}", headers=admin_headers).json()
    assert status["status"] == "queued"
    assert status["counts"] == {}
    assert status["errors"] == []


def test_upload_over_the_limit_is_413_and_stores_nothing(
    session: Session, app_client: TestClient, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(session)
    monkeypatch.setattr(get_settings(), "max_upload_bytes", 1000)
    before_files, before_rows = _files(project.id or 0), _batches(session)
    response = app_client.post(
        f"/api/v1/projects/{project.id}/batches", files={"file": ("big.txt", b"x" * 5000)}, headers=admin_headers
    )
    assert response.status_code == 413
    assert "upload limit" in response.json()["detail"]
    assert _files(project.id or 0) == before_files
    assert _batches(session) == before_rows


def test_a_streamed_upload_without_length_is_cut_at_the_limit(
    session: Session, app_client: TestClient, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(session)
    monkeypatch.setattr(get_settings(), "max_upload_bytes", 10_000)
    boundary = "b0undary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.txt"\r\n\r\n'.encode()

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(50):
            yield b"y" * 1000
        yield f"\r\n--{boundary}--\r\n".encode()

    response = app_client.post(
        f"/api/v1/projects/{project.id}/batches",
        content=chunks(),
        headers={**admin_headers, "content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert [p for p in _files(project.id or 0) if p.name.endswith(".part")] == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"data": {"format": "pdf"}, "files": {"file": ("a.txt", b"hello")}}, "format"),
        ({"data": {"note": "no file"}}, "file"),
        ({"content": b"not multipart", "headers": {"content-type": "text/plain"}}, "file"),
    ],
)
def test_bad_uploads_are_422_naming_the_field(
    session: Session, app_client: TestClient, admin_headers: dict[str, str], kwargs: dict[str, object], field: str
) -> None:
    project = make_project(session)
    headers = {**admin_headers, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    before = _batches(session)
    response = app_client.post(f"/api/v1/projects/{project.id}/batches", headers=headers, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert _batches(session) == before
    assert [p for p in _files(project.id or 0) if p.name.endswith(".part")] == []


def test_the_format_may_come_as_a_query_parameter_and_a_bad_one_leaves_no_file(
    session: Session, app_client: TestClient, admin_headers: dict[str, str]
) -> None:
    project = make_project(session)
    url = f"/api/v1/projects/{project.id}/batches"
    ok = app_client.post(
        url, params={"format": "txt"}, files={"file": ("a.dat", "你好。".encode())}, headers=admin_headers
    )
    assert ok.status_code == 202, ok.text
    assert session.get_one(CrawlBatch, ok.json()["id"]).format == "txt"
    files = _files(project.id or 0)
    bad = app_client.post(url, params={"format": "pdf"}, files={"file": ("a.dat", b"x")}, headers=admin_headers)
    assert bad.status_code == 422
    assert "Unknown format 'pdf'" in bad.json()["detail"]
    assert _files(project.id or 0) == files


def test_reviewer_cannot_upload_and_unknown_project_is_404(session: Session, app_client: TestClient) -> None:
    project = make_project(session)
    reviewer = bearer(make_token(session, make_user(session, username="rev", role=Role.reviewer)))
    response = app_client.post(
        f"/api/v1/projects/{project.id}/batches", files={"file": ("a.txt", b"x")}, headers=reviewer
    )
    assert response.status_code == 403
    admin = bearer(make_token(session, make_user(session, username="adm")))
    missing = app_client.post("/api/v1/projects/999999/batches", files={"file": ("a.txt", b"x")}, headers=admin)
    assert missing.status_code == 404
    assert app_client.get("/api/v1/batches/999999", headers=admin).status_code == 404


def test_an_aborted_upload_logs_one_line_and_stores_nothing(
    session: Session,
    app_client: TestClient,
    admin_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    project = make_project(session)
    boundary = "b0undary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.txt"\r\n\r\n'.encode()
    messages = deque([{"type": "http.request", "body": head + b"y" * 5000, "more_body": True}])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        # After the first chunk the client hangs up, as a closed browser tab does.
        return messages.popleft() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = {**admin_headers, "content-type": f"multipart/form-data; boundary={boundary}"}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/api/v1/projects/{project.id}/batches",
        "raw_path": f"/api/v1/projects/{project.id}/batches".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    before = _files(project.id or 0)
    caplog.set_level(logging.INFO)
    # An exception out of the app is what the server logs as a second traceback.
    run_async(app_client.app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 400
    assert [r for r in caplog.records if r.exc_info] == []
    assert [r.getMessage() for r in caplog.records if "abort" in r.getMessage()] == [
        "upload aborted by the client after 5,000 bytes; nothing was stored"
    ]
    assert _files(project.id or 0) == before
