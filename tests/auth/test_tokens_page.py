"""Admin work in the browser: API tokens (list, create with an expiry, shown once, revoke) and generated one-time
passwords on the users page; admins only, CSRF on every form, each error message once."""

import logging
import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.auth import service
from app.models import ApiToken, Role
from tests.auth.test_users import NEW, _admin_client, _must_replace
from tests.factories import bearer, login, make_token, make_user, page_csrf


def _secret_on(page: str) -> str:
    match = re.search(r'<code class="secret">([^<]+)</code>', page)
    assert match, "no one-time secret on the page"
    return match.group(1)


def test_a_token_made_on_the_page_is_shown_once_then_listed_by_prefix_only(
    session: Session, app_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    csrf = _admin_client(session, app_client)
    reader = make_user(session, username="reader", role=Role.consumer)
    caplog.set_level(logging.DEBUG)
    made = app_client.post(
        "/admin/tokens",
        data={"user_id": str(reader.id), "name": "nightly <download>", "expires_days": "30", "csrf_token": csrf},
    )
    assert made.status_code == 200
    assert made.headers["cache-control"] == "no-store"
    secret = _secret_on(made.text)
    assert secret.startswith(service.TOKEN_PREFIX) and made.text.count(secret) == 1
    assert secret not in caplog.text
    # It works for its user's role, and its first use is recorded.
    assert app_client.get("/api/v1/projects", headers=bearer(secret)).status_code == 200

    listing = app_client.get("/admin/tokens")
    assert secret not in listing.text and secret[:10] + "…" in listing.text
    token = session.exec(select(ApiToken).where(ApiToken.user_id == reader.id)).one()
    assert token.expires_at is not None and 29 <= (token.expires_at - token.created_at).days <= 30
    row = listing.text[listing.text.index(f'id="token-{token.id}"') :].split("</tr>")[0]
    assert "reader" in row and "nightly &lt;download&gt;" in row and "active" in row
    assert row.count("UTC") == 3  # created, expires, last used
    assert token.token_hash not in listing.text


def test_revoking_on_the_page_stops_the_token_at_once(session: Session, app_client: TestClient) -> None:
    csrf = _admin_client(session, app_client)
    rev = make_user(session, username="rev", role=Role.reviewer)
    secret = make_token(session, rev)
    token = session.exec(select(ApiToken).where(ApiToken.user_id == rev.id)).one()
    done = app_client.post(f"/admin/tokens/{token.id}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/admin/tokens?done=revoked"
    assert app_client.get("/api/v1/projects", headers=bearer(secret)).status_code == 401
    page = app_client.get("/admin/tokens?done=revoked").text
    assert "API token revoked" in page
    row = page[page.index(f'id="token-{token.id}"') :].split("</tr>")[0]
    assert "revoked" in row and "Revoke</button>" not in row
    assert app_client.post("/admin/tokens/999999/revoke", data={"csrf_token": csrf}).status_code == 404


def test_a_bad_expiry_or_owner_is_explained_once(session: Session, app_client: TestClient) -> None:
    csrf = _admin_client(session, app_client)
    rev = make_user(session, username="rev", role=Role.reviewer)
    bad = app_client.post(
        "/admin/tokens", data={"user_id": str(rev.id), "name": "x", "expires_days": "-3", "csrf_token": csrf}
    )
    assert bad.status_code == 422
    assert bad.text.count("Give a whole number of days") == 1
    for days in ("²", "0", "9" * 30, "1.5"):
        data = {"user_id": str(rev.id), "expires_days": days, "csrf_token": csrf}
        assert app_client.post("/admin/tokens", data=data).status_code == 422, days
    assert 'id="err-expires_days"' in bad.text and 'value="x"' in bad.text
    for user_id in ("", "abc", "²", "9" * 30):
        nobody = app_client.post("/admin/tokens", data={"user_id": user_id, "expires_days": "", "csrf_token": csrf})
        assert nobody.status_code == 422 and nobody.text.count("Choose the user the token acts for.") == 1
    assert session.exec(select(ApiToken)).first() is None


def test_a_disabled_user_gets_no_token(session: Session, app_client: TestClient) -> None:
    csrf = _admin_client(session, app_client)
    rev = make_user(session, username="rev", role=Role.reviewer)
    app_client.post(f"/admin/users/{rev.id}/disable", data={"csrf_token": csrf})
    refused = app_client.post("/admin/tokens", data={"user_id": str(rev.id), "csrf_token": csrf})
    assert refused.status_code == 409 and refused.text.count("enable the account") == 1
    assert f'<option value="{rev.id}"' not in app_client.get("/admin/tokens").text


@pytest.mark.parametrize("role", [Role.reviewer, Role.consumer])
def test_reviewers_and_consumers_get_403_on_every_admin_page_and_action(
    session: Session, app_client: TestClient, role: Role
) -> None:
    target = make_user(session, username="target", role=Role.reviewer)
    make_token(session, target)
    token = session.exec(select(ApiToken)).one()
    make_user(session, username="someone", role=role)
    login(app_client, "someone")
    csrf = page_csrf(app_client)
    assert app_client.get("/admin/tokens").status_code == 403
    assert app_client.get("/admin/users").status_code == 403
    posts = {
        "/admin/tokens": {"user_id": str(target.id), "expires_days": "1"},
        f"/admin/tokens/{token.id}/revoke": {},
        "/admin/users": {"username": "mallory", "role": "admin"},
        f"/admin/users/{target.id}/password": {},
    }
    for path, data in posts.items():
        assert app_client.post(path, data={**data, "csrf_token": csrf}).status_code == 403, path
    session.refresh(token)
    assert token.revoked_at is None and service.find_user(session, "mallory") is None


def test_every_admin_form_needs_its_csrf_token(session: Session, app_client: TestClient) -> None:
    _admin_client(session, app_client)
    rev = make_user(session, username="rev", role=Role.reviewer)
    make_token(session, rev)
    token = session.exec(select(ApiToken)).one()
    paths = ("/admin/tokens", f"/admin/tokens/{token.id}/revoke", "/admin/users", f"/admin/users/{rev.id}/password")
    for path in paths:
        assert app_client.post(path, data={"user_id": str(rev.id)}).status_code == 403, path
    for page in ("/admin/tokens", "/admin/users"):
        html = app_client.get(page).text
        assert html.count("<form") == html.count('name="csrf_token"'), page
    session.refresh(token)
    assert token.revoked_at is None


def test_an_empty_password_field_generates_a_one_time_password_shown_once(
    session: Session, app_client: TestClient
) -> None:
    csrf = _admin_client(session, app_client)
    made = app_client.post("/admin/users", data={"username": "dora", "role": "reviewer", "csrf_token": csrf})
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    password = _secret_on(made.text)
    assert "New one-time password for dora" in made.text
    assert password not in app_client.get("/admin/users").text
    _must_replace(TestClient(app_client.app), "dora", password)

    dora = service.find_user(session, "dora")
    assert dora is not None
    reset = app_client.post(f"/admin/users/{dora.id}/password", data={"password": "", "csrf_token": csrf})
    assert reset.status_code == 200
    again = _secret_on(reset.text)
    assert again != password
    _must_replace(TestClient(app_client.app), "dora", again)


def test_a_weak_password_is_said_once_beside_its_field(session: Session, app_client: TestClient) -> None:
    csrf = _admin_client(session, app_client)
    weak = app_client.post(
        "/admin/users", data={"username": "dan", "role": "reviewer", "password": "1234567890", "csrf_token": csrf}
    )
    assert weak.status_code == 422
    assert weak.text.count("is a sequence") == 1 and 'id="err-password"' in weak.text
    # A row's action that fails is reported above the table, not under the add form's fields.
    rev = make_user(session, username="rev", role=Role.reviewer)
    row = app_client.post(f"/admin/users/{rev.id}/password", data={"password": "1234567890", "csrf_token": csrf})
    assert row.status_code == 422
    assert row.text.count("is a sequence") == 1 and 'id="err-password"' not in row.text
    assert login(TestClient(app_client.app), "rev", NEW).status_code == 401
