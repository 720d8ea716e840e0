"""The recall audit: a blind pass over a sampled document, the reveal that settles it, and what it estimates.

A document drawn for the audit (`recall_audit_rate`) opens with the models' proposals hidden; the reviewer marks
what the text states. Finishing the pass records those items with whether the pipeline had proposed each
(recall.py says how they are matched), folds the ones identical to a proposal into it, and shows everything.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as columns
from sqlmodel import Session, col, select

from app.db import require_id
from app.errors import Conflict
from app.models import Agreement, Document, DocumentStatus, Entity, ItemStatus, Mention, Relation, User
from app.models.document import BlindReview
from app.models.types import utcnow
from app.project.service import get_project, settings_of
from app.review.changes import ChangeSet
from app.review.recall import (
    BlindMatch,
    MarkedEntity,
    MarkedRelation,
    MissingRelations,
    Recall,
    TypeRecall,
    match_blind,
    missing_relations,
    record_items,
    tally,
)
from app.review.service import Outcome, changed_ids, open_for_change, record_decision

FINISH_ACTION = "finish_blind"
RECORD_KEY = "recall_audit"


@dataclass(frozen=True)
class _Items:
    """A document's live (not rejected) items: the reviewer's own, and the pipeline's."""

    blind_entities: list[MarkedEntity]
    blind_relations: list[MarkedRelation]
    machine_entities: list[MarkedEntity]
    machine_relations: list[MarkedRelation]


def _items(session: Session, document_id: int) -> _Items:
    spans: dict[int, set[tuple[int, int]]] = {}
    for entity_id, start, end in session.execute(
        columns(col(Mention.entity_id), col(Mention.start), col(Mention.end)).where(
            col(Mention.document_id) == document_id, col(Mention.status) != ItemStatus.rejected
        )
    ):
        spans.setdefault(entity_id, set()).add((start, end))
    own: set[int] = set()
    entities: dict[bool, list[MarkedEntity]] = {True: [], False: []}
    for e in session.exec(
        select(Entity).where(Entity.document_id == document_id, Entity.status != ItemStatus.rejected)
    ):
        manual = e.agreement == Agreement.manual
        if manual:
            own.add(require_id(e))
        entities[manual].append(MarkedEntity(require_id(e), e.type, frozenset(spans.get(require_id(e), set()))))
    relations: dict[bool, list[MarkedRelation]] = {True: [], False: []}
    for r in session.exec(
        select(Relation).where(Relation.document_id == document_id, Relation.status != ItemStatus.rejected)
    ):
        manual = r.agreement == Agreement.manual
        if manual and not (r.head_id in own and r.tail_id in own):
            continue  # a reviewer's relation always joins their own entities in a blind pass; anything else is not
        relations[manual].append(MarkedRelation(require_id(r), r.head_id, r.tail_id, r.type))
    return _Items(entities[True], relations[True], entities[False], relations[False])


def _record_of(items: _Items, match: BlindMatch, user: User) -> dict[str, Any]:
    """What the reviewer marked, as spans and types (ids do not survive the fold), and what was found."""
    spans = {e.id: sorted([s, t] for s, t in e.spans) for e in items.blind_entities}
    return {
        "reviewer": user.username,
        "finished_at": utcnow().isoformat(),
        "entities": [
            {"type": e.type, "spans": spans[e.id], "found": match.entity_found.get(e.id, False)}
            for e in sorted(items.blind_entities, key=lambda e: (min(e.spans, default=(0, 0)), e.id))
        ],
        "relations": [
            {
                "type": r.type,
                "head": spans.get(r.head, []),
                "tail": spans.get(r.tail, []),
                "found": match.relation_found.get(r.id, False),
            }
            for r in items.blind_relations
        ],
        "proposals": {"entities": len(items.machine_entities), "relations": len(items.machine_relations)},
    }


def _fold(session: Session, changes: ChangeSet, document_id: int, match: BlindMatch) -> None:
    """Settle what is identical: the proposal is accepted and the reviewer's copy goes. A blind relation between
    folded entities moves onto them."""
    relations = {
        r.id: r
        for r in session.exec(
            select(Relation).where(Relation.document_id == document_id, Relation.agreement == Agreement.manual)
        )
    }
    for relation_id, target_id in sorted(match.relation_fold.items()):
        target, own = session.get(Relation, target_id), relations.pop(relation_id, None)
        if target is None or own is None:
            continue
        changes.touch(target)
        target.status = ItemStatus.accepted
        changes.delete(own)
    for own in relations.values():
        head, tail = match.entity_fold.get(own.head_id), match.entity_fold.get(own.tail_id)
        if head is not None or tail is not None:
            changes.touch(own)
            own.head_id, own.tail_id = head or own.head_id, tail or own.tail_id
    session.flush()
    for entity_id, target_id in sorted(match.entity_fold.items()):
        entity, own_entity = session.get(Entity, target_id), session.get(Entity, entity_id)
        if entity is None or own_entity is None:
            continue
        changes.touch(entity)
        entity.status = ItemStatus.accepted
        for mention in session.exec(select(Mention).where(col(Mention.entity_id).in_([entity_id, target_id]))):
            if mention.entity_id == entity_id:
                changes.delete(mention)
            elif mention.status != ItemStatus.accepted:
                changes.touch(mention)
                mention.status = ItemStatus.accepted
        session.flush()
        changes.delete(own_entity)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def finish_blind_pass(session: Session, *, document: Document, user: User, version: int) -> Outcome:
    """Record what the reviewer marked blind, fold it into identical proposals, and show the proposals."""
    if document.blind_review == BlindReview.revealed:
        raise Conflict(f"The blind pass of document {document.id} is already finished: its proposals are shown.")
    if document.blind_review != BlindReview.pending:
        raise Conflict(
            f"Document {document.id} is not reviewed blind: only documents drawn for the recall audit have a "
            "blind pass."
        )
    schema, _settings = open_for_change(session, document=document, user=user, version=version)
    items = _items(session, require_id(document))
    symmetric = {r.code for r in schema.relation_types if r.symmetric}
    match = match_blind(
        items.blind_entities, items.blind_relations, items.machine_entities, items.machine_relations, symmetric
    )
    record = _record_of(items, match, user)
    document.blind_review = BlindReview.revealed
    document.meta = {**document.meta, RECORD_KEY: record}
    changes = ChangeSet(session)
    _fold(session, changes, require_id(document), match)
    marked_e, marked_r = len(items.blind_entities), len(items.blind_relations)
    summary = (
        f"finished the blind pass: marked {_count(marked_e, 'entity', 'entities')} "
        f"({sum(match.entity_found.values())} proposed by the models) and "
        f"{_count(marked_r, 'relation', 'relations')} ({sum(match.relation_found.values())} proposed); "
        f"{len(match.entity_fold) + len(match.relation_fold)} identical to a proposal merged into it; "
        "the proposals are shown"
    )
    decision = record_decision(
        session,
        document=document,
        user=user,
        kind="document",
        item_id=document.id,
        action=FINISH_ACTION,
        changes=changes,
        summary=summary,
    )
    return Outcome(document, decision, summary, changed_ids(changes))


@dataclass(frozen=True)
class RecallSummary:
    """The recall audit of a project (or a batch): documents, recall per kind and type, missing relations."""

    rate: float
    documents: int
    pending: int
    entities: Recall
    relations: Recall
    by_type: tuple[TypeRecall, ...]
    missing_relations: MissingRelations

    @property
    def off(self) -> bool:
        """Nothing to show: the audit is off and no document was ever drawn."""
        return self.rate == 0 and self.documents == 0 and self.pending == 0


def recall_summary(session: Session, *, project_id: int, batch_id: int | None = None) -> RecallSummary:
    """The pipeline's recall estimated from the project's finished blind passes, and the relations it implies
    the curated set lacks (over documents reviewed with the proposals shown)."""
    settings = settings_of(get_project(session, project_id))
    scope = col(Document.project_id) == project_id
    if batch_id is not None:
        scope = scope & (col(Document.batch_id) == batch_id)
    items: list[tuple[str, str, bool]] = []
    documents = pending = 0
    for state, meta in session.execute(
        columns(col(Document.blind_review), col(Document.meta)).where(scope, col(Document.blind_review).is_not(None))
    ):
        if state == BlindReview.pending:
            pending += 1
        elif state == BlindReview.revealed and isinstance(meta, dict) and RECORD_KEY in meta:
            documents += 1
            items += record_items(meta[RECORD_KEY])
    overall, by_type = tally(items)
    # Blind documents were marked from scratch: what the models missed there was marked anyway.
    curated = session.execute(
        columns(func.count())
        .select_from(Relation)
        .join(Document, col(Document.id) == Relation.document_id)
        .where(
            scope,
            col(Document.status) == DocumentStatus.curated,
            col(Document.blind_review).is_(None),
            col(Relation.status) == ItemStatus.accepted,
        )
    ).scalar_one()
    return RecallSummary(
        rate=settings.recall_audit_rate,
        documents=documents,
        pending=pending,
        entities=overall["entity"],
        relations=overall["relation"],
        by_type=by_type,
        missing_relations=missing_relations(int(curated), overall["relation"]),
    )
