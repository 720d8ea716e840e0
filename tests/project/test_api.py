"""Projects over the API: tokens, roles, validation, nothing half-written."""

from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.models import Project, Role
from tests.factories import bearer, make_project, make_token, make_user


def _project_count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Project)).one()


def _admin_token(session: Session) -> dict[str, str]:
    return bearer(make_token(session, make_user(session, username="admin1")))


def test_create_from_each_preset_and_read_back(session: Session, app_client: TestClient) -> None:
    headers = _admin_token(session)
    for preset, relations in (("zh-general", 14), ("person-relations", 4), ("docred", 96)):
        created = app_client.post("/api/v1/projects", json={"name": f"p-{preset}", "preset": preset}, headers=headers)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["preset"] == preset
        fetched = app_client.get(f"/api/v1/projects/{body['id']}", headers=headers)
        assert fetched.status_code == 200
        assert len(fetched.json()["schema"]["relation_types"]) == relations
        assert fetched.json()["guidelines"]


def test_create_from_a_schema(session: Session, app_client: TestClient) -> None:
    schema = {
        "entity_types": [{"code": "PER", "name": "人物", "color": "#112233"}, {"code": "ORG", "name": "机构"}],
        "relation_types": [{"code": "任职于", "name": "任职于", "head_types": ["PER"], "tail_types": ["ORG"]}],
    }
    response = app_client.post(
        "/api/v1/projects",
        json={"name": "自定义", "schema": schema, "guidelines": "只标人名"},
        headers=_admin_token(session),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["schema"]["entity_types"][0]["color"] == "#112233"
    assert body["schema"]["relation_types"][0]["symmetric"] is False
    assert body["guidelines"] == "只标人名"


def test_duplicate_name_is_422_naming_the_field(session: Session, app_client: TestClient) -> None:
    headers = _admin_token(session)
    make_project(session, name="已存在")
    before = _project_count(session)
    response = app_client.post("/api/v1/projects", json={"name": "已存在", "preset": "docred"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"
    assert "already exists" in response.json()["detail"]
    assert _project_count(session) == before


def test_malformed_schema_is_422_naming_the_field(session: Session, app_client: TestClient) -> None:
    headers = _admin_token(session)
    before = _project_count(session)
    bad = {
        "entity_types": [{"code": "PER", "name": "人物"}, {"code": "PER", "name": "again"}],
        "relation_types": [{"code": "x", "name": "x", "head_types": ["GHOST"]}],
    }
    response = app_client.post("/api/v1/projects", json={"name": "bad", "schema": bad}, headers=headers)
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["schema.entity_types[1].code", "schema.relation_types[0].head_types[0]"]
    wrong_shape = app_client.post("/api/v1/projects", json={"name": "bad", "schema": [1, 2]}, headers=headers)
    assert wrong_shape.status_code == 422
    assert _project_count(session) == before


def test_unknown_preset_and_missing_source(session: Session, app_client: TestClient) -> None:
    headers = _admin_token(session)
    unknown = app_client.post("/api/v1/projects", json={"name": "x", "preset": "nope"}, headers=headers)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "preset"
    neither = app_client.post("/api/v1/projects", json={"name": "x"}, headers=headers)
    assert neither.status_code == 422
    invalid_json = app_client.post(
        "/api/v1/projects", content=b"{not json", headers={**headers, "content-type": "application/json"}
    )
    assert invalid_json.status_code == 422


def test_reviewer_token_cannot_create_but_can_read(session: Session, app_client: TestClient) -> None:
    project = make_project(session)
    reviewer = make_user(session, username="rev", role=Role.reviewer)
    headers = bearer(make_token(session, reviewer))
    before = _project_count(session)
    response = app_client.post("/api/v1/projects", json={"name": "x", "preset": "docred"}, headers=headers)
    assert response.status_code == 403
    assert _project_count(session) == before
    assert app_client.get(f"/api/v1/projects/{project.id}", headers=headers).status_code == 200
    patched = app_client.patch(f"/api/v1/projects/{project.id}", json={"name": "y"}, headers=headers)
    assert patched.status_code == 403


def test_missing_malformed_unknown_and_revoked_tokens_are_401(session: Session, app_client: TestClient) -> None:
    user = make_user(session)
    token, secret = auth_service.create_api_token(session, user=user)
    session.commit()
    assert app_client.get("/api/v1/projects", headers=bearer(secret)).status_code == 200
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}, bearer("cnc_unknown")):
        response = app_client.get("/api/v1/projects", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "detail" in response.json()
    auth_service.revoke_api_token(session, token=token)
    session.commit()
    assert app_client.get("/api/v1/projects", headers=bearer(secret)).status_code == 401


def test_session_cookie_does_not_authenticate_the_api(session: Session, app_client: TestClient) -> None:
    from tests.factories import login

    make_user(session)
    login(app_client)
    assert app_client.get("/api/v1/projects").status_code == 401


def test_unknown_project_is_404_json(session: Session, app_client: TestClient) -> None:
    response = app_client.get("/api/v1/projects/999999", headers=_admin_token(session))
    assert response.status_code == 404
    assert response.json()["detail"] == "Project 999999 does not exist."


def test_patch_validates_everything_before_changing_anything(session: Session, app_client: TestClient) -> None:
    headers = _admin_token(session)
    project = make_project(session, name="原名")
    response = app_client.patch(
        f"/api/v1/projects/{project.id}", json={"name": "新名", "schema": {"entity_types": []}}, headers=headers
    )
    assert response.status_code == 422
    session.expire_all()
    assert session.get(Project, project.id).name == "原名"  # type: ignore[union-attr]


def test_openapi_document_is_served(app_client: TestClient) -> None:
    spec = app_client.get("/api/v1/openapi.json").json()
    assert "/api/v1/projects" in spec["paths"]
    docs = app_client.get("/api/docs")
    assert docs.status_code == 200
    assert "swagger-ui-bundle.js" in docs.text


def test_ingestion_settings_are_validated_and_saved(session: Session, app_client: TestClient) -> None:
    headers = _admin_token(session)
    project = make_project(session)
    assert app_client.get(f"/api/v1/projects/{project.id}", headers=headers).json()["settings"]["languages"] == ["zh"]
    ok = app_client.patch(
        f"/api/v1/projects/{project.id}",
        json={"settings": {"languages": ["zh", "en"], "extractor": "trafilatura"}},
        headers=headers,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["settings"]["languages"] == ["zh", "en"]
    assert ok.json()["settings"]["min_chars"] == 50
    bad = app_client.patch(
        f"/api/v1/projects/{project.id}",
        json={"settings": {"extractor": "magic", "near_duplicate_threshold": 3}},
        headers=headers,
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"settings.extractor", "settings.near_duplicate_threshold"}


def test_routing_settings_out_of_range_are_422_naming_the_field(session: Session, app_client: TestClient) -> None:
    headers = _admin_token(session)
    project = make_project(session)
    for field, value in (
        ("target_precision", 0.5),
        ("target_precision", 1.5),
        ("min_evidence", 0),
        ("audit_rate", -0.1),
        ("recall_audit_rate", 2),
    ):
        response = app_client.patch(
            f"/api/v1/projects/{project.id}", json={"settings": {field: value}}, headers=headers
        )
        assert response.status_code == 422, (field, value)
        assert [e["field"] for e in response.json()["errors"]] == [f"settings.{field}"]
    session.expire_all()
    stored = session.get(Project, project.id)
    assert stored is not None and stored.settings["target_precision"] == 0.97
    ok = app_client.patch(
        f"/api/v1/projects/{project.id}",
        json={"settings": {"target_precision": 1, "min_evidence": 5, "recheck": False, "recall_audit_rate": 0.05}},
        headers=headers,
    )
    assert ok.status_code == 200, ok.text
    settings = ok.json()["settings"]
    assert (settings["target_precision"], settings["min_evidence"], settings["recheck"]) == (1, 5, False)
    assert settings["recall_audit_rate"] == 0.05
