"""The review queue: which documents await whom, in what order, and the time-limited locks on them."""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, update
from sqlalchemy import select as columns
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.db import require_id
from app.errors import Conflict, Locked
from app.models import (
    AnnotatorRun,
    AssignmentStatus,
    Document,
    DocumentStatus,
    Entity,
    ItemStatus,
    Proposal,
    Relation,
    ReviewAssignment,
    User,
)
from app.models.types import utcnow
from app.project.label_schema import ProjectSettings
from app.review import permissions
from app.review.counts import decisions_by_reviewer

REVIEWABLE = [DocumentStatus.new, DocumentStatus.annotated, DocumentStatus.in_review]
ORDERS = ("priority", "random", "batch")


@dataclass(frozen=True)
class QueueFilters:
    batch_id: int | None = None
    relation_type: str | None = None
    agreement: str | None = None
    annotator_id: int | None = None
    order: str = "priority"


def lock_holder(session: Session, document: Document) -> User | None:
    """The user holding an unexpired lock on the document, if any."""
    if document.locked_by_id is None or document.locked_until is None or document.locked_until <= utcnow():
        return None
    return session.get(User, document.locked_by_id)


def check_lock(session: Session, *, document: Document, user: User) -> User | None:
    """Another user's live lock stops the action (423) and says whose it is and until when; returns the
    holder (None or `user`)."""
    holder = lock_holder(session, document)
    if holder is not None and holder.id != user.id:
        until = document.locked_until.strftime("%H:%M UTC") if document.locked_until else ""
        raise Locked(
            f"{holder.username} is reviewing document {document.id} (locked until {until}). "
            "Pick another document, or ask an admin to release the lock."
        )
    return holder


def take_lock(session: Session, *, document: Document, user: User, settings: ProjectSettings) -> None:
    """Claim or renew the lock for `user`: one conditional UPDATE, so that of two racing claims exactly one
    wins (a read-then-write let both pass check_lock and the later write take the lock over); the other gets
    the 423 of check_lock."""
    now = utcnow()
    until = now + timedelta(minutes=settings.review_lock_minutes)
    free = or_(
        col(Document.locked_by_id).is_(None),
        col(Document.locked_by_id) == user.id,
        col(Document.locked_until).is_(None),
        col(Document.locked_until) <= now,
    )
    result = session.execute(
        update(Document)
        .where(col(Document.id) == document.id, free)
        .values(locked_by_id=user.id, locked_until=until)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(document, ["locked_by_id", "locked_until"])
        check_lock(session, document=document, user=user)
        raise Locked(f"Document {document.id} was just claimed by another reviewer; pick another document.")
    set_committed_value(document, "locked_by_id", user.id)
    set_committed_value(document, "locked_until", until)


def release_lock(session: Session, *, document: Document) -> None:
    document.locked_by_id = None
    document.locked_until = None
    session.add(document)


def submitted_reviewers(session: Session, *, document_id: int) -> list[ReviewAssignment]:
    return list(
        session.exec(
            select(ReviewAssignment)
            .where(
                ReviewAssignment.document_id == document_id,
                ReviewAssignment.status == AssignmentStatus.submitted,
            )
            .order_by(col(ReviewAssignment.submitted_at))
        )
    )


def ensure_assignment(session: Session, *, document: Document, user: User) -> ReviewAssignment:
    assignment = session.exec(
        select(ReviewAssignment).where(ReviewAssignment.document_id == document.id, ReviewAssignment.user_id == user.id)
    ).first()
    if assignment is None:
        assignment = ReviewAssignment(document_id=require_id(document), user_id=require_id(user))
        session.add(assignment)
        session.flush()
    return assignment


def check_can_review(session: Session, *, document: Document, user: User, settings: ProjectSettings) -> None:
    """A document takes actions while it is open for review (or in adjudication, for an admin)."""
    if document.status == DocumentStatus.curated:
        raise Conflict(f"Document {document.id} is already curated; an admin can reopen it for review.")
    if document.status == DocumentStatus.annotating:
        raise Conflict(f"Document {document.id} is still being annotated; review it when its annotation is done.")
    if document.status == DocumentStatus.adjudication:
        permissions.check_may_adjudicate(user, document)
        return
    if settings.reviewers_per_document > 1:
        done = session.exec(
            select(ReviewAssignment.id).where(
                ReviewAssignment.document_id == document.id,
                ReviewAssignment.user_id == user.id,
                ReviewAssignment.status == AssignmentStatus.submitted,
            )
        ).first()
        if done is not None:
            raise Conflict(
                f"You have already reviewed document {document.id}; "
                "double review needs another reviewer for the next pass."
            )


def open_items_by_document(session: Session, *, project_id: int) -> dict[int, int]:
    """Items still needing review, per document of the project."""
    counts: dict[int, int] = {}
    for model in (Entity, Relation):
        rows = session.execute(
            columns(col(model.document_id), func.count())
            .join(Document, col(Document.id) == model.document_id)
            .where(col(Document.project_id) == project_id, col(model.status) == ItemStatus.proposed)
            .group_by(col(model.document_id))
        )
        for doc_id, n in rows:
            counts[doc_id] = counts.get(doc_id, 0) + n
    return counts


@dataclass(frozen=True)
class ProjectProgress:
    """What is left to review in a project besides one document: the workbench adds that document's live count."""

    documents: int
    items: int


def project_progress(session: Session, *, project_id: int, besides: int) -> ProjectProgress:
    """Documents still to review and their items to review, not counting the document `besides`."""
    open_docs = select(Document.id).where(
        Document.project_id == project_id, col(Document.status).in_(REVIEWABLE), Document.id != besides
    )
    documents = session.execute(columns(func.count()).select_from(open_docs.subquery())).scalar_one()
    items = 0
    for model in (Entity, Relation):
        items += session.execute(
            columns(func.count()).where(col(model.document_id).in_(open_docs), col(model.status) == ItemStatus.proposed)
        ).scalar_one()
    return ProjectProgress(int(documents), int(items))


def queue(
    session: Session,
    *,
    project_id: int,
    user: User,
    settings: ProjectSettings,
    filters: QueueFilters,
    limit: int = 50,
) -> list["QueueRow"]:
    """Documents awaiting review by `user`, best first; each says who holds it if someone does."""
    query = _awaiting(project_id=project_id, user=user, settings=settings, filters=filters)
    documents = list(session.exec(query.order_by(col(Document.id))))
    if not documents:
        return []
    open_items = open_items_by_document(session, project_id=project_id)
    now = utcnow()
    holders = {
        u.id: u.username
        for u in session.exec(
            select(User).where(col(User.id).in_({d.locked_by_id for d in documents if d.locked_by_id}))
        )
    }
    rows = [
        QueueRow(
            document=d,
            open_items=open_items.get(require_id(d), 0),
            locked_by=holders.get(d.locked_by_id) if _locked(d, now) else None,
            mine=_locked(d, now) and d.locked_by_id == user.id,
        )
        for d in documents
    ]
    return _ordered(rows, order=filters.order, user=user)[:limit]


def _awaiting(
    *, project_id: int, user: User, settings: ProjectSettings, filters: QueueFilters
) -> SelectOfScalar[Document]:
    """The documents of the project `user` may review, narrowed by the queue's filters."""
    query = select(Document).where(Document.project_id == project_id)
    if permissions.sees_adjudication_queue(user):
        query = query.where(col(Document.status).in_([*REVIEWABLE, DocumentStatus.adjudication]))
    else:
        query = query.where(col(Document.status).in_(REVIEWABLE))
    if filters.batch_id is not None:
        query = query.where(Document.batch_id == filters.batch_id)
    if filters.relation_type:
        query = query.where(
            col(Document.id).in_(
                select(Relation.document_id).where(
                    Relation.type == filters.relation_type, Relation.status == ItemStatus.proposed
                )
            )
        )
    if filters.agreement:
        query = query.where(
            or_(
                col(Document.id).in_(
                    select(Relation.document_id).where(
                        Relation.agreement == filters.agreement, Relation.status == ItemStatus.proposed
                    )
                ),
                col(Document.id).in_(
                    select(Entity.document_id).where(
                        Entity.agreement == filters.agreement, Entity.status == ItemStatus.proposed
                    )
                ),
            )
        )
    if filters.annotator_id is not None:
        query = query.where(
            col(Document.id).in_(
                select(AnnotatorRun.document_id)
                .join(Proposal, col(Proposal.run_id) == AnnotatorRun.id)
                .where(AnnotatorRun.annotator_id == filters.annotator_id)
            )
        )
    if settings.reviewers_per_document > 1:
        mine = select(ReviewAssignment.document_id).where(
            ReviewAssignment.user_id == user.id, ReviewAssignment.status == AssignmentStatus.submitted
        )
        query = query.where(col(Document.id).not_in(mine))
    return query


def _locked(document: Document, now: datetime) -> bool:
    return document.locked_by_id is not None and document.locked_until is not None and document.locked_until > now


def _ordered(rows: list["QueueRow"], *, order: str, user: User) -> list["QueueRow"]:
    """Best first by `order`; documents locked by others go last: they are visible, not offered."""
    if order == "random":  # stable per reviewer, so two reviewers start in different places
        rows.sort(key=lambda r: hashlib.sha256(f"{user.id}:{r.document.id}".encode()).digest())
    elif order == "batch":
        rows.sort(key=lambda r: (r.document.batch_id or 0, require_id(r.document)))
    else:
        rows.sort(key=lambda r: (-r.open_items, require_id(r.document)))
    rows.sort(key=lambda r: r.locked_by is not None and not r.mine)
    return rows


def next_document(
    session: Session, *, project_id: int, user: User, settings: ProjectSettings, filters: QueueFilters, skip: int | None
) -> Document | None:
    """The first queued document `user` may take: their own lock first, then an unlocked one."""
    rows = queue(session, project_id=project_id, user=user, settings=settings, filters=filters, limit=10_000)
    for row in rows:
        if row.document.id == skip:
            continue
        if row.mine or row.locked_by is None:
            return row.document
    return None


def reviewer_progress(session: Session, *, project_id: int) -> list["ReviewerCounts"]:
    """Per reviewer: documents submitted and decisions (counts.DECISIONS_MEANING), all time and in the last 24 hours."""
    docs = select(Document.id).where(Document.project_id == project_id)
    since = utcnow() - timedelta(hours=24)
    documents: dict[int, tuple[int, int]] = {}
    # Counted in SQL: a project's decisions run into the hundreds of thousands.
    recent_docs = func.sum(case((col(ReviewAssignment.submitted_at) >= since, 1), else_=0))
    for user_id, n, n_recent in session.execute(
        columns(col(ReviewAssignment.user_id), func.count(), recent_docs)
        .where(col(ReviewAssignment.document_id).in_(docs), col(ReviewAssignment.status) == AssignmentStatus.submitted)
        .group_by(col(ReviewAssignment.user_id))
    ):
        documents[user_id] = (int(n), int(n_recent or 0))
    decisions = decisions_by_reviewer(session, document_ids=docs, since=since)
    users = set(documents) | set(decisions)
    names = {u.id: u.username for u in session.exec(select(User).where(col(User.id).in_(list(users))))}
    out = [
        ReviewerCounts(
            user_id=user_id,
            username=names.get(user_id, "?"),
            documents=documents.get(user_id, (0, 0))[0],
            documents_24h=documents.get(user_id, (0, 0))[1],
            decisions=decisions[user_id].total if user_id in decisions else 0,
            decisions_24h=decisions[user_id].since if user_id in decisions else 0,
        )
        for user_id in users
    ]
    return sorted(out, key=lambda e: e.username)


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One document in a reviewer's queue, and who holds it if someone does."""

    document: Document
    open_items: int
    locked_by: str | None
    mine: bool


@dataclass(frozen=True, slots=True)
class ReviewerCounts:
    """A reviewer's submitted documents and decisions, all time and in the last 24 hours."""

    user_id: int
    username: str
    documents: int
    documents_24h: int
    decisions: int
    decisions_24h: int
