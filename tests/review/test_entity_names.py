"""An entity's name follows its mentions: after an adjust, delete, split, merge or added mention, the name is a
mention's text (its own while a mention still says it), in the API, the undo and every export."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models import Role
from app.review.decisions import name_from_mentions
from tests.factories import bearer, make_project, make_review_document, make_token, make_user

TEXT = "张伟毕业于美国斯坦福大学。斯坦福大学位于加州。他在斯坦福读书。"


def _span(s: str, nth: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(nth + 1):
        start = TEXT.index(s, start + 1)
    return start, start + len(s)


@pytest.fixture
def world(session: Session, app_client: TestClient) -> dict[str, Any]:
    admin = make_user(session, username="admin", role=Role.admin)
    alice = make_user(session, username="alice", role=Role.reviewer)
    project = make_project(session)
    doc, ents, _rels = make_review_document(
        session,
        project,
        text=TEXT,
        entities=[
            ("PER", "张伟", [_span("张伟")], "agreed", "proposed"),
            ("ORG", "美国斯坦福大学", [_span("美国斯坦福大学"), _span("斯坦福大学", 1)], "agreed", "proposed"),
            ("LOC", "加州", [_span("加州")], "agreed", "proposed"),
        ],
        relations=[(0, 1, "毕业于", [0], "agreed", "proposed")],
    )
    return {
        "project": project,
        "doc": doc,
        "ents": ents,
        "admin": bearer(make_token(session, admin)),
        "alice": bearer(make_token(session, alice)),
    }


def _get(client: TestClient, w: dict[str, Any]) -> Any:
    r = client.get(f"/api/v1/documents/{w['doc'].id}", headers=w["alice"])
    assert r.status_code == 200, r.text
    return r.json()


def _decide(client: TestClient, w: dict[str, Any], **body: Any) -> Any:
    body["version"] = _get(client, w)["version"]
    r = client.post(f"/api/v1/documents/{w['doc'].id}/decisions", json=body, headers=w["alice"])
    assert r.status_code == 200, r.text
    return r.json()


def _names(client: TestClient, w: dict[str, Any]) -> dict[int, str]:
    return {e["id"]: e["name"] for e in _get(client, w)["entities"]}


def _mention_ids(client: TestClient, w: dict[str, Any], entity_id: int) -> list[int]:
    entity = next(e for e in _get(client, w)["entities"] if e["id"] == entity_id)
    return [m["id"] for m in sorted(entity["mentions"], key=lambda m: m["start"])]


def test_adjusting_a_mention_renames_the_entity_and_undo_restores_it(app_client: TestClient, world: Any) -> None:
    org = world["ents"][1].id
    first = _mention_ids(app_client, world, org)[0]
    start, end = _span("斯坦福大学")  # 美国斯坦福大学 → 斯坦福大学
    _decide(app_client, world, item="mention", id=first, action="adjust", start=start, end=end)
    assert _names(app_client, world)[org] == "斯坦福大学"
    version = _get(app_client, world)["version"]
    undo = app_client.post(
        f"/api/v1/documents/{world['doc'].id}/undo", json={"version": version}, headers=world["alice"]
    )
    assert undo.status_code == 200, undo.text
    assert _names(app_client, world)[org] == "美国斯坦福大学"


def test_a_name_still_said_by_a_mention_is_kept(app_client: TestClient, world: Any) -> None:
    org = world["ents"][1].id
    second = _mention_ids(app_client, world, org)[1]
    start, end = _span("斯坦福", 2)  # the other mention changes; 美国斯坦福大学 is still said
    _decide(app_client, world, item="entity", id=org, action="add_mention", start=start, end=end)
    _decide(app_client, world, item="mention", id=second, action="delete")
    assert _names(app_client, world)[org] == "美国斯坦福大学"


def test_deleting_splitting_and_merging_mentions_rename(app_client: TestClient, world: Any) -> None:
    org = world["ents"][1].id
    first, _second = _mention_ids(app_client, world, org)
    _decide(app_client, world, item="mention", id=first, action="delete")
    assert _names(app_client, world)[org] == "斯坦福大学"
    start, end = _span("斯坦福", 2)
    _decide(app_client, world, item="entity", id=org, action="add_mention", start=start, end=end)
    named = _mention_ids(app_client, world, org)[0]  # 斯坦福大学, the name
    created = _decide(app_client, world, item="mention", id=named, action="split")["created_id"]
    names = _names(app_client, world)
    assert (names[org], names[created]) == ("斯坦福", "斯坦福大学")
    _decide(app_client, world, item="entity", id=org, action="merge", into=created)
    assert _names(app_client, world)[created] == "斯坦福大学"


def test_a_created_entity_takes_a_name_from_the_text_only(app_client: TestClient, world: Any) -> None:
    start, end = _span("斯坦福", 2)
    body = {"item": "entity", "action": "create", "start": start, "end": end, "type": "ORG", "name": "Stanford"}
    body["version"] = _get(app_client, world)["version"]
    r = app_client.post(f"/api/v1/documents/{world['doc'].id}/decisions", json=body, headers=world["alice"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
    created = _decide(app_client, world, **{**body, "name": "斯坦福大学"})["created_id"]
    assert _names(app_client, world)[created] == "斯坦福大学"
    start, end = _span("他")
    blank = {**body, "start": start, "end": end, "type": "PER", "name": "  "}  # the form's empty field: no name
    created = _decide(app_client, world, **blank)["created_id"]
    assert _names(app_client, world)[created] == "他"


@pytest.mark.parametrize("fmt", ["jsonl", "docred"])
def test_export_after_an_adjust_holds_the_new_name(app_client: TestClient, world: Any, fmt: str) -> None:
    org = world["ents"][1].id
    first = _mention_ids(app_client, world, org)[0]
    start, end = _span("斯坦福大学")
    _decide(app_client, world, item="mention", id=first, action="adjust", start=start, end=end)
    r = app_client.get(f"/api/v1/projects/{world['project'].id}/export?format={fmt}&status=all", headers=world["admin"])
    assert r.status_code == 200, r.text
    if fmt == "jsonl":
        [record] = [json.loads(line) for line in r.text.splitlines() if line.strip()]
        names = {e["name"] for e in record["entities"]}
    else:
        [record] = r.json()
        names = {m["name"] for vertex in record["vertexSet"] for m in vertex}
    assert "斯坦福大学" in names and "美国斯坦福大学" not in names


def test_name_from_mentions() -> None:
    assert name_from_mentions("美国斯坦福大学", ["斯坦福大学", "斯坦福"]) == "斯坦福大学"
    assert name_from_mentions("斯坦福", ["斯坦福大学", "斯坦福"]) == "斯坦福"
    assert name_from_mentions("x", ["甲乙", "丙丁"]) == "甲乙"  # the first of the longest
    assert name_from_mentions("x", []) == "x"
