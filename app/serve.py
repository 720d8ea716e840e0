"""`concord serve`: the whole stack in one command (embedded database and broker unless configured otherwise, local
workers, the web server), and the first run's admin account and demo project."""

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from sqlmodel import select

from app.auth.cli import fail as _fail
from app.auth.cli import out as _out
from app.config import Settings, get_settings
from app.db import get_engine, session_scope
from app.models import Role, User

if TYPE_CHECKING:
    from app.data_dir import DataDirLock
    from app.process_family import WorkerOutput

# Imports inside functions: every `concord` command loads this module, and `concord serve` needs the server, the
# broker and the demo only when it runs (`concord --help` and `concord worker` start fast).


def _prepare_database(settings: Settings) -> None:
    from app import migrations

    if settings.embedded_database:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        migrations.upgrade(settings.sqlalchemy_url)
    elif migrations.pending(settings.sqlalchemy_url):
        raise SystemExit("error: the database schema is behind this version of Concord: run `concord migrate` first")


def _bootstrap_admin() -> tuple[str, str] | None:
    """On a database with no users, create `admin` with a one-time password."""
    from app.auth import service

    with session_scope() as session:
        if session.exec(select(User.id)).first() is not None:
            return None
        password = service.generate_password()
        service.create_user(session, username="admin", role=Role.admin, password=password, must_change_password=True)
        return "admin", password


def _worker_command(concurrency: int, name: str, queues: str = "concord", pool: str = "prefork") -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.celery_app",
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        "-n",
        name,
        "-Q",
        queues,
    ]


def _announce(url: str, created: tuple[str, str] | None) -> None:
    """The last lines on the terminal once everything runs: where to sign in, and the first password."""
    if created:
        _out(f"First run: sign in at {url.rstrip('/')}/login as '{created[0]}' with this one-time password:")
        _out(f"  {created[1]}")
        _out("  (it is shown only now; you will choose your own password after signing in)")
    _out(f"Concord is ready at {url}")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.data_dir import DataDirInUse, make_private
    from app.embedded_broker import EmbeddedRedis
    from app.process_family import exit_on_sigterm, stop_children, when_serving

    exit_on_sigterm()
    settings = get_settings()
    os.environ["CONCORD_DATA_DIR"] = str(settings.data_dir)  # the worker child resolves the same directory
    make_private(settings.data_dir)
    try:
        lock = _lock_data_dir(settings)
    except DataDirInUse as exc:
        return _fail(str(exc))
    # The children inherit the lock: while any of them lives, no second stack starts on this directory.
    inherited = (lock.fd,) if lock is not None and lock.fd is not None else ()
    settings.resolved_secret_key()
    broker = EmbeddedRedis(settings, pass_fds=inherited) if settings.embedded_broker else None
    workers = _LocalWorkers(settings.data_dir / "logs" / "worker.log")
    try:
        if broker is not None:
            broker.start()
        _prepare_database(settings)
        created = _bootstrap_admin()
        if created and not args.no_demo:
            _create_demo()
        if not args.no_worker:
            workers.start(args, pass_fds=inherited)
        url = settings.public_url or f"http://{args.host}:{args.port}/"
        _out(f"Concord is starting at {url}")
        _out(
            f"  data: {settings.data_dir if settings.embedded_database else 'DATABASE_URL'}; "
            f"broker: {'embedded Redis' if broker else 'REDIS_URL'}; worker: {'local' if workers.processes else 'none'}"
            + ("" if args.verbose or not workers.processes else f" (its log: {workers.log_path})")
        )
        when_serving(args.host, args.port, workers.outputs, lambda: _announce(url, created))
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            log_level=settings.log_level,
            proxy_headers=True,
        )
    finally:
        stop_children(workers.processes, broker)
        workers.close_log()
        if lock is not None:
            lock.release()
    return 0


def _lock_data_dir(settings: Settings) -> "DataDirLock | None":
    """Take the data directory's lock when this stack embeds the database or the broker (DataDirInUse if taken)."""
    from app.data_dir import DataDirLock

    # Web processes of a production setup share the data directory; an embedded stack owns it.
    lock = DataDirLock(settings.data_dir) if settings.embedded_database or settings.embedded_broker else None
    if lock is not None:
        lock.acquire()
    return lock


def _create_demo() -> None:
    from app.demo import create_demo_project

    _out("First run: preparing the demo project (sample batch, sample answers, builtin annotators)…")
    create_demo_project(get_engine())


def worker_commands(args: argparse.Namespace) -> list[list[str]]:
    """The local workers: CPU work, model calls and, unless --no-training-worker, training."""
    commands = [
        _worker_command(args.worker_concurrency, "embedded@%h"),
        _worker_command(args.llm_concurrency, "embedded-llm@%h", "llm", "threads"),
    ]
    if not args.no_training_worker:
        # One process of its own: a training run (minutes to hours) never takes ingestion's slots; a fresh child
        # per run hands torch's memory back when the run ends.
        commands.append([*_worker_command(1, "embedded-training@%h", "training"), "--max-tasks-per-child=1"])
    return commands


@dataclass
class _LocalWorkers:
    """The worker processes `concord serve` starts beside the web server, and the log file they write to."""

    log_path: Path
    processes: "list[subprocess.Popen[bytes]]" = field(default_factory=list)
    outputs: "list[WorkerOutput]" = field(default_factory=list)
    log_file: IO[bytes] | None = None

    def start(self, args: argparse.Namespace, *, pass_fds: tuple[int, ...]) -> None:
        from app.process_family import start_worker

        # Celery's banners and logs go to a file unless --verbose: they used to scroll the sign-in away.
        if args.verbose:
            sink = sys.stdout.buffer
        else:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            sink = self.log_file = self.log_path.open("ab")
        for command in worker_commands(args):
            process, output = start_worker(command, sink=sink, pass_fds=pass_fds)
            self.processes.append(process)
            self.outputs.append(output)

    def close_log(self) -> None:
        if self.log_file is not None:
            self.log_file.close()
