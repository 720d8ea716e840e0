"""The review queue: priority order, filters, locks shown, the next document claimed."""

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models import Document, Role
from tests.factories import bearer, make_project, make_review_document, make_token, make_user


def _ids(client: TestClient, project_id: int | None, headers: dict[str, str], **params: Any) -> list[int]:
    r = client.get(f"/api/v1/projects/{project_id}/review-queue", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return [row["id"] for row in r.json()]


def test_priority_filters_and_locks(app_client: TestClient, session: Session) -> None:
    alice = bearer(make_token(session, make_user(session, username="alice", role=Role.reviewer)))
    bob = bearer(make_token(session, make_user(session, username="bob", role=Role.reviewer)))
    project = make_project(session)
    few, _, _ = make_review_document(
        session,
        project,
        text="王芳在深圳工作。她很忙。",
        entities=[("PER", "王芳", [(0, 2)], "a_only", "proposed"), ("LOC", "深圳", [(3, 5)], "agreed", "accepted")],
        relations=[],
    )
    many, _, _ = make_review_document(session, project)
    assert _ids(app_client, project.id, alice) == [many.id, few.id]  # most open items first
    assert _ids(app_client, project.id, alice, relation_type="出生于") == [many.id]
    assert _ids(app_client, project.id, alice, agreement="a_only") == [many.id, few.id]
    assert _ids(app_client, project.id, alice, agreement="type_conflict") == [many.id]
    assert sorted(_ids(app_client, project.id, alice, order="random")) == sorted([many.id, few.id])
    bad = app_client.get(f"/api/v1/projects/{project.id}/review-queue", params={"order": "fastest"}, headers=alice)
    assert bad.status_code == 422

    assert app_client.post(f"/api/v1/documents/{many.id}/claim", headers=alice).status_code == 200
    rows = app_client.get(f"/api/v1/projects/{project.id}/review-queue", headers=bob).json()
    # Bob still sees the locked document, last, with its holder.
    assert [(r["id"], r["locked_by"]) for r in rows] == [(few.id, None), (many.id, "alice")]


def test_next_document_skips_locked_and_releases_the_current(app_client: TestClient, session: Session) -> None:
    from tests.factories import login, page_csrf

    make_user(session, username="alice", role=Role.reviewer)
    bob = bearer(make_token(session, make_user(session, username="bob", role=Role.reviewer)))
    project = make_project(session)
    first, _, _ = make_review_document(session, project)
    second, _, _ = make_review_document(
        session,
        project,
        text="王芳在深圳工作。她很忙。",
        entities=[("PER", "王芳", [(0, 2)], "a_only", "proposed")],
        relations=[],
    )
    app_client.post(f"/api/v1/documents/{first.id}/claim", headers=bob)
    login(app_client, "alice")
    token = page_csrf(app_client, f"/projects/{project.id}/review")
    r = app_client.post(f"/projects/{project.id}/review/next", data={"csrf_token": token}, follow_redirects=False)
    assert r.headers["location"] == f"/documents/{second.id}/review"
    session.expire_all()
    assert session.get_one(Document, second.id).locked_by_id is not None
    # Moving on from the last free document gives its lock back and says the queue is empty.
    r = app_client.post(
        f"/projects/{project.id}/review/next", data={"csrf_token": token, "skip": second.id}, follow_redirects=False
    )
    assert r.headers["location"].endswith("/review?done=1")
    session.expire_all()
    assert session.get_one(Document, second.id).locked_by_id is None
