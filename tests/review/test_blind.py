"""The recall audit's blind pass over the API and the workbench: proposals hidden, the reviewer's own marking,
the reveal that settles identical items, and the recall it estimates."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.dataset.jobs import build_snapshot
from app.dataset.service import bind_of
from app.models import Decision, Document, DocumentStatus, Entity, Relation, Role
from app.review.blind import recall_summary
from tests.factories import (
    REVIEW_TEXT,
    bearer,
    login,
    make_project,
    make_review_document,
    make_token,
    make_user,
    page_csrf,
)


def span(needle: str, nth: int = 0, text: str = REVIEW_TEXT) -> tuple[int, int]:
    start = -1
    for _ in range(nth + 1):
        start = text.index(needle, start + 1)
    return start, start + len(needle)


@pytest.fixture
def world(session: Session, app_client: TestClient) -> dict[str, Any]:
    """A project auditing recall, and the factory's annotated document drawn for a blind pass."""
    admin = make_user(session, username="admin", role=Role.admin)
    alice = make_user(session, username="alice", role=Role.reviewer)
    project = make_project(session)
    project.settings = {**project.settings, "recall_audit_rate": 0.2}
    session.add(project)
    doc, ents, rels = make_review_document(session, project)
    doc.blind_review = "pending"
    session.add(doc)
    session.commit()
    return {
        "project": project,
        "doc": doc,
        "ents": ents,
        "rels": rels,
        "admin": bearer(make_token(session, admin)),
        "alice": bearer(make_token(session, alice)),
    }


def get(client: TestClient, w: dict[str, Any], doc_id: int | None = None) -> Any:
    r = client.get(f"/api/v1/documents/{doc_id or w['doc'].id}", headers=w["alice"])
    assert r.status_code == 200, r.text
    return r.json()


def decide(client: TestClient, w: dict[str, Any], **body: Any) -> Any:
    doc_id = body.pop("doc", w["doc"].id)
    body.setdefault("version", get(client, w, doc_id)["version"])
    return client.post(f"/api/v1/documents/{doc_id}/decisions", json=body, headers=w["alice"])


def create_entity(client: TestClient, w: dict[str, Any], needle: str, etype: str, nth: int = 0) -> int:
    start, end = span(needle, nth)
    r = decide(client, w, item="entity", action="create", start=start, end=end, type=etype)
    assert r.status_code == 200, r.text
    return int(r.json()["created_id"])


def create_relation(client: TestClient, w: dict[str, Any], head: int, tail: int, rtype: str) -> int:
    r = decide(client, w, item="relation", action="create", head=head, tail=tail, type=rtype)
    assert r.status_code == 200, r.text
    return int(r.json()["created_id"])


def finish(client: TestClient, w: dict[str, Any], doc_id: int | None = None) -> Any:
    doc_id = doc_id or w["doc"].id
    version = get(client, w, doc_id)["version"]
    return client.post(f"/api/v1/documents/{doc_id}/finish-blind", json={"version": version}, headers=w["alice"])


def test_a_pending_documents_get_holds_no_proposals(app_client: TestClient, session: Session, world: Any) -> None:
    body = get(app_client, world)
    assert body["blind_review"] == "pending"
    assert body["entities"] == [] and body["relations"] == []
    assert body["text"] == REVIEW_TEXT and body["sentences"]
    assert "agreed" not in str(body) and "model-a" not in str(body["entities"])
    # What the reviewer marks is there, as today.
    created = create_entity(app_client, world, "李娜", "PER")
    body = get(app_client, world)
    assert [(e["id"], e["name"], e["agreement"], e["proposed_by"]) for e in body["entities"]] == [
        (created, "李娜", "manual", [])
    ]
    # The document page shows no proposal either.
    login(app_client, "alice")
    page = app_client.get(f"/documents/{world['doc'].id}").text
    for e in world["ents"][:5]:  # all but 李娜, which the reviewer marked
        assert f"<td>{e.name}" not in page


def test_the_reviewer_marks_entities_and_relations_and_clashes_do_not_leak(
    app_client: TestClient, session: Session, world: Any
) -> None:
    # 北京大学 and 上海 are hidden proposals: marking the same spans is no clash, and says nothing about them.
    org = create_entity(app_client, world, "北京大学", "ORG")
    start, end = span("上海")
    r = decide(app_client, world, item="entity", action="create", start=start, end=end, type="LOC")
    assert r.status_code == 200, r.text
    per = create_entity(app_client, world, "张伟", "PER")
    # A clash with the reviewer's own item is still refused, and names only it.
    again = decide(app_client, world, item="entity", action="create", start=start, end=end, type="ORG")
    assert again.status_code == 409
    assert "is already a mention of 上海 (LOC)" in again.json()["detail"]
    assert again.json()["detail"].count("上海") == 2  # the span and the reviewer's entity, nothing else
    rel = create_relation(app_client, world, per, org, "任职于")
    # 张伟 —任职于→ 北京大学 is also a hidden proposal: only the reviewer's own copy counts as a duplicate.
    dup = decide(app_client, world, item="relation", action="create", head=per, tail=org, type="任职于")
    assert dup.status_code == 409 and dup.json()["detail"] == f"That relation already exists (relation {rel})."
    session.expire_all()
    made = session.exec(select(Relation).where(Relation.id == rel)).one()
    assert (made.agreement, made.status, made.head_id, made.tail_id) == ("manual", "accepted", per, org)
    assert all(session.get(Entity, e.id).status == e.status for e in world["ents"])  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"item": "entity", "id": 0, "action": "accept"}, "proposals are hidden"),
        ({"item": "relation", "id": 0, "action": "reject"}, "proposals are hidden"),
        ({"item": "relation", "id": 2, "action": "delete"}, "proposals are hidden"),
        ({"item": "entity", "id": 5, "action": "retype", "type": "ORG"}, "proposals are hidden"),
        ({"item": "document", "action": "accept_agreed"}, "nothing agreed to accept"),
        ({"item": "document", "action": "reject_annotator", "annotator": 1}, "proposals are hidden"),
    ],
)
def test_decisions_on_hidden_proposals_are_refused(
    app_client: TestClient, session: Session, world: Any, body: dict[str, Any], message: str
) -> None:
    kind = {"entity": "ents", "relation": "rels"}.get(body["item"])
    if kind is not None:
        body = {**body, "id": world[kind][body["id"]].id}
    version = get(app_client, world)["version"]
    r = decide(app_client, world, **body)
    assert r.status_code == 409, r.text
    assert f"Document {world['doc'].id} is in its blind pass" in r.json()["detail"]
    assert message in r.json()["detail"]
    session.expire_all()
    assert get(app_client, world)["version"] == version
    assert session.exec(select(Decision).where(Decision.document_id == world["doc"].id)).all() == []
    assert [session.get(Entity, e.id).status for e in world["ents"]] == [e.status for e in world["ents"]]  # type: ignore[union-attr]


def test_a_hidden_proposal_cannot_be_reached_through_the_reviewers_items(
    app_client: TestClient, session: Session, world: Any
) -> None:
    mine = create_entity(app_client, world, "李娜", "PER")
    machine = world["ents"][0].id  # 张伟
    merge = decide(app_client, world, item="entity", id=mine, action="merge", into=machine)
    relation = decide(app_client, world, item="relation", action="create", head=machine, tail=mine, type="同事")
    mention = decide(app_client, world, item="mention", id=_mention_of(session, world["ents"][0].id), action="delete")
    for r in (merge, relation, mention):
        assert r.status_code == 409 and "in its blind pass" in r.json()["detail"], r.text
    version = get(app_client, world)["version"]
    submit = app_client.post(
        f"/api/v1/documents/{world['doc'].id}/submit", json={"version": version}, headers=world["alice"]
    )
    assert submit.status_code == 409 and "finish it first" in submit.json()["detail"]
    session.expire_all()
    assert session.get(Document, world["doc"].id).status == DocumentStatus.in_review  # type: ignore[union-attr]


def _mention_of(session: Session, entity_id: int) -> int:
    from app.models import Mention

    return int(session.exec(select(Mention.id).where(Mention.entity_id == entity_id)).first() or 0)


def test_finishing_reveals_everything_and_folds_identical_items(
    app_client: TestClient, session: Session, world: Any
) -> None:
    ents, rels = world["ents"], world["rels"]
    # 张伟 with both of its mentions, 北京大学 and 李娜: identical to proposals. 张伟 once more as a
    # relation's end would be a clash, so the rest is: 上海 as an ORG (proposed as LOC) and 他 (never proposed).
    zhang = create_entity(app_client, world, "张伟", "PER")
    start, end = span("张伟", 1)
    added = decide(app_client, world, item="entity", id=zhang, action="add_mention", start=start, end=end)
    assert added.status_code == 200, added.text
    org = create_entity(app_client, world, "北京大学", "ORG")
    lina = create_entity(app_client, world, "李娜", "PER")
    shanghai = create_entity(app_client, world, "上海", "ORG")
    he = create_entity(app_client, world, "他", "PER", nth=1)
    works = create_relation(app_client, world, zhang, org, "任职于")  # proposed: folds
    colleague = create_relation(app_client, world, lina, zhang, "同事")  # proposed the other way; symmetric: folds
    unproposed = create_relation(app_client, world, lina, he, "同事")  # not proposed: moves onto the proposal 李娜

    r = finish(app_client, world)
    assert r.status_code == 200, r.text
    assert "marked 5 entities (3 proposed by the models) and 3 relations (2 proposed)" in r.json()["summary"]
    body = get(app_client, world)
    assert body["blind_review"] == "revealed"
    by_id = {e["id"]: e for e in body["entities"]}
    # Every proposal is shown again; the reviewer's copies of identical ones are gone.
    assert {e.id for e in ents} <= set(by_id)
    assert zhang not in by_id and org not in by_id and lina not in by_id
    assert {by_id[i]["name"] for i in (shanghai, he)} == {"上海", "他"}
    statuses = {by_id[e.id]["name"]: by_id[e.id]["status"] for e in ents}
    assert statuses == {
        "张伟": "accepted",
        "北京大学": "accepted",
        "李娜": "accepted",
        "星河科技": "accepted",  # accepted before the review, by routing
        "上海": "proposed",  # the reviewer said ORG: the difference is theirs to settle
        "杭州": "proposed",
    }
    relations = {r["id"]: r for r in body["relations"]}
    assert works not in relations and colleague not in relations
    assert relations[rels[0].id]["status"] == "accepted" and relations[rels[4].id]["status"] == "accepted"
    assert relations[rels[1].id]["status"] == "proposed"
    moved = relations[unproposed]
    assert (moved["head"], moved["tail"], moved["agreement"]) == (ents[5].id, he, "manual")

    session.expire_all()
    record = session.get(Document, world["doc"].id).meta["recall_audit"]  # type: ignore[union-attr]
    assert record["reviewer"] == "alice"
    # In text order, as spans and types: the reviewer's entities are gone, their ids mean nothing.
    assert [(e["type"], e["spans"], e["found"]) for e in record["entities"]] == [
        ("PER", [list(span("张伟")), list(span("张伟", 1))], True),
        ("ORG", [list(span("北京大学"))], True),
        ("ORG", [list(span("上海"))], False),
        ("PER", [list(span("李娜"))], True),
        ("PER", [list(span("他", 1))], False),
    ]
    lina_he = next(r for r in record["relations"] if r["found"] is False)
    assert (lina_he["head"], lina_he["tail"]) == ([list(span("李娜"))], [list(span("他", 1))])
    assert sorted((r["type"], r["found"]) for r in record["relations"]) == [
        ("任职于", True),
        ("同事", False),
        ("同事", True),
    ]
    assert record["proposals"] == {"entities": 6, "relations": 5}
    history = app_client.get(f"/api/v1/documents/{world['doc'].id}/history", headers=world["alice"]).json()
    assert history[0]["action"] == "finish_blind" and history[0]["user"] == "alice"
    assert any("deleted 李娜 (PER" in line for line in history[0]["changes"])

    # The pass is over: finishing again says so, and undo does not reach back into it.
    again = finish(app_client, world)
    assert again.status_code == 409
    assert (
        again.json()["detail"]
        == f"The blind pass of document {world['doc'].id} is already finished: its proposals are shown."
    )
    version = get(app_client, world)["version"]
    undo = app_client.post(
        f"/api/v1/documents/{world['doc'].id}/undo", json={"version": version}, headers=world["alice"]
    )
    assert undo.status_code == 409 and "Nothing to undo" in undo.json()["detail"]
    # Now it is the normal workbench: proposals take decisions, and the document can be submitted.
    assert decide(app_client, world, item="entity", id=ents[2].id, action="reject").status_code == 200
    version = get(app_client, world)["version"]
    done = app_client.post(
        f"/api/v1/documents/{world['doc'].id}/submit", json={"version": version}, headers=world["alice"]
    )
    assert done.status_code == 200 and done.json()["status"] == "curated"


def test_finishing_a_document_that_is_not_blind_is_a_conflict(
    app_client: TestClient, session: Session, world: Any
) -> None:
    other, _, _ = make_review_document(
        session,
        world["project"],
        text="王芳在深圳工作。",
        entities=[("PER", "王芳", [(0, 2)], "agreed", "proposed")],
        relations=[],
    )
    r = finish(app_client, world, other.id)
    assert r.status_code == 409
    assert r.json()["detail"] == (
        f"Document {other.id} is not reviewed blind: only documents drawn for the recall audit have a blind pass."
    )
    session.expire_all()
    assert session.get(Document, other.id).blind_review is None  # type: ignore[union-attr]
    assert session.exec(select(Decision).where(Decision.document_id == other.id)).all() == []


def test_the_recall_audit_rate_is_validated(app_client: TestClient, session: Session, world: Any) -> None:
    url = f"/api/v1/projects/{world['project'].id}"
    for bad in (-0.1, 1.5, "often"):
        r = app_client.patch(url, json={"settings": {"recall_audit_rate": bad}}, headers=world["admin"])
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["settings.recall_audit_rate"]
    ok = app_client.patch(url, json={"settings": {"recall_audit_rate": 0.05}}, headers=world["admin"])
    assert ok.status_code == 200 and ok.json()["settings"]["recall_audit_rate"] == 0.05


def _curated_elsewhere(session: Session, project: Any, accepted_relations: int) -> Document:
    """A curated document reviewed the usual way, with this many accepted relations (张伟 to each organisation)."""
    text = "张伟在甲公司、乙公司、丙公司和丁公司工作过。"
    orgs = ["甲公司", "乙公司", "丙公司", "丁公司"][:accepted_relations]
    doc, _, _ = make_review_document(
        session,
        project,
        text=text,
        entities=[("PER", "张伟", [(0, 2)], "agreed", "accepted")]
        + [("ORG", o, [(text.index(o), text.index(o) + 3)], "agreed", "accepted") for o in orgs],
        relations=[(0, i + 1, "任职于", [0], "agreed", "accepted") for i in range(len(orgs))],
    )
    assert isinstance(doc, Document)
    doc.status = DocumentStatus.curated
    session.add(doc)
    session.commit()
    return doc


def test_recall_summary_counts_the_blind_items_the_pipeline_proposed(
    app_client: TestClient, session: Session, world: Any
) -> None:
    project_id = world["project"].id
    before = app_client.get(f"/api/v1/projects/{project_id}/recall-audit", headers=world["alice"]).json()
    assert (before["documents"], before["pending"], before["rate"]) == (0, 1, 0.2)
    assert before["relations"]["recall"] is None and before["missing_relations"]["estimate"] is None

    zhang = create_entity(app_client, world, "张伟", "PER")
    org = create_entity(app_client, world, "北京大学", "ORG")
    lina = create_entity(app_client, world, "李娜", "PER")
    he = create_entity(app_client, world, "他", "PER", nth=1)
    create_relation(app_client, world, zhang, org, "任职于")  # proposed
    create_relation(app_client, world, zhang, lina, "同事")  # proposed
    create_relation(app_client, world, lina, he, "同事")  # not proposed
    assert finish(app_client, world).status_code == 200
    _curated_elsewhere(session, world["project"], 4)

    r = app_client.get(f"/api/v1/projects/{project_id}/recall-audit", headers=world["alice"])
    assert r.status_code == 200, r.text
    s = r.json()
    assert (s["documents"], s["pending"]) == (1, 0)
    assert (s["entities"]["found"], s["entities"]["marked"]) == (3, 4)
    assert (s["relations"]["found"], s["relations"]["marked"]) == (2, 3)
    assert s["relations"]["recall"] == pytest.approx(2 / 3)
    assert s["relations"]["low"] == pytest.approx(0.2077, abs=1e-3)
    assert s["relations"]["high"] == pytest.approx(0.9385, abs=1e-3)
    by_type = {(t["kind"], t["type"]): (t["estimate"]["found"], t["estimate"]["marked"]) for t in s["by_type"]}
    assert by_type == {
        ("entity", "ORG"): (1, 1),
        ("entity", "PER"): (2, 3),
        ("relation", "任职于"): (1, 1),
        ("relation", "同事"): (1, 2),
    }
    # 4 curated relations in documents reviewed with the proposals: 4 × (1 − 2/3) / (2/3) = 2 missing.
    missing = s["missing_relations"]
    assert missing["curated_relations"] == 4 and missing["estimate"] == pytest.approx(2.0)
    assert missing["low"] == pytest.approx(4 * (1 - 0.9385) / 0.9385, abs=0.01)
    assert missing["high"] == pytest.approx(4 * (1 - 0.2077) / 0.2077, abs=0.05)
    # One batch's figures only count that batch's documents (this one has none).
    assert recall_summary(session, project_id=project_id, batch_id=-1).documents == 0

    # The dashboard and a snapshot's datasheet show the same figures.
    login(app_client, "alice")
    dashboard = app_client.get(f"/projects/{project_id}/dashboard").text
    section = dashboard.split('id="recall-audit"')[1].split("</section>")[0]
    assert "<strong>1</strong> document(s) audited" in section
    assert "0.667" in section and "0.208 – 0.939" in section and "≈ 2" in section
    created = app_client.post(
        f"/api/v1/projects/{project_id}/snapshots",
        json={"name": "with-audit", "status": "all", "confirm_empty_splits": True},
        headers=world["admin"],
    )
    assert created.status_code == 202, created.text
    build_snapshot(created.json()["id"], bind=bind_of(session))
    session.expire_all()
    sheet = app_client.get(f"/api/v1/snapshots/{created.json()['id']}", headers=world["admin"]).json()["datasheet"]
    audit = sheet["recall_audit"]
    assert audit["documents"] == 1 and audit["relations"]["found"] == 2 and audit["relations"]["marked"] == 3
    assert audit["missing_relations"]["estimate"] == pytest.approx(2.0)
    assert {(t["kind"], t["type"]) for t in audit["by_type"]} == set(by_type)


def test_the_dashboard_says_off_without_an_audit(app_client: TestClient, session: Session) -> None:
    make_user(session, username="alice", role=Role.reviewer)
    project = make_project(session, name="无审计")
    login(app_client, "alice")
    page = app_client.get(f"/projects/{project.id}/dashboard")
    assert page.status_code == 200
    section = page.text.split('id="recall-audit"')[1].split("</section>")[0]
    assert "Off: no document is reviewed blind" in section


def test_the_workbench_of_a_pending_document_shows_no_proposal(
    app_client: TestClient, session: Session, world: Any
) -> None:
    doc, ents, rels = world["doc"], world["ents"], world["rels"]
    mine = create_entity(app_client, world, "李娜", "PER")
    login(app_client, "alice")
    html = app_client.get(f"/documents/{doc.id}/review").text
    assert "Blind pass:</strong> mark what the text states; the models' proposals appear after you finish." in html
    for e in ents:
        assert f'id="e-{e.id}"' not in html and f'data-e="{e.id}"' not in html and f'data-p="{e.id}"' not in html
    for r in rels:
        assert f'id="r-{r.id}"' not in html
    assert f'id="e-{mine}"' in html and f'data-e="{mine}"' in html
    # No count, badge or bulk action that would tell of the proposals.
    state = html.split('id="wb-state"')[1].split("</div>")[0]
    assert "to review" not in state and "1</strong> item(s) marked" in state and 'data-blind="pending"' in state
    for tell in (
        'data-cmd="accept-agreed"',
        'data-cmd="submit"',
        "reject-annotator",
        "model-a",
        "ag-agreed",
        "pv audit",
    ):
        assert tell not in html.split("<body", 1)[1], tell
    assert 'data-cmd="finish-blind"' in html and "Relations <span" in html

    # A decision's fragments stay blind too; finishing redraws everything with the proposals.
    token = page_csrf(app_client, f"/documents/{doc.id}/review")
    version = get(app_client, world)["version"]
    start, end = span("杭州")
    r = app_client.post(
        f"/documents/{doc.id}/decide",
        data={"item": "entity", "action": "create", "start": start, "end": end, "type": "LOC", "version": version},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert r.status_code == 200, r.text
    assert f'id="e-{ents[4].id}"' not in r.text and "2</strong> item(s) marked" in r.text
    r = app_client.post(
        f"/documents/{doc.id}/finish-blind",
        data={"version": version + 1},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert r.status_code == 200, r.text
    assert "finished the blind pass" in r.text
    for e in ents:
        assert f'id="e-{e.id}"' in r.text
    assert '<div id="wb-blind" hx-swap-oob="true"></div>' in r.text
    assert 'data-cmd="submit"' in r.text and 'data-cmd="finish-blind"' not in r.text
