"""Documents over the API: the project's list (filters, search, pages) and one document with its annotations."""

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models import (
    Agreement,
    Annotator,
    AnnotatorRun,
    Document,
    Entity,
    ItemStatus,
    Mention,
    Proposal,
    Relation,
    RunStatus,
)
from app.models.document import BlindReview
from tests.factories import bearer, make_project, make_token, make_user


@pytest.fixture
def admin_headers(session: Session) -> dict[str, str]:
    return bearer(make_token(session, make_user(session, username="admin-api")))


def _doc(session: Session, project_id: int, i: int, **kw: object) -> Document:
    doc = Document(project_id=project_id, text=f"文本{i}", text_hash=f"h{i}-{project_id}", title=f"标题{i}", **kw)  # type: ignore[arg-type]
    session.add(doc)
    session.commit()
    return doc


def test_documents_list_filters_searches_and_pages(
    session: Session, app_client: TestClient, admin_headers: dict[str, str]
) -> None:
    project = make_project(session)
    pid = project.id or 0
    for i in range(5):
        _doc(session, pid, i, url=f"https://news.example/{i}")
    _doc(session, pid, 99, url="https://other.example/100%_sure", status="curated")
    url = f"/api/v1/projects/{pid}/documents"
    everything = app_client.get(url, headers=admin_headers).json()
    assert everything["total"] == 6
    assert app_client.get(url, params={"q": "news.example"}, headers=admin_headers).json()["total"] == 5
    assert app_client.get(url, params={"q": "100%_"}, headers=admin_headers).json()["total"] == 1
    assert app_client.get(url, params={"q": "标题3"}, headers=admin_headers).json()["items"][0]["title"] == "标题3"
    assert app_client.get(url, params={"status": "curated"}, headers=admin_headers).json()["total"] == 1
    page2 = app_client.get(url, params={"per_page": 4, "page": 2}, headers=admin_headers).json()
    assert (len(page2["items"]), page2["page"]) == (2, 2)
    bad = app_client.get(url, params={"status": "nonsense"}, headers=admin_headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "status"
    assert app_client.get(url, params={"per_page": 100000}, headers=admin_headers).status_code == 422


def test_documents_list_oldest_first_across_pages(
    session: Session, app_client: TestClient, admin_headers: dict[str, str]
) -> None:
    project = make_project(session)
    pid = project.id or 0
    for i in (3, 1, 2):
        _doc(session, pid, i)
    url = f"/api/v1/projects/{pid}/documents"
    items = app_client.get(url, headers=admin_headers).json()["items"]
    assert [d["title"] for d in items] == ["标题3", "标题1", "标题2"]  # stored in this order
    ids = [d["id"] for d in items]
    assert ids == sorted(ids)
    first = app_client.get(url, params={"per_page": 2, "page": 1}, headers=admin_headers).json()["items"]
    second = app_client.get(url, params={"per_page": 2, "page": 2}, headers=admin_headers).json()["items"]
    assert [d["id"] for d in first + second] == ids


def test_document_detail_has_text_and_sentence_offsets(
    session: Session, app_client: TestClient, admin_headers: dict[str, str]
) -> None:
    project = make_project(session)
    doc = _doc(session, project.id or 0, 1, sentences=[[0, 2], [2, 3]])
    body = app_client.get(f"/api/v1/documents/{doc.id}", headers=admin_headers).json()
    assert body["text"] == "文本1"
    assert body["sentences"] == [[0, 2], [2, 3]]
    assert app_client.get("/api/v1/documents/999999", headers=admin_headers).status_code == 404


def test_document_endpoint_returns_items_with_offsets_and_provenance(
    session: Session, app_client: TestClient, admin_headers: dict[str, str]
) -> None:
    project = make_project(session)
    doc = Document(project_id=project.id or 0, text="𠮷野家在东京。", text_hash="h", sentences=[[0, 7]])
    session.add(doc)
    session.commit()
    entity = Entity(
        document_id=doc.id or 0, type="ORG", name="𠮷野家", agreement=Agreement.agreed, status=ItemStatus.accepted
    )
    session.add(entity)
    session.commit()
    session.add(
        Mention(entity_id=entity.id or 0, document_id=doc.id or 0, start=0, end=3, text="𠮷野家", sentence_id=0)
    )
    session.commit()
    body = app_client.get(f"/api/v1/documents/{doc.id}", headers=admin_headers).json()
    assert body["version"] == 1
    (item,) = body["entities"]
    assert (item["agreement"], item["status"]) == ("agreed", "accepted")
    assert item["mentions"][0] | {} == {
        "id": item["mentions"][0]["id"],
        "start": 0,
        "end": 3,
        "text": "𠮷野家",
        "sentence": 0,
    }
    assert body["relations"] == []


def test_the_document_answer_says_who_proposed_each_item_how_and_at_what_cost(
    session: Session, app_client: TestClient, admin_headers: dict[str, str]
) -> None:
    project = make_project(session)
    pid = project.id or 0
    doc = Document(project_id=pid, text="张伟毕业于北京大学。", text_hash="p", sentences=[[0, 10]])
    gpt, gem = (
        Annotator(project_id=pid, name="gpt", provider="openai"),
        Annotator(project_id=pid, name="gem", provider="gemini"),
    )
    session.add_all([doc, gpt, gem])
    session.commit()
    done = AnnotatorRun(
        document_id=doc.id or 0,
        annotator_id=gpt.id or 0,
        prompt_version="v3",
        status=RunStatus.done,
        input_tokens=120,
        output_tokens=40,
        cost=0.0125,
        latency_ms=900,
    )
    failed = AnnotatorRun(
        document_id=doc.id or 0, annotator_id=gem.id or 0, prompt_version="v3", status=RunStatus.failed, error="timeout"
    )
    person = Entity(document_id=doc.id or 0, type="PER", name="张伟", agreement=Agreement.confirmed)
    school = Entity(document_id=doc.id or 0, type="ORG", name="北京大学", agreement=Agreement.a_only, grounded=False)
    session.add_all([done, failed, person, school])
    session.commit()
    relation = Relation(
        document_id=doc.id or 0, head_id=person.id or 0, tail_id=school.id or 0, type="毕业于", evidence=[0]
    )
    session.add(relation)
    session.commit()
    session.add_all(
        [
            Proposal(run_id=done.id or 0, item_kind="entity", item_id=person.id or 0, proposed_type="PER"),
            Proposal(
                run_id=failed.id or 0,
                item_kind="entity",
                item_id=person.id or 0,
                proposed_type="PER",
                payload={"recheck": True, "audit": True},
            ),
            Proposal(
                run_id=done.id or 0,
                item_kind="relation",
                item_id=relation.id or 0,
                proposed_type="毕业于",
                augmentation=True,
            ),
            Proposal(
                run_id=failed.id or 0,
                item_kind="relation",
                item_id=relation.id or 0,
                proposed_type="毕业于",
                payload={"vote": False},
            ),
        ]
    )
    session.commit()
    body = app_client.get(f"/api/v1/documents/{doc.id}", headers=admin_headers).json()
    assert [(e["name"], e["agreement"], e["grounded"], e["proposed_by"]) for e in body["entities"]] == [
        (
            "张伟",
            "confirmed",
            True,
            [
                {
                    "annotator": "gpt",
                    "type": "PER",
                    "augmentation": False,
                    "audit": False,
                    "blind": False,
                    "voter": False,
                },
                {
                    "annotator": "gem",
                    "type": "PER",
                    "augmentation": False,
                    "audit": True,
                    "blind": True,
                    "voter": False,
                },
            ],
        ),
        ("北京大学", "a_only", False, []),
    ]
    (rel,) = body["relations"]
    assert (rel["head"], rel["tail"], rel["evidence"], rel["status"]) == (person.id, school.id, [0], "proposed")
    assert rel["proposed_by"] == [
        {"annotator": "gpt", "type": "毕业于", "augmentation": True, "audit": False, "blind": False, "voter": False}
    ]
    assert rel["votes"] == [{"annotator": "gem", "vote": False}]
    assert sorted(body["runs"], key=lambda r: r["annotator"]) == [
        {
            "annotator": "gem",
            "status": "failed",
            "prompt_version": "v3",
            "input_tokens": 0,
            "output_tokens": 0,
            "cost": 0.0,
            "latency_ms": 0,
            "error": "timeout",
        },
        {
            "annotator": "gpt",
            "status": "done",
            "prompt_version": "v3",
            "input_tokens": 120,
            "output_tokens": 40,
            "cost": 0.0125,
            "latency_ms": 900,
            "error": None,
        },
    ]
    assert body["blind_review"] is None


def test_a_pending_blind_pass_shows_only_the_reviewers_own_items(
    session: Session, app_client: TestClient, admin_headers: dict[str, str]
) -> None:
    project = make_project(session)
    doc = Document(
        project_id=project.id or 0, text="上海。", text_hash="b", sentences=[[0, 3]], blind_review=BlindReview.pending
    )
    session.add(doc)
    session.commit()
    session.add_all(
        [
            Entity(document_id=doc.id or 0, type="LOC", name="上海", agreement=Agreement.agreed),
            Entity(document_id=doc.id or 0, type="LOC", name="上海", agreement=Agreement.manual),
        ]
    )
    session.commit()
    url = f"/api/v1/documents/{doc.id}"
    body = app_client.get(url, headers=admin_headers).json()
    assert ([e["agreement"] for e in body["entities"]], body["blind_review"]) == (["manual"], "pending")
    doc.blind_review = BlindReview.revealed
    session.add(doc)
    session.commit()
    revealed = app_client.get(url, headers=admin_headers).json()
    assert (len(revealed["entities"]), revealed["blind_review"]) == (2, "revealed")
