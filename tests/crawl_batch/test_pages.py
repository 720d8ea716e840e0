"""Batch pages: htmx upload with CSRF and the live progress fragment (document pages: tests/document)."""

from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from app.models import BatchStatus, CrawlBatch, Role
from tests.factories import login, make_project, make_user, page_csrf

HTMX = {"HX-Request": "true"}


def _upload(client: TestClient, project_id: int, token: str | None) -> object:
    headers = {"HX-Request": "true"}
    if token:
        headers["X-CSRF-Token"] = token
    return client.post(
        f"/projects/{project_id}/batches",
        files={"file": ("t.txt", "你好，世界。".encode())},
        data={"format": "auto"},
        headers=headers,
    )


def test_upload_form_posts_with_the_csrf_header_and_redirects(session: Session, app_client: TestClient) -> None:
    make_user(session)
    project = make_project(session)
    login(app_client)
    page = app_client.get(f"/projects/{project.id}")
    assert f'hx-get="/projects/{project.id}/batches-panel"' in page.text  # the panel comes from crawl_batch
    panel = app_client.get(f"/projects/{project.id}/batches-panel", headers=HTMX)
    assert f'hx-post="/projects/{project.id}/batches"' in panel.text
    before = session.exec(select(func.count()).select_from(CrawlBatch)).one()
    refused = _upload(app_client, project.id or 0, None)
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert session.exec(select(func.count()).select_from(CrawlBatch)).one() == before
    ok = _upload(app_client, project.id or 0, page_csrf(app_client))
    assert ok.status_code == 204  # type: ignore[attr-defined]
    assert ok.headers["HX-Redirect"].startswith("/batches/")  # type: ignore[attr-defined]


def test_reviewer_sees_batches_but_no_upload_form(session: Session, app_client: TestClient) -> None:
    make_user(session, username="rev", role=Role.reviewer)
    project = make_project(session)
    login(app_client, "rev")
    panel = app_client.get(f"/projects/{project.id}/batches-panel", headers=HTMX)
    assert panel.status_code == 200 and "No batches yet." in panel.text
    assert "upload-form" not in panel.text
    assert _upload(app_client, project.id or 0, page_csrf(app_client)).status_code == 403  # type: ignore[attr-defined]


def test_progress_fragment_polls_until_the_batch_is_finished(session: Session, app_client: TestClient) -> None:
    make_user(session)
    project = make_project(session)
    batch = CrawlBatch(
        project_id=project.id or 0,
        filename="c.warc.gz",
        status=BatchStatus.running,
        size_bytes=1000,
        bytes_read=250,
        counts={"records": 40, "kept": 30, "filtered:language": 10},
    )
    session.add(batch)
    session.commit()
    login(app_client)
    fragment = app_client.get(f"/batches/{batch.id}", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<section id="progress"')
    assert 'hx-trigger="every 1s"' in fragment.text
    assert "<html" not in fragment.text
    assert fragment.headers["vary"] == "HX-Request"
    batch.status = BatchStatus.done_with_errors
    batch.errors = [{"offset": 77, "message": "record 3 <b>broken</b>"}]
    batch.failure_reason = "stopped <i>early</i>"
    session.add(batch)
    session.commit()
    final = app_client.get(f"/batches/{batch.id}").text
    assert "every 1s" not in final
    assert "record 3 &lt;b&gt;broken&lt;/b&gt;" in final
    assert "stopped &lt;i&gt;early&lt;/i&gt;" in final
    assert "language" in final


def test_the_batch_page_polls_until_the_second_look_has_come(session: Session, app_client: TestClient) -> None:
    from datetime import timedelta

    from app.models import Annotator, AnnotatorKind, AnnotatorRun
    from app.models.types import utcnow
    from tests.factories import REVIEW_TEXT, make_review_document

    make_user(session)
    project = make_project(session)
    batch = CrawlBatch(project_id=project.id or 0, filename="b.jsonl", status=BatchStatus.done, counts={"kept": 1})
    session.add(batch)
    session.commit()
    doc, _, _ = make_review_document(session, project, text=REVIEW_TEXT, entities=[], relations=[])
    doc.batch_id = batch.id
    session.add(doc)
    runs = list(session.exec(select(AnnotatorRun).where(AnnotatorRun.document_id == doc.id)))
    annotators = [session.get_one(Annotator, run.annotator_id) for run in runs]
    for run, annotator in zip(runs, annotators, strict=True):
        run.finished_at = utcnow()
        annotator.kind = AnnotatorKind.llm
        session.add_all([run, annotator])
    session.commit()
    login(app_client)
    # Both runs are done, the second look not yet: the counts it brings are still to come.
    assert 'hx-trigger="every 1s"' in app_client.get(f"/batches/{batch.id}").text
    doc.meta = {"second_look": "done"}
    session.add(doc)
    session.commit()
    assert "every 1s" not in app_client.get(f"/batches/{batch.id}").text
    # Imported (or builtin) annotations bring no second look: nothing to wait for.
    doc.meta = {}
    session.add(doc)
    for annotator in annotators:
        annotator.kind = AnnotatorKind.imported
        session.add(annotator)
    session.commit()
    assert "every 1s" not in app_client.get(f"/batches/{batch.id}").text
    # A second look that never comes (its cross-validation failed) is not waited for forever.
    for annotator in annotators:
        annotator.kind = AnnotatorKind.llm
        session.add(annotator)
    for run in runs:
        run.finished_at = utcnow() - timedelta(minutes=11)
        session.add(run)
    session.commit()
    assert "every 1s" not in app_client.get(f"/batches/{batch.id}").text


def test_batch_page_counts_every_class_by_name_with_the_second_look(session: Session, app_client: TestClient) -> None:
    from app.models import User
    from tests.factories import REVIEW_TEXT, bearer, make_review_document, make_token

    make_user(session)
    project = make_project(session)
    batch = CrawlBatch(project_id=project.id or 0, filename="b.jsonl", status=BatchStatus.done, counts={"kept": 3})
    session.add(batch)
    session.commit()
    zhang, beida = (REVIEW_TEXT.index("张伟"), REVIEW_TEXT.index("张伟") + 2), (3, 7)
    outcomes = ["done", "model-b: timeout <after> 120 s", None]
    for i, (outcome, classes) in enumerate(
        zip(outcomes, [("confirmed", "disputed"), ("confirmed", "agreed"), ("a_only", "b_only")], strict=True)
    ):
        doc, _, _ = make_review_document(
            session,
            project,
            text=REVIEW_TEXT + "。" * i,
            entities=[
                ("PER", "张伟", [zhang], classes[0], "proposed"),
                ("ORG", "北京大学", [beida], classes[1], "proposed"),
            ],
            relations=[(0, 1, "任职于", [0], classes[0], "proposed")],
        )
        doc.batch_id = batch.id
        if outcome:
            doc.meta = {"second_look": outcome}
        session.add(doc)
    session.commit()
    login(app_client)
    html = app_client.get(f"/batches/{batch.id}").text
    table = html.split('id="agreement"')[1].split("</table>")[0]
    header = table.split("</thead>")[0]
    for label in (
        "Both models",
        "Confirmed blind",
        "Type conflict",
        "Model A only",
        "Model B only",
        "Disputed",
        "Withdrawn blind",
        "Found, unconfirmed",
        "Found later",
    ):
        assert f">{label}</span></th>" in header
    assert 'class="ag-name ag-confirmed" title="One model proposed it; the other, asked blind' in header
    # Columns in the order of the header: agreed, confirmed, type conflict, A only, B only, disputed, withdrawn,
    # found unconfirmed, found later.
    entities = table.split("<td>entities</td>")[1].split("</tr>")[0]
    assert [c.split(">")[1] for c in entities.split("</td>")[:-1]] == ["1", "2", "0", "1", "1", "1", "0", "0", "0"]
    relations = table.split("<td>relations</td>")[1].split("</tr>")[0]
    assert [c.split(">")[1] for c in relations.split("</td>")[:-1]] == ["0", "2", "0", "1", "0", "0", "0", "0", "0"]
    second = html.split('id="second-look"')[1].split("</p>")[0]
    assert "Blind second opinion: <strong>on</strong>" in second
    assert "second look done on 1 document(s), failed on 1, not yet on 1" in second
    assert "model-b: timeout &lt;after&gt; 120 s</span> (1)" in second
    user = session.exec(select(User).where(User.username == "alice")).one()
    api = app_client.get(f"/api/v1/batches/{batch.id}", headers=bearer(make_token(session, user))).json()
    assert api["annotation"]["second_look"] == {
        "done": 1,
        "failed": 1,
        "not_yet": 1,
        "reasons": [["model-b: timeout <after> 120 s", 1]],
    }


def test_the_batch_panel_is_the_project_pages_batches_under_the_same_roles(
    session: Session, app_client: TestClient
) -> None:
    make_user(session)
    make_user(session, username="rev", role=Role.reviewer)
    make_user(session, username="reader", role=Role.consumer)
    project = make_project(session)
    session.add(
        CrawlBatch(project_id=project.id or 0, filename="新闻.warc", size_bytes=3, status=BatchStatus.done, counts={})
    )
    session.commit()
    url = f"/projects/{project.id}/batches-panel"
    # Signed out: to the login page, as the project page sends them (htmx is told where to go).
    anonymous = app_client.get(url, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
    pulled = app_client.get(url, headers=HTMX, follow_redirects=False)
    assert pulled.status_code == 204 and pulled.headers["HX-Redirect"].startswith("/login?next=")
    login(app_client, "reader")  # a consumer's project page shows no batches, and the panel refuses them
    assert "batches-panel" not in app_client.get(f"/projects/{project.id}").text
    assert app_client.get(url, headers=HTMX).status_code == 403
    login(app_client, "rev")
    fragment = app_client.get(url, headers=HTMX)
    assert fragment.status_code == 200 and "新闻.warc" in fragment.text and "upload-form" not in fragment.text
    assert "<html" not in fragment.text  # the block alone, swapped into the project page
    page = app_client.get(url)  # without scripts: a page of its own, linked from the project page
    assert "<html" in page.text and "新闻.warc" in page.text
    login(app_client)
    assert 'id="upload-form"' in app_client.get(url, headers=HTMX).text
    assert app_client.get("/projects/424242/batches-panel", headers=HTMX).status_code == 404
