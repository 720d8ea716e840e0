"""Reading documents: a project's list (by batch, status, title or URL), one document, and its annotations."""

from dataclasses import dataclass

from sqlalchemy import func, or_
from sqlalchemy.orm import defer
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from app.db import require_id
from app.document.schemas import (
    DocumentAnnotations,
    EntityRead,
    MentionRead,
    ProposalRead,
    RelationRead,
    RunRead,
    VoteRead,
)
from app.errors import InvalidInput, NotFound
from app.models import Agreement, Annotator, AnnotatorRun, Document, DocumentStatus, Entity, Mention, Proposal, Relation
from app.models.document import BlindReview

MAX_PER_PAGE = 200
# Far beyond any real listing, and small enough that the row offset fits a 64-bit integer.
MAX_PAGE = 1_000_000_000


@dataclass(frozen=True)
class DocumentPage:
    items: list[Document]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def list_documents(
    session: Session,
    *,
    project_id: int,
    batch_id: int | None = None,
    status: str | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> DocumentPage:
    """Documents of a project, oldest first (by id: a batch's documents in the order they were read), filtered by
    batch, status and a title/URL search."""
    if status is not None and status not in DocumentStatus.__members__:
        raise InvalidInput.for_field("status", f"Unknown status {status!r}; use one of {', '.join(DocumentStatus)}.")
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput.for_field("page", f"page must be a whole number from 1 to {MAX_PAGE:,}.")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput.for_field("per_page", f"per_page must be a whole number from 1 to {MAX_PER_PAGE}.")
    conditions: list[ColumnElement[bool]] = [col(Document.project_id) == project_id]
    if batch_id is not None:
        conditions.append(col(Document.batch_id) == batch_id)
    if status is not None:
        conditions.append(col(Document.status) == status)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            or_(col(Document.title).ilike(pattern, escape="\\"), col(Document.url).ilike(pattern, escape="\\"))
        )
    total = session.exec(select(func.count()).select_from(Document).where(*conditions)).one()
    items = session.exec(
        select(Document)
        .options(defer(Document.text), defer(Document.minhash), defer(Document.sentences))  # type: ignore[arg-type]
        .where(*conditions)
        .order_by(col(Document.id))
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return DocumentPage(list(items), total, page, per_page)


def get_document(session: Session, document_id: int) -> Document:
    document = session.get(Document, document_id)
    if document is None:
        raise NotFound(f"Document {document_id} does not exist.")
    return document


def document_annotations(session: Session, document: Document) -> DocumentAnnotations:
    """Entities (mentions with offsets) and relations with their annotators, agreement class and status.

    In a blind pass (recall audit) only the reviewer's own items are shown until the pass is finished.
    """
    document_id = require_id(document)
    hidden = document.blind_review == BlindReview.pending
    own_entities = [col(Entity.agreement) == Agreement.manual] if hidden else []
    own_relations = [col(Relation.agreement) == Agreement.manual] if hidden else []
    names = {a.id: a.name for a in session.exec(select(Annotator).where(Annotator.project_id == document.project_id))}
    runs = list(session.exec(select(AnnotatorRun).where(AnnotatorRun.document_id == document_id)))
    run_annotator = {r.id: names.get(r.annotator_id) for r in runs}
    proposals, votes = _proposals_and_votes(session, run_annotator)
    mentions = _mentions_by_entity(session, document_id)
    entities = [
        EntityRead(
            id=require_id(e),
            type=e.type,
            name=e.name,
            status=e.status,
            agreement=e.agreement,
            grounded=e.grounded,
            mentions=mentions.get(require_id(e), []),
            proposed_by=proposals.get(("entity", require_id(e)), []),
        )
        for e in session.exec(
            select(Entity).where(Entity.document_id == document_id, *own_entities).order_by(col(Entity.id))
        )
    ]
    relations = [
        RelationRead(
            id=require_id(r),
            head=r.head_id,
            tail=r.tail_id,
            type=r.type,
            evidence=r.evidence,
            status=r.status,
            agreement=r.agreement,
            proposed_by=proposals.get(("relation", require_id(r)), []),
            votes=votes.get(require_id(r), []),
        )
        for r in session.exec(
            select(Relation).where(Relation.document_id == document_id, *own_relations).order_by(col(Relation.id))
        )
    ]
    return DocumentAnnotations(
        entities=entities,
        relations=relations,
        runs=[_run_read(r, names.get(r.annotator_id)) for r in runs],
        blind_review=BlindReview(document.blind_review) if document.blind_review else None,
    )


def _proposals_and_votes(
    session: Session, run_annotator: dict[int | None, str | None]
) -> tuple[dict[tuple[str, int], list[ProposalRead]], dict[int, list[VoteRead]]]:
    """Each item's proposals (who, with which type, and how), and each relation's verification votes."""
    proposals: dict[tuple[str, int], list[ProposalRead]] = {}
    votes: dict[int, list[VoteRead]] = {}
    for p in session.exec(select(Proposal).where(col(Proposal.run_id).in_(list(run_annotator)))):
        if "vote" in p.payload:
            votes.setdefault(p.item_id, []).append(
                VoteRead(annotator=run_annotator.get(p.run_id), vote=p.payload["vote"])
            )
            continue
        proposals.setdefault((p.item_kind, p.item_id), []).append(
            ProposalRead(
                annotator=run_annotator.get(p.run_id),
                type=p.proposed_type,
                augmentation=p.augmentation,
                audit=bool(p.payload.get("audit")),
                # Given in the blind second opinion, not in the annotator's own first pass.
                blind=bool(p.payload.get("recheck")),
                voter=bool(p.payload.get("voter")),  # the third voter's agreement, not one of the pair's
            )
        )
    return proposals, votes


def _mentions_by_entity(session: Session, document_id: int) -> dict[int, list[MentionRead]]:
    mentions: dict[int, list[MentionRead]] = {}
    for m in session.exec(select(Mention).where(Mention.document_id == document_id).order_by(col(Mention.start))):
        mentions.setdefault(m.entity_id, []).append(
            MentionRead(id=require_id(m), start=m.start, end=m.end, text=m.text, sentence=m.sentence_id)
        )
    return mentions


def _run_read(run: AnnotatorRun, annotator: str | None) -> RunRead:
    return RunRead(
        annotator=annotator,
        status=run.status,
        prompt_version=run.prompt_version,
        input_tokens=run.input_tokens,
        output_tokens=run.output_tokens,
        cost=float(run.cost),
        latency_ms=run.latency_ms,
        error=run.error,
    )
