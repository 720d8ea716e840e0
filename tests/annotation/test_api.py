"""Annotators and annotation over the API and in the pages: validation, roles, no secrets."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from app.annotation.service import create_annotator
from app.models import Annotator, BatchStatus, CrawlBatch, Document, Role
from tests.factories import bearer, login, make_project, make_token, make_user, page_csrf


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    return bearer(make_token(session, make_user(session, username="adm")))


def _annotators(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Annotator)).one()


def test_create_and_list_annotators(session: Session, app_client: TestClient, admin: dict[str, str]) -> None:
    project = make_project(session)
    url = f"/api/v1/projects/{project.id}/annotators"
    made = app_client.post(
        url,
        json={
            "name": "deepseek",
            "provider": "openai",
            "model": "deepseek-chat",
            "price_input_per_m": 0.27,
            "price_output_per_m": 1.1,
            "parameters": {"role": "A", "json_mode": "json_object", "concurrency": 8},
        },
        headers=admin,
    )
    assert made.status_code == 201, made.text
    assert made.json()["parameters"] == {"role": "A", "json_mode": "json_object", "concurrency": 8}
    assert list(made.json()) == [
        "id", "name", "kind", "provider", "model", "parameters", "price_input_per_m", "price_output_per_m"
    ]  # fmt: skip
    assert (made.json()["kind"], made.json()["price_input_per_m"], made.json()["price_output_per_m"]) == (
        "llm",
        0.27,
        1.1,
    )
    gem = app_client.post(
        url, json={"name": "gemini", "provider": "gemini", "model": "gemini-2.5-flash"}, headers=admin
    )
    assert gem.status_code == 201
    listed = app_client.get(url, headers=admin).json()
    assert [a["name"] for a in listed] == ["deepseek", "gemini"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "provider": "anthropic-magic", "model": "m"}, "provider"),
        ({"name": "x", "provider": "openai"}, "model"),
        ({"name": "has space", "provider": "builtin:lexicon"}, "name"),
        ({"name": "x", "provider": "openai", "model": "m", "parameters": {"api_key": "sk-123"}}, "parameters.api_key"),
        (
            {"name": "x", "provider": "openai", "model": "m", "parameters": {"base_url": "http://169.254.169.254"}},
            "parameters.base_url",
        ),
        ({"name": "x", "provider": "openai", "model": "m", "parameters": {"temperature": 9}}, "parameters.temperature"),
        ({"name": "x", "provider": "gemini", "model": "m", "parameters": {"json_mode": "json_object"}}, "parameters"),
        ({"name": "x", "provider": "openai", "model": "m", "price_input_per_m": -1}, "price_input_per_m"),
    ],
)
def test_bad_annotators_are_422_and_nothing_is_stored(
    session: Session, app_client: TestClient, admin: dict[str, str], body: dict[str, object], field: str
) -> None:
    project = make_project(session)
    before = _annotators(session)
    response = app_client.post(f"/api/v1/projects/{project.id}/annotators", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert _annotators(session) == before


def test_duplicate_name_and_role(session: Session, app_client: TestClient, admin: dict[str, str]) -> None:
    project = make_project(session)
    url = f"/api/v1/projects/{project.id}/annotators"
    assert (
        app_client.post(
            url, json={"name": "a", "provider": "builtin:lexicon", "parameters": {"role": "A"}}, headers=admin
        ).status_code
        == 201
    )
    again = app_client.post(url, json={"name": "a", "provider": "builtin:patterns"}, headers=admin)
    assert (again.status_code, again.json()["errors"][0]["field"]) == (422, "name")
    role = app_client.post(
        url, json={"name": "b", "provider": "builtin:patterns", "parameters": {"role": "A"}}, headers=admin
    )
    assert (role.status_code, role.json()["errors"][0]["field"]) == (422, "parameters")


def test_reviewers_cannot_configure_or_start_annotation(session: Session, app_client: TestClient) -> None:
    project = make_project(session)
    reviewer = bearer(make_token(session, make_user(session, username="rev", role=Role.reviewer)))
    assert (
        app_client.post(
            f"/api/v1/projects/{project.id}/annotators",
            json={"name": "a", "provider": "builtin:lexicon"},
            headers=reviewer,
        ).status_code
        == 403
    )
    assert (
        app_client.post(f"/api/v1/projects/{project.id}/annotate", json={"batch_id": 1}, headers=reviewer).status_code
        == 403
    )


def test_annotate_queues_jobs_and_checks_the_batch(
    session: Session, app_client: TestClient, admin: dict[str, str]
) -> None:
    project = make_project(session)
    other = make_project(session, name="其他项目")
    batch = CrawlBatch(project_id=project.id or 0, filename="b.jsonl", status=BatchStatus.done)
    foreign = CrawlBatch(project_id=other.id or 0, filename="c.jsonl", status=BatchStatus.done)
    session.add_all([batch, foreign])
    session.commit()
    for i in range(3):
        session.add(Document(project_id=project.id or 0, batch_id=batch.id, text=f"文{i}", text_hash=f"d{i}"))
    session.commit()
    url = f"/api/v1/projects/{project.id}/annotate"
    none_yet = app_client.post(url, json={"batch_id": batch.id}, headers=admin)
    assert none_yet.status_code == 409
    assert "no annotators" in none_yet.json()["detail"]
    for name, provider in (("lex", "builtin:lexicon"), ("pat", "builtin:patterns")):
        app_client.post(
            f"/api/v1/projects/{project.id}/annotators", json={"name": name, "provider": provider}, headers=admin
        )
    queued = app_client.post(url, json={"batch_id": batch.id}, headers=admin)
    assert queued.status_code == 202
    assert queued.json() == {"documents": 3, "jobs": 6}
    wrong = app_client.post(url, json={"batch_id": foreign.id}, headers=admin)
    assert (wrong.status_code, wrong.json()["errors"][0]["field"]) == (422, "batch_id")


def test_pages_add_annotators_without_ever_asking_for_keys(session: Session, app_client: TestClient) -> None:
    make_user(session)
    project = make_project(session)
    login(app_client)
    page = app_client.get(f"/projects/{project.id}/annotators-panel", headers={"HX-Request": "true"}).text
    assert 'name="api_key"' not in page and 'name="base_url"' not in page  # no field for secrets or endpoints
    assert "OPENAI_API_KEY" in page  # the page says where keys come from instead
    response = app_client.post(
        f"/projects/{project.id}/annotators",
        data={
            "name": "gpt",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "role": "A",
            "price_input_per_m": "0.15",
            "price_output_per_m": "0.6",
            "concurrency": "8",
            "requests_per_minute": "500",
            "tokens_per_minute": "200000",
            "temperature": "0.2",
            "max_output_tokens": "8192",
            "csrf_token": page_csrf(app_client),
        },
    )
    assert response.status_code == 200 and response.url.path == f"/projects/{project.id}"  # back to the project page
    assert f'hx-get="/projects/{project.id}/annotators-panel"' in response.text  # which pulls the panel
    panel = app_client.get(f"/projects/{project.id}/annotators-panel", headers={"HX-Request": "true"}).text
    assert "missing: set OPENAI_API_KEY" in panel
    saved = session.exec(select(Annotator).where(Annotator.name == "gpt")).one()
    assert saved.parameters == {
        "role": "A",
        "concurrency": 8,
        "requests_per_minute": 500,
        "tokens_per_minute": 200000,
        "temperature": 0.2,
        "max_output_tokens": 8192,
    }
    bad = app_client.post(
        f"/projects/{project.id}/annotators",
        data={
            "name": "x",
            "provider": "openai",
            "model": "m",
            "concurrency": "many",
            "csrf_token": page_csrf(app_client),
        },
    )
    assert bad.status_code == 422 and "Enter a number." in bad.text  # a page that says what was wrong


def test_the_annotator_panel_is_the_project_pages_annotators_under_the_same_roles(
    session: Session, app_client: TestClient
) -> None:
    make_user(session)
    make_user(session, username="rev", role=Role.reviewer)
    make_user(session, username="reader", role=Role.consumer)
    project = make_project(session)
    for name, role in (("lex", "A"), ("rules", "B"), ("third", "C")):
        provider = "builtin:patterns" if name == "rules" else "builtin:lexicon"
        data = {"name": name, "provider": provider, "parameters": {"role": role}}
        create_annotator(session, project=project, data=data)
    session.commit()
    url = f"/projects/{project.id}/annotators-panel"
    htmx = {"HX-Request": "true"}
    # Signed out: to the login page, as the project page sends them (htmx is told where to go).
    anonymous = app_client.get(url, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
    pulled = app_client.get(url, headers=htmx, follow_redirects=False)
    assert pulled.status_code == 204 and pulled.headers["HX-Redirect"].startswith("/login?next=")
    login(app_client, "reader")  # a consumer's project page shows no annotators, and the panel refuses them
    assert "annotators-panel" not in app_client.get(f"/projects/{project.id}").text
    assert app_client.get(url, headers=htmx).status_code == 403
    login(app_client, "rev")  # a reviewer reads the pair and the keys' status, and cannot add or switch
    fragment = app_client.get(url, headers=htmx)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    rows = fragment.text.split('id="annotator-table"')[1].split("</table>")[0].split("<tr>")[2:]
    assert [row.split("<td>")[1].split("</td>")[0] for row in rows] == ["A", "B", "C (voter)"]
    assert "no key needed" in fragment.text
    assert "Add an annotator" not in fragment.text and 'name="training_run"' not in fragment.text
    page = app_client.get(url)  # without scripts: a page of its own, linked from the project page
    assert "<html" in page.text and 'id="annotator-table"' in page.text
    login(app_client)
    assert "Add an annotator" in app_client.get(url, headers=htmx).text
    assert app_client.get("/projects/424242/annotators-panel", headers=htmx).status_code == 404
