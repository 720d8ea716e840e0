"""A reviewed project: documents curated through the review API, an untouched one, and the tokens to ask."""

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models import Document, Entity, Project, Relation, Role
from tests.factories import bearer, make_project, make_review_document, make_token, make_user

PENDING_TEXT = "王芳在深圳工作。她喜欢深圳。"


@dataclass
class World:
    project: Project
    curated: Document
    ents: list[Entity]
    rels: list[Relation]
    pending: Document
    admin: dict[str, str]
    reviewer: dict[str, str]


def decide(client: TestClient, headers: dict[str, str], doc_id: int, **body: Any) -> Any:
    body["version"] = client.get(f"/api/v1/documents/{doc_id}", headers=headers).json()["version"]
    response = client.post(f"/api/v1/documents/{doc_id}/decisions", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def submit(client: TestClient, headers: dict[str, str], doc_id: int) -> Any:
    version = client.get(f"/api/v1/documents/{doc_id}", headers=headers).json()["version"]
    response = client.post(f"/api/v1/documents/{doc_id}/submit", json={"version": version}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def curate(client: TestClient, headers: dict[str, str], doc_id: int, rels: list[Relation]) -> None:
    """Accept 任职于 (and so 张伟, 北京大学), reject 出生于; the rest is left and so rejected on submit,
    except what the factory made accepted already (星河科技, 创办)."""
    decide(client, headers, doc_id, item="relation", id=rels[0].id, action="accept")
    decide(client, headers, doc_id, item="relation", id=rels[1].id, action="reject")
    assert submit(client, headers, doc_id)["status"] == "curated"


@pytest.fixture
def world(session: Session, app_client: TestClient) -> World:
    admin = make_user(session, username="admin", role=Role.admin)
    reviewer = make_user(session, username="rita", role=Role.reviewer)
    project = make_project(session)
    doc, ents, rels = make_review_document(session, project)
    pending, _, _ = make_review_document(
        session,
        project,
        text=PENDING_TEXT,
        entities=[
            ("PER", "王芳", [(0, 2)], "agreed", "proposed"),
            ("LOC", "深圳", [(3, 5), (11, 13)], "a_only", "proposed"),
        ],
        relations=[(0, 1, "位于", [0], "a_only", "proposed")],
    )
    headers = {"admin": bearer(make_token(session, admin)), "reviewer": bearer(make_token(session, reviewer))}
    curate(app_client, headers["reviewer"], doc.id or 0, rels)
    session.expire_all()
    return World(project, doc, ents, rels, pending, headers["admin"], headers["reviewer"])
