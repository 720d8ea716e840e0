"""A built snapshot of the tiny corpus (its DocRED split files on disk), a data directory of the test's own, and
the tiny sizes that train a model in seconds."""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import Session

from app.config import get_settings
from app.dataset.service import bind_of
from app.modelling import Doc, TrainConfig
from app.models import DatasetSnapshot, Project, Role, SnapshotStatus, User
from tests.factories import make_project, make_user
from tests.modelling.conftest import require_torch
from tests.modelling.corpus import tiny_docs, write_docred

# The job's sizes in tests: the run's epochs, seed, backbone and device override these.
TINY = TrainConfig(
    device="cpu", threads=1, hidden_size=32, layers=1, heads=2, batch_size=2, learning_rate=3e-3, max_window=24,
    max_steps_per_epoch=3,
)  # fmt: skip


@dataclass
class Setup:
    project: Project
    admin: User
    data_dir: Path


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Models and snapshots of this test only (run ids repeat across the SQLite and Postgres databases)."""
    directory = tmp_path / "data"
    monkeypatch.setattr(get_settings(), "concord_data_dir", directory)
    return directory


@pytest.fixture
def setup(session: Session, data_dir: Path) -> Setup:
    require_torch()
    return Setup(make_project(session), make_user(session, username="admin", role=Role.admin), data_dir)


def make_snapshot(
    session: Session,
    project: Project,
    *,
    version: int = 1,
    train: list[Doc] | None = None,
    dev: list[Doc] | None = None,
    test: list[Doc] | None = None,
) -> DatasetSnapshot:
    """A built snapshot whose DocRED splits hold these documents (by default 8 train, 4 dev, 4 test)."""
    path = get_settings().data_dir / "snapshots" / str(project.id) / f"v{version}"
    splits = {
        "train": tiny_docs(8) if train is None else train,
        "dev": tiny_docs(4, 8) if dev is None else dev,
        "test": tiny_docs(4, 12) if test is None else test,
    }
    checksums = {}
    for split, docs in splits.items():
        written = write_docred(path / "docred" / f"{split}.json", docs)
        checksums[f"docred/{split}.json"] = hashlib.sha256(written.read_bytes()).hexdigest()
    (path / "datasheet.json").write_text('{"name": "tiny"}', encoding="utf-8")
    snapshot = DatasetSnapshot(
        project_id=project.id or 0,
        name=f"tiny-v{version}",
        version=version,
        status=SnapshotStatus.done,
        path=str(path),
        checksums=checksums,
        datasheet={"name": f"tiny-v{version}", "documents": {k: len(v) for k, v in splits.items()}},
    )
    session.add(snapshot)
    session.commit()
    return snapshot


def files_of(directory: Path) -> dict[str, str]:
    """Every file under a directory by its SHA-256: what must not change."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


__all__ = ["TINY", "Setup", "bind_of", "files_of", "make_snapshot"]
