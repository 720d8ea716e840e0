"""Health: plain /healthz is anonymous and cheap; the deep check is for admins or HEALTH_TOKEN, one at a time."""

import asyncio
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import Session, func, select

from app import health
from app.config import get_settings
from app.health import SharedCheck
from app.main import create_app
from app.models import HealthProbe, Role
from tests.aio import run_async
from tests.factories import bearer, login, make_token, make_user

DEEP_OK = {"database": "ok", "broker": "ok", "worker": "ok (fake:1)", "status": "ok"}


class SlowCheck:
    """Stands in for the round trip through a worker: counts its runs, takes a known time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.runs = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, deep: bool) -> dict[str, str]:
        if not deep:
            return {"database": "ok", "broker": "ok", "status": "ok"}
        with self._lock:
            self.runs += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(self.seconds)
        with self._lock:
            self.in_flight -= 1
        return dict(DEEP_OK)


@pytest.fixture
def slow_check(monkeypatch: pytest.MonkeyPatch) -> SlowCheck:
    check = SlowCheck(0.5)
    monkeypatch.setattr(health, "health_report", check)
    return check


def _probes(session: Session) -> int:
    return session.exec(select(func.count()).select_from(HealthProbe)).one()


def test_plain_healthz_stays_anonymous(app_client: TestClient, slow_check: SlowCheck) -> None:
    response = app_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok", "status": "ok"}
    assert slow_check.runs == 0


def test_anonymous_deep_check_is_401_at_once_and_costs_nothing(session: Session, app_client: TestClient) -> None:
    # The real check: were it run, it would write a probe row and wait up to 10 s for a worker.
    before = _probes(session)
    started = time.monotonic()
    response = app_client.get("/healthz", params={"deep": 1})
    assert time.monotonic() - started < 2
    assert response.status_code == 401
    assert "HEALTH_TOKEN" in response.json()["detail"]
    assert _probes(session) == before
    assert app_client.app.state.deep_health.runs == 0  # type: ignore[attr-defined]
    bad = app_client.get("/healthz", params={"deep": 1}, headers=bearer("cnc_not-a-token"))
    assert bad.status_code == 401


def test_deep_check_needs_an_admin(session: Session, app_client: TestClient, slow_check: SlowCheck) -> None:
    make_user(session, username="rev", role=Role.reviewer)
    reviewer_token = make_token(session, make_user(session, username="rev2", role=Role.reviewer))
    assert app_client.get("/healthz", params={"deep": 1}, headers=bearer(reviewer_token)).status_code == 403
    login(app_client, "rev")
    assert app_client.get("/healthz", params={"deep": 1}).status_code == 403
    assert slow_check.runs == 0


def test_admin_session_admin_token_and_health_token_may_run_it(
    session: Session, app_client: TestClient, slow_check: SlowCheck, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_token = make_token(session, make_user(session, username="ops"))
    response = app_client.get("/healthz", params={"deep": 1}, headers=bearer(admin_token))
    assert response.status_code == 200
    assert response.json() == DEEP_OK
    monkeypatch.setattr(get_settings(), "health_token", SecretStr("monitor-secret-123"))
    assert app_client.get("/healthz", params={"deep": 1}, headers=bearer("monitor-secret-123")).status_code == 200
    make_user(session)
    login(app_client)
    assert app_client.get("/healthz", params={"deep": 1}).status_code == 200
    # Three callers inside one interval: one run, the others got its answer.
    assert slow_check.runs == 1


def test_a_burst_of_deep_checks_runs_one_and_holds_no_thread(
    slow_check: SlowCheck, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "health_token", SecretStr("monitor-secret-123"))
    app = create_app()

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            deep = [client.get("/healthz", params={"deep": 1}, headers=bearer("monitor-secret-123")) for _ in range(60)]
            return await asyncio.gather(*deep)

    started = time.monotonic()
    answers = run_async(burst())
    elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [200] * 60
    assert all(a.json() == DEEP_OK for a in answers)
    assert slow_check.runs == 1
    assert slow_check.max_in_flight == 1
    assert elapsed < 0.5 + 3  # 60 callers waited for one 0.5 s check, not one after another


def test_shared_check_runs_again_only_after_its_interval() -> None:
    calls: list[float] = []

    def check() -> dict[str, str]:
        calls.append(time.monotonic())
        time.sleep(0.2)
        return {"status": "ok", "n": str(len(calls))}

    shared = SharedCheck(check, min_interval=0.5)

    async def gather(n: int) -> list[dict[str, str]]:
        return await asyncio.gather(*(shared.report() for _ in range(n)))

    first = run_async(gather(10))
    assert {r["n"] for r in first} == {"1"}
    assert run_async(gather(3))[0]["n"] == "1"  # within the interval: the last answer
    time.sleep(0.6)
    assert {r["n"] for r in run_async(gather(5))} == {"2"}
    assert shared.runs == len(calls) == 2


def test_a_failing_check_is_an_error_report_not_a_hang() -> None:
    def broken() -> dict[str, str]:
        raise RuntimeError("database gone")

    shared = SharedCheck(broken, min_interval=0)
    assert run_async(shared.report()) == {"worker": "error: RuntimeError", "status": "error"}
