"""`concord serve | worker | migrate | create-user | user | token | doctor | evaluate | train`."""

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from app.auth.cli import add_user_commands, user_by_name
from app.auth.cli import fail as _fail
from app.auth.cli import out as _out
from app.config import get_settings
from app.db import get_engine, session_scope
from app.errors import AppError
from app.models import ApiToken, User
from app.serve import cmd_serve
from app.training.cli import add_train_command

if TYPE_CHECKING:
    from app.evaluation.metrics import Score

# Imports inside functions: every `concord` command loads this module, and each needs only a few of the app's
# modules, so a command imports its own when it runs (`concord --help` and `concord worker` start fast).


def cmd_worker(args: argparse.Namespace) -> int:
    settings = get_settings()
    if settings.embedded_broker and not settings.redis_socket_path.exists():
        return _fail("no broker: set REDIS_URL, or start `concord serve` on this data directory first")
    from workers.celery_app import celery_app

    argv = ["worker", "--loglevel=INFO", "-Q", args.queues, f"--pool={args.pool}"]
    if args.concurrency:
        argv.append(f"--concurrency={args.concurrency}")
    if args.max_tasks_per_child:  # 1 for training: each run in a fresh process, its memory handed back after
        argv.append(f"--max-tasks-per-child={args.max_tasks_per_child}")
    celery_app.worker_main(argv)
    return 0


def cmd_migrate(_args: argparse.Namespace) -> int:
    from app import migrations

    settings = get_settings()
    if settings.embedded_database:
        from app.data_dir import make_private

        make_private(settings.data_dir)
    migrations.upgrade(settings.sqlalchemy_url)
    _out("database is up to date")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from app.auth import service
    from app.models.types import utcnow

    if args.expires_days is not None and args.expires_days <= 0:
        return _fail("--expires-days must be a positive number of days")
    expires_at = utcnow() + timedelta(days=args.expires_days) if args.expires_days else None
    try:
        with session_scope() as session:
            _, secret = service.create_api_token(
                session, user=user_by_name(session, args.username), name=args.name or "", expires_at=expires_at
            )
    except AppError as exc:
        return _fail(exc.message)
    _out(f"API token for '{args.username}' (shown only now; send it as 'Authorization: Bearer <token>'):")
    _out(secret)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    from app.models.types import utcnow

    with Session(get_engine()) as session:
        query = select(ApiToken, User).join(User, ApiToken.user_id == User.id)  # type: ignore[arg-type]
        if args.username:
            from app.auth.service import normalize_username

            query = query.where(User.username == normalize_username(args.username))
        for token, user in session.exec(query).all():
            state = (
                "revoked"
                if token.revoked_at
                else "expired"
                if token.expires_at and token.expires_at <= utcnow()
                else "active"
            )
            _out(f"{token.prefix}…  {user.username:<16} {state:<8} {token.name}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from app.auth import service

    with session_scope() as session:
        tokens = session.exec(select(ApiToken).where(ApiToken.prefix == args.prefix)).all()
        if len(tokens) != 1:
            return _fail(f"no single token starts with {args.prefix!r} (see `concord token list`)")
        service.revoke_api_token(session, token=tokens[0])
    _out(f"revoked {args.prefix}…")
    return 0


def cmd_doctor(_args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    settings = get_settings()
    _out(f"data dir  {settings.data_dir}")
    _out(f"database  {make_url(settings.sqlalchemy_url).render_as_string(hide_password=True)}")
    # Checking must not create: an embedded database would be made (empty) just by connecting to it.
    if settings.embedded_database and not (settings.data_dir / "concord.db").is_file():
        return _fail(
            f"no Concord installation in {settings.data_dir} (no concord.db there): run `concord doctor` where you "
            "run `concord serve`, or set CONCORD_DATA_DIR (or DATABASE_URL) to the one to check"
        )

    from app.health import health_report
    from app.webtext.native import compiled

    report = health_report(deep=True)
    for name, value in report.items():
        _out(f"{name:<9} {value}")
    # Of this installation only; not a health matter: without it ingestion is slower, not wrong.
    if compiled is not None:
        _out("compiled in use: ingestion's text steps run compiled (app/webtext/_native.c)")
    else:
        _out("compiled not built: ingestion runs its text steps in Python, slower (pip install with a C compiler)")
    return 0 if report["status"] == "ok" else 1


def _gold_bytes(ref: str, split: str) -> bytes:
    """A gold file's bytes: a path, else a snapshot id or name (its DocRED file of that split)."""

    from app.dataset.snapshots import find_snapshot, snapshot_file

    path = Path(ref)
    if path.is_file():
        return path.read_bytes()
    with Session(get_engine()) as session:
        snapshot = find_snapshot(session, ref)
        return snapshot_file(snapshot, fmt="docred", split=split).read_bytes()


def _score_line(label: str, score: "Score") -> str:
    return (
        f"{label:<22} P {score.precision:.4f}  R {score.recall:.4f}  F1 {score.f1:.4f}"
        f"  (correct {score.correct}, predicted {score.predicted}, gold {score.gold})"
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from app.dataset.service import evaluate_files
    from app.evaluation.scores import EvaluationInputError

    def bad(message: str) -> int:
        print(f"error: {message}", file=sys.stderr, flush=True)
        return 2

    try:
        gold = _gold_bytes(args.gold, args.split)
        train = _gold_bytes(args.train, "train") if args.train else None
        predicted = Path(args.pred).read_bytes()
    except AppError as exc:
        return bad(exc.message)
    except OSError as exc:
        return bad(f"cannot read {exc.filename}: {exc.strerror}")
    try:
        report = evaluate_files(gold, predicted, train)
    except EvaluationInputError as exc:
        return bad(str(exc))
    if args.json:
        _out(json.dumps(asdict(report), indent=2))
        return 0
    d = report.docred
    _out(f"{'documents':<22} {report.documents}")
    if report.entities_from_gold:
        _out(f"{'NER':<22} not measured: the predictions reuse the gold entities (a DocRED results file)")
    else:
        _out(_score_line("NER", report.ner))
    _out(_score_line("relations (strict)", report.relations))
    _out(
        f"{'DocRED':<22} F1 {d.f1:.4f}  Ign F1 {d.ign_f1:.4f}  evidence F1 {d.evidence_f1:.4f}"
        f"  (P {d.precision:.4f}, R {d.recall:.4f}; {d.ign_basis})"
    )
    _out(_score_line("intra-sentence", report.intra_sentence))
    _out(_score_line("inter-sentence", report.inter_sentence))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="concord", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_process_commands(sub)
    add_user_commands(sub)
    _add_token_commands(sub)
    _add_check_commands(sub)
    add_train_command(sub)
    return parser


def _add_process_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """serve, worker and migrate: the processes an admin runs."""
    p = sub.add_parser("serve", help="run the web app (and, by default, a local worker and embedded broker)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-worker", action="store_true", help="do not start a local worker")
    p.add_argument(
        "--no-training-worker",
        action="store_true",
        help="no local worker for the training queue (train with `concord train`, or a worker elsewhere)",
    )
    p.add_argument("--no-demo", action="store_true", help="on a fresh data directory, skip the demo project")
    p.add_argument(
        "--verbose", action="store_true", help="show the workers' output here (default: <data dir>/logs/worker.log)"
    )
    p.add_argument("--worker-concurrency", type=int, default=2, help="processes for ingestion and other CPU work")
    p.add_argument(
        "--llm-concurrency", type=int, default=24, help="threads for model calls (≥ 1.5× the annotators' concurrency)"
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run a Celery worker (any number, on any machine)")
    p.add_argument("--concurrency", type=int, default=0, help="processes or threads (default: CPU count)")
    p.add_argument(
        "--queues", default="concord,llm", help="concord (CPU work), llm (model calls), training (models trained)"
    )
    p.add_argument(
        "--pool",
        default="prefork",
        choices=["prefork", "threads", "solo"],
        help="threads suits the llm queue (calls wait on the network)",
    )
    p.add_argument("--max-tasks-per-child", type=int, default=0, help="replace a process after N jobs (0: never)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("migrate", help="bring the database schema up to date")
    p.set_defaults(func=cmd_migrate)


def _add_token_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_command", required=True)
    p = token.add_parser("create", help="create a token; printed once, as the last line")
    p.add_argument("--username", required=True)
    p.add_argument("--name", default="")
    p.add_argument("--expires-days", type=float, default=None, help="lifetime in days (default: until revoked)")
    p.set_defaults(func=cmd_token_create)
    p = token.add_parser("list", help="list tokens (prefixes only)")
    p.add_argument("--username")
    p.set_defaults(func=cmd_token_list)
    p = token.add_parser("revoke", help="revoke a token by its prefix")
    p.add_argument("prefix")
    p.set_defaults(func=cmd_token_revoke)


def _add_check_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """doctor (the services and a job round trip) and evaluate (predictions against a gold)."""
    p = sub.add_parser("doctor", help="check the database, the broker and a job round trip through a worker")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser(
        "evaluate",
        help="score predictions against a snapshot or a gold file: NER, relations, DocRED F1 / Ign F1 / evidence F1",
    )
    p.add_argument("--gold", required=True, help="snapshot id or name, or a DocRED JSON / JSONL file")
    p.add_argument("--pred", required=True, help="predictions: our JSONL, DocRED documents or DocRED results JSON")
    p.add_argument("--train", help="training set (snapshot or file) for Ign F1")
    p.add_argument("--split", default="all", choices=["all", "train", "dev", "test"], help="the snapshot's split")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=cmd_evaluate)


def main(argv: Sequence[str] | None = None) -> int:
    from app.data_dir import PRIVATE_UMASK

    args = build_parser().parse_args(argv)
    os.umask(PRIVATE_UMASK)  # inherited by the workers and Redis this process starts
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
