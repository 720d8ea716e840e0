"""Errors as people read them: each message once, in words (the API keeps its field paths)."""

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.errors import ErrorText, FieldError, error_text, field_words
from app.models import Role
from tests.factories import bearer, login, make_project, make_review_document, make_token, make_user, page_csrf


def test_field_paths_read_as_words() -> None:
    assert field_words(("schema", "relation_types", 0, "head_types", 1)) == "Relation type 1, allowed head type 2"
    assert field_words(("schema", "entity_types", 2, "color")) == "Entity type 3, colour"
    assert field_words(("settings", "audit_rate")) == "Audit rate"
    assert field_words(("schema",)) == "Schema"
    assert field_words(("end",)) == "End"


def test_a_message_that_restates_its_one_field_is_said_once() -> None:
    e = FieldError(("end",), "A mention cannot cross sentences.")
    assert error_text(e.message, [e]) == ErrorText("A mention cannot cross sentences.", ())


def test_the_apis_one_line_summary_becomes_a_list_in_words() -> None:
    errors = [
        FieldError(("schema", "relation_types", 0, "code"), "duplicate relation type code 'X'"),
        FieldError(("schema", "entity_types", 0, "color"), "String should match pattern"),
    ]
    text = error_text("Invalid schema: schema.relation_types[0].code: duplicate relation type code 'X'", errors)
    assert text.lead == "Invalid schema:"
    assert [t for _, t in text.items] == [
        "Relation type 1, code: duplicate relation type code 'X'",
        "Entity type 1, colour: String should match pattern",
    ]
    assert [f for f, _ in text.items] == ["schema.relation_types[0].code", "schema.entity_types[0].color"]


def test_a_problem_shown_beside_its_field_is_not_repeated_above() -> None:
    e = FieldError(("name",), "A project named 'x' already exists.")
    assert error_text(e.message, [e], inline=["name"]) == ErrorText("Correct the field marked below.", ())
    # A message of its own is kept above the field's.
    assert error_text("Give either a preset or a schema.", [FieldError(("preset",), "one of: a, b")], ["preset"]) == (
        ErrorText("Give either a preset or a schema.", ())
    )
    other = FieldError(("preset",), "one of: a, b")
    text = error_text("Give either a preset or a schema.", [other], inline=["name"])
    assert text == ErrorText("Give either a preset or a schema.", (("preset", "Preset: one of: a, b"),))
    assert error_text("Not found.") == ErrorText("Not found.", ())


def _crossing(document: Any) -> tuple[int, int]:
    (_, end0), (start1, _) = document.sentences[0], document.sentences[1]
    return end0 - 2, start1 + 2


def test_a_refused_decision_says_why_once_in_the_workbench(app_client: TestClient, session: Session) -> None:
    make_user(session, username="alice", role=Role.reviewer)
    document, _, _ = make_review_document(session, make_project(session))
    login(app_client, "alice")
    token = page_csrf(app_client, f"/documents/{document.id}/review")
    start, end = _crossing(document)
    r = app_client.post(
        f"/documents/{document.id}/decide",
        data={"item": "entity", "action": "create", "start": start, "end": end, "type": "PER", "version": 1},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert r.status_code == 422 and r.headers["HX-Retarget"] == "#flash"
    assert r.text.count("A mention cannot cross sentences") == 1
    assert "<code>end</code>" not in r.text and "end:" not in r.text


def test_the_api_keeps_the_field_paths(app_client: TestClient, session: Session) -> None:
    headers = bearer(make_token(session, make_user(session, username="boss")))
    r = app_client.post(
        "/api/v1/projects",
        json={"name": "x", "schema": {"entity_types": [{"code": "PER", "name": "人"}], "relation_types": [{}]}},
        headers=headers,
    )
    assert r.status_code == 422
    assert r.json()["detail"].startswith("Invalid schema: schema.relation_types[0].")
    assert {e["field"] for e in r.json()["errors"]} == {
        "schema.relation_types[0].code",
        "schema.relation_types[0].name",
    }


def test_a_bad_schema_on_the_project_form_lists_each_problem_once_in_words(
    app_client: TestClient, session: Session
) -> None:
    make_user(session, username="boss")
    login(app_client, "boss")
    token = page_csrf(app_client, "/projects/new")
    schema = json.dumps(
        {
            "entity_types": [{"code": "PER", "name": "人"}],
            "relation_types": [{"code": "亲属", "name": "亲属", "head_types": ["ORG"]}],
        }
    )
    r = app_client.post(
        "/projects",
        data={"name": "p", "source": "json", "schema_text": schema, "csrf_token": token},
    )
    assert r.status_code == 422
    assert r.text.count("unknown entity type &#39;ORG&#39;") == 1
    assert "Relation type 1, allowed head type 1: unknown entity type" in r.text
    assert 'data-field="schema.relation_types[0].head_types[0]"' in r.text
    # A taken name: beside the name field only.
    make_project(session, name="taken")
    r = app_client.post(
        "/projects", data={"name": "taken", "source": "preset", "preset": "zh-general", "csrf_token": token}
    )
    assert r.status_code == 422 and r.text.count("already exists") == 1 and 'id="err-name"' in r.text
