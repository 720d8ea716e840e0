"""The dashboard: every figure for a reviewed project or batch, inline SVG, web text escaped, no inline code."""

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.dataset.dashboard import dashboard, human_agreement
from app.dataset.figures import CuratedRelations, Decided, Pair
from app.models import (
    Agreement,
    Annotator,
    AnnotatorRun,
    BatchStatus,
    Entity,
    ItemStatus,
    Mention,
    Proposal,
    ReviewAssignment,
    Role,
    RunStatus,
)
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
    session.add(
        Entity(document_id=world.pending.id or 0, type="PER", name="幻影", agreement=Agreement.a_only, grounded=False)
    )
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
    odd = Entity(
        document_id=world.curated.id or 0,
        type=EVIL,
        name="杭州",
        status=ItemStatus.accepted,
        agreement=Agreement.manual,
    )
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
            status=ItemStatus.accepted,
        )
    )
    session.add(Proposal(run_id=evil_run.id or 0, item_kind="entity", item_id=odd.id or 0, proposed_type=EVIL))
    session.commit()


def test_figures_for_a_reviewed_project(session: Session, world: World) -> None:
    _enrich(session, world)
    f = dashboard(session, project_id=world.project.id or 0)
    assert f.status.by_status["curated"] == 1 and f.status.by_status["annotated"] == 1
    assert f.status.cumulative.curated[-1] == 1 and f.status.cumulative.documents[-1] == 2
    [rita] = [r for r in f.reviewers if r.reviewer == "rita"]
    assert rita.decisions == 2 and rita.documents == 1 and rita.active_hours >= 1
    assert f.pair == Pair("model-a", "model-b")
    assert f.model_vs_model.documents == 2
    assert 0 < f.model_vs_model.entities.f1 < 1
    assert f.agreement_classes.entities.classes["agreed"].count == 3
    gold = f.against_gold
    assert set(gold) == {"model-a", "model-b", EVIL}
    assert gold[EVIL].mentions.precision == 1.0  # it proposed one entity, which the gold kept
    assert gold["model-a"].relations.recall == 1.0  # A proposed both curated relations
    assert gold["model-a"].intra.gold == 2 and gold["model-a"].cross.gold == 0
    assert f.audit == Decided(accepted=1, rejected=1, pending=0, precision=0.5)
    assert f.augmentation.yield_ == 0.0 and f.augmentation.rejected == 2
    assert f.hallucination.ungrounded == 1 and f.hallucination.entities == 9
    assert f.curated_relations == CuratedRelations(total=2, cross_sentence=0, cross_sentence_share=0.0)
    assert f.cost.per_curated_document_usd == 0.5
    human = f.human_agreement
    assert human.documents == 1 and round(human.entities.f1, 3) == 0.667


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
    assert f.documents == 0 and f.status.days == () and f.human_agreement.documents == 0


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
        data={"csrf_token": token, "name": "从页面", "seed": "5", "confirm_empty_splits": "true"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    listed = app_client.get(f"/projects/{world.project.id}/snapshots").text
    assert "从页面" in listed and "not ready" in listed
    detail = app_client.get(f"/projects/{world.project.id}")
    assert f'href="/projects/{world.project.id}/dashboard"' in detail.text
    live = app_client.get(f"/projects/{world.project.id}/export?format=docred")
    assert live.status_code == 200 and live.json()[0]["labels"]


def test_routing_section_lists_slices_trusted_first_with_the_policy_and_totals(
    session: Session, app_client: TestClient, world: World
) -> None:
    from app.annotation.calibration import wilson_lower_bound
    from tests.factories import make_routed_item

    world.project.settings = {**world.project.settings, "target_precision": 0.9}
    session.add(world.project)
    curated, pending = world.curated, world.pending
    # 31 reviewed, all correct: the slice's own record trusts it (bound 0.920 ≥ 0.9).
    for i in range(31):
        make_routed_item(session, document=curated, item_id=1000 + i, route="review", outcome="correct")
    # 30 reviewed, 20 correct: not trusted, whatever the class.
    for i in range(30):
        outcome = "correct" if i < 20 else "wrong"
        make_routed_item(
            session, document=curated, item_kind="entity", item_id=2000 + i, agreement="a_only",
            proposers="model-a", item_type="ORG", route="review", outcome=outcome,
        )  # fmt: skip
    # Confirmed blind, no reviews yet: trusted by the prior; two auto-accepted in a curated document, one pending.
    for doc, n in ((curated, 2), (pending, 1)):
        for i in range(n):
            make_routed_item(
                session, document=doc, item_kind="entity", item_id=3000 + i + 10 * (doc.id or 0),
                agreement="confirmed", proposers="<b>model-a</b>", item_type="PER", route="auto",
            )  # fmt: skip
    make_routed_item(session, document=curated, item_id=4000, agreement="disputed", proposers="model-a", route="audit")
    session.commit()

    login(app_client, "rita")
    html = app_client.get(f"/projects/{world.project.id}/dashboard").text
    section = html.split('id="routing"')[1].split("</section>")[0]
    policy = section.split('id="routing-policy">')[1].split("</p>")[0]
    assert "Auto-acceptance <strong>on</strong>" in policy and "target precision <strong>0.9</strong>" in policy
    assert "minimum evidence <strong>30</strong>" in policy and "audit rate <strong>10.0 %</strong>" in policy
    assert "blind second opinion <strong>on</strong>" in policy
    totals = section.split('id="routing-totals">')[1].split("</p>")[0]
    assert "3 auto-accepted · 61 sent to review · 1 audited · 0 rejected without review" in totals
    assert "2 items of curated documents were accepted with no person's decision" in totals
    rows = section.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    assert len(rows) == 4
    # Trusted first (by routed items), then the rest.
    assert [r.split("</td>")[1].split(">")[-2].split("<")[0] for r in rows] == [
        "Both models", "Confirmed blind", "Model A only", "Disputed",
    ]  # fmt: skip
    agreed, confirmed, a_only, disputed = rows
    assert '<td class="num">31</td><td class="num">0</td><td class="num">0</td><td class="num">31</td>' in agreed
    assert '<td class="num">1.000</td><td class="num">0.920</td>' in agreed
    # Agreed is trusted by the prior until its upper bound falls below the target.
    assert 'title="slice: upper bound 1.000 ≥ 0.9 (n=31, 31 correct)">yes</span>' in agreed
    assert "&lt;b&gt;model-a&lt;/b&gt;" in confirmed and "<b>model-a" not in section
    assert 'title="confirmed: trusted until reviews show otherwise">yes</span>' in confirmed
    bound = f"{wilson_lower_bound(20, 30):.3f}"
    assert f'<td class="num">0.667</td><td class="num">{bound}</td>' in a_only
    assert f'title="slice: precision bound {bound} &lt; 0.9 (n=30, 20 correct)">no</span>' in a_only
    assert 'class="trusted-no"' in disputed and "<td>—</td>" not in disputed
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and " style=" not in html
    # One batch: its documents' totals; the slices stay the project's.
    login(app_client, "admin")
    empty = app_client.get(f"/projects/{world.project.id}/dashboard?batch={_batch(session, world)}").text
    assert "0 auto-accepted · 0 sent to review · 0 audited · 0 rejected without review in this batch" in empty
    assert empty.split('id="routing-slices"')[1].split("</table>")[0].count("<tr>") == 5


def _batch(session: Session, world: World) -> int:
    from app.models import CrawlBatch

    batch = CrawlBatch(project_id=world.project.id or 0, filename="empty.jsonl", status=BatchStatus.done)
    session.add(batch)
    session.commit()
    return batch.id or 0


def test_a_malformed_stored_review_result_counts_no_keys(session: Session, world: World) -> None:
    """Old or hand-edited results (no list, null, a string) leave the human agreement readable, not a 500."""
    results: tuple[dict[str, Any], ...] = (
        {"entities": [{"key": "e1"}], "relations": None},
        {"entities": "e1", "relations": [1, "x"]},
    )
    for n, result in enumerate(results):
        user = make_user(session, username=f"odd{n}", role=Role.reviewer)
        session.add(
            ReviewAssignment(document_id=world.pending.id or 0, user_id=user.id or 0, status="submitted", result=result)
        )
    session.commit()
    human = human_agreement(session, project_id=world.project.id or 0)
    assert human.documents == 1
    assert (human.entities.predicted, human.entities.gold, human.entities.correct) == (1, 0, 0)
    assert (human.relations.predicted, human.relations.gold) == (0, 0)
