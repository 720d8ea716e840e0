"""Scripted review over the API: each decision, and every bad input the workbench must refuse."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models import Decision, Document, Entity, Mention, Relation, Role
from tests.factories import bearer, make_project, make_review_document, make_token, make_user


@pytest.fixture
def world(session: Session, app_client: TestClient) -> dict[str, Any]:
    admin = make_user(session, username="admin", role=Role.admin)
    alice = make_user(session, username="alice", role=Role.reviewer)
    bob = make_user(session, username="bob", role=Role.reviewer)
    project = make_project(session)
    doc, ents, rels = make_review_document(session, project)
    return {
        "project": project,
        "doc": doc,
        "ents": ents,
        "rels": rels,
        "admin": bearer(make_token(session, admin)),
        "alice": bearer(make_token(session, alice)),
        "bob": bearer(make_token(session, bob)),
    }


def decide(client: TestClient, w: dict[str, Any], who: str = "alice", **body: Any) -> Any:
    doc_id = body.pop("doc", w["doc"].id)
    if "version" not in body:
        body["version"] = client.get(f"/api/v1/documents/{doc_id}", headers=w[who]).json()["version"]
    return client.post(f"/api/v1/documents/{doc_id}/decisions", json=body, headers=w[who])


def state(session: Session, model: Any, item_id: int) -> Any:
    session.expire_all()
    return session.get(model, item_id)


def test_accept_relation_accepts_its_entities_and_is_audited(
    app_client: TestClient, session: Session, world: Any
) -> None:
    rel = world["rels"][0]
    v0 = world["doc"].version
    r = decide(app_client, world, item="relation", id=rel.id, action="accept")
    assert r.status_code == 200, r.text
    assert r.json()["version"] == v0 + 1
    assert state(session, Relation, rel.id).status == "accepted"
    assert state(session, Entity, rel.head_id).status == "accepted"
    assert state(session, Entity, rel.tail_id).status == "accepted"
    decision = session.exec(select(Decision).where(Decision.document_id == world["doc"].id)).one()
    assert decision.action == "accept" and decision.item_kind == "relation" and decision.item_id == rel.id
    assert decision.before is not None and decision.after is not None
    before = {(t, i): v for t, i, v in decision.before["rows"]}
    after = {(t, i): v for t, i, v in decision.after["rows"]}
    assert before[("relation", rel.id)]["status"] == "proposed"
    assert after[("relation", rel.id)]["status"] == "accepted"
    assert session.get_one(Document, world["doc"].id).status == "in_review"


def test_reject_entity_rejects_its_relations(app_client: TestClient, session: Session, world: Any) -> None:
    per = world["ents"][0]
    r = decide(app_client, world, item="entity", id=per.id, action="reject")
    assert r.status_code == 200, r.text
    for rel in world["rels"]:
        involved = per.id in (rel.head_id, rel.tail_id)
        assert state(session, Relation, rel.id).status == ("rejected" if involved else "proposed")
    assert {m.status for m in session.exec(select(Mention).where(Mention.entity_id == per.id))} == {"rejected"}


def test_retype_relation_checks_the_schema(app_client: TestClient, session: Session, world: Any) -> None:
    rel = world["rels"][0]  # 张伟 (PER) 任职于 北京大学 (ORG)
    r = decide(app_client, world, item="relation", id=rel.id, action="retype", type="毕业于")
    assert r.status_code == 200, r.text
    assert state(session, Relation, rel.id).type == "毕业于"
    version = r.json()["version"]
    bad = decide(app_client, world, item="relation", id=rel.id, action="retype", type="位于", version=version)
    assert bad.status_code == 422
    assert "does not allow 位于 from PER to ORG" in bad.json()["detail"]
    assert state(session, Relation, rel.id).type == "毕业于"
    assert session.get_one(Document, world["doc"].id).version == version


def test_swap_refused_when_the_schema_forbids_the_reverse(app_client: TestClient, session: Session, world: Any) -> None:
    rel = world["rels"][0]
    r = decide(app_client, world, item="relation", id=rel.id, action="swap")
    assert r.status_code == 422 and "from ORG to PER" in r.json()["detail"]
    sym = world["rels"][4]  # 同事 is symmetric PER–PER
    ok = decide(app_client, world, item="relation", id=sym.id, action="swap")
    assert ok.status_code == 200, ok.text
    rel_now = state(session, Relation, sym.id)
    assert (rel_now.head_id, rel_now.tail_id) == (world["ents"][5].id, world["ents"][0].id)


def test_create_entity_from_code_points_and_utf16(app_client: TestClient, session: Session, world: Any) -> None:
    text = world["doc"].text
    start = text.index("祥")  # after 𠮷, a character outside the BMP: UTF-16 offsets differ by one
    r = decide(app_client, world, item="entity", action="create", start=start, end=start + 1, type="MISC")
    assert r.status_code == 200, r.text
    created = state(session, Entity, r.json()["created_id"])
    assert created.name == "祥" and created.status == "accepted" and created.agreement == "manual"
    li = text.index("李娜")
    utf16 = len(text[:li].encode("utf-16-le")) // 2
    r2 = decide(app_client, world, item="entity", action="create", start=utf16, end=utf16 + 1, type="PER", unit="utf16")
    assert r2.status_code == 200, r2.text
    m = session.exec(select(Mention).where(Mention.entity_id == r2.json()["created_id"])).one()
    assert (m.start, m.end, m.text) == (li, li + 1, "李")


@pytest.mark.parametrize(
    ("start", "end", "unit", "message"),
    [
        (-1, 3, "code_point", "out of range"),
        (10, 10_000, "code_point", "out of range"),
        (5, 3, "code_point", "out of range"),
        (0, 0, "code_point", "out of range"),
        ("x", 3, "code_point", "entity.create.start"),
        (None, 3, "utf16", "splits the surrogate pair"),
        (0, 15, "code_point", "cannot cross sentences"),
    ],
)
def test_bad_offsets_change_nothing(
    app_client: TestClient, session: Session, world: Any, start: Any, end: int, unit: str, message: str
) -> None:
    if start is None:  # the middle of 𠮷's surrogate pair
        start = len(world["doc"].text[: world["doc"].text.index("𠮷")].encode("utf-16-le")) // 2 + 1
        end = start + 2
    before = session.exec(select(Entity)).all()
    r = decide(app_client, world, item="entity", action="create", start=start, end=end, type="PER", unit=unit)
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"]
    assert len(session.exec(select(Entity)).all()) == len(before)
    assert session.exec(select(Decision)).all() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"item": "entity", "action": "accept", "bogus": 1}, "entity.accept.bogus"),  # a field the action never reads
        ({"item": "entity", "action": "fly"}, "entity.action"),
        ({"item": "planet", "action": "accept"}, "item"),
        ({"action": "accept"}, "item"),
        ({"item": "entity", "action": "merge"}, "entity.merge.into"),  # a field the action needs
        ({"item": "relation", "action": "create", "head": 1, "tail": "two", "type": "R"}, "relation.create.tail"),
        ({"item": "relation", "action": "evidence", "evidence": {"a": 1}}, "relation.evidence.evidence"),
        ({"item": "relation", "action": "evidence", "evidence": "1, x"}, "relation.evidence.evidence[1]"),
        ({"item": "entity", "action": "create", "start": 0, "end": 1, "type": "PER", "unit": "bytes"}, None),
    ],
)
def test_a_malformed_command_is_a_422_naming_the_field(
    app_client: TestClient, session: Session, world: Any, body: dict[str, Any], field: str | None
) -> None:
    if body.get("action") in ("accept", "merge", "evidence", "fly"):
        body = {"id": world["ents"][0].id, **body}
    r = decide(app_client, world, **body)
    assert r.status_code == 422, r.text
    fields = [e["field"] for e in r.json()["errors"]]
    assert fields[0] == (field or "entity.create.unit"), fields
    assert r.json()["detail"] == f"Invalid input: {fields[0]}"
    assert session.exec(select(Decision)).all() == []


def test_openapi_shows_each_decision_command(app_client: TestClient) -> None:
    spec = app_client.get("/api/v1/openapi.json").json()
    body = spec["paths"]["/api/v1/documents/{document_id}/decisions"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["discriminator"]["propertyName"] == "item", schema
    create = spec["components"]["schemas"]["EntityCreate"]
    assert set(create["required"]) >= {"item", "action", "start", "end", "type", "version"}
    assert create["additionalProperties"] is False
    assert create["properties"]["unit"]["enum"] == ["code_point", "utf16"]


def test_item_of_another_document_is_not_found(app_client: TestClient, session: Session, world: Any) -> None:
    _other, ents, _ = make_review_document(
        session,
        world["project"],
        text="王芳在深圳工作。她很忙。",
        entities=[("PER", "王芳", [(0, 2)], "agreed", "proposed")],
        relations=[],
    )
    r = decide(app_client, world, item="entity", id=ents[0].id, action="accept")
    assert r.status_code == 404
    assert f"has no entity {ents[0].id}" in r.json()["detail"]
    assert state(session, Entity, ents[0].id).status == "proposed"


def test_stale_version_is_a_conflict_with_the_fresh_version(
    app_client: TestClient, session: Session, world: Any
) -> None:
    v = world["doc"].version
    assert (
        decide(app_client, world, item="entity", id=world["ents"][1].id, action="accept", version=v).status_code == 200
    )
    stale = decide(app_client, world, item="entity", id=world["ents"][2].id, action="reject", version=v)
    assert stale.status_code == 409
    assert stale.json()["version"] == v + 1
    assert "changed since you loaded it" in stale.json()["detail"]
    assert state(session, Entity, world["ents"][2].id).status == "proposed"


def test_a_document_locked_by_another_reviewer(app_client: TestClient, session: Session, world: Any) -> None:
    doc_id = world["doc"].id
    claimed = app_client.post(f"/api/v1/documents/{doc_id}/claim", headers=world["alice"])
    assert claimed.status_code == 200 and claimed.json()["locked_by"] == "alice"
    r = decide(app_client, world, who="bob", item="entity", id=world["ents"][1].id, action="accept")
    assert r.status_code == 423
    assert "alice is reviewing" in r.json()["detail"]
    assert state(session, Entity, world["ents"][1].id).status == "proposed"
    assert app_client.post(f"/api/v1/documents/{doc_id}/claim", headers=world["bob"]).status_code == 423
    # Bob cannot release Alice's lock; an admin can.
    assert app_client.delete(f"/api/v1/documents/{doc_id}/claim", headers=world["bob"]).status_code == 403
    assert app_client.delete(f"/api/v1/documents/{doc_id}/claim", headers=world["admin"]).json()["locked_by"] is None
    assert (
        decide(app_client, world, who="bob", item="entity", id=world["ents"][1].id, action="accept").status_code == 200
    )


def test_reviewer_cannot_call_admin_actions(app_client: TestClient, session: Session, world: Any) -> None:
    doc_id = world["doc"].id
    v = world["doc"].version
    assert (
        app_client.post(f"/api/v1/documents/{doc_id}/submit", json={"version": v}, headers=world["alice"]).status_code
        == 200
    )
    r = app_client.post(f"/api/v1/documents/{doc_id}/reopen", headers=world["alice"])
    assert r.status_code == 403
    assert state(session, Document, doc_id).status == "curated"
    assert app_client.post(f"/api/v1/documents/{doc_id}/reopen", headers=world["admin"]).status_code == 200
    assert state(session, Document, doc_id).status == "in_review"


def test_undo_restores_every_row(app_client: TestClient, session: Session, world: Any) -> None:
    per, org = world["ents"][0], world["ents"][1]
    r = decide(app_client, world, item="entity", id=org.id, action="merge", into=per.id)
    assert r.status_code == 200, r.text
    assert state(session, Entity, org.id) is None
    assert len(session.exec(select(Mention).where(Mention.entity_id == per.id)).all()) == 3
    undo = app_client.post(
        f"/api/v1/documents/{world['doc'].id}/undo", json={"version": r.json()["version"]}, headers=world["alice"]
    )
    assert undo.status_code == 200, undo.text
    restored = state(session, Entity, org.id)
    assert restored is not None and restored.name == "北京大学" and restored.status == "proposed"
    assert len(session.exec(select(Mention).where(Mention.entity_id == per.id)).all()) == 2
    rel = state(session, Relation, world["rels"][0].id)
    assert (rel.head_id, rel.tail_id) == (per.id, org.id)
    again = app_client.post(
        f"/api/v1/documents/{world['doc'].id}/undo", json={"version": undo.json()["version"]}, headers=world["alice"]
    )
    assert again.status_code == 409 and "Nothing to undo" in again.json()["detail"]


def test_submit_curates_exactly_what_was_decided(app_client: TestClient, session: Session, world: Any) -> None:
    doc_id = world["doc"].id
    decide(app_client, world, item="relation", id=world["rels"][0].id, action="accept")
    decide(app_client, world, item="relation", id=world["rels"][1].id, action="reject")
    v = app_client.get(f"/api/v1/documents/{doc_id}", headers=world["alice"]).json()["version"]
    r = app_client.post(f"/api/v1/documents/{doc_id}/submit", json={"version": v}, headers=world["alice"])
    assert r.status_code == 200 and r.json()["status"] == "curated"
    session.expire_all()
    accepted = {r.id for r in session.exec(select(Relation).where(Relation.status == "accepted"))}
    assert accepted == {world["rels"][0].id, world["rels"][2].id}
    assert session.exec(select(Relation).where(Relation.status == "proposed")).all() == []
    late = decide(app_client, world, item="relation", id=world["rels"][3].id, action="accept")
    assert late.status_code == 409 and "already curated" in late.json()["detail"]
    history = app_client.get(f"/api/v1/documents/{doc_id}/history", headers=world["alice"]).json()
    assert [h["action"] for h in history] == ["submit", "reject", "accept"]
    assert history[0]["user"] == "alice"
    assert f"relation {world['rels'][1].id}: status proposed → rejected" in history[1]["changes"]


def test_answers_keep_their_shape(app_client: TestClient, session: Session, world: Any) -> None:
    """The typed answers write what the hand-built ones did: the same keys in the same order, and times as they
    were written (the lock's by `isoformat()`, "+00:00"; the history's by pydantic, "Z")."""
    doc_id = world["doc"].id
    claimed = app_client.post(f"/api/v1/documents/{doc_id}/claim", headers=world["alice"]).json()
    assert list(claimed) == ["document", "version", "status", "locked_by", "locked_until"]
    assert claimed["locked_until"].endswith("+00:00")
    done = decide(app_client, world, item="entity", id=world["ents"][1].id, action="accept").json()
    assert list(done) == ["document", "version", "status", "summary", "decision", "created_id", "changed"]
    assert done["changed"]["entity"] == [world["ents"][1].id]
    history = app_client.get(f"/api/v1/documents/{doc_id}/history", headers=world["alice"]).json()
    assert list(history[0]) == [
        "id", "user", "at", "item", "item_id", "action", "summary", "undone", "version", "changes"
    ]  # fmt: skip
    assert history[0]["at"].endswith("Z") and history[0]["user"] == "alice"
    queue = app_client.get(f"/api/v1/projects/{world['project'].id}/review-queue", headers=world["bob"]).json()
    assert list(queue[0]) == ["id", "title", "status", "version", "open_items", "blind_review", "locked_by"]
    assert queue[0]["locked_by"] == "alice"
    progress = app_client.get(f"/api/v1/projects/{world['project'].id}/reviewers", headers=world["bob"]).json()
    assert progress == [
        {"user_id": progress[0]["user_id"], "documents": 0, "documents_24h": 0, "decisions": 1, "decisions_24h": 1,
         "username": "alice"}
    ]  # fmt: skip
