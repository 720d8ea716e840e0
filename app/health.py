"""Health checks: database and broker reachable, and (deep) a job's round trip through a worker."""

import time

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlmodel import Session

from app.db import get_engine, session_scope
from app.jobs import enqueue
from app.models import HealthProbe
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


@router.get("/healthz")
def healthz(deep: bool = False) -> JSONResponse:
    """Liveness (`/healthz`) and a job round trip through a worker (`/healthz?deep=1`)."""
    report = health_report(deep)
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)
