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
GUARDS = {deps.current_user, deps.admin_user, deps.api_client, deps.api_admin}
ADMIN_GUARDS = {deps.admin_user, deps.api_admin}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _calls(dependant: Dependant) -> set[object]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def _routes() -> list[tuple[str, str, APIRoute]]:
    found = [
        (method, route.path, route)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods)
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


def test_reviewer_gets_403_on_every_admin_route(session: Session, app_client: TestClient) -> None:
    from tests.factories import bearer, make_token, page_csrf

    project = make_project(session)
    reviewer = make_user(session, username="rev", role=Role.reviewer)
    headers = bearer(make_token(session, reviewer))
    login(app_client, "rev")
    token = page_csrf(app_client)
    checked = 0
    for method, path, route in _routes():
        if not _calls(route.dependant) & ADMIN_GUARDS:
            continue
        url = _concrete(path, project.id or 0)
        if path.startswith("/api/"):
            response = app_client.request(method, url, headers=headers, json={})
        else:
            response = app_client.request(method, url, data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, f"{method} {path}: {response.status_code}"
        checked += 1
    assert checked >= 5
