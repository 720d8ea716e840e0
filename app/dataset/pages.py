"""Dataset pages: the dashboard (admins and reviewers), snapshots and downloads (admins and consumers)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from markupsafe import Markup

from app.agreement_classes import label as class_label
from app.auth.csrf import verify_csrf
from app.auth.deps import AdminUser, CurrentUser, DatasetReader
from app.crawl_batch.service import get_batch, list_batches
from app.dataset import plots
from app.dataset import snapshots as snapshot_service
from app.dataset.dashboard import dashboard as dashboard_figures
from app.dataset.figures import ClassCounts, Dashboard
from app.dataset.routing_figures import routing_figures
from app.dataset.service import FORMATS, check_format, plan_export
from app.dataset.splits import DEFAULT_RATIOS, SPLITS
from app.db import SessionDep
from app.errors import AppError, InvalidInput
from app.models import DatasetSnapshot, SnapshotStatus
from app.project.service import get_project, settings_of
from app.request_limits import StoredInt
from app.review.counts import DECISIONS_MEANING
from app.status_names import status_label
from app.templating import render, render_form

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(verify_csrf)])


# A chart across the whole card (drawn at about the width it is shown, so its labels read at their own size);
# the others share a row two by two.
WIDE = 1080


def charts(f: Dashboard) -> dict[str, Markup]:
    """Inline SVG for every figure; plots.py escapes every label (names and types come from web text)."""
    return {
        **_status_charts(f),
        "throughput": _throughput_chart(f),
        "model_vs_model": _model_vs_model_chart(f),
        "classes": _classes_chart(f),
        **_gold_charts(f),
        "curated_types": plots.bar_chart(
            list(f.curated_entity_types.items())[:20], title="Curated entities by type (top 20)"
        ),
        "rates": plots.bar_chart([(k, v) for k, v in _rates(f) if v is not None], title="Quality rates"),
    }


def _status_charts(f: Dashboard) -> dict[str, Markup]:
    """Documents created and curated over time, and how many are in each status now."""
    status = f.status
    cumulative: dict[str, list[float | None]] = {
        "documents": list(status.cumulative.documents),
        "curated": list(status.cumulative.curated),
    }
    return {
        "status_time": plots.line_chart(
            list(status.days), cumulative, title="Documents created and curated (cumulative, by day)", width=WIDE
        ),
        "status_now": plots.bar_chart(
            [(status_label("document", k), v) for k, v in status.by_status.items()], title="Documents by status"
        ),
    }


def _throughput_chart(f: Dashboard) -> Markup:
    """Each reviewer's decisions and documents per active hour."""
    reviewers = f.reviewers
    return plots.grouped_bar_chart(
        [r.reviewer for r in reviewers],
        {
            "decisions / hour": [r.decisions_per_hour or 0.0 for r in reviewers],
            "documents / hour": [r.documents_per_hour or 0.0 for r in reviewers],
        },
        title="Reviewer throughput (per active hour)",
        width=WIDE,
    )


def _model_vs_model_chart(f: Dashboard) -> Markup:
    """Annotator A against B (κ only when there is one), or the empty state when no document has both."""
    mvm = f.model_vs_model
    if not mvm.documents:
        return plots.empty_chart("Annotator A vs B")
    return plots.bar_chart(
        [("entity F1", mvm.entities.f1), ("relation F1", mvm.relations.f1)]
        + ([("Cohen's κ", mvm.kappa.value)] if mvm.kappa.value is not None else []),
        title="Annotator A vs B",
    )


def _classes_chart(f: Dashboard) -> Markup:
    """The share of each agreement class, entities beside relations (a class missing from one counts 0)."""
    classes = f.agreement_classes
    class_names = sorted(set(classes.entities.classes) | set(classes.relations.classes))
    return plots.grouped_bar_chart(
        [class_label(c) for c in class_names],
        {
            "entities": [_share(classes.entities, c) for c in class_names],
            "relations": [_share(classes.relations, c) for c in class_names],
        },
        title="Share of each agreement class",
        width=WIDE,
    )


def _gold_charts(f: Dashboard) -> dict[str, Markup]:
    """Each annotator against the curated gold: entities (by mention), then relations (intra, cross and all)."""
    gold = f.against_gold
    annotators = list(gold)
    return {
        "gold_entities": plots.grouped_bar_chart(
            annotators,
            {
                "precision": [gold[a].mentions.precision for a in annotators],
                "recall": [gold[a].mentions.recall for a in annotators],
                "f1": [gold[a].mentions.f1 for a in annotators],
            },
            title="Entities (mentions) against the curated gold",
        ),
        "gold_relations": plots.grouped_bar_chart(
            annotators,
            {
                "relation F1": [gold[a].relations.f1 for a in annotators],
                "intra-sentence F1": [gold[a].intra.f1 for a in annotators],
                "cross-sentence F1": [gold[a].cross.f1 for a in annotators],
            },
            title="Relations against the curated gold",
        ),
    }


def _rates(f: Dashboard) -> list[tuple[str, float | None]]:
    """The quality rates, None where there is nothing to measure yet (the chart leaves those out)."""
    human = f.human_agreement
    return [
        ("audit precision", f.audit.precision),
        ("augmentation yield", f.augmentation.yield_),
        ("hallucination rate", f.hallucination.rate),
        ("cross-sentence share", f.curated_relations.cross_sentence_share),
        ("human entity F1", human.entities.f1 if human.documents else None),
        ("human relation F1", human.relations.f1 if human.documents else None),
    ]


def _share(counts: ClassCounts, name: str) -> float:
    shown = counts.classes.get(name)
    return shown.share if shown is not None else 0.0


@router.get("/projects/{project_id}/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request, project_id: int, session: SessionDep, _user: CurrentUser, batch: int | None = None
) -> Response:
    project = get_project(session, project_id)
    chosen = get_batch(session, batch) if batch is not None else None
    if chosen is not None and chosen.project_id != project_id:
        raise InvalidInput.for_field("batch", f"Batch {batch} is not a batch of this project.")
    figures = dashboard_figures(session, project_id=project_id, batch_id=batch)
    return render(
        request,
        "dataset/dashboard.html",
        {
            "project": project,
            "batch": chosen,
            "batches": list_batches(session, project_id=project_id),
            "f": figures,
            "charts": charts(figures),
            "decisions_meaning": DECISIONS_MEANING,
            "routing": routing_figures(session, project_id=project_id, settings=settings_of(project), batch_id=batch),
        },
    )


def _name_suggestion(rows: list[DatasetSnapshot]) -> str:
    """Today's date (UTC) and the version the next snapshot will get: "release-2026-12-07-v3"."""
    version = max((s.version for s in rows), default=0) + 1
    return f"release-{datetime.now(UTC):%Y-%m-%d}-v{version}"


def _snapshots_page(
    request: Request,
    session: SessionDep,
    project_id: int,
    *,
    snapshot: int | None = None,
    values: dict[str, str] | None = None,
    error: AppError | None = None,
) -> Response:
    project = get_project(session, project_id)
    rows = snapshot_service.list_snapshots(session, project_id=project_id)
    done = (s for s in rows if s.status == SnapshotStatus.done)
    shown = next((s for s in rows if s.id == snapshot), None) or next(done, None)
    ctx = {
        "project": project,
        "snapshots": rows,
        "shown": shown,
        "formats": list(FORMATS),
        "splits": snapshot_service.FILE_SPLITS,
        "ratios": DEFAULT_RATIOS,
        "batches": list_batches(session, project_id=project_id),
        "values": values or {"seed": "0", "status": "curated", **{k: f"{v:g}" for k, v in DEFAULT_RATIOS.items()}},
        "split_counts": error.counts if isinstance(error, snapshot_service.EmptySplits) else None,
        "name_suggestion": _name_suggestion(rows),
    }
    return render_form(request, "dataset/snapshots.html", ctx, error=error)


@router.get("/projects/{project_id}/snapshots", response_class=HTMLResponse)
def snapshots(
    request: Request, project_id: int, session: SessionDep, _user: DatasetReader, snapshot: int | None = None
) -> Response:
    return _snapshots_page(request, session, project_id, snapshot=snapshot)


def _ratios(values: dict[str, str]) -> dict[str, float]:
    try:
        return {k: float(values[k].strip() or 0) for k in SPLITS}
    except ValueError:
        raise InvalidInput.for_field("split", "Give each split's share as a number between 0 and 1.") from None


@router.post("/projects/{project_id}/snapshots", response_class=HTMLResponse)
def freeze(
    request: Request,
    project_id: int,
    session: SessionDep,
    user: AdminUser,
    name: Annotated[str, Form()] = "",
    seed: Annotated[StoredInt, Form()] = 0,
    status: Annotated[str, Form()] = "curated",
    train: Annotated[str, Form()] = "0.8",
    dev: Annotated[str, Form()] = "0.1",
    test: Annotated[str, Form()] = "0.1",
    confirm_empty_splits: Annotated[bool, Form()] = False,
) -> Response:
    """Freeze a snapshot; a split with a share but no document is a warning (409) until confirmed."""
    project = get_project(session, project_id)
    values = {"name": name, "seed": str(seed), "status": status, "train": train, "dev": dev, "test": test}
    try:
        snapshot_service.create_snapshot(
            session,
            project=project,
            name=name,
            user=user,
            seed=seed,
            status=status,
            split=_ratios(values),
            confirm_empty_splits=confirm_empty_splits,
        )
    except AppError as exc:
        return _snapshots_page(request, session, project_id, values=values, error=exc)
    return RedirectResponse(f"/projects/{project_id}/snapshots", status_code=303)


@router.get("/projects/{project_id}/export")
def export(
    project_id: int,
    session: SessionDep,
    _user: DatasetReader,
    fmt: str = Query(default="jsonl", alias="format"),
    status: str = "curated",
    batch: int | None = None,
) -> StreamingResponse:
    """The same live download as the API's, for a signed-in admin or consumer."""
    plan = plan_export(session, project_id=project_id, fmt=fmt, status=status, batch_id=batch)
    headers = {"Content-Disposition": f'attachment; filename="{plan.filename}"'}
    return StreamingResponse(plan.chunks, media_type=plan.media_type, headers=headers)


@router.get("/snapshots/{snapshot_id}/download")
def download(
    snapshot_id: int,
    session: SessionDep,
    _user: DatasetReader,
    fmt: str = Query(default="jsonl", alias="format"),
    split: str = "all",
) -> FileResponse:
    snapshot = snapshot_service.get_snapshot(session, snapshot_id)
    path = snapshot_service.snapshot_file(snapshot, fmt=check_format(fmt), split=split)
    filename = snapshot_service.download_name(snapshot, fmt=fmt, split=split)
    return FileResponse(path, media_type=FORMATS[fmt][1], filename=filename)
