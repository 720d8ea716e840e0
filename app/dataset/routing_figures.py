"""Calibrated routing as the dashboard and the datasheet report it: the policy, each slice's record, the totals."""

from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class JudgedSlice:
    """A slice's record as the datasheet keeps it."""

    slice: str
    kind: str
    agreement: str
    proposers: str
    type: str
    judged: int
    correct: int
    precision: float | None
    lower_bound: float | None
    trusted: bool

    @classmethod
    def of(cls, s: SliceRow) -> "JudgedSlice":
        return cls(
            slice=s.slice,
            kind=s.kind,
            agreement=s.agreement,
            proposers=s.proposers,
            type=s.type,
            judged=s.judged,
            correct=s.correct,
            precision=s.precision,
            lower_bound=s.lower_bound,
            trusted=s.trusted,
        )


@dataclass(frozen=True, slots=True)
class RoutedCounts:
    """Machine items by route."""

    auto: int
    review: int
    audit: int
    reject: int


@dataclass(frozen=True, slots=True)
class AuditedCounts:
    judged: int
    correct: int
    precision: float | None


@dataclass(frozen=True, slots=True)
class DatasheetRouting:
    """The datasheet's `routing` entry; field order is the order of datasheet.json."""

    policy: RoutingPolicy
    # The project's record when the snapshot was built: what routing went by.
    slices: tuple[JudgedSlice, ...]
    # Over the snapshot's documents: machine items by route, and the auto-accepted ones of curated documents
    # (accepted with no person's decision).
    totals: RoutedCounts
    curated_unseen: int
    audited: AuditedCounts


def datasheet_routing(
    session: Session, *, project_id: int, settings: ProjectSettings, document_ids: list[int]
) -> DatasheetRouting:
    """The datasheet's `routing` entry: the policy, each judged slice's precision, and what no person decided."""
    totals = routing_totals(session, document_ids=document_ids)
    judged = [s for s in ordered(slice_report(session, project_id=project_id, settings=settings)) if s.judged]
    return DatasheetRouting(
        policy=RoutingPolicy.of(settings),
        slices=tuple(JudgedSlice.of(s) for s in judged),
        totals=RoutedCounts(auto=totals.auto, review=totals.review, audit=totals.audit, reject=totals.rejected),
        curated_unseen=totals.curated_unseen,
        audited=AuditedCounts(
            judged=totals.audited_judged,
            correct=totals.audited_correct,
            precision=totals.audited_correct / totals.audited_judged if totals.audited_judged else None,
        ),
    )
