"""The job "training.train" on the real database (SQLite and Postgres): a tiny model trained for a few steps,
its metrics stored and the snapshot untouched; a backbone that cannot load, out of memory, and cancel end the run
with its log and never a model_dir."""

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from app.dataset.service import bind_of
from app.errors import Conflict, InvalidInput
from app.modelling import TrainProgress
from app.models import TrainingRun, TrainingStatus
from app.training import jobs, service
from app.training.jobs import train_model
from tests.modelling.corpus import tiny_docs
from tests.training.conftest import TINY, Setup, files_of, make_snapshot


def _run(session: Session, run_id: int) -> TrainingRun:
    session.expire_all()
    run = session.get(TrainingRun, run_id)
    assert run is not None
    return run


def test_a_run_trains_picks_on_dev_scores_on_test_and_leaves_the_snapshot_unchanged(
    session: Session, setup: Setup
) -> None:
    snapshot = make_snapshot(session, setup.project)
    before = files_of(Path(snapshot.path or ""))
    datasheet = dict(snapshot.datasheet)
    run = service.start_training(session, snapshot_id=snapshot.id or 0, user=setup.admin, epochs=2, seed=7)
    session.commit()
    assert run.status == TrainingStatus.queued and run.model_dir is None
    seen: list[TrainProgress] = []
    train_model(run.id or 0, bind=bind_of(session), base=TINY, on_progress=seen.append)
    done = _run(session, run.id or 0)
    assert done.status == TrainingStatus.succeeded, done.error
    assert done.model_dir == f"models/{setup.project.id}/run-{run.id}"
    model_dir = setup.data_dir / done.model_dir
    assert {p.name for p in model_dir.iterdir()} == {"config.json", "model.pt", "vocab.json", "metrics.json"}
    assert [p.name for p in model_dir.parent.iterdir()] == [model_dir.name]  # no partial directory left
    # The stored metrics are the model's metrics.json: learnability on test, with the backbone and the seed.
    metrics = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
    assert done.metrics == metrics
    assert metrics["seed"] == 7 and metrics["backbone"] is None and metrics["encoder"] == "scratch"
    assert metrics["documents"] == {"train": 8, "dev": 4, "test": 4}
    test = metrics["test"]
    assert test["entities"]["gold"] == 4 * 6 and test["relations"]["gold"] == 4 * 3
    assert test["intra_sentence"]["gold"] + test["inter_sentence"]["gold"] == 12
    assert set(test["per_relation_type"]) >= {"任职于", "位于", "毕业于"}
    # Live progress: two epochs of three steps, each epoch's dev F1 in the row and in the log.
    assert (done.epoch, done.step, done.steps) == (2, 6, 6)
    assert done.dev_f1 is not None and done.loss is not None and done.seconds_left == 0
    assert [p.epoch for p in seen if p.dev_f1 is not None] == [1, 2]
    assert "epoch 1/2" in done.log and "epoch 2/2" in done.log and "done in" in done.log
    assert done.started_at is not None and done.finished_at is not None and done.error is None
    # Training never changes the snapshot: its files and its datasheet are as they were.
    assert files_of(Path(snapshot.path or "")) == before
    session.refresh(snapshot)
    assert snapshot.datasheet == datasheet
    # Delivered again once succeeded: a no-op.
    train_model(run.id or 0, bind=bind_of(session), base=TINY)
    assert _run(session, run.id or 0).finished_at == done.finished_at


@pytest.mark.parametrize(
    ("splits", "reason"),
    [
        ({"train": [d.__class__(d.title, d.sentences, d.entities, []) for d in tiny_docs(8)]}, "no relations"),
        ({"dev": []}, "the dev split has no documents"),
        ({"test": []}, "the test split has no documents"),
        ({"train": []}, "the train split has no documents"),
    ],
)
def test_a_snapshot_no_model_can_be_trained_on_is_refused_before_anything_is_queued(
    session: Session, setup: Setup, splits: dict[str, list[object]], reason: str
) -> None:
    snapshot = make_snapshot(session, setup.project, **splits)  # type: ignore[arg-type]
    with pytest.raises(Conflict, match=reason):
        service.start_training(session, snapshot_id=snapshot.id or 0, user=setup.admin)
    assert session.exec(select(TrainingRun)).all() == []


def test_a_backbone_that_cannot_be_loaded_fails_the_run_with_that_reason(session: Session, setup: Setup) -> None:
    snapshot = make_snapshot(session, setup.project)
    run = service.start_training(
        session, snapshot_id=snapshot.id or 0, user=setup.admin, backbone="/nonexistent/encoder", epochs=1
    )
    session.commit()
    train_model(run.id or 0, bind=bind_of(session), base=TINY)
    failed = _run(session, run.id or 0)
    assert failed.status == TrainingStatus.failed
    assert failed.error is not None and "cannot load backbone /nonexistent/encoder: no such directory" in failed.error
    assert failed.model_dir is None and failed.metrics == {}
    assert "failed: cannot load backbone" in failed.log
    assert not (setup.data_dir / "models").exists() or not any((setup.data_dir / "models").rglob("*.pt"))


def test_out_of_memory_fails_the_run_with_its_log_and_no_model(
    session: Session, setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.modelling.network import JointModel  # torch: only where the extra is installed

    def exhausted(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(JointModel, "loss", exhausted)
    snapshot = make_snapshot(session, setup.project)
    run = service.start_training(session, snapshot_id=snapshot.id or 0, user=setup.admin, epochs=1)
    session.commit()
    train_model(run.id or 0, bind=bind_of(session), base=TINY)
    failed = _run(session, run.id or 0)
    assert failed.status == TrainingStatus.failed and "out of memory on cpu" in (failed.error or "")
    assert failed.model_dir is None and "training on snapshot v1" in failed.log
    assert list((setup.data_dir / "models" / str(setup.project.id)).iterdir()) == []


def test_cancel_while_running_ends_cancelled_with_the_log_and_no_model(
    session: Session, setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "CANCEL_CHECK_SECONDS", 0.0)
    monkeypatch.setattr(jobs, "PROGRESS_SECONDS", 0.0)
    snapshot = make_snapshot(session, setup.project)
    run = service.start_training(session, snapshot_id=snapshot.id or 0, user=setup.admin, epochs=3)
    session.commit()

    def cancel_after_the_second_step(p: TrainProgress) -> None:
        if p.step == 2 and p.dev_f1 is None:
            with Session(bind_of(session)) as other:  # as the page would, while the worker trains
                service.request_cancel(other, run=service.get_run(other, run.id or 0))
                other.commit()

    train_model(run.id or 0, bind=bind_of(session), base=TINY, on_progress=cancel_after_the_second_step)
    cancelled = _run(session, run.id or 0)
    assert cancelled.status == TrainingStatus.cancelled
    assert cancelled.error == "cancelled in epoch 1 after 2 steps"
    assert cancelled.model_dir is None and cancelled.metrics == {}
    assert cancelled.step == 2 and "cancelled: cancelled in epoch 1 after 2 steps" in cancelled.log
    assert list((setup.data_dir / "models" / str(setup.project.id)).iterdir()) == []
    with pytest.raises(Conflict, match="is cancelled already"):
        service.request_cancel(session, run=cancelled)


def test_a_queued_run_cancelled_never_trains(session: Session, setup: Setup) -> None:
    snapshot = make_snapshot(session, setup.project)
    run = service.start_training(session, snapshot_id=snapshot.id or 0, user=setup.admin)
    service.request_cancel(session, run=run)
    session.commit()
    assert run.status == TrainingStatus.cancelled and "cancelled before it started" in run.log
    train_model(run.id or 0, bind=bind_of(session), base=TINY)  # the job arrives afterwards: a no-op
    again = _run(session, run.id or 0)
    assert again.status == TrainingStatus.cancelled and again.started_at is None
    assert not (setup.data_dir / "models").exists()
    train_model(10**9, bind=bind_of(session), base=TINY)  # a vanished run: a no-op


def test_a_run_delivered_again_after_a_crash_starts_over(session: Session, setup: Setup) -> None:
    snapshot = make_snapshot(session, setup.project)
    run = service.start_training(session, snapshot_id=snapshot.id or 0, user=setup.admin, epochs=1)
    run.status = TrainingStatus.running  # the worker died mid-run, after the model was written
    session.add(run)
    session.commit()
    stale = setup.data_dir / str(service.run_dir(run))
    stale.mkdir(parents=True)
    (stale / "model.pt").write_bytes(b"half")
    train_model(run.id or 0, bind=bind_of(session), base=TINY)
    done = _run(session, run.id or 0)
    assert done.status == TrainingStatus.succeeded and "delivered again: starting over" in done.log
    assert (stale / "model.pt").read_bytes() != b"half"


def test_settings_out_of_range_are_refused_by_field(session: Session, setup: Setup) -> None:
    snapshot = make_snapshot(session, setup.project)
    for kwargs, field in (({"epochs": 0}, "epochs"), ({"device": "tpu"}, "device")):
        with pytest.raises(InvalidInput, match="must be") as caught:
            service.start_training(session, snapshot_id=snapshot.id or 0, user=setup.admin, **kwargs)
        assert caught.value.errors[0].field == field


def test_a_second_delivery_while_the_first_still_trains_leaves_it_alone(session: Session, setup: Setup) -> None:
    # A run longer than the broker's visibility timeout is delivered again while its first delivery trains.
    snapshot = make_snapshot(session, setup.project)
    run = service.start_training(session, snapshot_id=snapshot.id or 0, user=setup.admin, epochs=1)
    session.commit()
    first = jobs._Lease(run.id or 0)
    assert first.acquire()
    try:
        train_model(run.id or 0, bind=bind_of(session), base=TINY)
        untouched = _run(session, run.id or 0)
        assert untouched.status == TrainingStatus.queued and untouched.log == ""
    finally:
        first.release()
    again = jobs._Lease(run.id or 0)
    assert again.acquire()  # released: the lease is free again
    again.release()


def test_cancel_ends_at_once_a_running_run_no_process_trains_any_more(session: Session, setup: Setup) -> None:
    snapshot = make_snapshot(session, setup.project)
    run = service.start_training(session, snapshot_id=snapshot.id or 0, user=setup.admin, queue=False)
    run.status = TrainingStatus.running
    live = jobs._Lease(run.id or 0)
    assert live.acquire()  # a process trains it: cancel asks, the process stops it
    try:
        service.request_cancel(session, run=run)
        assert run.status == TrainingStatus.running and run.cancel_requested
    finally:
        live.release()
    # Its process was killed (`concord train` by kill -9, a worker lost): nothing would ever end the run.
    ended = service.request_cancel(session, run=run)
    assert ended.status == TrainingStatus.cancelled and ended.error == "cancelled: no process was training it"
    assert ended.finished_at is not None and ended.model_dir is None
