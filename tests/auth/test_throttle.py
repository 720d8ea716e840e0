"""Login throttling: one normalized username behind every spelling, and known devices past an address lockout."""

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlmodel import Session

from app.auth import service
from app.config import get_settings
from app.errors import Conflict
from app.models import Role
from tests.factories import PASSWORD, login, make_user, page_csrf

VARIANTS = [" rev4", "rev4 ", "\trev4", "REV4", "Rev4\n", "ｒｅｖ４"]  # the last in full-width letters (NFKC)


def _fail_ip_lockout(client: TestClient) -> None:
    """Others' failures from this address, on other usernames, until the address is locked."""
    for i in range(get_settings().login_max_failures * 4):
        assert login(client, f"stranger{i}", "wrong password!").status_code == 401
    assert login(client, "stranger-x", "wrong password!").status_code == 429


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_spelling_of_a_username_shares_its_lockout(
    session: Session, app_client: TestClient, variant: str
) -> None:
    make_user(session, username="rev4", role=Role.reviewer)
    for _ in range(get_settings().login_max_failures):
        assert login(app_client, "rev4", "wrong password!").status_code == 401
    blocked = login(app_client, variant, PASSWORD)
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.text


def test_failures_under_different_spellings_add_up(session: Session, app_client: TestClient) -> None:
    make_user(session, username="rev4", role=Role.reviewer)
    for i in range(get_settings().login_max_failures):
        assert login(app_client, VARIANTS[i % len(VARIANTS)], "wrong password!").status_code == 401
    assert login(app_client, "rev4", PASSWORD).status_code == 429


@pytest.mark.parametrize("variant", VARIANTS)
def test_any_spelling_signs_in_to_the_one_account(session: Session, app_client: TestClient, variant: str) -> None:
    make_user(session, username="rev4", role=Role.reviewer)
    assert login(app_client, variant, PASSWORD).status_code == 303
    assert '<span class="who">rev4 ' in app_client.get("/projects").text


def test_usernames_are_stored_normalized_and_unique_in_every_spelling(session: Session) -> None:
    user = make_user(session, username="  Ｒev4 ")
    assert user.username == "rev4"
    with pytest.raises(Conflict):
        service.create_user(session, username="REV4", role=Role.reviewer, password=PASSWORD)


def test_an_address_lockout_spares_a_known_device_of_the_user(session: Session, app_client: TestClient) -> None:
    make_user(session, username="alice")
    assert login(app_client, "alice").status_code == 303  # this browser becomes a known device of alice
    assert app_client.cookies.get(service.DEVICE_COOKIE)
    app_client.post("/logout", data={"csrf_token": page_csrf(app_client)})
    _fail_ip_lockout(TestClient(app_client.app))

    stranger = TestClient(app_client.app)  # same address, never signed in as alice
    assert login(stranger, "alice").status_code == 429
    assert login(app_client, "alice").status_code == 303
    assert app_client.get("/projects").status_code == 200


def test_a_known_device_still_obeys_the_lockout_of_its_own_user(session: Session, app_client: TestClient) -> None:
    make_user(session, username="alice")
    assert login(app_client, "alice").status_code == 303
    app_client.post("/logout", data={"csrf_token": page_csrf(app_client)})
    for _ in range(get_settings().login_max_failures):
        assert login(TestClient(app_client.app), "alice", "wrong password!").status_code == 401
    assert login(app_client, "alice").status_code == 429


def test_the_known_device_of_one_user_does_not_help_another(session: Session, app_client: TestClient) -> None:
    make_user(session, username="alice")
    make_user(session, username="bob", role=Role.reviewer)
    assert login(app_client, "alice").status_code == 303
    app_client.post("/logout", data={"csrf_token": page_csrf(app_client)})
    _fail_ip_lockout(TestClient(app_client.app))
    assert login(app_client, "bob").status_code == 429


def test_a_forged_device_cookie_does_not_help(session: Session, app_client: TestClient) -> None:
    user = make_user(session, username="alice")
    _fail_ip_lockout(app_client)
    forged = URLSafeTimedSerializer("another-secret", salt="concord.device").dumps({"uid": user.id, "dev": "x"})
    app_client.cookies.set(service.DEVICE_COOKIE, forged)
    assert login(app_client, "alice").status_code == 429
