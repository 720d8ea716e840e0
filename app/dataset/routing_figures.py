"""Calibrated routing as the dashboard and the datasheet report it: the policy, each slice's record, the totals."""

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from app.annotation.routing import RoutingTotals, SliceRow, routing_totals, slice_report
from app.models import Document
from app.project.label_schema import ProjectSettings


@dataclass(frozen=True)
class RoutingPolicy:
    auto_accept: bool
    target_precision: float
    min_evidence: int
    audit_rate: float
    recheck: bool

    @classmethod
    def of(cls, settings: ProjectSettings) -> "RoutingPolicy":
        return cls(
            auto_accept=settings.auto_accept,
            target_precision=settings.target_precision,
            min_evidence=settings.min_evidence,
            audit_rate=settings.audit_rate,
            recheck=settings.recheck,
        )


@dataclass(frozen=True)
class RoutingFigures:
    policy: RoutingPolicy
    # Trusted slices first, then by how many items they routed.
    slices: tuple[SliceRow, ...]
    # Over the documents shown (the project, or one batch); the slices are always the project's.
    totals: RoutingTotals


def ordered(slices: list[SliceRow]) -> tuple[SliceRow, ...]:
    return tuple(sorted(slices, key=lambda s: (not s.trusted, -s.routed, s.slice)))


def routing_figures(
    session: Session, *, project_id: int, settings: ProjectSettings, batch_id: int | None = None
) -> RoutingFigures:
    """The routing section of the dashboard."""
    query = select(Document.id).where(Document.project_id == project_id)
    if batch_id is not None:
        query = query.where(Document.batch_id == batch_id)
    ids = [int(i) for i in session.exec(query.order_by(col(Document.id))) if i is not None]
    return RoutingFigures(
        policy=RoutingPolicy.of(settings),
        slices=ordered(slice_report(session, project_id=project_id, settings=settings)),
        totals=routing_totals(session, document_ids=ids),
    )


def datasheet_routing(
    session: Session, *, project_id: int, settings: ProjectSettings, document_ids: list[int]
) -> dict[str, Any]:
    """The datasheet's `routing` entry: the policy, each judged slice's precision, and what no person decided."""
    policy = RoutingPolicy.of(settings)
    totals = routing_totals(session, document_ids=document_ids)
    judged = [s for s in ordered(slice_report(session, project_id=project_id, settings=settings)) if s.judged]
    return {
        "policy": {
            "auto_accept": policy.auto_accept,
            "target_precision": policy.target_precision,
            "min_evidence": policy.min_evidence,
            "audit_rate": policy.audit_rate,
            "recheck": policy.recheck,
        },
        # The project's record when the snapshot was built: what routing went by.
        "slices": [
            {
                "slice": s.slice,
                "kind": s.kind,
                "agreement": s.agreement,
                "proposers": s.proposers,
                "type": s.type,
                "judged": s.judged,
                "correct": s.correct,
                "precision": s.precision,
                "lower_bound": s.lower_bound,
                "trusted": s.trusted,
            }
            for s in judged
        ],
        # Over the snapshot's documents: machine items by route, and the auto-accepted ones of curated documents
        # (accepted with no person's decision).
        "totals": {"auto": totals.auto, "review": totals.review, "audit": totals.audit, "reject": totals.rejected},
        "curated_unseen": totals.curated_unseen,
        "audited": {
            "judged": totals.audited_judged,
            "correct": totals.audited_correct,
            "precision": totals.audited_correct / totals.audited_judged if totals.audited_judged else None,
        },
    }
