"""Weak passwords are refused with a reason, by the same rule on the password page and in the CLI."""

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth import service
from app.auth.password_policy import password_problem
from tests.auth.conftest import Cli
from tests.factories import PASSWORD, login, make_user, page_csrf

WEAK = {
    "whitespace": (" " * 12, "only spaces"),
    "tabs and spaces": (" \t \t \t \t \t ", "only spaces"),
    "repeated": ("1111111111", "repeats the same characters"),
    "repeated pair": ("abababababab", "repeats the same characters"),
    "sequential letters": ("abcdefghij", "is a sequence"),
    "sequential digits": ("1234567890", "is a sequence"),
    "descending": ("9876543210", "is a sequence"),
    "common": ("password12", "common password"),
    "common keyboard": ("qwertyuiop", "common password"),
    "short": ("Zq8#", "at least 10 characters"),
}
STRONG = [PASSWORD, "my own passphrase", "a long passphrase", "tY7#pLq2vW9m", "北京 上海 广州 深圳 杭州"]


@pytest.mark.parametrize("kind", list(WEAK))
def test_weak_passwords_have_a_clear_reason(kind: str) -> None:
    password, reason = WEAK[kind]
    problem = password_problem(password)
    assert problem is not None and reason in problem


@pytest.mark.parametrize("password", STRONG)
def test_strong_passwords_pass(password: str) -> None:
    assert password_problem(password) is None


def test_a_password_made_of_the_username_is_refused() -> None:
    problem = password_problem("margarethe2026", username="margarethe")
    assert problem is not None


def test_a_huge_password_is_refused_quickly() -> None:
    assert password_problem("x" * 100_000) == "Use at most 256 characters."


@pytest.mark.parametrize("kind", list(WEAK))
def test_the_password_page_refuses_weak_passwords(session: Session, app_client: TestClient, kind: str) -> None:
    password, reason = WEAK[kind]
    make_user(session)
    login(app_client)
    response = app_client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": password,
            "confirm_password": password,
            "csrf_token": page_csrf(app_client, "/account/password"),
        },
    )
    assert response.status_code == 422
    assert reason in response.text
    assert login(TestClient(app_client.app), "alice", PASSWORD).status_code == 303  # unchanged


@pytest.mark.parametrize("kind", list(WEAK))
def test_create_user_refuses_weak_passwords(
    session: Session, cli: Cli, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    password, reason = WEAK[kind]
    assert cli("create-user", "--username", "bob", "--role", "reviewer", stdin=password + "\n") == 1
    assert reason in capsys.readouterr().err
    assert service.find_user(session, "bob") is None


@pytest.mark.parametrize("kind", list(WEAK))
def test_set_password_refuses_weak_passwords(
    session: Session, cli: Cli, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    password, reason = WEAK[kind]
    user = make_user(session, username="bob")
    assert cli("user", "set-password", "bob", stdin=password + "\n") == 1
    assert reason in capsys.readouterr().err
    assert service.check_password(user, PASSWORD)


def test_the_cli_accepts_a_strong_password(session: Session, cli: Cli) -> None:
    assert cli("create-user", "--username", "Bob", "--role", "consumer", stdin="my own passphrase\n") == 0
    user = service.find_user(session, "bob")
    assert user is not None and user.role == "consumer"
    assert service.check_password(user, "my own passphrase")
