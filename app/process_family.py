"""The processes `concord serve` starts (workers, the embedded Redis) live and end with it, on SIGTERM too."""

import signal
import subprocess

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
