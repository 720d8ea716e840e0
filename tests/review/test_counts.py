"""One definition of a reviewer's decisions: the queue and the dashboard count the same, and say what they count."""

import re

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.dataset.dashboard import reviewer_throughput
from app.models import Role
from app.review.counts import DECISIONS_MEANING
from app.review.queue import reviewer_progress
from tests.factories import bearer, login, make_project, make_review_document, make_token, make_user
from tests.review.test_double_review import _act, _submit, _version


def test_queue_and_dashboard_count_the_same_decisions(app_client: TestClient, session: Session) -> None:
    make_user(session, username="admin", role=Role.admin)
    alice = bearer(make_token(session, make_user(session, username="alice", role=Role.reviewer)))
    project = make_project(session)
    doc, _, rels = make_review_document(session, project)
    # Three judgements, one of them undone; then the undo itself and the submission, which are not decisions.
    _act(app_client, doc.id, alice, item="relation", id=rels[0].id, action="accept")
    _act(app_client, doc.id, alice, item="relation", id=rels[1].id, action="reject")
    _act(app_client, doc.id, alice, item="relation", id=rels[2].id, action="accept")
    undo = app_client.post(
        f"/api/v1/documents/{doc.id}/undo", json={"version": _version(app_client, doc.id, alice)}, headers=alice
    )
    assert undo.status_code == 200, undo.text
    _submit(app_client, doc.id, alice)

    queue_rows = reviewer_progress(session, project_id=project.id or 0)
    dashboard_rows = reviewer_throughput(session, project_id=project.id or 0)
    assert [r.decisions for r in queue_rows] == [r.decisions for r in dashboard_rows] == [2]

    login(app_client, "admin")
    queue_page = app_client.get(f"/projects/{project.id}/review").text
    dashboard_page = app_client.get(f"/projects/{project.id}/dashboard").text
    # Queue: reviewer, documents, last 24 h, decisions, last 24 h. Dashboard: reviewer, decisions, documents, ….
    assert re.search(r"<tr><td>alice</td><td>1</td><td>1</td><td>2</td><td>2</td></tr>", queue_page)
    assert re.search(r"<tr><td>alice</td><td>2</td><td>1</td>", dashboard_page)
    # Both pages say what a decision is, as a tooltip on the column and as a caption.
    for page in (queue_page, dashboard_page):
        assert f'title="{DECISIONS_MEANING}"' in page.replace("&amp;", "&")
        assert page.count(DECISIONS_MEANING) == 2
