"""Review decisions on a document: versioned, locked, audited, undoable; submit makes the document curated."""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from app.annotation import routing
from app.db import require_id
from app.errors import Conflict
from app.models import (
    AssignmentStatus,
    Decision,
    Document,
    DocumentStatus,
    Entity,
    ItemStatus,
    Mention,
    Relation,
    User,
)
from app.models.types import utcnow
from app.project.label_schema import LabelSchema, ProjectSettings
from app.project.service import get_project, label_schema_of, settings_of
from app.review import decisions, permissions, queue
from app.review.adjudication import curated_result, prefill_adjudication
from app.review.changes import ChangeSet, restore
from app.review.commands import DecisionCommand
from app.review.decisions import Context, refuse_while_blind
from app.review.result import ReviewResult, stored_result

# Decisions that end a reviewer's pass: undo never reaches back across them.
BARRIERS = {"submit", "reopen"}
NOT_UNDOABLE = BARRIERS | {"undo"}
# Undo also stops at the end of a blind pass (blind.py): what was marked blind is on record by then.
UNDO_BARRIERS = BARRIERS | {"finish_blind"}


class StaleVersion(Conflict):
    """The client acted on an old version of the document; it gets the fresh state."""

    def __init__(self, document: Document, version: int) -> None:
        super().__init__(
            f"Document {document.id} changed since you loaded it (you had version {version}, it is now "
            f"{document.version}). The current state is shown: check it and act again."
        )
        self.document_id = document.id
        self.extra = {"version": document.version}


@dataclass
class Outcome:
    document: Document
    decision: Decision | None
    summary: str
    changed: dict[str, set[int]] = field(default_factory=dict)
    created_id: int | None = None


def _project_rules(session: Session, document: Document) -> tuple[LabelSchema, ProjectSettings]:
    project = get_project(session, document.project_id)
    return label_schema_of(project), settings_of(project)


def _bump_version(session: Session, document: Document, version: int) -> None:
    """Compare-and-set on the version: of two racing decisions on one version, exactly one wins."""
    result = session.execute(
        update(Document)
        .where(col(Document.id) == document.id, col(Document.version) == version)
        .values(version=Document.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        current = session.exec(select(Document.version).where(Document.id == document.id)).one()
        set_committed_value(document, "version", current)
        raise StaleVersion(document, version)
    # Only the version changed: no reload of the whole row (its sentences are a large JSON column).
    set_committed_value(document, "version", version + 1)


def open_for_change(
    session: Session, *, document: Document, user: User, version: int
) -> tuple[LabelSchema, ProjectSettings]:
    """The gate every change passes: reviewable, not locked by another, on the current version; then lock."""
    schema, settings = _project_rules(session, document)
    queue.check_can_review(session, document=document, user=user, settings=settings)
    holder = queue.check_lock(session, document=document, user=user)
    _bump_version(session, document, version)
    queue.take_lock(session, document=document, user=user, settings=settings)
    if document.status in (DocumentStatus.new, DocumentStatus.annotated):
        document.status = DocumentStatus.in_review
    # The reviewer's assignment exists from their pass's first action: later ones (lock held) skip the lookup.
    if document.status != DocumentStatus.adjudication and (holder is None or holder.id != user.id):
        queue.ensure_assignment(session, document=document, user=user)
    return schema, settings


def record_decision(
    session: Session,
    *,
    document: Document,
    user: User,
    kind: str,
    item_id: int | None,
    action: str,
    changes: ChangeSet,
    summary: str,
    extra: dict[str, Any] | None = None,
) -> Decision:
    before, after = changes.rows()
    decision = Decision(
        document_id=require_id(document),
        user_id=user.id,
        item_kind=kind,
        item_id=item_id,
        action=action,
        before={"rows": before},
        after={"rows": after, "summary": summary, **(extra or {})},
        document_version=document.version,
    )
    session.add(decision)
    session.add(document)
    session.flush()
    return decision


def changed_ids(changes: ChangeSet) -> dict[str, set[int]]:
    return {t: changes.ids(t) for t in ("entity", "mention", "relation")}


def claim(session: Session, *, document: Document, user: User) -> Document:
    """Take (or renew) the review lock without changing anything else."""
    _schema, settings = _project_rules(session, document)
    queue.check_can_review(session, document=document, user=user, settings=settings)
    queue.check_lock(session, document=document, user=user)
    queue.take_lock(session, document=document, user=user, settings=settings)
    session.flush()
    return document


def release(session: Session, *, document: Document, user: User) -> None:
    """Give the lock up: the holder may, an admin may release anyone's."""
    holder = queue.lock_holder(session, document)
    if holder is None:
        return
    permissions.check_may_release(user, document, holder)
    queue.release_lock(session, document=document)
    session.flush()


def decide(session: Session, *, document: Document, user: User, command: DecisionCommand) -> Outcome:
    """Apply one reviewer command; the audit log gets every row it touched, before and after."""
    schema, _settings = open_for_change(session, document=document, user=user, version=command.version)
    changes = ChangeSet(session)
    ctx = Context(session=session, document=document, schema=schema, changes=changes)
    summary = decisions.apply(ctx, command)
    decision = record_decision(
        session,
        document=document,
        user=user,
        kind=command.item,
        item_id=command.id if command.id is not None else ctx.created_id,
        action=command.action,
        changes=changes,
        summary=summary,
    )
    return Outcome(document, decision, summary, changed_ids(changes), ctx.created_id)


def _since_barrier(session: Session, document_id: int, barriers: set[str] = BARRIERS) -> list[Decision]:
    decisions = list(
        session.exec(select(Decision).where(Decision.document_id == document_id).order_by(col(Decision.id)))
    )
    last = max((i for i, d in enumerate(decisions) if d.action in barriers), default=-1)
    return decisions[last + 1 :]


def undo(session: Session, *, document: Document, user: User, version: int) -> Outcome:
    """Revert the user's last decision on the document (since their pass began)."""
    open_for_change(session, document=document, user=user, version=version)
    candidates = [
        d
        for d in _since_barrier(session, require_id(document), UNDO_BARRIERS)
        if d.user_id == user.id and d.undone_at is None and d.action not in NOT_UNDOABLE
    ]
    if not candidates:
        raise Conflict("Nothing to undo: you have no decision on this document since it was last submitted.")
    target = candidates[-1]
    changes = ChangeSet(session)
    restore(session, changes, (target.before or {}).get("rows", []))
    target.undone_at = utcnow()
    session.add(target)
    summary = f"undid: {(target.after or {}).get('summary', target.action)}"
    decision = record_decision(
        session,
        document=document,
        user=user,
        kind=target.item_kind,
        item_id=target.item_id,
        action="undo",
        changes=changes,
        summary=summary,
        extra={"undoes": target.id},
    )
    return Outcome(document, decision, summary, changed_ids(changes))


def _reject_remaining(session: Session, changes: ChangeSet, document_id: int) -> int:
    n = 0
    for model in (Relation, Entity, Mention):
        for obj in session.exec(
            select(model).where(model.document_id == document_id, model.status == ItemStatus.proposed)
        ):
            changes.touch(obj)
            obj.status = ItemStatus.rejected
            n += 1 if model is not Mention else 0
    return n


def submit(session: Session, *, document: Document, user: User, version: int) -> Outcome:
    """The reviewer is done: undecided items are rejected and the document is curated.

    With double review, each reviewer's result is kept and the items go back to the machine proposals for the
    next reviewer; when all have submitted, an admin adjudicates what they disagree on.
    """
    refuse_while_blind(document, "finish it first; its proposals are then shown for review.")
    _schema, settings = open_for_change(session, document=document, user=user, version=version)
    changes = ChangeSet(session)
    doc_id = require_id(document)
    if document.status == DocumentStatus.adjudication:
        n = _reject_remaining(session, changes, doc_id)
        summary = f"adjudicated: curated ({n} undecided item(s) rejected)"
        _curate(session, document)
    elif settings.reviewers_per_document <= 1:
        n = _reject_remaining(session, changes, doc_id)
        summary = f"submitted: curated ({n} undecided item(s) rejected)"
        _finish_assignment(session, document=document, user=user, result=None)
        _curate(session, document)
    else:
        result = curated_result(session, doc_id)
        _finish_assignment(session, document=document, user=user, result=result)
        for d in reversed(_since_barrier(session, doc_id)):
            if d.undone_at is None and d.action not in NOT_UNDOABLE:
                restore(session, changes, (d.before or {}).get("rows", []))
        done = queue.submitted_reviewers(session, document_id=doc_id)
        if len(done) >= settings.reviewers_per_document:
            prefill_adjudication(
                session, changes=changes, document=document, results=[stored_result(a.result) for a in done]
            )
            document.status = DocumentStatus.adjudication
            summary = f"submitted review {len(done)} of {len(done)}: awaiting adjudication"
        else:
            summary = f"submitted review {len(done)} of {settings.reviewers_per_document}"
    queue.release_lock(session, document=document)
    decision = record_decision(
        session,
        document=document,
        user=user,
        kind="document",
        item_id=doc_id,
        action="submit",
        changes=changes,
        summary=summary,
    )
    return Outcome(document, decision, summary, changed_ids(changes))


def _curate(session: Session, document: Document) -> None:
    """The document is curated: what reviewers made of each routed machine item now counts in its slice."""
    document.status = DocumentStatus.curated
    document.curated_at = utcnow()
    session.flush()
    routing.record_outcomes(session, document_id=require_id(document))


def _finish_assignment(session: Session, *, document: Document, user: User, result: ReviewResult | None) -> None:
    assignment = queue.ensure_assignment(session, document=document, user=user)
    assignment.status = AssignmentStatus.submitted
    assignment.submitted_at = utcnow()
    assignment.result = dict(result) if result is not None else None  # the JSON column
    session.add(assignment)


def reopen(session: Session, *, document: Document, user: User) -> Outcome:
    """An admin sends a curated document back to review; its decisions stay in the history."""
    permissions.check_may_reopen(user)
    if document.status != DocumentStatus.curated:
        raise Conflict(f"Document {document.id} is not curated (it is {document.status}).")
    document.status = DocumentStatus.in_review
    document.curated_at = None
    document.version += 1
    routing.forget_outcomes(session, document_id=require_id(document))
    changes = ChangeSet(session)
    decision = record_decision(
        session,
        document=document,
        user=user,
        kind="document",
        item_id=document.id,
        action="reopen",
        changes=changes,
        summary="reopened for review",
    )
    return Outcome(document, decision, "reopened for review")
