"""The app, its CLI and the training worker import without torch: it loads only inside the job."""

import subprocess
import sys

import pytest
from sqlmodel import Session

import app.modelling
from app.dataset.service import bind_of
from app.models import TrainingStatus
from app.training import service
from app.training.jobs import train_model
from tests.training.conftest import TINY, Setup, make_snapshot


def test_the_web_app_the_cli_and_the_worker_import_without_torch() -> None:
    code = (
        "import sys, app.main, app.cli, workers.celery_app, workers.training\n"
        "app.main.create_app()\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_a_worker_without_the_train_extra_fails_the_run_saying_what_to_install(
    session: Session, setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.modelling, "torch_available", lambda: False)
    snapshot = make_snapshot(session, setup.project)
    run = service.start_training(session, snapshot_id=snapshot.id or 0, user=setup.admin, epochs=1)
    session.commit()
    train_model(run.id or 0, bind=bind_of(session), base=TINY)
    session.refresh(run)
    assert run.status == TrainingStatus.failed and run.model_dir is None
    assert run.error == app.modelling.INSTALL_HINT
