"""Double review: two independent passes over the same machine proposals, then an admin adjudicates."""

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models import Document, Entity, Project, Relation, Role
from app.project.service import update_project
from tests.factories import bearer, make_project, make_review_document, make_token, make_user


def _version(client: TestClient, doc_id: int, headers: dict[str, str]) -> int:
    return int(client.get(f"/api/v1/documents/{doc_id}", headers=headers).json()["version"])


def _act(client: TestClient, doc_id: int, headers: dict[str, str], **body: Any) -> Any:
    body["version"] = _version(client, doc_id, headers)
    r = client.post(f"/api/v1/documents/{doc_id}/decisions", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def _submit(client: TestClient, doc_id: int, headers: dict[str, str]) -> Any:
    r = client.post(
        f"/api/v1/documents/{doc_id}/submit", json={"version": _version(client, doc_id, headers)}, headers=headers
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_two_reviews_then_adjudication(app_client: TestClient, session: Session) -> None:
    admin = bearer(make_token(session, make_user(session, username="admin", role=Role.admin)))
    alice = bearer(make_token(session, make_user(session, username="alice", role=Role.reviewer)))
    bob = bearer(make_token(session, make_user(session, username="bob", role=Role.reviewer)))
    project = make_project(session)
    update_project(session, project=project, settings={"reviewers_per_document": 2})
    session.commit()
    doc, ents, rels = make_review_document(session, project)
    doc_id = doc.id

    # Alice accepts 任职于 and rejects 出生于; Bob accepts both. Both leave the rest undecided.
    _act(app_client, doc_id, alice, item="relation", id=rels[0].id, action="accept")
    _act(app_client, doc_id, alice, item="relation", id=rels[1].id, action="reject")
    first = _submit(app_client, doc_id, alice)
    assert first["summary"] == "submitted review 1 of 2"
    session.expire_all()
    # Bob starts from the machine proposals, not from Alice's decisions.
    assert session.get_one(Relation, rels[0].id).status == "proposed"
    assert session.get_one(Relation, rels[1].id).status == "proposed"
    assert session.get_one(Document, doc_id).status == "in_review"
    again = app_client.post(
        f"/api/v1/documents/{doc_id}/decisions",
        json={"item": "relation", "id": rels[3].id, "action": "accept", "version": _version(app_client, doc_id, alice)},
        headers=alice,
    )
    assert again.status_code == 409 and "already reviewed" in again.json()["detail"]

    _act(app_client, doc_id, bob, item="relation", id=rels[0].id, action="accept")
    _act(app_client, doc_id, bob, item="relation", id=rels[1].id, action="accept")
    second = _submit(app_client, doc_id, bob)
    assert second["status"] == "adjudication"
    session.expire_all()
    # Where they agree it is settled; where they differ it waits for the admin.
    assert session.get_one(Relation, rels[0].id).status == "accepted"
    assert session.get_one(Relation, rels[1].id).status == "proposed"
    assert session.get_one(Relation, rels[3].id).status == "rejected"  # neither accepted it
    # The pre-accepted 创办 relation stays accepted (both kept it).
    assert session.get_one(Relation, rels[2].id).status == "accepted"

    # A reviewer cannot adjudicate; the admin settles the difference and submits.
    blocked = app_client.post(
        f"/api/v1/documents/{doc_id}/decisions",
        json={"item": "relation", "id": rels[1].id, "action": "reject", "version": _version(app_client, doc_id, alice)},
        headers=alice,
    )
    assert blocked.status_code == 403 and "adjudication" in blocked.json()["detail"]
    _act(app_client, doc_id, admin, item="relation", id=rels[1].id, action="reject")
    done = _submit(app_client, doc_id, admin)
    assert done["status"] == "curated"
    session.expire_all()
    accepted = {
        r.id
        for r in session.exec(select(Relation).where(Relation.document_id == doc_id, Relation.status == "accepted"))
    }
    assert accepted == {rels[0].id, rels[2].id}
    assert session.get_one(Entity, ents[2].id).status == "rejected"  # 上海: only the rejected relation used it
    assert isinstance(session.get(Project, project.id), Project)


def test_reviewer_progress_counts_submissions(app_client: TestClient, session: Session) -> None:
    alice_user = make_user(session, username="alice", role=Role.reviewer)
    alice = bearer(make_token(session, alice_user))
    project = make_project(session)
    doc, _, rels = make_review_document(session, project)
    _act(app_client, doc.id, alice, item="relation", id=rels[0].id, action="accept")
    _submit(app_client, doc.id, alice)
    progress = app_client.get(f"/api/v1/projects/{project.id}/reviewers", headers=alice).json()
    assert progress == [
        {
            "user_id": alice_user.id,
            "username": "alice",
            "documents": 1,
            "documents_24h": 1,
            # The accept; submitting is not a decision (review/counts.py).
            "decisions": 1,
            "decisions_24h": 1,
        }
    ]
    queue = app_client.get(f"/api/v1/projects/{project.id}/review-queue", headers=alice).json()
    assert queue == []
