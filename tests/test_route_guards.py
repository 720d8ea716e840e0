"""Every route is guarded: a role, and CSRF on every state-changing browser request."""

import re

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth import deps
from app.auth.csrf import verify_csrf
from app.main import ROUTERS
from app.models import Role
from tests.factories import login, make_project, make_user

PUBLIC = {
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/healthz"),
    ("GET", "/api/docs"),
}
GUARDS = {
    deps.signed_in_user,
    deps.current_user,
    deps.admin_user,
    deps.dataset_reader,
    deps.api_reader,
    deps.api_client,
    deps.api_admin,
    deps.api_dataset_reader,
}
# Routes a reviewer may not use: the admins', and the datasets (admins and consumers).
NOT_FOR_REVIEWERS = {deps.admin_user, deps.api_admin, deps.dataset_reader, deps.api_dataset_reader}
# Everything a consumer may do: read projects, snapshots, exports and datasheets, and choose a password. Every
# other route answers a consumer 403.
CONSUMER_MAY = {
    ("GET", "/projects"),
    ("GET", "/projects/{project_id}"),
    ("GET", "/projects/{project_id}/schema.css"),
    ("GET", "/projects/{project_id}/snapshots"),
    ("GET", "/projects/{project_id}/export"),
    ("GET", "/snapshots/{snapshot_id}/download"),
    ("GET", "/snapshots/{snapshot_id}/training"),  # learnability beside the datasheet
    ("GET", "/account/password"),
    ("POST", "/account/password"),
    ("GET", "/api/v1/projects"),
    ("GET", "/api/v1/projects/{project_id}"),
    ("GET", "/api/v1/projects/{project_id}/export"),
    ("GET", "/api/v1/projects/{project_id}/snapshots"),
    ("GET", "/api/v1/snapshots/{snapshot_id}"),
    ("GET", "/api/v1/snapshots/{snapshot_id}/download"),
}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _calls(dependant: Dependant) -> set[object]:
    found: set[object] = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def _routes() -> list[tuple[str, str, APIRoute]]:
    found = [
        (method, route.path, route)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods or ())
    ]
    assert len(found) >= 15
    return found


def _concrete(path: str, project_id: int) -> str:
    return re.sub(r"\{[^}]+\}", str(project_id), path)


def test_every_non_public_route_requires_a_signed_in_user_or_token() -> None:
    for method, path, route in _routes():
        if (method, path) in PUBLIC:
            continue
        assert _calls(route.dependant) & GUARDS, f"{method} {path} has no role guard"


def test_every_browser_route_that_changes_state_checks_csrf() -> None:
    for method, path, route in _routes():
        if method in UNSAFE and not path.startswith("/api/"):
            assert verify_csrf in _calls(route.dependant), f"{method} {path} skips CSRF"


def test_anonymous_callers_are_sent_to_sign_in_or_get_401(session: Session, app_client: TestClient) -> None:
    project = make_project(session)
    for method, path, _route in _routes():
        if (method, path) in PUBLIC:
            continue
        response = app_client.request(method, _concrete(path, project.id or 0), follow_redirects=False)
        if path.startswith("/api/"):
            assert response.status_code == 401, f"{method} {path}"
        elif method == "GET":
            assert response.status_code == 303, f"{method} {path}"
            assert response.headers["location"].startswith("/login")
        else:
            assert response.status_code in (303, 403), f"{method} {path}"


def test_reviewer_gets_403_on_every_admin_and_dataset_route(session: Session, app_client: TestClient) -> None:
    from tests.factories import bearer, make_token, page_csrf

    project = make_project(session)
    reviewer = make_user(session, username="rev", role=Role.reviewer)
    headers = bearer(make_token(session, reviewer))
    login(app_client, "rev")
    token = page_csrf(app_client)
    checked = 0
    for method, path, route in _routes():
        if not _calls(route.dependant) & NOT_FOR_REVIEWERS:
            continue
        url = _concrete(path, project.id or 0)
        if path.startswith("/api/"):
            response = app_client.request(method, url, headers=headers, json={})
        else:
            response = app_client.request(method, url, data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, f"{method} {path}: {response.status_code}"
        checked += 1
    assert checked >= 5


def test_consumer_may_read_projects_and_datasets_and_gets_403_everywhere_else(
    session: Session, app_client: TestClient
) -> None:
    from tests.factories import bearer, make_token, page_csrf

    project = make_project(session)
    consumer = make_user(session, username="reader", role=Role.consumer)
    headers = bearer(make_token(session, consumer))
    assert login(app_client, "reader").status_code == 303
    token = page_csrf(app_client)
    routes = _routes()
    assert {(method, path) for method, path, _ in routes} >= CONSUMER_MAY, "CONSUMER_MAY names a missing route"
    for method, path, _route in routes:
        if (method, path) in PUBLIC:
            continue
        url = _concrete(path, project.id or 0)
        if path.startswith("/api/"):
            response = app_client.request(method, url, headers=headers, json={})
        else:
            response = app_client.request(method, url, data={"csrf_token": token}, follow_redirects=False)
        if (method, path) in CONSUMER_MAY:
            assert response.status_code not in (401, 403), f"{method} {path}: {response.status_code}"
        else:
            assert response.status_code == 403, f"{method} {path}: {response.status_code}"
    assert app_client.get("/projects").status_code == 200  # still signed in: nothing above ended the session
