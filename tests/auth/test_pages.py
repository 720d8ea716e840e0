"""Signing in and out in the browser: cookies, CSRF, throttling, one-time passwords."""

import time

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlmodel import Session

from app.auth import service
from app.config import get_settings
from app.models import Role
from tests.factories import PASSWORD, csrf_from, login, make_user, page_csrf


def test_login_sets_signed_httponly_samesite_cookie(session: Session, app_client: TestClient) -> None:
    make_user(session)
    response = login(app_client)
    assert response.status_code == 303
    assert response.headers["location"] == "/projects"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("concord_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert app_client.get("/projects").status_code == 200


def test_wrong_password_is_refused_with_a_message(session: Session, app_client: TestClient) -> None:
    make_user(session)
    response = login(app_client, password="not the password")
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert "concord_session" not in response.headers.get("set-cookie", "")
    assert app_client.get("/projects", follow_redirects=False).status_code == 303


def test_unknown_user_gets_the_same_message(session: Session, app_client: TestClient) -> None:
    response = login(app_client, username="nobody")
    assert response.status_code == 401
    assert "Wrong username or password." in response.text


def test_login_is_throttled_after_repeated_failures(session: Session, app_client: TestClient) -> None:
    make_user(session)
    for _ in range(get_settings().login_max_failures):
        assert login(app_client, password="wrong password!").status_code == 401
    blocked = login(app_client)  # even the right password, until the window passes
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.text
    assert int(blocked.headers["retry-after"]) > 0


def test_forged_session_cookie_is_not_a_login(session: Session, app_client: TestClient) -> None:
    user = make_user(session)
    forged = URLSafeTimedSerializer("another-secret", salt="concord.session").dumps({"uid": user.id, "ep": 0})
    app_client.cookies.set("concord_session", forged)
    response = app_client.get("/projects", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_tampered_session_cookie_is_not_a_login(session: Session, app_client: TestClient) -> None:
    make_user(session)
    login(app_client)
    cookie = app_client.cookies["concord_session"]
    app_client.cookies.clear()
    app_client.cookies.set("concord_session", cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"))
    assert app_client.get("/projects", follow_redirects=False).status_code == 303


def test_expired_session_cookie_asks_to_sign_in_again(
    session: Session, app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user(session)
    old = time.time() - get_settings().session_max_age_seconds - 60
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: old)
    cookie = service.make_session_cookie(user)
    monkeypatch.undo()
    app_client.cookies.set("concord_session", cookie)
    response = app_client.get("/projects")
    assert response.url.path == "/login"
    assert "Your session expired" in response.text


def test_post_without_csrf_token_is_refused(session: Session, app_client: TestClient) -> None:
    make_user(session)
    login(app_client)
    response = app_client.post("/projects", data={"name": "x", "preset": "docred"})
    assert response.status_code == 403
    assert "Reload the page" in response.text


def test_post_with_wrong_csrf_token_is_refused(session: Session, app_client: TestClient) -> None:
    make_user(session)
    login(app_client)
    response = app_client.post("/projects", data={"name": "x", "preset": "docred", "csrf_token": "0" * 64})
    assert response.status_code == 403


def test_csrf_token_from_another_browser_is_refused(session: Session, app_client: TestClient) -> None:
    make_user(session)
    login(app_client)
    other = TestClient(app_client.app)
    stolen = csrf_from(other.get("/login").text)
    response = app_client.post("/projects", data={"name": "x", "preset": "docred", "csrf_token": stolen})
    assert response.status_code == 403


def test_login_form_itself_needs_csrf(session: Session, app_client: TestClient) -> None:
    make_user(session)
    response = app_client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 403


def test_htmx_requests_carry_csrf_in_a_header(session: Session, app_client: TestClient) -> None:
    make_user(session)
    login(app_client)
    token = page_csrf(app_client)
    ok = app_client.post(
        "/projects",
        data={"name": "via htmx", "preset": "docred"},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    refused = app_client.post(
        "/projects", data={"name": "via htmx 2", "preset": "docred"}, headers={"HX-Request": "true"}
    )
    assert refused.status_code == 403
    assert refused.headers["HX-Retarget"] == "#flash"


def test_logout_ends_the_session_even_for_a_copied_cookie(session: Session, app_client: TestClient) -> None:
    make_user(session)
    login(app_client)
    copied = app_client.cookies["concord_session"]
    app_client.post("/logout", data={"csrf_token": page_csrf(app_client)})
    app_client.cookies.set("concord_session", copied)
    assert app_client.get("/projects", follow_redirects=False).status_code == 303


def test_login_never_redirects_off_site(session: Session, app_client: TestClient) -> None:
    make_user(session)
    token = csrf_from(app_client.get("/login").text)
    for target in ("https://evil.example/", "//evil.example", "/\\evil.example"):
        response = app_client.post(
            "/login",
            data={"username": "alice", "password": PASSWORD, "csrf_token": token, "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/projects"


def test_one_time_password_must_be_replaced_before_anything_else(session: Session, app_client: TestClient) -> None:
    service.create_user(
        session, username="root", role=Role.admin, password="one-time-pass-123", must_change_password=True
    )
    session.commit()
    login(app_client, "root", "one-time-pass-123")
    response = app_client.get("/projects", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/account/password")
    token = page_csrf(app_client, "/account/password")
    bad = app_client.post(
        "/account/password",
        data={
            "current_password": "one-time-pass-123",
            "new_password": "short",
            "confirm_password": "short",
            "csrf_token": token,
        },
    )
    assert bad.status_code == 422
    assert "at least 10 characters" in bad.text
    good = app_client.post(
        "/account/password",
        data={
            "current_password": "one-time-pass-123",
            "new_password": "my own passphrase",
            "confirm_password": "my own passphrase",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert good.status_code == 303
    assert app_client.get("/projects").status_code == 200


def _cookie(response_headers: list[tuple[str, str]], name: str) -> str:
    [cookie] = [v for k, v in response_headers if k.lower() == "set-cookie" and v.startswith(name + "=")]
    return cookie


@pytest.mark.parametrize(
    ("public_url", "cookie_secure", "secure", "hsts"),
    [
        ("https://concord.example.org/", None, True, True),
        ("HTTPS://concord.example.org", None, True, True),
        ("http://concord.example.org/", None, False, False),
        (None, None, False, False),
        (None, True, True, False),  # COOKIE_SECURE=true behind a proxy that does not say PUBLIC_URL
        ("https://concord.example.org/", False, False, True),  # an explicit false wins for cookies only
    ],
)
def test_cookies_are_secure_and_hsts_sent_when_the_public_url_is_https(
    session: Session,
    app_client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    public_url: str | None,
    cookie_secure: bool | None,
    secure: bool,
    hsts: bool,
) -> None:
    monkeypatch.setattr(get_settings(), "public_url", public_url)
    monkeypatch.setattr(get_settings(), "cookie_secure", cookie_secure)
    app_client.base_url = "https://testserver"  # a Secure cookie travels over https only
    make_user(session)
    page = app_client.get("/login")
    csrf_cookie = _cookie(page.headers.multi_items(), "concord_csrf")
    signed_in = login(app_client)
    assert signed_in.status_code == 303
    session_cookie = _cookie(signed_in.headers.multi_items(), "concord_session")
    for cookie in (csrf_cookie, session_cookie):
        assert ("; secure" in cookie.lower()) is secure, cookie
    for response in (page, signed_in, app_client.get("/projects"), app_client.get("/healthz")):
        if hsts:
            assert response.headers["strict-transport-security"] == f"max-age={365 * 24 * 3600}"
        else:
            assert "strict-transport-security" not in response.headers


def test_hsts_can_be_turned_off(session: Session, app_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "public_url", "https://concord.example.org/")
    monkeypatch.setattr(get_settings(), "hsts_max_age_seconds", 0)
    assert "strict-transport-security" not in app_client.get("/login").headers
