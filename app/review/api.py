"""Review over HTTP, under the same rules as the workbench: versioned, locked, audited."""

from fastapi import APIRouter, Query

from app.auth.deps import ApiAdmin, ApiClient
from app.db import SessionDep, require_id
from app.document.service import get_document
from app.models import Document
from app.models.document import BlindReview
from app.project.service import get_project, settings_of
from app.review import blind, queue, service
from app.review.blind import RecallSummary
from app.review.commands import DecisionCommand
from app.review.history import HistoryEntry, document_history
from app.review.schemas import (
    DecisionOutcome,
    LockState,
    QueueEntry,
    ReviewerProgress,
    VersionRequest,
)
from app.review.service import Outcome

router = APIRouter(prefix="/api/v1", tags=["review"])


def outcome_view(outcome: Outcome) -> DecisionOutcome:
    document = outcome.document
    return DecisionOutcome(
        document=require_id(document),
        version=document.version,
        status=document.status,
        summary=outcome.summary,
        decision=require_id(outcome.decision) if outcome.decision else None,
        created_id=outcome.created_id,
        changed={k: sorted(v) for k, v in outcome.changed.items()},
    )


def lock_view(session: SessionDep, document: Document) -> LockState:
    holder = queue.lock_holder(session, document)
    return LockState(
        document=require_id(document),
        version=document.version,
        status=document.status,
        locked_by=holder.username if holder else None,
        locked_until=document.locked_until if holder else None,
    )


@router.post("/documents/{document_id}/decisions", response_model=DecisionOutcome)
def decide(document_id: int, body: DecisionCommand, session: SessionDep, user: ApiClient) -> DecisionOutcome:
    """Apply one decision; 409 with the current `version` when the document changed since `version`."""
    document = get_document(session, document_id)
    return outcome_view(service.decide(session, document=document, user=user, command=body))


@router.post("/documents/{document_id}/undo", response_model=DecisionOutcome)
def undo(document_id: int, body: VersionRequest, session: SessionDep, user: ApiClient) -> DecisionOutcome:
    document = get_document(session, document_id)
    return outcome_view(service.undo(session, document=document, user=user, version=body.version))


@router.post("/documents/{document_id}/submit", response_model=DecisionOutcome)
def submit(document_id: int, body: VersionRequest, session: SessionDep, user: ApiClient) -> DecisionOutcome:
    """Finish the review: undecided items are rejected; the document becomes curated (or awaits adjudication)."""
    document = get_document(session, document_id)
    return outcome_view(service.submit(session, document=document, user=user, version=body.version))


@router.post("/documents/{document_id}/finish-blind", response_model=DecisionOutcome)
def finish_blind(document_id: int, body: VersionRequest, session: SessionDep, user: ApiClient) -> DecisionOutcome:
    """Recall audit: end the blind pass; the proposals appear, those identical to your items already accepted."""
    document = get_document(session, document_id)
    return outcome_view(blind.finish_blind_pass(session, document=document, user=user, version=body.version))


@router.get("/projects/{project_id}/recall-audit", response_model=RecallSummary)
def recall_audit(project_id: int, session: SessionDep, _user: ApiClient, batch: int | None = None) -> RecallSummary:
    """The pipeline's recall estimated from finished blind passes, per kind and type, and the missing relations."""
    return blind.recall_summary(session, project_id=project_id, batch_id=batch)


@router.post("/documents/{document_id}/claim", response_model=LockState)
def claim(document_id: int, session: SessionDep, user: ApiClient) -> LockState:
    """Take or renew the review lock (423 while another reviewer holds it)."""
    document = service.claim(session, document=get_document(session, document_id), user=user)
    return lock_view(session, document)


@router.delete("/documents/{document_id}/claim", response_model=LockState)
def release(document_id: int, session: SessionDep, user: ApiClient) -> LockState:
    document = get_document(session, document_id)
    service.release(session, document=document, user=user)
    return lock_view(session, document)


@router.post("/documents/{document_id}/reopen", response_model=DecisionOutcome)
def reopen(document_id: int, session: SessionDep, user: ApiAdmin) -> DecisionOutcome:
    """Admin only: send a curated document back to review."""
    return outcome_view(service.reopen(session, document=get_document(session, document_id), user=user))


@router.get("/documents/{document_id}/history", response_model=list[HistoryEntry])
def history(document_id: int, session: SessionDep, _user: ApiClient) -> list[HistoryEntry]:
    """The document's decisions, newest first."""
    document = get_document(session, document_id)
    return document_history(session, document_id=require_id(document))


@router.get("/projects/{project_id}/review-queue", response_model=list[QueueEntry])
def review_queue(
    project_id: int,
    session: SessionDep,
    user: ApiClient,
    batch: int | None = None,
    relation_type: str | None = None,
    agreement: str | None = None,
    annotator: int | None = None,
    order: str = Query(default="priority", pattern="^(priority|random|batch)$"),
    limit: int = Query(default=50, ge=1, le=500),
) -> list[QueueEntry]:
    """Documents awaiting review, best first (most open items), with who holds each."""
    project = get_project(session, project_id)
    filters = queue.QueueFilters(batch, relation_type, agreement, annotator, order)
    rows = queue.queue(
        session, project_id=project_id, user=user, settings=settings_of(project), filters=filters, limit=limit
    )
    return [
        QueueEntry(
            id=require_id(r.document),
            title=r.document.title,
            status=r.document.status,
            version=r.document.version,
            # A blind document's proposals are not counted aloud: the count would hint at them.
            open_items=None if r.document.blind_review == BlindReview.pending else r.open_items,
            blind_review=r.document.blind_review,
            locked_by=r.locked_by,
        )
        for r in rows
    ]


@router.get("/projects/{project_id}/reviewers", response_model=list[ReviewerProgress])
def reviewers(project_id: int, session: SessionDep, _user: ApiClient) -> list[ReviewerProgress]:
    """Per reviewer: documents submitted and decisions taken, all time and in the last 24 hours."""
    get_project(session, project_id)
    return [
        ReviewerProgress.model_validate(p, from_attributes=True)
        for p in queue.reviewer_progress(session, project_id=project_id)
    ]
