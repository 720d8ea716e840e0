"""Calibrated routing over the database: route machine items by their slice's record, record what people found.

Every machine item gets a RoutedItem row when it is (re)built: its slice, where it went and why, and what was
proposed. When a document is curated, each reviewed or audited item's outcome is recorded from the curated state
(accepted unchanged = correct; rejected, deleted, retyped, swapped or re-spanned = wrong); reopening the document
forgets them. Estimates are read from those outcomes, so undoing a decision before submitting changes nothing, and
later batches are routed by everything curated so far.
"""

from dataclasses import dataclass, replace

from sqlalchemy import delete, func
from sqlalchemy import select as columns
from sqlmodel import Session, col, select

from app.annotation.augmentation import allowed_types
from app.annotation.calibration import (
    Destination,
    Policy,
    SliceStats,
    Verdict,
    route,
    sampled,
    slice_key,
    tally_counts,
    trusted,
)
from app.db import require_id
from app.models import (
    Agreement,
    Document,
    Entity,
    ItemOutcome,
    ItemStatus,
    Mention,
    Relation,
    Route,
    RoutedItem,
)
from app.models.types import utcnow
from app.project.label_schema import LabelSchema, ProjectSettings


def policy_of(settings: ProjectSettings) -> Policy:
    return Policy(
        auto_accept=settings.auto_accept,
        target_precision=settings.target_precision,
        min_evidence=settings.min_evidence,
        audit_rate=settings.audit_rate,
    )


def project_stats(session: Session, *, project_id: int) -> dict[str, SliceStats]:
    """Judged and correct items per slice (and per slice over all types) of the project."""
    rows = session.execute(
        columns(col(RoutedItem.slice), col(RoutedItem.outcome), func.count())
        .where(col(RoutedItem.project_id) == project_id, col(RoutedItem.outcome).is_not(None))
        .group_by(col(RoutedItem.slice), col(RoutedItem.outcome))
    )
    return tally_counts((key, int(n), int(n) if outcome == ItemOutcome.correct else 0) for key, outcome, n in rows)


class Router:
    """Routes one document's machine items with the project's estimates as they stand (read once)."""

    def __init__(self, session: Session, *, document: Document, schema: LabelSchema, settings: ProjectSettings):
        self.session = session
        self.document = document
        self.schema = schema
        self.policy = policy_of(settings)
        self.stats = project_stats(session, project_id=document.project_id)

    def forget(self) -> None:
        """Drop the routing rows of the document's items before they are rebuilt."""
        self.session.exec(delete(RoutedItem).where(col(RoutedItem.document_id) == self.document.id))

    def entity(
        self, entity: Entity, *, proposers: str, spans: list[tuple[int, int]], sample: str, note: str = ""
    ) -> Verdict:
        key = slice_key("entity", str(entity.agreement), proposers, entity.type)
        allowed = entity.type in self.schema.entity_codes()
        verdict = route(self.stats, key, self.policy, grounded=entity.grounded, allowed=allowed, sample_key=sample)
        verdict = _noted(verdict, note)
        entity.status = _status(verdict)
        self._store(
            "entity",
            entity.id,
            key,
            str(entity.agreement),
            proposers,
            entity.type,
            verdict,
            {"type": entity.type, "spans": [list(s) for s in sorted(spans)]},
        )
        return verdict

    def relation(
        self, relation: Relation, *, head: Entity, tail: Entity, proposers: str, sample: str, note: str = ""
    ) -> Verdict:
        key = slice_key("relation", str(relation.agreement), proposers, relation.type)
        allowed = relation.type in allowed_types(self.schema, head.type, tail.type)
        grounded = head.grounded and tail.grounded
        verdict = route(self.stats, key, self.policy, grounded=grounded, allowed=allowed, sample_key=sample)
        verdict = _noted(verdict, note)
        relation.status = _status(verdict)
        self._store(
            "relation",
            relation.id,
            key,
            str(relation.agreement),
            proposers,
            relation.type,
            verdict,
            {"type": relation.type, "head": relation.head_id, "tail": relation.tail_id},
        )
        return verdict

    def _store(
        self,
        kind: str,
        item_id: int | None,
        key: str,
        agreement: str,
        proposers: str,
        item_type: str,
        verdict: Verdict,
        proposed: dict[str, object],
    ) -> None:
        assert item_id is not None and self.document.id is not None
        self.session.add(
            RoutedItem(
                project_id=self.document.project_id,
                document_id=self.document.id,
                item_kind=kind,
                item_id=item_id,
                slice=key,
                agreement=agreement,
                proposers=proposers,
                type=item_type,
                route=Route(str(verdict.destination)),
                reason=verdict.reason[:300],
                proposed=proposed,
            )
        )


def _status(verdict: Verdict) -> ItemStatus:
    if verdict.destination == Destination.auto:
        return ItemStatus.accepted
    if verdict.destination == Destination.reject:
        return ItemStatus.rejected
    return ItemStatus.proposed


def _noted(verdict: Verdict, note: str) -> Verdict:
    """The verdict with a note in front of its reason (e.g. why the second opinion is missing)."""
    return replace(verdict, reason=f"{note}; {verdict.reason}") if note else verdict


def record_outcomes(session: Session, *, document_id: int) -> int:
    """The document is curated: judge every reviewed or audited machine item by what it became; returns how many."""
    routed = list(
        session.exec(
            select(RoutedItem).where(
                RoutedItem.document_id == document_id, col(RoutedItem.route).in_([Route.review, Route.audit])
            )
        )
    )
    if not routed:
        return 0
    entities = {e.id: e for e in session.exec(select(Entity).where(Entity.document_id == document_id))}
    relations = {r.id: r for r in session.exec(select(Relation).where(Relation.document_id == document_id))}
    spans: dict[int, set[tuple[int, int]]] = {}
    for m in session.exec(select(Mention).where(Mention.document_id == document_id)):
        if m.status != ItemStatus.rejected:
            spans.setdefault(m.entity_id, set()).add((m.start, m.end))
    now = utcnow()
    for item in routed:
        if item.item_kind == "entity":
            ok = _entity_correct(entities.get(item.item_id), item, spans)
        else:
            ok = _relation_correct(relations.get(item.item_id), item)
        item.outcome = ItemOutcome.correct if ok else ItemOutcome.wrong
        item.judged_at = now
        session.add(item)
    session.flush()
    return len(routed)


def _entity_correct(entity: Entity | None, item: RoutedItem, spans: dict[int, set[tuple[int, int]]]) -> bool:
    # A reviewer's own entity may reuse a deleted one's id: the machine item is gone either way.
    if entity is None or entity.agreement == Agreement.manual or entity.status != ItemStatus.accepted:
        return False
    if entity.type != item.proposed.get("type"):
        return False
    proposed = {(int(s), int(e)) for s, e in item.proposed.get("spans", [])}
    # Mentions the reviewer added are fine; a moved or removed proposed span is a boundary error.
    return proposed <= spans.get(require_id(entity), set())


def _relation_correct(relation: Relation | None, item: RoutedItem) -> bool:
    if relation is None or relation.agreement == Agreement.manual or relation.status != ItemStatus.accepted:
        return False
    if relation.type != item.proposed.get("type"):
        return False
    swapped = relation.head_id == item.proposed.get("tail") and relation.tail_id == item.proposed.get("head")
    return not swapped


def forget_outcomes(session: Session, *, document_id: int) -> None:
    """The document was reopened: its outcomes no longer stand until it is curated again."""
    for item in session.exec(
        select(RoutedItem).where(RoutedItem.document_id == document_id, col(RoutedItem.outcome).is_not(None))
    ):
        item.outcome = None
        item.judged_at = None
        session.add(item)
    session.flush()


@dataclass(frozen=True)
class SliceRow:
    """One slice as the dashboard shows it."""

    slice: str
    kind: str
    agreement: str
    proposers: str
    type: str
    routed: int
    auto_accepted: int
    audited: int
    judged: int
    correct: int
    precision: float | None
    lower_bound: float | None
    trusted: bool
    reason: str


def slice_report(session: Session, *, project_id: int, settings: ProjectSettings) -> list[SliceRow]:
    """Every slice of the project: items routed where, people's verdicts, the estimate, and whether it is trusted."""
    policy = policy_of(settings)
    stats = project_stats(session, project_id=project_id)
    routed: dict[str, dict[str, int]] = {}
    for key, destination, n in session.execute(
        columns(col(RoutedItem.slice), col(RoutedItem.route), func.count())
        .where(col(RoutedItem.project_id) == project_id)
        .group_by(col(RoutedItem.slice), col(RoutedItem.route))
    ):
        routed.setdefault(key, {})[str(destination)] = int(n)
    rows = []
    for key in sorted(routed):
        kind, agreement, proposers, item_type = key.split("|", 3)
        s = stats.get(key, SliceStats(0, 0))
        ok, reason, _source = trusted(stats, key, policy)
        by_route = routed[key]
        rows.append(
            SliceRow(
                slice=key,
                kind=kind,
                agreement=agreement,
                proposers=proposers,
                type=item_type,
                routed=sum(by_route.values()),
                auto_accepted=by_route.get(Route.auto, 0),
                audited=by_route.get(Route.audit, 0),
                judged=s.judged,
                correct=s.correct,
                precision=s.precision,
                lower_bound=s.lower_bound if s.judged else None,
                trusted=ok and policy.auto_accept,
                reason=reason if policy.auto_accept else "auto-acceptance is off",
            )
        )
    return rows


@dataclass(frozen=True)
class RoutingTotals:
    """Machine items by where they went, and how many of the curated ones no person decided."""

    auto: int
    review: int
    audit: int
    rejected: int
    curated_unseen: int
    audited_judged: int
    audited_correct: int


def routing_totals(session: Session, *, document_ids: list[int]) -> RoutingTotals:
    """Totals over these documents (a batch, a snapshot)."""
    by_route: dict[str, int] = {}
    unseen = audited = audited_ok = 0
    for start in range(0, len(document_ids), 500):
        chunk = document_ids[start : start + 500]
        for destination, outcome, curated, n in session.execute(
            columns(
                col(RoutedItem.route),
                col(RoutedItem.outcome),
                col(Document.curated_at).is_not(None),
                func.count(),
            )
            .join(Document, col(Document.id) == RoutedItem.document_id)
            .where(col(RoutedItem.document_id).in_(chunk))
            .group_by(col(RoutedItem.route), col(RoutedItem.outcome), col(Document.curated_at).is_not(None))
        ):
            by_route[str(destination)] = by_route.get(str(destination), 0) + int(n)
            if destination == Route.auto and curated:
                unseen += int(n)
            if destination == Route.audit and outcome is not None:
                audited += int(n)
                audited_ok += int(n) if outcome == ItemOutcome.correct else 0
    return RoutingTotals(
        auto=by_route.get(Route.auto, 0),
        review=by_route.get(Route.review, 0),
        audit=by_route.get(Route.audit, 0),
        rejected=by_route.get(Route.reject, 0),
        curated_unseen=unseen,
        audited_judged=audited,
        audited_correct=audited_ok,
    )


def recall_sampled(document_id: int, rate: float) -> bool:
    """Whether the document is drawn for the recall audit (deterministic per document)."""
    return sampled(f"recall:{document_id}", rate)
