"""`concord train` end to end: it trains here, prints the epochs and the learnability, records the run; it exits
non-zero with the reason when the snapshot is refused or the backbone cannot load."""

import os
import signal

import pytest
from sqlmodel import Session, select

from app import cli
from app.dataset.service import bind_of
from app.modelling import TrainProgress
from app.models import TrainingRun, TrainingStatus
from app.training import cli as training_cli
from tests.modelling.corpus import tiny_docs
from tests.training.conftest import Setup, make_snapshot


@pytest.fixture
def here(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's database is the test's."""
    monkeypatch.setattr(training_cli, "get_engine", lambda: bind_of(session))


def test_train_by_project_and_version_prints_progress_and_learnability(
    session: Session, setup: Setup, here: None, capsys: pytest.CaptureFixture[str]
) -> None:
    make_snapshot(session, setup.project)
    ref = f"{setup.project.id}:v1"
    assert cli.main(["train", "--snapshot", ref, "--epochs", "1", "--seed", "3", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    run = session.exec(select(TrainingRun)).one()
    session.refresh(run)
    assert run.status == TrainingStatus.succeeded and run.seed == 3 and run.model_dir
    assert (setup.data_dir / run.model_dir / "model.pt").is_file()
    assert f"training run #{run.id} on snapshot v1" in out
    assert "epoch 1/1  loss" in out and "dev relation F1" in out
    test = run.metrics["test"]
    assert f"relations                  P {test['relations']['precision']:.4f}" in out
    assert "intra-sentence relations" in out and "inter-sentence relations" in out
    assert "backbone none, seed 3" in out


def test_refusals_and_failures_exit_non_zero_with_the_reason(
    session: Session, setup: Setup, here: None, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = [d.__class__(d.title, d.sentences, d.entities, []) for d in tiny_docs(8)]
    make_snapshot(session, setup.project, train=bare)
    name = setup.project.name
    assert cli.main(["train", "--snapshot", f"{name}:1"]) == 2
    err = capsys.readouterr().err
    assert err == "error: Snapshot v1 cannot be trained on: the train split has no relations.\n"
    assert session.exec(select(TrainingRun)).all() == []
    assert cli.main(["train", "--snapshot", f"{name}:v9"]) == 2
    assert "has no snapshot v9" in capsys.readouterr().err
    assert cli.main(["train", "--snapshot", "no-such-project:v1"]) == 2
    assert "No project is 'no-such-project'" in capsys.readouterr().err

    make_snapshot(session, setup.project, version=2)
    code = cli.main(["train", "--snapshot", f"{name}:v2", "--backbone", "/nonexistent/encoder", "--epochs", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "failed: cannot load backbone /nonexistent/encoder: no such directory" in err
    assert "Traceback" not in err
    run = session.exec(select(TrainingRun)).one()
    session.refresh(run)
    assert run.status == TrainingStatus.failed and run.model_dir is None


def test_ctrl_c_cancels_the_run_and_keeps_its_log(
    session: Session, setup: Setup, here: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_snapshot(session, setup.project)
    printed = training_cli._print_progress

    def interrupt_at_the_first_step(p: TrainProgress) -> None:
        printed(p)
        if p.step == 1 and p.dev_f1 is None:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends

    monkeypatch.setattr(training_cli, "_print_progress", interrupt_at_the_first_step)
    assert cli.main(["train", "--snapshot", f"{setup.project.id}:v1", "--epochs", "2"]) == 1
    captured = capsys.readouterr()
    assert "cancelling (after the current step)" in captured.out
    assert "cancelled: cancelled in epoch 1 after 1 steps" in captured.err
    run = session.exec(select(TrainingRun)).one()
    session.refresh(run)
    assert run.status == TrainingStatus.cancelled and run.model_dir is None and "cancelled" in run.log
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C is Python's again
