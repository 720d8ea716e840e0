"""Factory functions for test data, and helpers that act like a browser or an API client."""

import re
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session

from app.auth import service as auth_service
from app.models import Project, Role, User
from app.project import service as project_service

PASSWORD = "correct horse battery"


def make_user(session: Session, *, username: str = "alice", role: Role = Role.admin, password: str = PASSWORD) -> User:
    user = auth_service.create_user(session, username=username, role=role, password=password)
    session.commit()
    return user


def make_project(session: Session, *, name: str = "新闻 2026", preset: str = "zh-general", **kw: Any) -> Project:
    project = project_service.create_project(session, name=name, preset=preset, **kw)
    session.commit()
    return project


def make_token(session: Session, user: User) -> str:
    _, secret = auth_service.create_api_token(session, user=user)
    session.commit()
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def login(client: TestClient, username: str = "alice", password: str = PASSWORD) -> Response:
    """Sign in through the form, like a browser: fetch the page (CSRF cookie + token), then post."""
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_from(page.text), "next": "/projects"},
        follow_redirects=False,
    )


def page_csrf(client: TestClient, path: str = "/projects") -> str:
    return csrf_from(client.get(path).text)
