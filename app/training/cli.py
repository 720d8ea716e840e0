"""`concord train`: train a model on a snapshot here, in this process, printing its progress.

In-process rather than queued: an admin at a terminal sees the epochs go by, stops it with Ctrl-C, and needs no
worker on the `training` queue. The run is recorded like one started from the page (it shows there, live, and
can serve as an annotator once succeeded); a page's Cancel stops it too."""

import argparse
import signal
import sys
import threading
from types import FrameType

from sqlmodel import Session, select

from app.dataset.snapshots import find_snapshot as by_id_or_name
from app.db import get_engine, require_id
from app.errors import AppError
from app.evaluation.metrics import Score
from app.modelling import TrainProgress
from app.modelling.config import DEVICES
from app.modelling.report import model_report
from app.models import DatasetSnapshot, Project, TrainingRun, TrainingStatus
from app.training import service
from app.training.jobs import train_model


def _out(message: str) -> None:
    print(message, flush=True)


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code


def find_snapshot(session: Session, ref: str) -> DatasetSnapshot:
    """`<project>:<version>` (project id or name; version `v2` or `2`), or a snapshot id or name."""
    if ":" not in ref:
        return by_id_or_name(session, ref)
    project_ref, version_ref = ref.rsplit(":", 1)
    version = version_ref.strip().lower().removeprefix("v")
    if not version.isdigit():
        raise AppError(f"{version_ref!r} is not a snapshot version (v1, v2, …).")
    query = select(Project).where(
        Project.id == int(project_ref) if project_ref.isdigit() else Project.name == project_ref
    )
    project = session.exec(query).first()
    if project is None:
        raise AppError(f"No project is {project_ref!r} (give its id or its name).")
    snapshot = session.exec(
        select(DatasetSnapshot).where(DatasetSnapshot.project_id == project.id, DatasetSnapshot.version == int(version))
    ).first()
    if snapshot is None:
        raise AppError(f"Project {project.name!r} has no snapshot v{version}.")
    return snapshot


def _print_progress(p: TrainProgress) -> None:
    if p.dev_f1 is not None:
        left = f", about {p.seconds_left / 60:.1f} min left" if p.seconds_left else ""
        _out(
            f"epoch {p.epoch}/{p.epochs}  loss {p.loss:.4f}  dev relation F1 {p.dev_f1:.4f}"
            f"  dev entity F1 {p.dev_entity_f1 or 0:.4f}{left}"
        )


def _score(label: str, s: Score) -> str:
    return (
        f"{label:<26} P {s.precision:.4f}  R {s.recall:.4f}  F1 {s.f1:.4f}"
        f"  (correct {s.correct}, predicted {s.predicted}, gold {s.gold})"
    )


def _report(run: TrainingRun) -> None:
    report = model_report(run.metrics)
    if report is None:  # no test scores: nothing to report on but the model
        _out(f"model: {run.model_dir} (under the data directory)")
        return
    _out(f"model: {run.model_dir} (under the data directory); best epoch {report.best_epoch} on dev")
    backbone = run.backbone or "none"
    _out(f"learnability on test ({report.test_documents} documents; backbone {backbone}, seed {run.seed}):")
    test = report.test
    _out(_score("entities", test.entities))
    _out(_score("relations", test.relations))
    _out(_score("intra-sentence relations", test.intra_sentence))
    _out(_score("inter-sentence relations", test.inter_sentence))
    for name, s in test.per_relation_type.items():
        _out(_score(f"  {name}", s))


def cmd_train(args: argparse.Namespace) -> int:
    bind = get_engine()
    try:
        with Session(bind, expire_on_commit=False) as session:
            snapshot = find_snapshot(session, args.snapshot)
            run = service.start_training(
                session,
                snapshot_id=require_id(snapshot),
                user=None,
                backbone=args.backbone,
                device=args.device,
                epochs=args.epochs,
                seed=args.seed,
                queue=False,
            )
            session.commit()
            run_id = require_id(run)
    except AppError as exc:
        return _fail(exc.message, 2)
    _out(f"training run #{run_id} on snapshot v{snapshot.version} ({snapshot.name}); Ctrl-C cancels")
    interrupted = threading.Event()

    def on_sigint(_signum: int, _frame: FrameType | None) -> None:
        _out("cancelling (after the current step)…")
        interrupted.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        train_model(run_id, bind=bind, on_progress=_print_progress, stop=interrupted.is_set, lease_required=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    with Session(bind) as session:
        done = session.get(TrainingRun, run_id)
    if done is None:
        return _fail(f"training run #{run_id} vanished", 1)
    if done.status != TrainingStatus.succeeded:
        return _fail(f"training run #{run_id} {done.status}: {done.error}", 1)
    _report(done)
    return 0


def add_train_command(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser(
        "train", help="train a model on a snapshot, here (prints progress; the run shows on the snapshot's page)"
    )
    p.add_argument("--snapshot", required=True, help="<project>:<version> (project id or name, e.g. 3:v2), or an id")
    p.add_argument("--backbone", help="a Hugging Face encoder: a directory or a hub name (default: from scratch)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=13)
    p.set_defaults(func=cmd_train)
