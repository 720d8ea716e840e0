"""The command line where it talks to a person: what `doctor` checked, and a password that is missing."""

import subprocess
import sys
from pathlib import Path

from tests.live_server import ROOT, concord_env, run_cli


def test_doctor_names_what_it_checks_and_creates_nothing_where_nothing_is(tmp_path: Path) -> None:
    missing = tmp_path / "not-installed"
    result = run_cli(["doctor"], concord_env(missing))
    assert result.returncode == 1
    assert f"data dir  {missing}" in result.stdout
    assert f"database  sqlite:///{missing / 'concord.db'}" in result.stdout
    assert "no Concord installation" in result.stderr and "CONCORD_DATA_DIR" in result.stderr
    assert not missing.exists()


def test_doctor_hides_the_database_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://concord:s3cret-pass@127.0.0.1:1/nowhere"
    result = run_cli(["doctor"], concord_env(tmp_path / "data", DATABASE_URL=url, REDIS_URL="redis://127.0.0.1:1/0"))
    assert "database  postgresql+psycopg://concord:***@127.0.0.1:1/nowhere" in result.stdout
    assert "s3cret-pass" not in result.stdout + result.stderr
    assert "database  error" in result.stdout and result.returncode == 1


def test_create_user_without_a_password_or_a_terminal_says_so(tmp_path: Path) -> None:
    env = concord_env(tmp_path / "data")
    assert run_cli(["migrate"], env).returncode == 0
    for stdin in ("", "\n"):
        result = run_cli(["create-user", "--username", "rev", "--role", "reviewer"], env, stdin=stdin)
        assert result.returncode == 1
        assert "no password on stdin and no terminal" in result.stderr, result.stderr
        assert "10 characters" not in result.stderr
    closed = subprocess.run(  # stdin from /dev/null, as under cron or a service manager
        [sys.executable, "-m", "app.cli", "user", "set-password", "rev"],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "no password on stdin and no terminal" in closed.stderr
    assert "concord user set-password" in closed.stderr


def test_serve_starts_a_training_worker_unless_told_not_to() -> None:
    from app.cli import build_parser
    from app.serve import worker_commands

    default = worker_commands(build_parser().parse_args(["serve"]))
    assert [c[c.index("-n") + 1] for c in default] == ["embedded@%h", "embedded-llm@%h", "embedded-training@%h"]
    assert "--max-tasks-per-child=1" in default[-1]  # a fresh process per run hands torch's memory back
    without = worker_commands(build_parser().parse_args(["serve", "--no-training-worker"]))
    assert [c[c.index("-n") + 1] for c in without] == ["embedded@%h", "embedded-llm@%h"]
    assert all("training" not in " ".join(c) for c in without)
