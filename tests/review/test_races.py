"""Two reviewers racing on one document over real concurrent connections: each request has its own session and
connection (as in production), the data is committed, and a barrier starts both requests at once. Exactly one
wins; the other gets a clear 4xx and writes nothing."""

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlalchemy import select as columns
from sqlmodel import Session, col

from app.models import Decision, Document, Project, Relation, Role, User
from tests.factories import bearer, make_project, make_review_document, make_token, make_user

ROUNDS = 12


@dataclass
class Race:
    client: TestClient
    engine: Engine
    doc_id: int
    rels: list[int]
    alice: dict[str, str]
    bob: dict[str, str]
    user_ids: dict[str, int]

    def doc(self) -> Document:
        with Session(self.engine, expire_on_commit=False) as s:
            doc = s.get(Document, self.doc_id)
            assert doc is not None
            return doc

    def decisions(self) -> int:
        with Session(self.engine) as s:
            return int(s.execute(columns(func.count()).where(col(Decision.document_id) == self.doc_id)).scalar_one())

    def both(self, first: Callable[[], httpx2.Response], second: Callable[[], httpx2.Response]) -> list[int]:
        """Start both requests at the same moment; their status codes, in order."""
        barrier = threading.Barrier(2)
        codes = [0, 0]

        def run(i: int, call: Callable[[], httpx2.Response]) -> None:
            barrier.wait()
            codes[i] = call().status_code

        threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate((first, second))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        return codes


@pytest.fixture
def race(engine: Engine) -> Iterator[Race]:
    from app.db import get_session
    from app.main import create_app

    suffix = uuid.uuid4().hex[:8]
    with Session(engine, expire_on_commit=False) as s:
        alice = make_user(s, username=f"alice-{suffix}", role=Role.reviewer)
        bob = make_user(s, username=f"bob-{suffix}", role=Role.reviewer)
        project = make_project(s, name=f"races {suffix}")
        doc, _ents, rels = make_review_document(s, project)
        s.commit()
        tokens = {"alice": bearer(make_token(s, alice)), "bob": bearer(make_token(s, bob))}
        ids = (project.id, doc.id, [r.id for r in rels], {"alice": alice.id or 0, "bob": bob.id or 0})

    def per_request() -> Iterator[Session]:  # like production: a session (and connection) per request
        with Session(engine) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    app = create_app()
    app.dependency_overrides[get_session] = per_request
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        yield Race(client, engine, ids[1] or 0, ids[2], tokens["alice"], tokens["bob"], ids[3])
    with Session(engine) as s:
        project_row = s.get(Project, ids[0])
        if project_row is not None:
            s.delete(project_row)
        s.commit()
        for user_id in ids[3].values():
            user = s.get(User, user_id)
            if user is not None:
                s.delete(user)
        s.commit()


def _claim(race: Race, who: dict[str, str]) -> Callable[[], httpx2.Response]:
    return lambda: race.client.post(f"/api/v1/documents/{race.doc_id}/claim", headers=who)


def _decide(race: Race, who: dict[str, str], version: int, **body: Any) -> Callable[[], httpx2.Response]:
    url = f"/api/v1/documents/{race.doc_id}/decisions"
    return lambda: race.client.post(url, json={**body, "version": version}, headers=who)


def _release(race: Race, who: dict[str, str]) -> None:
    r = race.client.delete(f"/api/v1/documents/{race.doc_id}/claim", headers=who)
    assert r.status_code == 200, r.text


def test_two_reviewers_claiming_one_document_exactly_one_holds_it(race: Race) -> None:
    for round_ in range(ROUNDS):
        codes = race.both(_claim(race, race.alice), _claim(race, race.bob))
        assert sorted(codes) == [200, 423], f"round {round_}: {codes}"
        winner = "alice" if codes[0] == 200 else "bob"
        assert race.doc().locked_by_id == race.user_ids[winner], f"round {round_}: the loser took the lock over"
        _release(race, race.alice if winner == "alice" else race.bob)


def _accept_against_reject(
    race: Race, rel: int, accepting: dict[str, str], rejecting: dict[str, str], round_: int
) -> list[int]:
    """Both decide on the same version at once; exactly one decision lands, and the item shows the winner's."""
    before = race.doc()
    decisions = race.decisions()
    codes = race.both(
        _decide(race, accepting, before.version, item="relation", id=rel, action="accept"),
        _decide(race, rejecting, before.version, item="relation", id=rel, action="reject"),
    )
    assert race.doc().version == before.version + 1 and race.decisions() == decisions + 1, f"round {round_}: {codes}"
    with Session(race.engine) as s:
        status = s.get(Relation, rel).status  # type: ignore[union-attr]
    assert status == ("accepted" if codes[0] == 200 else "rejected"), f"round {round_}: the loser wrote"
    return codes


def test_two_reviewers_deciding_on_one_version_exactly_one_wins(race: Race) -> None:
    rel = race.rels[0]
    for round_ in range(ROUNDS):
        codes = _accept_against_reject(race, rel, race.alice, race.bob, round_)
        # The loser either lost the version (409) or met the winner's lock (423): a conflict either way.
        assert sorted(codes)[0] == 200 and sorted(codes)[1] in (409, 423), f"round {round_}: {codes}"
        winner = "alice" if codes[0] == 200 else "bob"
        assert race.doc().locked_by_id == race.user_ids[winner]
        _release(race, race.alice if winner == "alice" else race.bob)


def test_one_reviewer_in_two_tabs_on_one_version_gets_one_409(race: Race) -> None:
    rel = race.rels[1]
    for round_ in range(ROUNDS):
        codes = _accept_against_reject(race, rel, race.alice, race.alice, round_)
        assert sorted(codes) == [200, 409], f"round {round_}: {codes}"
