"""The processes `concord serve` starts (workers, the embedded Redis) live and end with it, on SIGTERM too."""

import contextlib
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO

from app.embedded_broker import EmbeddedRedis


def exit_on_sigterm() -> None:
    """SIGTERM as an exception, like SIGINT's KeyboardInterrupt. uvicorn catches SIGTERM, shuts down, then raises
    it again; with the default action the process would end right there and cmd_serve's `finally` never stop
    the workers and Redis. As SystemExit it unwinds through that `finally`."""

    def exit_now(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, exit_now)


def stop_children(workers: list[subprocess.Popen[bytes]], broker: EmbeddedRedis | None) -> None:
    """Stop the workers (a warm shutdown, then SIGKILL after 30 s), then Redis."""
    # A second Ctrl-C or SIGTERM must not cut this short and leave the family running.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    if broker is not None:
        broker.stop()


class WorkerOutput:
    """Copies a worker's output, line by line, to the log file (or to the terminal with --verbose) and notes when
    it says it is ready, so `concord serve` can print the sign-in block after the workers' banners, not above them.
    """

    def __init__(self, process: "subprocess.Popen[bytes]", sink: IO[bytes]) -> None:
        self.ready = threading.Event()
        self._process = process
        self._sink = sink
        self._thread = threading.Thread(target=self._copy, name="worker-output", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        stream = self._process.stdout
        if stream is None:
            self.ready.set()
            return
        for line in iter(stream.readline, b""):
            with contextlib.suppress(OSError, ValueError):
                self._sink.write(line)
                self._sink.flush()
            if b" ready." in line:  # Celery's "celery@host ready." once it consumes
                self.ready.set()
        self.ready.set()  # the worker ended: nobody should wait for it any more


def start_worker(
    command: list[str], *, sink: IO[bytes], pass_fds: tuple[int, ...]
) -> tuple["subprocess.Popen[bytes]", WorkerOutput]:
    """A worker whose stdout and stderr go through a WorkerOutput to `sink`."""
    process = subprocess.Popen(  # noqa: S603
        command, pass_fds=pass_fds, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    return process, WorkerOutput(process, sink)


def when_serving(
    host: str, port: int, workers: list[WorkerOutput], announce: Callable[[], None], timeout: float = 120.0
) -> threading.Thread:
    """Call `announce` once the workers said they are ready and the web server accepts connections (or after
    `timeout`), from a background thread: the last thing on the terminal is then what the user needs."""

    def wait_then_announce() -> None:
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.ready.wait(max(0.0, deadline - time.monotonic()))
        target = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((target, port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        announce()

    thread = threading.Thread(target=wait_then_announce, name="announce", daemon=True)
    thread.start()
    return thread
