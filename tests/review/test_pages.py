"""The workbench page over the test client: it renders escaped, answers decisions with fragments only."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models import Entity, Relation, Role
from tests.factories import login, make_project, make_review_document, make_user, page_csrf


@pytest.fixture
def doc(session: Session, app_client: TestClient) -> Any:
    make_user(session, username="alice", role=Role.reviewer)
    make_user(session, username="bob", role=Role.reviewer)
    project = make_project(session)
    return make_review_document(session, project)


def test_workbench_renders_hostile_text_as_text(app_client: TestClient, session: Session, doc: Any) -> None:
    document, ents, rels = doc
    login(app_client, "alice")
    page = app_client.get(f"/documents/{document.id}/review")
    assert page.status_code == 200
    html = page.text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 张伟的故事" in html
    assert 'href="javascript:' not in html
    # Sentences numbered, mentions carry code-point offsets and their entities.
    assert 'id="s4"' in html
    start = document.text.index("李娜")
    assert f'data-s="{start}" data-e="{ents[5].id}"' in html
    assert f'id="r-{rels[0].id}"' in html and f'id="e-{ents[0].id}"' in html
    assert "<script>" not in html.split("</head>")[1]  # no inline script in the body


def test_payload_documents_show_their_markup_as_text(app_client: TestClient, session: Session, doc: Any) -> None:
    project_id = doc[0].project_id
    from app.models import Project

    project = session.get_one(Project, project_id)
    text = '页面<script>alert("x")</script>。<img src=x onerror=alert(1)>。{{ 7*7 }}与javascript:alert(1)。'
    hostile, _, _ = make_review_document(
        session,
        project,
        text=text,
        entities=[("PER", "<script>", [(text.index("<script>"), text.index("<script>") + 8)], "a_only", "proposed")],
        relations=[],
    )
    login(app_client, "alice")
    html = app_client.get(f"/documents/{hostile.id}/review").text
    body = html.split("<body", 1)[1]
    assert "<script>alert" not in body and "<img" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    # Shown as typed, not evaluated (a bare "49" could be any id or offset of the page: look where it would be).
    shown = body.split('id="wb-text"')[1].split("</section>")[0]
    assert "{{ 7*7 }}" in shown and "49与javascript" not in shown


def test_a_decision_answers_with_fragments(app_client: TestClient, session: Session, doc: Any) -> None:
    document, _ents, rels = doc
    login(app_client, "alice")
    token = page_csrf(app_client, f"/documents/{document.id}/review")
    r = app_client.post(
        f"/documents/{document.id}/decide",
        data={"item": "relation", "id": rels[0].id, "action": "accept", "version": document.version},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert r.status_code == 200, r.text
    assert 'id="wb-state"' in r.text and "<html" not in r.text
    assert f'id="r-{rels[0].id}"' in r.text and 'hx-swap-oob="true"' in r.text
    assert 'id="wb-main"' not in r.text  # not a full redraw
    session.expire_all()
    assert session.get_one(Relation, rels[0].id).status == "accepted"
    history = app_client.get(f"/documents/{document.id}/history").text
    assert "alice" in history and f"relation {rels[0].id}: status proposed → accepted" in history
    assert "&lt;script&gt;" in history  # the hostile title, escaped


def test_stale_decision_redraws_with_a_conflict(app_client: TestClient, session: Session, doc: Any) -> None:
    document, ents, _ = doc
    login(app_client, "alice")
    token = page_csrf(app_client, f"/documents/{document.id}/review")
    stale = document.version - 1
    r = app_client.post(
        f"/documents/{document.id}/decide",
        data={"item": "entity", "id": ents[1].id, "action": "accept", "version": stale},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert r.status_code == 409
    assert "changed since you loaded it" in r.text and 'id="wb-main"' in r.text
    session.expire_all()
    assert session.get_one(Entity, ents[1].id).status == "proposed"


def test_a_form_decision_is_parsed_into_its_command(app_client: TestClient, session: Session, doc: Any) -> None:
    """The workbench's form carries strings ("1, 2" evidence, an empty id, the CSRF token): the same command as the
    API's; a field the action needs but lacks is a 422 naming it, with nothing written."""
    document, _ents, rels = doc
    login(app_client, "alice")
    token = page_csrf(app_client, f"/documents/{document.id}/review")
    headers = {"HX-Request": "true", "X-CSRF-Token": token}
    url, version = f"/documents/{document.id}/decide", document.version
    form = {"item": "relation", "id": rels[0].id, "action": "evidence", "evidence": "1， 0", "csrf_token": token}
    r = app_client.post(url, data={**form, "name": "", "version": version}, headers=headers)
    assert r.status_code == 200, r.text
    session.expire_all()
    assert session.get_one(Relation, rels[0].id).evidence == [0, 1]
    form["evidence"] = ""  # the workbench's prompt left empty: the relation keeps no evidence sentence
    r = app_client.post(url, data={**form, "version": version + 1}, headers=headers)
    assert r.status_code == 200, r.text
    session.expire_all()
    assert session.get_one(Relation, rels[0].id).evidence == []
    bad = {"item": "entity", "id": "", "action": "merge", "version": version + 2}
    r = app_client.post(url, data=bad, headers=headers)
    assert r.status_code == 422 and "entity.merge.id" in r.text


def test_locked_document_is_read_only_for_another_reviewer(app_client: TestClient, session: Session, doc: Any) -> None:
    document, ents, _ = doc
    login(app_client, "alice")
    token = page_csrf(app_client, f"/projects/{document.project_id}/review")
    r = app_client.post(
        f"/projects/{document.project_id}/review/next", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/documents/{document.id}/review"
    app_client.post("/logout", data={"csrf_token": token})
    login(app_client, "bob")
    page = app_client.get(f"/documents/{document.id}/review").text
    assert "locked by alice" in page and 'data-cmd="accept"' not in page
    queue = app_client.get(f"/projects/{document.project_id}/review").text
    assert "alice" in queue
    token = page_csrf(app_client, f"/documents/{document.id}/review")
    r = app_client.post(
        f"/documents/{document.id}/decide",
        data={"item": "entity", "id": ents[1].id, "action": "accept", "version": document.version},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert r.status_code == 423 and "alice is reviewing" in r.text
    assert session.exec(select(Entity).where(Entity.id == ents[1].id)).one().status == "proposed"


def test_accepting_an_entity_redraws_its_row_relations_and_sentences(
    app_client: TestClient, session: Session, doc: Any
) -> None:
    document, ents, rels = doc
    login(app_client, "alice")
    token = page_csrf(app_client, f"/documents/{document.id}/review")
    r = app_client.post(
        f"/documents/{document.id}/decide",
        data={"item": "entity", "id": ents[0].id, "action": "accept", "version": document.version},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert r.status_code == 200, r.text
    assert f'id="e-{ents[0].id}"' in r.text and "st-accepted" in r.text
    # 张伟 heads four relations: their rows show the new state of their head; its sentences are redrawn.
    for rel in rels:
        assert (f'id="r-{rel.id}"' in r.text) == (ents[0].id in (rel.head_id, rel.tail_id))
    assert 'id="s0"' in r.text and 'id="s2"' in r.text and 'id="s3"' not in r.text
    assert "todo-count" in r.text


def test_provenance_badges_show_votes_audit_and_augmentation(
    app_client: TestClient, session: Session, doc: Any
) -> None:
    from app.models import AnnotatorRun, Proposal

    document, ents, rels = doc
    runs = session.exec(select(AnnotatorRun).where(AnnotatorRun.document_id == document.id)).all()
    session.add(Proposal(run_id=runs[1].id or 0, item_kind="relation", item_id=rels[1].id, payload={"vote": False}))
    session.add(Proposal(run_id=runs[0].id or 0, item_kind="relation", item_id=rels[3].id, payload={"vote": True}))
    session.add(Proposal(run_id=runs[0].id or 0, item_kind="entity", item_id=ents[4].id, payload={"audit": True}))
    session.commit()
    login(app_client, "alice")
    html = app_client.get(f"/documents/{document.id}/review").text
    row = {r: html.split(f'id="r-{r}"')[1].split("</div>")[0] for r in (rels[1].id, rels[3].id, rels[4].id)}
    assert '<span class="pv vote-no">B ✗</span>' in row[rels[1].id]
    assert '<span class="pv vote-yes">A ✓</span>' in row[rels[3].id]
    assert '<span class="pv aug">A aug</span>' in row[rels[4].id]
    entity = html.split(f'id="e-{ents[4].id}"')[1].split("</div>")[0]
    assert '<span class="pv audit" title="a trusted item sampled for a spot check">audit</span>' in entity
    assert '<span class="pv cross" title="cross-sentence: 2 sentence(s) apart">↔2</span>' in row[rels[4].id]


def test_rows_name_every_agreement_class_and_show_both_types_of_a_blind_conflict(
    app_client: TestClient, session: Session
) -> None:
    from tests.factories import REVIEW_TEXT, add_blind_answer

    make_user(session, username="alice", role=Role.reviewer)
    project = make_project(session)

    def at(s: str) -> tuple[int, int]:
        return REVIEW_TEXT.index(s), REVIEW_TEXT.index(s) + len(s)

    document, ents, rels = make_review_document(
        session,
        project,
        entities=[
            ("PER", "张伟", [at("张伟")], "confirmed", "proposed"),
            ("ORG", "北京大学", [at("北京大学")], "disputed", "proposed"),
            ("LOC", "上海", [at("上海")], "a_only", "proposed"),
            ("LOC", "杭州", [at("杭州")], "a_only", "proposed"),
        ],
        relations=[(0, 1, "任职于", [0], "confirmed", "proposed")],
    )
    # The blind second opinion: B gives 张伟 and the relation the same type, 杭州 another one.
    add_blind_answer(session, document=document, item_kind="entity", item_id=ents[0].id, proposed_type="PER")
    add_blind_answer(session, document=document, item_kind="relation", item_id=rels[0].id, proposed_type="任职于")
    add_blind_answer(session, document=document, item_kind="entity", item_id=ents[3].id, proposed_type="ORG")
    ents[3].agreement = "type_conflict"
    session.add(ents[3])
    session.commit()
    login(app_client, "alice")
    html = app_client.get(f"/documents/{document.id}/review").text

    def row(prefix: str, item_id: int | None) -> str:
        return html.split(f'id="{prefix}-{item_id}"')[1].split("</div>")[0]

    confirmed = row("e", ents[0].id)
    assert "ag-confirmed" in html.split(f'id="e-{ents[0].id}"')[0].rsplit("<div", 1)[1]
    assert (
        '<span class="pv ag ag-confirmed" title="One model proposed it; the other, asked blind (not told it had '
        'been proposed), gave the same type.">Confirmed blind</span>'
    ) in confirmed
    assert '<span class="pv blind" title="model-b, asked blind, answered PER">B blind</span>' in confirmed
    assert ">Disputed</span>" in row("e", ents[1].id) and "pv ag ag-disputed" in row("e", ents[1].id)
    assert 'title="Only model A (model-a) proposed it; model B (model-b) gave no' in row("e", ents[2].id)
    assert ">Model A only</span>" in row("e", ents[2].id)
    conflict = row("e", ents[3].id)
    assert ">Type conflict</span>" in conflict
    assert '<span class="code">LOC</span>' in conflict  # the item's type (A's) ...
    assert '<span class="pv blind" title="model-b, asked blind, answered ORG">B blind: ORG</span>' in conflict
    assert ">Confirmed blind</span>" in row("r", rels[0].id) and ">B blind</span>" in row("r", rels[0].id)
    # The highlighted text carries the class too (the stylesheet draws confirmed and disputed apart).
    assert "ag-confirmed" in html.split('id="wb-text"')[1] and "ag-disputed" in html.split('id="wb-text"')[1]
    css = app_client.get("/static/css/app.css").text
    assert ".m.ag-confirmed" in css and ".m.ag-disputed" in css and ".pv.ag-disputed" in css


def test_the_queue_filters_by_the_new_classes_by_name(app_client: TestClient, session: Session) -> None:
    from tests.factories import REVIEW_TEXT

    make_user(session, username="alice", role=Role.reviewer)
    project = make_project(session)
    start = REVIEW_TEXT.index("北京大学")
    disputed, _, _ = make_review_document(
        session, project, entities=[("ORG", "北京大学", [(start, start + 4)], "disputed", "proposed")], relations=[]
    )
    login(app_client, "alice")
    page = app_client.get(f"/projects/{project.id}/review").text
    assert '<option value="confirmed" title="One model proposed it; the other, asked blind' in page
    assert ">Confirmed blind</option>" in page and ">Disputed</option>" in page and ">Found later</option>" in page
    listed = app_client.get(f"/projects/{project.id}/review?agreement=disputed").text
    assert f"#{disputed.id}" in listed
    assert f"#{disputed.id}" not in app_client.get(f"/projects/{project.id}/review?agreement=confirmed").text
