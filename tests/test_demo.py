"""The demo project a fresh installation starts with: the whole loop, from the sample answers shipped with it."""

import uuid
from collections import Counter
from collections.abc import Iterator

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.annotation.sample import recorded_answers
from app.dataset.dashboard import dashboard
from app.dataset.figures import Pair
from app.demo import DEMO_NAME, create_demo_project
from app.models import (
    Annotator,
    AnnotatorRun,
    Document,
    Entity,
    LlmCall,
    Project,
    Relation,
    Role,
    Route,
    RoutedItem,
    RunStatus,
    User,
)
from tests.factories import login, make_user


def _dashboard_page(engine: Engine, project_id: int) -> str:
    """The project's dashboard as a signed-in reviewer sees it, over committed data."""
    from app.db import get_session
    from app.main import create_app

    app = create_app()

    def committed() -> Iterator[Session]:
        with Session(engine, expire_on_commit=False) as session:
            yield session
            session.commit()

    app.dependency_overrides[get_session] = committed
    username = f"demo-{uuid.uuid4().hex[:8]}"
    with Session(engine) as s:
        make_user(s, username=username, role=Role.reviewer)
        s.commit()
    try:
        with TestClient(app, base_url="http://testserver") as client:
            login(client, username)
            response = client.get(f"/projects/{project_id}/dashboard")
            assert response.status_code == 200, response.text
            return response.text
    finally:
        with Session(engine) as s:
            user = s.exec(select(User).where(User.username == username)).one()
            s.delete(user)
            s.commit()


def test_demo_batch_shows_every_class_costs_and_the_dashboard(engine: Engine) -> None:
    assert recorded_answers(), "app/demo/sample_answers.json is shipped"
    project_id = create_demo_project(engine)
    try:
        with Session(engine) as s:
            project = s.get(Project, project_id)
            assert project is not None and project.name == DEMO_NAME
            assert "sample answers" in project.description.lower()
            annotators = {a.id: a for a in s.exec(select(Annotator).where(Annotator.project_id == project_id))}
            by_name = {a.name: a for a in annotators.values()}
            assert set(by_name) == {"builtin-lexicon", "builtin-patterns", "sample-answers-a", "sample-answers-b"}
            assert by_name["sample-answers-a"].provider == by_name["sample-answers-b"].provider == "sample"
            docs = list(s.exec(select(Document).where(Document.project_id == project_id)))
            assert len(docs) == 8 and all(d.status == "annotated" and d.sentences for d in docs)
            ids = [d.id for d in docs]
            assert all(d.meta.get("second_look") == "done" for d in docs), [d.meta for d in docs]
            runs = list(s.exec(select(AnnotatorRun).where(col(AnnotatorRun.document_id).in_(ids))))
            # Each document: four first passes and the two sample annotators' blind second looks, all done.
            assert len(runs) == 8 * 6 and all(r.status == RunStatus.done for r in runs), [r.error for r in runs]
            sample_runs = [r for r in runs if annotators[r.annotator_id].provider == "sample"]
            assert sum(r.prompt_version.startswith("recheck") for r in sample_runs) == 16
            # Replayed, yet priced: the costs a real pair would have cost show on the batch page and dashboard.
            assert all(r.input_tokens > 0 and float(r.cost) > 0 for r in sample_runs)
            calls = list(s.exec(select(LlmCall).where(col(LlmCall.document_id).in_(ids))))
            assert len(calls) == 32

            entities = list(s.exec(select(Entity).where(col(Entity.document_id).in_(ids))))
            relations = list(s.exec(select(Relation).where(col(Relation.document_id).in_(ids))))
            classes = Counter([str(e.agreement) for e in entities] + [str(r.agreement) for r in relations])
            for wanted in ("agreed", "type_conflict", "confirmed", "disputed", "retracted", "unconfirmed"):
                assert classes[wanted] > 0, (wanted, classes)
            names = {e.id: e.name for e in entities}
            triples = {(names[r.head_id], r.type, names[r.tail_id]): r for r in relations}
            # 李娜 任职于 the company: B alone, A confirmed it blind.
            assert triples[("李娜", "任职于", "深圳智言科技公司")].agreement == "confirmed"
            # 王磊's employer: nobody proposed it, both gave it when asked.
            assert triples[("王磊", "任职于", "上海交通大学")].agreement == "confirmed"
            assert triples[("吴芳", "亲属", "郑凯")].agreement == "unconfirmed"
            junk = next(e for e in entities if e.name == "现任中国银行")
            # Agreed junk in a trusted slice: accepted without review, unless the audit sample drew it (10% of a
            # trusted slice, keyed by the document's id, which differs between runs): then it waits for a person.
            junk_route = s.exec(
                select(RoutedItem.route).where(RoutedItem.item_kind == "entity", RoutedItem.item_id == junk.id)
            ).one()
            assert junk.agreement == "agreed"
            assert (junk_route, junk.status) in {(Route.auto, "accepted"), (Route.audit, "proposed")}
            routes = Counter(
                str(r.route) for r in s.exec(select(RoutedItem).where(RoutedItem.project_id == project_id))
            )
            assert routes[Route.auto] > 0 and routes[Route.review] > 0, routes

            figures = dashboard(s, project_id=project_id)
            assert figures.cost.total_usd > 0, figures.cost
            kinds = (figures.agreement_classes.entities, figures.agreement_classes.relations)
            shown = {k for part in kinds for k, v in part.classes.items() if v.count}
            assert {"agreed", "type_conflict", "confirmed", "disputed", "retracted", "unconfirmed"} <= shown
            assert figures.pair == Pair("sample-answers-a", "sample-answers-b")
        html = _dashboard_page(engine, project_id)
        assert "sample-answers-a" in html and "Type conflict" in html and "Confirmed blind" in html, html[:2000]
    finally:
        with Session(engine) as s:
            project = s.get(Project, project_id)
            if project is not None:
                s.delete(project)
            s.commit()
