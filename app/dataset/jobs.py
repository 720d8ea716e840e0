"""The body of job "dataset.build_snapshot" (workers/dataset.py): a snapshot's files, checksums and datasheet."""

import json
import logging
import shutil
from collections.abc import Mapping

from sqlmodel import Session

from app.annotation.service import pair_of
from app.dataset.dashboard import item_figures
from app.dataset.datasheet import Datasheet, ProjectRef, SnapshotSelection
from app.dataset.document_rows import Bind, Selection, selected_document_ids
from app.dataset.exporters import ExportError
from app.dataset.routing_figures import DatasheetRouting, datasheet_routing
from app.dataset.service import generative_settings
from app.dataset.snapshots import SnapshotParams, snapshot_dir, write_files
from app.dataset.splits import DEFAULT_RATIOS, check_ratios
from app.db import get_engine, require_id
from app.models import DatasetSnapshot, Project, SnapshotStatus
from app.models.types import utcnow
from app.project.service import settings_of
from app.review.blind import RecallSummary, recall_summary

log = logging.getLogger(__name__)


def build_snapshot(snapshot_id: int, *, bind: Bind | None = None) -> None:
    """Job "dataset.build_snapshot": write the snapshot's files, checksums and datasheet; done, or failed with a
    readable reason. A vanished or finished snapshot is a no-op; one delivered again starts over."""
    bind = bind if bind is not None else get_engine()
    with Session(bind, expire_on_commit=False) as session:
        snapshot = session.get(DatasetSnapshot, snapshot_id)
        if snapshot is None or snapshot.status == SnapshotStatus.done:
            return
        project = session.get(Project, snapshot.project_id)
        if project is None:
            return
        snapshot.status = SnapshotStatus.running
        session.add(snapshot)
        session.commit()
        a, b = pair_of(session, project_id=require_id(project))
        session.commit()
    params = SnapshotParams.of(snapshot.params)
    ratios = check_ratios(params.split or DEFAULT_RATIOS)
    status = params.status if params.status is not None else "curated"
    selection = Selection(project_id=require_id(project), status=status, batch_id=params.batch_id)
    final = snapshot_dir(require_id(project), snapshot.version)
    building = final.with_name(final.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    try:
        checksums, counts = write_files(
            bind, building, project=project, selection=selection, seed=snapshot.split_seed, ratios=ratios
        )
        figures = item_figures(bind, selection, (a.name if a else None, b.name if b else None))
        datasheet = Datasheet(
            name=snapshot.name,
            version=f"v{snapshot.version}",
            project=ProjectRef(require_id(project), project.name),
            built_at=utcnow().isoformat(),
            selection=_selection(snapshot, params, ratios),
            counts=counts,
            agreement=figures.datasheet_agreement(),
            routing=_routing(bind, project, selection),
            recall_audit=_recall_audit(bind, project, selection),
            formats=generative_settings(project),
        ).as_json()
        (building / "datasheet.json").write_text(json.dumps(datasheet, ensure_ascii=False, indent=2))
        shutil.rmtree(final, ignore_errors=True)  # a half-finished earlier attempt of this same version
        building.rename(final)
    except ExportError as exc:
        _finish(bind, snapshot_id, failed=f"A document cannot be exported: {exc}")
        shutil.rmtree(building, ignore_errors=True)
        return
    except Exception as exc:
        log.exception("snapshot %s failed", snapshot_id)
        _finish(bind, snapshot_id, failed=f"Internal error while building the snapshot ({type(exc).__name__}).")
        shutil.rmtree(building, ignore_errors=True)
        return
    _finish(bind, snapshot_id, path=str(final), checksums=checksums, datasheet=datasheet)


def _selection(snapshot: DatasetSnapshot, params: SnapshotParams, ratios: Mapping[str, float]) -> SnapshotSelection:
    return SnapshotSelection(
        status=params.status,
        batch_id=params.batch_id,
        seed=snapshot.split_seed,
        split=dict(ratios),
        split_rule="sha256(f'{seed}:{document id}') → uniform in [0, 1) → train / dev / test by the ratios",
    )


def _routing(bind: Bind, project: Project, selection: Selection) -> DatasheetRouting:
    """The routing policy and record, and how many of the snapshot's items no person decided."""
    with Session(bind) as session:
        return datasheet_routing(
            session,
            project_id=require_id(project),
            settings=settings_of(project),
            document_ids=selected_document_ids(session, selection),
        )


def _recall_audit(bind: Bind, project: Project, selection: Selection) -> RecallSummary | None:
    """The recall audit's figures (documents, recall per kind and type, missing relations), or None without one."""
    with Session(bind) as session:
        summary = recall_summary(session, project_id=require_id(project), batch_id=selection.batch_id)
    return summary if summary.documents else None


def _finish(
    bind: Bind,
    snapshot_id: int,
    *,
    failed: str | None = None,
    path: str | None = None,
    checksums: dict[str, str] | None = None,
    datasheet: dict[str, object] | None = None,
) -> None:
    with Session(bind) as session:
        snapshot = session.get(DatasetSnapshot, snapshot_id)
        if snapshot is None:
            return
        snapshot.status = SnapshotStatus.failed if failed else SnapshotStatus.done
        snapshot.datasheet = {"error": failed} if failed else (datasheet or {})
        snapshot.checksums = checksums or {}
        snapshot.path = path
        session.add(snapshot)
        session.commit()
