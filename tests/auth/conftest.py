"""The `concord` command line in-process, over the test's session (its commits are savepoints)."""

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlmodel import Session

from app.cli import main

Cli = Callable[..., int]


@pytest.fixture
def cli(session: Session, monkeypatch: pytest.MonkeyPatch) -> Cli:
    @contextmanager
    def scope() -> Iterator[Session]:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    monkeypatch.setattr("app.auth.cli.session_scope", scope)

    def run(*args: str, stdin: str = "") -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))  # not a terminal: the password is read from it
        return main(list(args))

    return run
