"""The README's run command and the production configuration, as real processes."""

import os
import re
import secrets
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.live_server import ROOT, LiveConcord, alive, concord_env, descendants, free_port, run_cli

pytestmark = pytest.mark.e2e


def test_fresh_data_dir_gets_secret_key_database_broker_and_first_admin(embedded_concord: LiveConcord) -> None:
    data = embedded_concord.data_dir
    assert (data / "concord.db").exists()
    secret = data / "secret_key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_text()) >= 32
    assert embedded_concord.admin_password, embedded_concord.output()
    assert f"{embedded_concord.url}/login" in embedded_concord.output()
    assert secret.read_text() not in embedded_concord.output()


def test_serve_ends_with_the_sign_in_and_keeps_worker_output_in_a_file(embedded_concord: LiveConcord) -> None:
    output = embedded_concord.output()
    # The workers' banners and logs are in the data directory, not between the user and the password.
    assert "celery@" not in output and "[tasks]" not in output
    worker_log = (embedded_concord.data_dir / "logs" / "worker.log").read_text()
    assert "embedded@" in worker_log and " ready." in worker_log
    assert "logs/worker.log" in output
    # The sign-in block comes after everything uvicorn says on starting.
    assert output.index("one-time password:") > output.index("Application startup complete")
    # It ends the start-up: what follows is only the access log of requests (other tests share this server).
    lines = output.rstrip().splitlines()
    ready = max(i for i, line in enumerate(lines) if line.startswith("Concord is ready at"))
    after = lines[ready + 1 :]
    assert all(re.match(r'INFO: +[\d.]+:\d+ - "[A-Z]+ \S+ HTTP/1\.1" \d{3}', line) for line in after), after


def test_serve_verbose_shows_the_workers_and_still_ends_with_the_sign_in(tmp_path: Path) -> None:
    live = LiveConcord(tmp_path / "data", extra_args=["--no-demo", "--verbose"]).start()
    try:
        output = live.output()
        assert live.admin_password, output
        ready = [i for i, line in enumerate(output.splitlines()) if " ready." in line and "@" in line]
        signin = next(i for i, line in enumerate(output.splitlines()) if "one-time password:" in line)
        assert len(ready) == 3, output  # CPU work, model calls, and training on a queue of its own
        assert "embedded-training@" in output and ".> training " in output
        assert max(ready) < signin
        assert not (live.data_dir / "logs" / "worker.log").exists()
    finally:
        live.stop()


def test_deep_health_check_round_trips_a_job_through_the_worker(live_concord: LiveConcord) -> None:
    anonymous = httpx.get(live_concord.url + "/healthz", params={"deep": 1}, timeout=30)
    assert anonymous.status_code == 401
    username = f"ops-{secrets.token_hex(4)}"
    created = run_cli(
        ["create-user", "--username", username, "--role", "admin"], live_concord.env, stdin=secrets.token_urlsafe(18)
    )
    assert created.returncode == 0, created.stderr
    token = run_cli(["token", "create", "--username", username], live_concord.env).stdout.strip().splitlines()[-1]
    response = httpx.get(
        live_concord.url + "/healthz", params={"deep": 1}, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["worker"].startswith("ok")


def test_doctor_reports_every_part_healthy(live_concord: LiveConcord) -> None:
    result = run_cli(["doctor"], live_concord.env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "worker    ok" in result.stdout
    assert "compiled in use" in result.stdout


def test_cli_user_and_token_work_against_the_api(live_concord: LiveConcord) -> None:
    env = live_concord.env
    created = run_cli(["create-user", "--username", "cli-admin", "--role", "admin"], env, stdin="a long passphrase\n")
    assert created.returncode == 0, created.stderr
    again = run_cli(["create-user", "--username", "cli-admin", "--role", "admin"], env, stdin="a long passphrase\n")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    token_run = run_cli(["token", "create", "--username", "cli-admin"], env)
    assert token_run.returncode == 0, token_run.stderr
    token = token_run.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    made = httpx.post(
        f"{live_concord.url}/api/v1/projects",
        json={"name": "端到端", "preset": "person-relations"},
        headers=headers,
        timeout=10,
    )
    assert made.status_code == 201, made.text
    fetched = httpx.get(f"{live_concord.url}/api/v1/projects/{made.json()['id']}", headers=headers, timeout=10)
    assert [r["code"] for r in fetched.json()["schema"]["relation_types"]] == ["亲属", "师生", "同事", "其他"]

    revoked = run_cli(["token", "revoke", token[:10]], env)
    assert revoked.returncode == 0, revoked.stderr
    refused = httpx.get(f"{live_concord.url}/api/v1/projects", headers=headers, timeout=10)
    assert refused.status_code == 401

    # A token with a lifetime works until it ends; `token list` says which are expired.
    dated = run_cli(["token", "create", "--username", "cli-admin", "--expires-days", "30"], env)
    assert dated.returncode == 0, dated.stderr
    ok = httpx.get(
        f"{live_concord.url}/api/v1/projects",
        headers={"Authorization": "Bearer " + dated.stdout.strip().splitlines()[-1]},
        timeout=10,
    )
    assert ok.status_code == 200
    bad = run_cli(["token", "create", "--username", "cli-admin", "--expires-days", "-1"], env)
    assert bad.returncode != 0 and "positive" in bad.stderr
    listed = run_cli(["token", "list", "--username", "cli-admin"], env)
    assert "revoked" in listed.stdout and "active" in listed.stdout


def test_create_user_with_a_terminal_generates_a_password(tmp_path: pytest.TempPathFactory) -> None:
    data_dir = tmp_path / "data"  # type: ignore[operator]
    env = concord_env(data_dir)
    assert run_cli(["migrate"], env).returncode == 0
    # A pseudo-terminal on stdin: the password is generated and shown once.
    leader, follower = os.openpty()
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "create-user", "--username", "rev", "--role", "reviewer"],
        stdin=follower,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    os.close(leader)
    os.close(follower)
    assert result.returncode == 0, result.stderr
    assert "one-time password (shown only now):" in result.stdout


def test_worker_without_a_broker_explains_what_to_do(tmp_path: pytest.TempPathFactory) -> None:
    result = run_cli(["worker"], concord_env(tmp_path / "nothing-here"))  # type: ignore[operator]
    assert result.returncode == 1
    assert "no broker" in result.stderr


def test_serve_refuses_an_unmigrated_production_database(tmp_path: pytest.TempPathFactory) -> None:
    from tests.conftest import E2E_REDIS_URL, POSTGRES_URL, _fresh_postgres, _reachable, require_service

    require_service("Postgres", _reachable(POSTGRES_URL, 5432), POSTGRES_URL)
    url = POSTGRES_URL + "_unmigrated"
    _fresh_postgres(url)
    live = LiveConcord(tmp_path / "data", DATABASE_URL=url, REDIS_URL=E2E_REDIS_URL)  # type: ignore[operator]
    with pytest.raises(RuntimeError, match="run `concord migrate` first"):
        live.start(timeout=30)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_and_its_files_are_private(embedded_concord: LiveConcord) -> None:
    data = embedded_concord.data_dir
    assert _mode(data) == 0o700
    expected = ["concord.db", "secret_key", "appendonly.aof", "redis.conf", "redis.log", "concord.pid"]
    assert set(expected) <= {p.name for p in data.iterdir()}, sorted(p.name for p in data.iterdir())
    for path in data.iterdir():
        if path.is_dir():
            assert _mode(path) == 0o700, path.name
        elif not path.is_socket():
            assert _mode(path) == 0o600, f"{path.name} is {oct(_mode(path))}"  # concord.db-wal/-shm too


def test_a_second_serve_on_a_data_directory_in_use_refuses_naming_the_pid(embedded_concord: LiveConcord) -> None:
    assert embedded_concord.process is not None
    started = time.monotonic()
    second = run_cli(["serve", "--port", str(free_port())], embedded_concord.env)
    assert time.monotonic() - started < 60
    assert second.returncode == 1
    assert f"PID {embedded_concord.process.pid}" in second.stderr
    assert str(embedded_concord.data_dir) in second.stderr
    assert httpx.get(embedded_concord.url + "/healthz", timeout=10).status_code == 200  # the first one is untouched


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_serve_alone_stops_workers_and_redis_and_frees_the_directory(
    tmp_path: Path, signum: signal.Signals
) -> None:
    data_dir = tmp_path / "concord-data"
    # A pre-existing data directory that others could read: serve takes that access away.
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    (data_dir / "notes.txt").write_text("old")
    (data_dir / "notes.txt").chmod(0o644)
    live = LiveConcord(data_dir, extra_args=["--no-demo"]).start()
    assert live.process is not None
    children = descendants(live.process.pid)
    try:
        assert _mode(data_dir) == 0o700
        assert _mode(data_dir / "notes.txt") == 0o600
        commands = " ".join(children.values())
        assert "redis-server" in commands and "celery" in commands, children
        os.kill(live.process.pid, signum)  # the serve process only, not its process group
        live.process.wait(timeout=90)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        survivors = {pid: cmd for pid, cmd in children.items() if alive(pid)}
        assert survivors == {}
        # The lock file still names the old PID; nothing holds it, so a new start takes it over.
        assert (data_dir / "concord.pid").read_text().strip() == str(live.process.pid)
        again = LiveConcord(data_dir, extra_args=["--no-demo"]).start()
        again.stop()
    finally:
        live.stop()
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)  # what the bug would leave behind
