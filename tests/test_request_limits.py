"""Bounds on a request: integers a database column can hold, and the size of a JSON body."""

import json
import re
from collections.abc import MutableMapping
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.config import get_settings
from app.main import ROUTERS, create_app
from app.request_limits import integer_params
from tests.aio import run_async
from tests.factories import bearer, login, make_project, make_token, make_user

HUGE = "99999999999999999999"  # past 2**63 - 1


@pytest.fixture
def signed_in(session: Session, app_client: TestClient) -> tuple[TestClient, dict[str, str], int]:
    project = make_project(session)
    headers = bearer(make_token(session, make_user(session)))
    login(app_client)
    return app_client, headers, project.id or 0


def test_the_documents_api_refuses_a_page_past_any_offset(signed_in: tuple[TestClient, dict[str, str], int]) -> None:
    client, headers, project_id = signed_in
    for page in (HUGE, str(10**12), "0", "-1"):
        response = client.get(f"/api/v1/projects/{project_id}/documents", params={"page": page}, headers=headers)
        assert response.status_code == 422, (page, response.text)
        assert "page" in response.json()["detail"]
        assert response.json()["errors"][0]["field"] == "page"
    response = client.get(f"/api/v1/projects/{project_id}/documents", params={"per_page": HUGE}, headers=headers)
    assert response.status_code == 422
    assert "per_page" in response.json()["detail"]
    assert client.get(f"/api/v1/projects/{project_id}/documents", params={"page": 7}, headers=headers).json() == {
        "items": [],
        "total": 0,
        "page": 7,
        "per_page": 50,
    }


def test_every_get_route_answers_422_for_an_integer_no_column_can_hold(
    signed_in: tuple[TestClient, dict[str, str], int],
) -> None:
    client, headers, project_id = signed_in
    checked = 0
    for route in (r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)):
        if "GET" not in (route.methods or ()):
            continue
        path_ints, query_ints = integer_params(route.dependant)
        for name in path_ints:
            url = re.sub(r"\{" + name + r"\}", HUGE, route.path)
            response = client.get(re.sub(r"\{[^}]+\}", str(project_id), url), headers=headers)
            assert response.status_code == 422, f"{route.path} with {name}={HUGE}: {response.status_code}"
            assert name in response.text, route.path
            checked += 1
        for name in query_ints:
            url = re.sub(r"\{[^}]+\}", str(project_id), route.path)
            response = client.get(url, params={name: HUGE}, headers=headers)
            assert response.status_code == 422, f"{route.path}?{name}={HUGE}: {response.status_code}"
            assert name in response.text, route.path
            checked += 1
    assert checked >= 20


def test_a_long_number_in_a_text_parameter_is_still_text(signed_in: tuple[TestClient, dict[str, str], int]) -> None:
    client, headers, project_id = signed_in
    response = client.get(f"/api/v1/projects/{project_id}/documents", params={"q": HUGE * 3}, headers=headers)
    assert response.status_code == 200


def test_integers_in_json_bodies_are_bounded_too(signed_in: tuple[TestClient, dict[str, str], int]) -> None:
    client, headers, project_id = signed_in
    for body, field in (({"name": "v", "seed": int(HUGE)}, "seed"), ({"name": "v", "batch": int(HUGE)}, "batch")):
        response = client.post(f"/api/v1/projects/{project_id}/snapshots", json=body, headers=headers)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field
    decision = {"item": "entity", "id": 1, "action": "accept", "version": int(HUGE)}
    response = client.post("/api/v1/documents/1/decisions", json=decision, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "entity.accept.version"  # the field, in the command it belongs to


# -- request bodies ------------------------------------------------------------------------------------------

CHUNK = 64 * 1024


def _post_streamed(path: str, *, chunks: int, content_length: int | None) -> tuple[int, dict[str, Any], int]:
    """POST straight into the ASGI app, the body handed over one chunk at a time like a server does.

    Returns the status, the JSON answer and how many chunks the app asked for: what it could have held."""
    app = create_app()
    pulled = 0
    sent: list[MutableMapping[str, Any]] = []
    headers = [(b"host", b"testserver"), (b"content-type", b"application/json")]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        if pulled > chunks:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b" " * CHUNK, "more_body": pulled < chunks}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    run_async(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), pulled


HUNDRED_MB_IN_CHUNKS = 100 * 1024**2 // CHUNK


def test_a_chunked_json_body_over_the_limit_is_413_after_reading_only_the_limit() -> None:
    limit = get_settings().max_body_bytes
    status, answer, pulled = _post_streamed(
        "/api/v1/documents/1/decisions", chunks=HUNDRED_MB_IN_CHUNKS, content_length=None
    )
    assert status == 413
    assert "MAX_BODY_BYTES" in answer["detail"]
    assert f"{limit:,} bytes" in answer["detail"]
    assert pulled <= limit // CHUNK + 1  # stopped at 2 MiB of the 100 MB offered


def test_a_declared_length_over_the_limit_is_413_before_reading_any_of_it() -> None:
    status, answer, pulled = _post_streamed(
        "/api/v1/documents/1/decisions", chunks=HUNDRED_MB_IN_CHUNKS, content_length=100 * 1024**2
    )
    assert status == 413
    assert "MAX_BODY_BYTES" in answer["detail"]
    assert pulled == 0


def test_a_body_under_the_limit_reaches_the_route() -> None:
    status, answer, _ = _post_streamed("/api/v1/documents/1/decisions", chunks=4, content_length=None)
    assert status == 422  # read in full and parsed: spaces only are not JSON
    assert "MAX_BODY_BYTES" not in json.dumps(answer)


def test_json_and_form_bodies_follow_the_setting_and_uploads_keep_their_own_limit(
    session: Session, app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(session)
    headers = bearer(make_token(session, make_user(session)))
    monkeypatch.setattr(get_settings(), "max_body_bytes", 1000)
    big_schema = {"name": "x" * 2000, "preset": "docred"}
    refused = app_client.post("/api/v1/projects", json=big_schema, headers=headers)
    assert refused.status_code == 413
    assert refused.json()["detail"].startswith("The request body is larger than 1,000 bytes")
    form = app_client.post("/login", data={"username": "u" * 2000, "password": "p"})
    assert form.status_code == 413
    assert "larger than 1,000 bytes" in form.text
    assert (
        app_client.post("/api/v1/projects", json={"name": "small", "preset": "docred"}, headers=headers).status_code
        == 201
    )

    upload = json.dumps({"text": "今天天气很好。" * 200}, ensure_ascii=False).encode()
    assert len(upload) > 1000
    created = app_client.post(
        f"/api/v1/projects/{project.id}/batches", files={"file": ("day.jsonl", upload)}, headers=headers
    )
    assert created.status_code == 202, created.text
    monkeypatch.setattr(get_settings(), "max_upload_bytes", 2000)
    too_big = app_client.post(
        f"/api/v1/projects/{project.id}/batches", files={"file": ("day.jsonl", upload)}, headers=headers
    )
    assert too_big.status_code == 413
    assert "MAX_BODY_BYTES" not in too_big.text
