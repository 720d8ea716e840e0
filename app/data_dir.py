"""The data directory: private to its owner (0700, files 0600), and served by one embedded stack at a time."""

import fcntl
import os
import stat
from pathlib import Path

# New files of Concord and of the processes it starts (SQLite and its WAL/SHM, Redis's append-only file,
# uploads, snapshots): readable by the owner only. Password and token hashes live in the database.
PRIVATE_UMASK = 0o077
LOCK_NAME = "concord.pid"


class DataDirInUse(RuntimeError):
    """Another `concord serve` (or a process it started) holds the data directory."""


def make_private(data_dir: Path) -> None:
    """Create the directory 0700 and take group and other access away from what it already holds."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    for entry in data_dir.iterdir():
        try:
            mode = entry.lstat().st_mode
            if stat.S_ISLNK(mode) or stat.S_ISSOCK(mode):
                continue
            entry.chmod(stat.S_IMODE(mode) & 0o700)
        except FileNotFoundError:  # a WAL file checkpointed away meanwhile
            continue


class DataDirLock:
    """An exclusive lock on `concord.pid` in the data directory, holding the PID of the `concord serve` that
    took it. The kernel releases it when every process holding it has ended, so a lock file left by a crash is
    stale by construction: the next start takes it over. Children inherit it (see `fd`), so a worker or Redis
    that outlived its parent still keeps a second stack off the directory."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirInUse(
                f"the data directory {self.path.parent} is in use by another Concord (PID {holder}, "
                f"or a process it started); stop it first, or set CONCORD_DATA_DIR to another directory"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        os.close(self.fd)
        self.fd = None
