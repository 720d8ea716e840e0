"""The data directory: private modes, and one embedded stack at a time (a lock that names its holder)."""

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.data_dir import DataDirInUse, DataDirLock, make_private
from tests.live_server import ROOT


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_make_private_creates_0700_and_takes_access_away_from_what_exists(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh" / "concord-data"
    make_private(fresh)
    assert _mode(fresh) == 0o700

    data = tmp_path / "old"
    data.mkdir()
    data.chmod(0o755)
    for name in ("concord.db", "concord.db-wal", "concord.db-shm", "appendonly.aof", "secret_key"):
        (data / name).write_bytes(b"x")
        (data / name).chmod(0o644)
    (data / "uploads").mkdir()
    (data / "uploads").chmod(0o775)
    make_private(data)
    assert _mode(data) == 0o700
    assert {p.name: _mode(p) for p in data.iterdir()} == {
        "concord.db": 0o600,
        "concord.db-wal": 0o600,
        "concord.db-shm": 0o600,
        "appendonly.aof": 0o600,
        "secret_key": 0o600,
        "uploads": 0o700,
    }


def test_a_held_lock_refuses_a_second_holder_naming_the_pid(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from app.data_dir import DataDirLock;"
            "DataDirLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DataDirInUse, match=f"PID {holder.pid}"):
            DataDirLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone: its lock file is stale and the next start takes it over.
    time.sleep(0.1)
    lock = DataDirLock(tmp_path)
    lock.acquire()
    assert (tmp_path / "concord.pid").read_text().strip() == str(os.getpid())
    assert _mode(tmp_path / "concord.pid") == 0o600
    lock.release()


def test_a_lock_file_left_by_a_crash_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / "concord.pid").write_text("999999\n")
    lock = DataDirLock(tmp_path)
    lock.acquire()
    assert (tmp_path / "concord.pid").read_text() == f"{os.getpid()}\n"
    lock.release()
