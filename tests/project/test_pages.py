"""Project pages: admins create and edit, reviewers read, hostile names render inert."""

import json

from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from app.models import Project, Role
from tests.factories import login, make_project, make_user, page_csrf

XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def _count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Project)).one()


def test_admin_creates_a_project_from_each_preset_and_sees_its_schema(session: Session, app_client: TestClient) -> None:
    make_user(session)
    login(app_client)
    token = page_csrf(app_client, "/projects/new")
    for preset, expected in (("zh-general", "任职于"), ("person-relations", "师生"), ("docred", "P17")):
        response = app_client.post(
            "/projects", data={"name": f"项目 {preset}", "source": "preset", "preset": preset, "csrf_token": token}
        )
        assert response.status_code == 200
        assert response.url.path.startswith("/projects/")
        assert expected in response.text
        assert f"项目 {preset}" in response.text
    listing = app_client.get("/projects").text
    assert listing.count("项目 ") == 3


def test_pasted_json_errors_keep_the_form_and_write_nothing(session: Session, app_client: TestClient) -> None:
    make_user(session)
    login(app_client)
    token = page_csrf(app_client, "/projects/new")
    before = _count(session)
    broken = app_client.post(
        "/projects", data={"name": "草稿", "source": "json", "schema_text": '{"entity_types": [', "csrf_token": token}
    )
    assert broken.status_code == 422
    assert "Not valid JSON" in broken.text
    assert 'value="草稿"' in broken.text
    unknown = app_client.post(
        "/projects",
        data={
            "name": "草稿",
            "source": "json",
            "csrf_token": token,
            "schema_text": '{"entity_types": [{"code": "PER", "name": "人"}], "relation_types": '
            '[{"code": "r", "name": "r", "head_types": ["ORG"]}]}',
        },
    )
    assert unknown.status_code == 422
    assert "schema.relation_types[0].head_types[0]" in unknown.text
    assert _count(session) == before


def test_duplicate_name_in_the_form(session: Session, app_client: TestClient) -> None:
    make_user(session)
    make_project(session, name="重名")
    login(app_client)
    response = app_client.post(
        "/projects", data={"name": "重名", "source": "preset", "preset": "docred", "csrf_token": page_csrf(app_client)}
    )
    assert response.status_code == 422
    assert "already exists" in response.text


def test_admin_edits_schema_and_guidelines(session: Session, app_client: TestClient) -> None:
    make_user(session)
    project = make_project(session, preset="person-relations")
    login(app_client)
    edit = app_client.get(f"/projects/{project.id}/edit")
    assert "亲属" in edit.text
    schema = (
        '{"entity_types": [{"code": "PER", "name": "人物"}], "relation_types": '
        '[{"code": "校友", "name": "校友", "symmetric": true}]}'
    )
    saved = app_client.post(
        f"/projects/{project.id}/edit",
        data={
            "name": "人物关系",
            "description": "",
            "guidelines": "新的指南",
            "schema_text": schema,
            "csrf_token": page_csrf(app_client),
        },
    )
    assert saved.status_code == 200
    assert "校友" in saved.text
    assert "新的指南" in saved.text
    bad = app_client.post(
        f"/projects/{project.id}/edit",
        data={
            "name": "人物关系",
            "description": "",
            "guidelines": "x",
            "schema_text": "[]",
            "csrf_token": page_csrf(app_client),
        },
    )
    assert bad.status_code == 422
    session.expire_all()
    assert session.get(Project, project.id).guidelines == "新的指南"  # type: ignore[union-attr]


def test_reviewer_reads_projects_but_admin_pages_are_403(session: Session, app_client: TestClient) -> None:
    make_user(session, username="rev", role=Role.reviewer)
    project = make_project(session)
    login(app_client, "rev")
    listing = app_client.get("/projects")
    assert listing.status_code == 200
    assert "/projects/new" not in listing.text
    assert app_client.get(f"/projects/{project.id}").status_code == 200
    for path in ("/projects/new", f"/projects/{project.id}/edit"):
        response = app_client.get(path)
        assert response.status_code == 403
        assert "This page is for admins." in response.text
    before = _count(session)
    token = page_csrf(app_client)
    created = app_client.post("/projects", data={"name": "x", "preset": "docred", "csrf_token": token})
    assert created.status_code == 403
    assert _count(session) == before


def test_script_payload_in_a_project_name_renders_inert(session: Session, app_client: TestClient) -> None:
    make_user(session)
    project = make_project(session, name=XSS, description=XSS, guidelines=XSS)
    login(app_client)
    for path in ("/projects", f"/projects/{project.id}"):
        html = app_client.get(path).text
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert 'onerror="alert(2)"' not in html


STRICT_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}


def _directives(csp: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in csp.split(";"):
        name, *sources = part.split()
        assert name not in parsed, f"{name} given twice"
        parsed[name] = sources
    return parsed


def test_pages_send_a_strict_content_security_policy(session: Session, app_client: TestClient) -> None:
    make_user(session)
    login(app_client)
    for path in ("/login", "/projects", "/api/v1/openapi.json", "/healthz", "/no-such-page"):
        response = app_client.get(path)
        # Every directive, exactly: a new source or a lost directive fails here.
        assert _directives(response.headers["content-security-policy"]) == STRICT_CSP, path
        assert response.headers["x-frame-options"] == "DENY", path  # framing refused twice over
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["cross-origin-opener-policy"] == "same-origin"
        assert response.headers["permissions-policy"] == "camera=(), microphone=(), geolocation=()"
    page = app_client.get("/login")
    assert "<script>" not in page.text  # no inline scripts at all
    assert page.headers["vary"] == "HX-Request"
    # Swagger UI alone may set style attributes; its scripts and everything else stay as strict.
    docs = _directives(app_client.get("/api/docs").headers["content-security-policy"])
    assert docs == {**STRICT_CSP, "style-src": ["'self'", "'unsafe-inline'"]}


def test_schema_css_carries_only_validated_colors(session: Session, app_client: TestClient) -> None:
    make_user(session)
    project = make_project(session, preset="person-relations")
    login(app_client)
    css = app_client.get(f"/projects/{project.id}/schema.css")
    assert css.headers["content-type"].startswith("text/css")
    assert css.text.strip() == ".etype-0{--type-color:#2f6fde}"


def test_unknown_project_page_is_a_404_page(session: Session, app_client: TestClient) -> None:
    make_user(session)
    login(app_client)
    response = app_client.get("/projects/424242")
    assert response.status_code == 404
    assert "Project 424242 does not exist." in response.text
    assert "<!doctype html>" in response.text


def test_admin_sets_languages_and_extractor_on_the_edit_page(session: Session, app_client: TestClient) -> None:
    make_user(session)
    project = make_project(session, preset="person-relations")
    login(app_client)
    edit = app_client.get(f"/projects/{project.id}/edit").text
    assert 'name="languages" value="zh"' in edit
    form = _edit_form(
        app_client,
        project,
        description="",
        languages="zh, en",
        extractor="trafilatura",
        min_chars="20",
        near_duplicate_threshold="0.9",
    )
    saved = _save_edit(session, app_client, project, form)
    assert (saved.settings["languages"], saved.settings["extractor"], saved.settings["min_chars"]) == (
        ["zh", "en"],
        "trafilatura",
        20,
    )
    form["min_chars"] = "lots"
    assert app_client.post(f"/projects/{project.id}/edit", data=form).status_code == 422


def test_admin_turns_on_double_review_on_the_edit_page(session: Session, app_client: TestClient) -> None:
    make_user(session)
    project = make_project(session)
    login(app_client)
    edit = app_client.get(f"/projects/{project.id}/edit").text
    assert 'name="reviewers_per_document" inputmode="numeric" value="1"' in edit
    form = _edit_form(app_client, project, languages="zh", reviewers_per_document="2", review_lock_minutes="45")
    saved = _save_edit(session, app_client, project, form)
    assert (saved.settings["reviewers_per_document"], saved.settings["review_lock_minutes"]) == (2, 45)
    form["reviewers_per_document"] = "0"
    refused = app_client.post(f"/projects/{project.id}/edit", data=form)
    assert refused.status_code == 422 and "reviewers_per_document" in refused.text
    session.expire_all()
    assert session.get(Project, project.id).settings["reviewers_per_document"] == 2  # type: ignore[union-attr]


def _edit_form(app_client: TestClient, project: Project, **fields: str) -> dict[str, str]:
    """The project's edit form as the page posts it, with these fields set."""
    form = {
        "name": project.name,
        "guidelines": "g",
        "csrf_token": page_csrf(app_client),
        "schema_text": json.dumps(project.label_schema),
    }
    return form | fields


def _save_edit(session: Session, app_client: TestClient, project: Project, form: dict[str, str]) -> Project:
    """Post the edit form, expect it saved, and return the project as stored."""
    assert app_client.post(f"/projects/{project.id}/edit", data=form).status_code == 200
    session.expire_all()
    saved = session.get(Project, project.id)
    assert saved is not None
    return saved


def test_admin_sets_the_routing_policy_on_the_edit_page(session: Session, app_client: TestClient) -> None:
    make_user(session)
    project = make_project(session)
    login(app_client)
    edit = app_client.get(f"/projects/{project.id}/edit").text
    fieldset = edit.split('id="routing-settings"')[1].split("</fieldset>")[0]
    assert 'name="target_precision" inputmode="decimal" value="0.97"' in fieldset
    assert 'name="min_evidence" inputmode="numeric" value="30"' in fieldset
    assert 'name="recall_audit_rate" inputmode="decimal" value="0"' in fieldset
    assert '<option value="on" selected>on</option>' in fieldset.split('name="recheck"')[1]
    form = _edit_form(
        app_client,
        project,
        languages="zh",
        target_precision="0.95",
        min_evidence="50",
        recheck="off",
        recall_audit_rate="0.1",
        audit_rate="0.2",
        auto_accept="on",
    )
    saved = _save_edit(session, app_client, project, form)
    assert {k: saved.settings[k] for k in ("target_precision", "min_evidence", "recheck", "recall_audit_rate")} == {
        "target_precision": 0.95,
        "min_evidence": 50,
        "recheck": False,
        "recall_audit_rate": 0.1,
    }
    assert (saved.settings["audit_rate"], saved.settings["auto_accept"]) == (0.2, True)
    again = app_client.get(f"/projects/{project.id}/edit").text.split('name="recheck"')[1].split("</select>")[0]
    assert '<option value="off" selected>off</option>' in again
    # A form without these fields (an older page) leaves them as they are.
    _save_edit(session, app_client, project, _edit_form(app_client, project, languages="zh"))
    session.expire_all()
    assert session.get(Project, project.id).settings["min_evidence"] == 50  # type: ignore[union-attr]
    for field, value in (("target_precision", "0.5"), ("min_evidence", "0"), ("recall_audit_rate", "2")):
        refused = app_client.post(f"/projects/{project.id}/edit", data=form | {field: value})
        assert refused.status_code == 422
        assert f'<p class="field-error" id="err-settings.{field}">' in refused.text
        assert f'name="{field}" inputmode=' in refused.text and f'value="{value}"' in refused.text
    session.expire_all()
    assert session.get(Project, project.id).settings["target_precision"] == 0.95  # type: ignore[union-attr]
