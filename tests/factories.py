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


def warc_response(url: str, body: bytes, *, content_type: str = "text/html", status: int = 200) -> bytes:
    """One WARC/1.0 response record with an HTTP message, as a crawler writes it."""
    http = (
        f"HTTP/1.1 {status} OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    )
    import uuid

    headers = (
        "WARC/1.0\r\nWARC-Type: response\r\n"
        f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\nWARC-Date: 2024-05-18T10:00:00Z\r\n"
        f"WARC-Target-URI: {url}\r\nContent-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {len(http)}\r\n\r\n"
    ).encode()
    return headers + http + b"\r\n\r\n"


def html_page(title: str, paragraphs: list[str], *, charset: str | None = None, nav: str = "首页 新闻 关于我们") -> str:
    meta = f'<meta charset="{charset}">' if charset else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    nav = "<nav>" + " | ".join(f"<a href='/{i}'>{item}</a>" for i, item in enumerate(nav.split())) + "</nav>"
    head = f"<head>{meta}<title>{title}</title></head>"
    return f"<!doctype html><html>{head}<body>{nav}<article>{body}</article></body></html>"
