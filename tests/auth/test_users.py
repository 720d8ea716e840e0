"""User administration on the users page and in the CLI: disable, enable, temporary passwords, sessions."""

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth import service
from app.models import Role, User
from tests.auth.conftest import Cli
from tests.factories import PASSWORD, bearer, login, make_project, make_token, make_user, page_csrf

NEW = "an unrelated passphrase"


def _admin_client(session: Session, app_client: TestClient) -> str:
    make_user(session, username="boss")
    assert login(app_client, "boss").status_code == 303
    return page_csrf(app_client, "/admin/users")


def _other_browser(app_client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    other = TestClient(app_client.app)
    assert login(other, username, password).status_code == 303
    return other


def test_the_users_page_lists_role_status_and_last_sign_in(session: Session, app_client: TestClient) -> None:
    make_user(session, username="<b>eve</b>", role=Role.consumer)
    _admin_client(session, app_client)
    page = app_client.get("/admin/users")
    assert page.status_code == 200
    assert "&lt;b&gt;eve&lt;/b&gt;" in page.text and "<b>eve</b>" not in page.text
    assert "consumer" in page.text and "never" in page.text and "UTC" in page.text


def test_disabling_ends_sessions_and_tokens_at_once(session: Session, app_client: TestClient) -> None:
    token = _admin_client(session, app_client)
    rev = make_user(session, username="rev", role=Role.reviewer)
    headers = bearer(make_token(session, rev))
    browser = _other_browser(app_client, "rev")
    assert app_client.get("/api/v1/projects", headers=headers).status_code == 200

    done = app_client.post(f"/admin/users/{rev.id}/disable", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert app_client.get("/api/v1/projects", headers=headers).status_code == 401
    assert browser.get("/projects", follow_redirects=False).status_code == 303
    assert login(TestClient(app_client.app), "rev").status_code == 401
    assert "disabled" in app_client.get("/admin/users").text

    app_client.post(f"/admin/users/{rev.id}/enable", data={"csrf_token": token})
    assert login(TestClient(app_client.app), "rev").status_code == 303
    assert app_client.get("/api/v1/projects", headers=headers).status_code == 401  # tokens stay revoked


def test_an_admin_cannot_disable_themselves(session: Session, app_client: TestClient) -> None:
    token = _admin_client(session, app_client)
    me = service.find_user(session, "boss")
    assert me is not None
    response = app_client.post(f"/admin/users/{me.id}/disable", data={"csrf_token": token})
    assert response.status_code == 409
    assert "cannot disable your own account" in response.text
    assert app_client.get("/projects").status_code == 200


def test_ending_sessions_signs_the_user_out_everywhere(session: Session, app_client: TestClient) -> None:
    token = _admin_client(session, app_client)
    rev = make_user(session, username="rev", role=Role.reviewer)
    browser = _other_browser(app_client, "rev")
    app_client.post(f"/admin/users/{rev.id}/sessions", data={"csrf_token": token})
    assert browser.get("/projects", follow_redirects=False).status_code == 303
    assert login(TestClient(app_client.app), "rev").status_code == 303  # the password still works


def _must_replace(client: TestClient, username: str, temporary: str) -> None:
    """First sign-in with a temporary password: every page leads to the password page until it is replaced."""
    assert login(client, username, temporary).status_code == 303
    for path in ("/projects", "/admin/users", "/projects/1/snapshots"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/account/password")
    changed = client.post(
        "/account/password",
        data={
            "current_password": temporary,
            "new_password": NEW,
            "confirm_password": NEW,
            "csrf_token": page_csrf(client, "/account/password"),
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert client.get("/projects").status_code == 200


def test_a_user_added_on_the_page_must_choose_a_password_at_first_sign_in(
    session: Session, app_client: TestClient
) -> None:
    token = _admin_client(session, app_client)
    made = app_client.post(
        "/admin/users",
        data={"username": " Carol ", "role": "reviewer", "password": "temporary passphrase", "csrf_token": token},
        follow_redirects=False,
    )
    assert made.status_code == 303
    carol = service.find_user(session, "carol")
    assert carol is not None and carol.must_change_password and carol.role == Role.reviewer
    _must_replace(TestClient(app_client.app), "carol", "temporary passphrase")


def test_adding_a_user_explains_what_is_wrong(session: Session, app_client: TestClient) -> None:
    token = _admin_client(session, app_client)
    weak = app_client.post(
        "/admin/users", data={"username": "dan", "role": "reviewer", "password": "1234567890", "csrf_token": token}
    )
    assert weak.status_code == 422
    assert "is a sequence" in weak.text
    bad_role = app_client.post(
        "/admin/users", data={"username": "dan", "role": "root", "password": NEW, "csrf_token": token}
    )
    assert bad_role.status_code == 422
    assert "Choose admin, reviewer or consumer." in bad_role.text
    taken = app_client.post(
        "/admin/users", data={"username": "BOSS", "role": "reviewer", "password": NEW, "csrf_token": token}
    )
    assert taken.status_code == 409
    assert service.find_user(session, "dan") is None


def test_a_password_reset_is_temporary_and_ends_sessions(session: Session, app_client: TestClient) -> None:
    token = _admin_client(session, app_client)
    rev = make_user(session, username="rev", role=Role.reviewer)
    headers = bearer(make_token(session, rev))
    browser = _other_browser(app_client, "rev")
    reset = app_client.post(
        f"/admin/users/{rev.id}/password",
        data={"password": "temporary passphrase", "csrf_token": token},
        follow_redirects=False,
    )
    assert reset.status_code == 303
    assert browser.get("/projects", follow_redirects=False).status_code == 303
    # Tokens are unaffected by a pending password change: scripts cannot choose passwords.
    assert app_client.get("/api/v1/projects", headers=headers).status_code == 200
    _must_replace(TestClient(app_client.app), "rev", "temporary passphrase")


def test_the_users_page_and_its_actions_need_an_admin_and_csrf(session: Session, app_client: TestClient) -> None:
    target = make_user(session, username="target", role=Role.reviewer)
    make_user(session, username="rev", role=Role.reviewer)
    login(app_client, "rev")
    assert app_client.get("/admin/users").status_code == 403
    token = page_csrf(app_client)
    assert app_client.post(f"/admin/users/{target.id}/disable", data={"csrf_token": token}).status_code == 403
    admin = TestClient(app_client.app)
    make_user(session, username="boss")
    login(admin, "boss")
    assert admin.post(f"/admin/users/{target.id}/disable").status_code == 403  # no CSRF token
    session.refresh(target)
    assert target.is_active


def test_an_unknown_user_is_a_404(session: Session, app_client: TestClient) -> None:
    token = _admin_client(session, app_client)
    assert app_client.post("/admin/users/999999/disable", data={"csrf_token": token}).status_code == 404


# --- the same from the command line ---------------------------------------------------------------------------


def test_cli_disable_enable_and_end_sessions(
    session: Session, app_client: TestClient, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    rev = make_user(session, username="rev", role=Role.reviewer)
    headers = bearer(make_token(session, rev))
    browser = _other_browser(app_client, "rev")
    assert cli("user", "disable", " REV ") == 0
    assert "disabled 'rev'" in capsys.readouterr().out
    assert app_client.get("/api/v1/projects", headers=headers).status_code == 401
    assert browser.get("/projects", follow_redirects=False).status_code == 303
    assert cli("user", "list") == 0
    assert "disabled" in capsys.readouterr().out
    assert cli("user", "enable", "rev") == 0
    browser = _other_browser(app_client, "rev")
    assert cli("user", "end-sessions", "rev") == 0
    assert browser.get("/projects", follow_redirects=False).status_code == 303
    assert cli("user", "disable", "nobody") == 1
    assert "no user named 'nobody'" in capsys.readouterr().err


def test_cli_set_password_can_make_it_temporary(session: Session, app_client: TestClient, cli: Cli) -> None:
    make_user(session, username="rev", role=Role.reviewer)
    assert cli("user", "set-password", "rev", "--temporary", stdin="temporary passphrase\n") == 0
    user = session.get(User, service.find_user(session, "rev").id)  # type: ignore[union-attr]
    assert user is not None and user.must_change_password
    _must_replace(app_client, "rev", "temporary passphrase")


def test_cli_creates_consumers(session: Session, app_client: TestClient, cli: Cli) -> None:
    project = make_project(session)
    assert cli("create-user", "--username", "reader", "--role", "consumer", stdin=NEW + "\n") == 0
    assert login(app_client, "reader", NEW).status_code == 303
    assert app_client.get(f"/projects/{project.id}/snapshots").status_code == 200
    assert app_client.get(f"/projects/{project.id}/dashboard").status_code == 403
