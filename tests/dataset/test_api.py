"""The export endpoint: admin tokens only, streamed files with a name, clear 4xx for every bad request."""

import json

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.annotation.contract import AnnotationOutput, parse_model_json
from app.auth import service as auth_service
from app.dataset.exporters import parse_target
from app.models import ApiToken, Role
from tests.dataset.conftest import World
from tests.factories import bearer, make_project, make_token, make_user


def _url(world: World, query: str = "") -> str:
    return f"/api/v1/projects/{world.project.id}/export{query}"


def test_export_streams_each_format_with_a_file_name(app_client: TestClient, world: World) -> None:
    r = app_client.get(_url(world, "?format=docred"), headers=world.admin)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["content-disposition"] == (
        f'attachment; filename="concord-project{world.project.id}-curated.json"'
    )
    [doc] = r.json()
    assert {v[0]["name"] for v in doc["vertexSet"]} == {"张伟", "北京大学", "星河科技"}
    r = app_client.get(_url(world, "?format=jsonl&status=all"), headers=world.admin)
    assert r.status_code == 200 and len(r.text.splitlines()) == 2
    assert r.headers["content-disposition"].endswith('-all.jsonl"')
    r = app_client.get(_url(world, "?format=brat"), headers=world.admin)
    assert r.status_code == 200 and r.content[:2] == b"PK"
    r = app_client.get(_url(world, "?format=conll"), headers=world.admin)
    assert r.status_code == 200 and "张\tB-PER" in r.text


def test_generative_exports_stream_only_curated_items(app_client: TestClient, world: World) -> None:
    r = app_client.get(_url(world, "?format=seq2seq"), headers=world.admin)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    assert r.headers["content-disposition"].endswith('-curated-seq2seq.jsonl"')
    [example] = [json.loads(line) for line in r.text.splitlines()]
    assert example["input"] == world.curated.text and example["id"] == f"{world.curated.id}:0"
    triples = parse_target(example["target"])
    assert {(t.head, t.head_type, t.relation) for t in triples} == {("张伟", "PER", "任职于"), ("张伟", "PER", "创办")}
    r = app_client.get(_url(world, "?format=chat"), headers=world.admin)
    assert r.status_code == 200 and r.headers["content-disposition"].endswith('-curated-chat.jsonl"')
    [record] = [json.loads(line) for line in r.text.splitlines()]
    system, user, assistant = record["messages"]
    assert "Entity types:" not in system["content"] and "Entity types:" in user["content"]
    assert "任职于" in user["content"] and world.curated.text[:5] in user["content"]
    answer = parse_model_json(assistant["content"], AnnotationOutput)
    assert {r.type for r in answer.relations} == {"任职于", "创办"}, "the rejected 出生于 is not there"
    r = app_client.get(_url(world, "?format=seq2seq&status=all"), headers=world.admin)
    assert "王芳" in r.text and len(r.text.splitlines()) == 2


def test_unknown_format_is_a_422_naming_the_allowed_ones(app_client: TestClient, world: World) -> None:
    r = app_client.get(_url(world, "?format=xml"), headers=world.admin)
    assert r.status_code == 422
    body = r.json()
    assert "docred, jsonl, brat, conll, seq2seq, chat" in body["detail"] and body["errors"][0]["field"] == "format"
    r = app_client.get(_url(world, "?format=Seq2Seq"), headers=world.admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "format"
    r = app_client.get(_url(world, "?format=jsonl&status=maybe"), headers=world.admin)
    assert r.status_code == 422 and "curated, all" in r.json()["detail"]
    r = app_client.get(_url(world, "?format=jsonl&split=validation"), headers=world.admin)
    assert r.status_code == 422 and "train, dev, test" in r.json()["detail"]


def test_reviewer_token_gets_403_and_revoked_or_unknown_tokens_401(
    session: Session, app_client: TestClient, world: World
) -> None:
    assert app_client.get(_url(world, "?format=jsonl"), headers=world.reviewer).status_code == 403
    assert app_client.get(_url(world, "?format=jsonl")).status_code == 401
    assert app_client.get(_url(world, "?format=jsonl"), headers=bearer("cnc_not-a-token")).status_code == 401
    boss = make_user(session, username="boss", role=Role.admin)
    secret = make_token(session, boss)
    assert app_client.get(_url(world, "?format=jsonl"), headers=bearer(secret)).status_code == 200
    token = session.exec(select(ApiToken).where(ApiToken.user_id == boss.id)).one()
    auth_service.revoke_api_token(session, token=token)
    session.commit()
    r = app_client.get(_url(world, "?format=jsonl"), headers=bearer(secret))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_an_expired_token_gets_401_saying_so(session: Session, app_client: TestClient, world: World) -> None:
    from datetime import timedelta

    from app.models.types import utcnow

    boss = make_user(session, username="boss", role=Role.admin)
    _, fresh = auth_service.create_api_token(session, user=boss, expires_at=utcnow() + timedelta(days=1))
    _, stale = auth_service.create_api_token(session, user=boss, expires_at=utcnow() - timedelta(minutes=1))
    session.commit()
    assert app_client.get(_url(world, "?format=jsonl"), headers=bearer(fresh)).status_code == 200
    r = app_client.get(_url(world, "?format=jsonl"), headers=bearer(stale))
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"


def test_empty_project_exports_an_empty_valid_file(session: Session, app_client: TestClient, world: World) -> None:
    empty = make_project(session, name="空项目")
    r = app_client.get(f"/api/v1/projects/{empty.id}/export?format=docred", headers=world.admin)
    assert r.status_code == 200 and r.content == b"[]" and json.loads(r.content) == []
    r = app_client.get(f"/api/v1/projects/{empty.id}/export?format=jsonl", headers=world.admin)
    assert r.status_code == 200 and r.content == b""


def test_unknown_project_or_foreign_batch(session: Session, app_client: TestClient, world: World) -> None:
    assert app_client.get("/api/v1/projects/999999/export", headers=world.admin).status_code == 404
    r = app_client.get(_url(world, "?batch=999999"), headers=world.admin)
    assert r.status_code == 404


def test_a_confirmed_items_provenance_says_confirmed_with_the_blind_answer(
    session: Session, app_client: TestClient, world: World
) -> None:
    from tests.factories import REVIEW_TEXT, add_blind_answer, make_review_document

    text = REVIEW_TEXT + "。"
    zhang, beida = (text.index("张伟"), text.index("张伟") + 2), (text.index("北京大学"), text.index("北京大学") + 4)
    doc, _ents, rels = make_review_document(
        session,
        world.project,
        text=text,
        entities=[("PER", "张伟", [zhang], "agreed", "accepted"), ("ORG", "北京大学", [beida], "disputed", "proposed")],
        relations=[(0, 1, "任职于", [0], "confirmed", "accepted")],
    )
    add_blind_answer(session, document=doc, item_kind="relation", item_id=rels[0].id, proposed_type="任职于")
    session.commit()
    r = app_client.get(_url(world, "?format=jsonl&status=all"), headers=world.admin)
    assert r.status_code == 200, r.text
    [record] = [json.loads(line) for line in r.text.splitlines() if json.loads(line)["id"] == str(doc.id)]
    [relation] = record["relations"]
    assert relation["provenance"]["agreement"] == "confirmed"
    assert {(p["annotator"], p["prompt_version"]) for p in relation["provenance"]["proposals"]} == {
        ("model-a", "v1"),
        ("model-b", "recheck-v2"),
    }
    classes = {e["name"]: e["provenance"]["agreement"] for e in record["entities"]}
    assert classes == {"张伟": "agreed", "北京大学": "disputed"}
