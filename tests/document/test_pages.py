"""Document pages: a batch's document list (searched with htmx) and the document view, which shows hostile text as
text."""

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models import Annotator, AnnotatorRun, BatchStatus, CrawlBatch, Document, Entity, Proposal, Relation, RunStatus
from tests.factories import login, make_project, make_user

HOSTILE = '<script>alert(1)</script> {{ 7*7 }} <img src=x onerror="alert(2)"> javascript:alert(3)'


def test_document_view_shows_hostile_text_as_text(session: Session, app_client: TestClient) -> None:
    make_user(session)
    project = make_project(session)
    text = "第一句。" + HOSTILE
    doc = Document(
        project_id=project.id or 0,
        title=HOSTILE,
        url="javascript:alert(4)",
        text=text,
        text_hash="x",
        sentences=[[0, 4], [4, len(text)]],
    )
    session.add(doc)
    session.commit()
    login(app_client)
    html = app_client.get(f"/documents/{doc.id}").text
    assert "<script>alert(1)</script>" not in html
    assert 'onerror="alert(2)"' not in html
    assert 'href="javascript:' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html  # template syntax in data stays literal
    assert '<span class="sent">第一句。</span>' in html


def test_document_search_answers_htmx_with_the_results_block(session: Session, app_client: TestClient) -> None:
    make_user(session)
    project = make_project(session)
    batch = CrawlBatch(project_id=project.id or 0, filename="b.jsonl", status=BatchStatus.done)
    session.add(batch)
    session.commit()
    for i, title in enumerate(["北京新闻", "上海新闻", "广州天气"]):
        session.add(Document(project_id=project.id or 0, batch_id=batch.id, title=title, text=title, text_hash=f"t{i}"))
    session.commit()
    login(app_client)
    full = app_client.get(f"/batches/{batch.id}/documents")
    assert "3 documents" in full.text
    fragment = app_client.get(f"/batches/{batch.id}/documents", params={"q": "新闻"}, headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<section id="results">')
    assert "2 documents" in fragment.text
    assert "广州天气" not in fragment.text


def test_the_document_page_names_each_relation_by_its_entities_with_the_votes(
    session: Session, app_client: TestClient
) -> None:
    make_user(session)
    project = make_project(session)
    pid = project.id or 0
    doc = Document(project_id=pid, text="张伟毕业于北京大学。", text_hash="n", sentences=[[0, 10]])
    gem = Annotator(project_id=pid, name="gem", provider="gemini")
    session.add_all([doc, gem])
    session.commit()
    run = AnnotatorRun(document_id=doc.id or 0, annotator_id=gem.id or 0, prompt_version="v3", status=RunStatus.done)
    person = Entity(document_id=doc.id or 0, type="PER", name="张伟")
    school = Entity(document_id=doc.id or 0, type="ORG", name="北京大学")
    session.add_all([run, person, school])
    session.commit()
    relation = Relation(document_id=doc.id or 0, head_id=person.id or 0, tail_id=school.id or 0, type="毕业于")
    session.add(relation)
    session.commit()
    session.add(Proposal(run_id=run.id or 0, item_kind="relation", item_id=relation.id or 0, payload={"vote": True}))
    session.commit()
    login(app_client)
    html = app_client.get(f"/documents/{doc.id}").text
    assert "<td>张伟</td><td>毕业于</td><td>北京大学</td>" in html
    assert '<span class="badge vote-yes">gem: true</span>' in html
    assert app_client.get("/documents/999999").status_code == 404
