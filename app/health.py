"""Health checks: database and broker reachable, and (deep) a job's round trip through a worker."""

import asyncio
import hmac
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import redis
from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlmodel import Session

from app.auth import service as auth_service
from app.config import get_settings
from app.db import SessionDep, get_engine, session_scope
from app.errors import Forbidden, Unauthorized
from app.jobs import enqueue
from app.models import HealthProbe, User
from app.redis_client import get_redis

router = APIRouter(tags=["health"])


def check_database() -> str:
    try:
        with Session(get_engine()) as session:
            session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


def check_broker() -> str:
    try:
        get_redis().ping()
    except redis.RedisError as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


def probe_worker(timeout: float = 10.0) -> str:
    """Send a probe job and wait until a worker has marked it done in the database."""
    with session_scope() as session:
        probe = HealthProbe()
        session.add(probe)
        session.flush()
        assert probe.id is not None
        probe_id = probe.id
        enqueue(session, "health.probe", probe_id=probe_id)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with Session(get_engine()) as session:
                row = session.get(HealthProbe, probe_id)
                if row is not None and row.status == "done":
                    return f"ok ({row.worker})"
            time.sleep(0.05)
        return f"error: no worker answered within {timeout:.0f} s"
    finally:
        with session_scope() as session:
            row = session.get(HealthProbe, probe_id)
            if row is not None:
                session.delete(row)


def health_report(deep: bool) -> dict[str, str]:
    report = {"database": check_database(), "broker": check_broker()}
    if deep:
        report["worker"] = probe_worker() if report["broker"] == "ok" else "error: broker unreachable"
    report["status"] = "ok" if all(v.startswith("ok") for v in report.values()) else "error"
    return report


class SharedCheck:
    """Runs a slow check at most once at a time and at most once per interval; every caller meanwhile shares
    its answer. Callers wait without holding a thread: a burst of probes cannot exhaust the web server."""

    def __init__(self, check: Callable[[], dict[str, str]], min_interval: float) -> None:
        self.check = check
        self.min_interval = min_interval
        self.runs = 0
        self._lock = threading.Lock()
        self._current: Future[dict[str, str]] | None = None
        self._finished_at = float("-inf")

    async def report(self) -> dict[str, str]:
        with self._lock:
            current = self._current
            stale = current is not None and current.done() and time.monotonic() - self._finished_at >= self.min_interval
            if current is None or stale:
                current = self._current = Future()
                self.runs += 1
                threading.Thread(target=self._run, args=(current,), name="deep-health", daemon=True).start()
        # A concurrent future, not an asyncio task: callers on any event loop can wait for it.
        return await asyncio.wrap_future(current)

    def _run(self, future: Future[dict[str, str]]) -> None:
        try:
            result = self.check()
        except Exception as exc:
            result = {"worker": f"error: {type(exc).__name__}", "status": "error"}
        self._finished_at = time.monotonic()
        future.set_result(result)


def install_deep_check(app: FastAPI) -> None:
    """One shared deep check per web process."""
    app.state.deep_health = SharedCheck(lambda: health_report(True), get_settings().health_deep_interval_seconds)


def authorize_deep_check(request: Request, session: Session) -> None:
    """The deep check costs a job and up to 10 s: admins (session or API token) or HEALTH_TOKEN only."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    secret = secret.strip()
    if scheme.lower() == "bearer" and secret:
        configured = get_settings().health_token
        if configured is not None and hmac.compare_digest(secret.encode(), configured.get_secret_value().encode()):
            return
        user: User | None = auth_service.user_from_api_token(session, secret)
    else:
        user = auth_service.user_from_session_cookie(session, request.cookies.get(auth_service.SESSION_COOKIE)).user
    if user is None:
        raise Unauthorized(
            "The deep health check needs an admin's session or API token, or HEALTH_TOKEN, "
            "sent as 'Authorization: Bearer <token>'. Plain /healthz needs none.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not user.is_admin:
        raise Forbidden("The deep health check is for admins.")


class HealthReport(BaseModel):
    """What /healthz answers (the shape, for OpenAPI: the route writes the report dict as it is)."""

    database: str = Field(description='"ok" or "error: <reason>"')
    broker: str = Field(description='"ok" or "error: <reason>"')
    worker: str | None = Field(default=None, description='deep check only: "ok (<worker>)" or "error: <reason>"')
    status: str = Field(description='"ok" (200) or "error" (503)')


_REPORT = {"model": HealthReport, "description": "every check and the overall status"}


@router.get("/healthz", responses={200: _REPORT, 503: _REPORT})
async def healthz(request: Request, session: SessionDep, deep: bool = False) -> JSONResponse:
    """Liveness (`/healthz`, anyone) and a job round trip through a worker (`/healthz?deep=1`, admins or
    HEALTH_TOKEN; at most one at a time and one per HEALTH_DEEP_INTERVAL_SECONDS, shared by every caller)."""
    if deep:
        await run_in_threadpool(authorize_deep_check, request, session)
        # End the transaction first: on SQLite a token's last-use write holds the lock the probe needs.
        await run_in_threadpool(session.commit)
        report = await request.app.state.deep_health.report()
    else:
        report = await run_in_threadpool(health_report, False)
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)
