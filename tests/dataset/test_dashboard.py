"""The dashboard: every figure for a reviewed project or batch, inline SVG, web text escaped, no inline code."""

import re

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.dataset.dashboard import dashboard
from app.models import Annotator, AnnotatorRun, Entity, Mention, Proposal, ReviewAssignment, Role, RunStatus
from tests.dataset.conftest import World
from tests.factories import REVIEW_TEXT, login, make_user

EVIL = "<script>alert('x')</script>"


def _enrich(session: Session, world: World) -> None:
    """An audit sample (one accepted, one rejected), an ungrounded entity, a double review, some cost and an
    annotator and entity type named like an attack."""
    for rel in world.rels[:2]:
        for p in session.exec(select(Proposal).where(Proposal.item_kind == "relation", Proposal.item_id == rel.id)):
            p.payload = {"audit": True}
            session.add(p)
    session.add(Entity(document_id=world.pending.id or 0, type="PER", name="幻影", agreement="a_only", grounded=False))
    carol = make_user(session, username="carol", role=Role.reviewer)
    dave = make_user(session, username="dave", role=Role.reviewer)
    for user, keys in ((carol, ["e1", "e2"]), (dave, ["e1"])):
        session.add(
            ReviewAssignment(
                document_id=world.pending.id or 0,
                user_id=user.id or 0,
                status="submitted",
                result={"entities": [{"key": k} for k in keys], "relations": []},
            )
        )
    run = session.exec(select(AnnotatorRun).where(AnnotatorRun.document_id == world.curated.id)).first()
    assert run is not None
    run.cost = 0.5
    session.add(run)
    evil = Annotator(project_id=world.project.id or 0, name=EVIL, provider="builtin:lexicon")
    session.add(evil)
    session.flush()
    evil_run = AnnotatorRun(
        document_id=world.curated.id or 0, annotator_id=evil.id or 0, prompt_version="v9", status=RunStatus.done
    )
    session.add(evil_run)
    session.flush()
    start = REVIEW_TEXT.index("杭州")
    odd = Entity(document_id=world.curated.id or 0, type=EVIL, name="杭州", status="accepted", agreement="manual")
    session.add(odd)
    session.flush()
    session.add(
        Mention(
            entity_id=odd.id or 0,
            document_id=world.curated.id or 0,
            start=start,
            end=start + 2,
            text="杭州",
            sentence_id=3,
            status="accepted",
        )
    )
    session.add(Proposal(run_id=evil_run.id or 0, item_kind="entity", item_id=odd.id or 0, proposed_type=EVIL))
    session.commit()


def test_figures_for_a_reviewed_project(session: Session, world: World) -> None:
    _enrich(session, world)
    f = dashboard(session, project_id=world.project.id or 0)
    assert f["status"]["by_status"]["curated"] == 1 and f["status"]["by_status"]["annotated"] == 1
    assert f["status"]["cumulative"]["curated"][-1] == 1 and f["status"]["cumulative"]["documents"][-1] == 2
    [rita] = [r for r in f["reviewers"] if r["reviewer"] == "rita"]
    assert rita["decisions"] == 2 and rita["documents"] == 1 and rita["active_hours"] >= 1
    assert f["pair"] == {"a": "model-a", "b": "model-b"}
    assert f["model_vs_model"]["documents"] == 2
    assert 0 < f["model_vs_model"]["entities"]["f1"] < 1
    assert f["agreement_classes"]["entities"]["classes"]["agreed"]["count"] == 3
    gold = f["against_gold"]
    assert set(gold) == {"model-a", "model-b", EVIL}
    assert gold[EVIL]["mentions"]["precision"] == 1.0  # it proposed one entity, which the gold kept
    assert gold["model-a"]["relations"]["recall"] == 1.0  # A proposed both curated relations
    assert gold["model-a"]["intra"]["gold"] == 2 and gold["model-a"]["cross"]["gold"] == 0
    assert f["audit"] == {"accepted": 1, "rejected": 1, "pending": 0, "precision": 0.5}
    assert f["augmentation"]["yield"] == 0.0 and f["augmentation"]["rejected"] == 2
    assert f["hallucination"]["ungrounded"] == 1 and f["hallucination"]["entities"] == 9
    assert f["curated_relations"] == {"total": 2, "cross_sentence": 0, "cross_sentence_share": 0.0}
    assert f["cost"]["per_curated_document_usd"] == 0.5
    human = f["human_agreement"]
    assert human["documents"] == 1 and round(human["entities"]["f1"], 3) == 0.667


def test_page_shows_every_section_to_a_reviewer_and_escapes_web_text(
    session: Session, app_client: TestClient, world: World
) -> None:
    _enrich(session, world)
    assert app_client.get(f"/projects/{world.project.id}/dashboard", follow_redirects=False).status_code == 303
    login(app_client, "rita")
    r = app_client.get(f"/projects/{world.project.id}/dashboard")
    assert r.status_code == 200, r.text
    html = r.text
    for section in ("status", "throughput", "model-vs-model", "against-gold", "quality"):
        assert f'id="{section}"' in html
    assert html.count("<svg") >= 9
    assert re.search(r'id="audit-precision">0\.500<', html)
    assert re.search(r'id="cross-sentence-share">0\.000<', html)
    assert re.search(r'id="cost-per-document">\$0\.5000<', html)
    # The annotator name and the entity type are web text: escaped in the SVG labels and the tables alike.
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html or "&lt;script&gt;alert(&#39;x&#39;)" in html
    # Strict CSP: no inline scripts or styles.
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert " style=" not in html and "<style" not in html


def test_batch_dashboard_and_a_foreign_batch(session: Session, app_client: TestClient, world: World) -> None:
    login(app_client, "admin")
    assert app_client.get(f"/projects/{world.project.id}/dashboard?batch=999999").status_code == 404
    f = dashboard(session, project_id=world.project.id or 0, batch_id=999999)
    assert f["documents"] == 0 and f["status"]["days"] == [] and f["human_agreement"]["documents"] == 0


def test_snapshot_page_freezes_and_lists_for_admins_only(
    session: Session, app_client: TestClient, world: World
) -> None:
    from tests.factories import page_csrf

    login(app_client, "rita")
    assert app_client.get(f"/projects/{world.project.id}/snapshots").status_code == 403
    app_client.post("/logout", data={"csrf_token": page_csrf(app_client)})
    login(app_client, "admin")
    page = app_client.get(f"/projects/{world.project.id}/snapshots")
    assert page.status_code == 200 and "Freeze a snapshot" in page.text
    token = page_csrf(app_client, f"/projects/{world.project.id}/snapshots")
    r = app_client.post(
        f"/projects/{world.project.id}/snapshots",
        data={"csrf_token": token, "name": "从页面", "seed": "5"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    listed = app_client.get(f"/projects/{world.project.id}/snapshots").text
    assert "从页面" in listed and "not ready" in listed
    detail = app_client.get(f"/projects/{world.project.id}")
    assert f'href="/projects/{world.project.id}/dashboard"' in detail.text
    live = app_client.get(f"/projects/{world.project.id}/export?format=docred")
    assert live.status_code == 200 and live.json()[0]["labels"]
