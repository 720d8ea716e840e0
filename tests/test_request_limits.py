"""Bounds on a request: integers a database column can hold, and the size of a JSON body."""

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.main import ROUTERS
from app.request_limits import integer_params
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
        if "GET" not in route.methods:
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
    assert response.json()["errors"][0]["field"] == "version"
