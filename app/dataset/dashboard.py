"""The figures of the project dashboard (and of a snapshot's datasheet), read page by page or aggregated."""

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import accumulate, combinations
from typing import Any

from sqlmodel import Session, col, select

from app.annotation.service import pair_of
from app.dataset.document_rows import Bind, RawPage, Selection
from app.dataset.figures import (
    AgreementClasses,
    Augmentation,
    ClassCounts,
    ClassShare,
    Cost,
    Cumulative,
    CuratedRelations,
    Dashboard,
    Decided,
    Hallucination,
    HumanAgreement,
    ItemFigures,
    Pair,
    ReviewerThroughput,
    StatusOverTime,
)
from app.dataset.loaders import gold_and_annotators, iter_pages
from app.evaluation.metrics import AgreementTally, GoldTally, is_intra_sentence, prf
from app.evaluation.records import ExportDocument
from app.models import Decision, Document, DocumentStatus, Entity, ItemStatus, Relation, ReviewAssignment, User
from app.models.review import AssignmentStatus
from app.review.blind import recall_summary
from app.review.counts import decisions_by_reviewer


@dataclass
class _ItemTally:
    """Audit sample, augmentation, grounding and curated-relation counts over a pass of pages."""

    documents: int = 0
    curated: int = 0
    cost: float = 0.0
    audit: Counter[str] = field(default_factory=Counter)
    augmented: Counter[str] = field(default_factory=Counter)
    entities: int = 0
    ungrounded: int = 0
    curated_relations: int = 0
    curated_cross: int = 0
    curated_types: Counter[str] = field(default_factory=Counter)


def _empty(doc_id: str) -> ExportDocument:
    return ExportDocument(id=doc_id, title="", text="", sentences=[])


def item_figures(source: Bind | Session, selection: Selection, pair: tuple[str | None, str | None]) -> ItemFigures:
    """Model vs model, each annotator against the curated gold, and the item counts, in one pass."""
    agreement = AgreementTally()
    against: dict[str, GoldTally] = defaultdict(GoldTally)
    tally = _ItemTally()
    for page in iter_pages(source, replace(selection, every_item=True)):
        _tally_page(page, pair, agreement, against, tally)
    return _figures(Pair(*pair), agreement, against, tally)


def _tally_page(
    page: RawPage,
    pair: tuple[str | None, str | None],
    agreement: AgreementTally,
    against: dict[str, GoldTally],
    tally: _ItemTally,
) -> None:
    """Adds one page's documents: the pair's agreement, each annotator against the gold, and the item counts."""
    a_name, b_name = pair
    gold, views = gold_and_annotators(page)
    by_name = {name: {d.id: d for d in docs} for name, docs in views.items()}
    gold_by_id = {d.id: d for d in gold}
    for d in page.documents:
        doc_id, ran = str(d.id), page.runs.get(d.id, set())
        tally.documents += 1
        tally.cost += page.cost.get(d.id, 0.0)

        if a_name in ran or b_name in ran:
            agreement.add(_view(by_name, a_name, doc_id, ran), _view(by_name, b_name, doc_id, ran))
        ref = gold_by_id.get(doc_id)
        if ref is not None:
            _tally_gold(ref, by_name, ran, against, tally)
        _tally_items(page, d.id, tally)


def _tally_gold(
    ref: ExportDocument,
    by_name: dict[str, dict[str, ExportDocument]],
    ran: set[str],
    against: dict[str, GoldTally],
    tally: _ItemTally,
) -> None:
    """A curated document: each annotator that ran on it against its gold, and its curated types and relations."""
    tally.curated += 1
    for name in sorted(ran):
        mine = _view(by_name, name, ref.id, ran)
        if mine is not None:
            against[name].add(mine, ref)
    tally.curated_types.update(e.type for e in ref.entities)
    for r in ref.relations:
        tally.curated_relations += 1
        tally.curated_cross += not is_intra_sentence(ref, r.head, r.tail)


def _tally_items(page: RawPage, document_id: int, tally: _ItemTally) -> None:
    """A document's items: audited and augmented ones by status, and model-made entities (how many ungrounded)."""
    for entity_id, _, _, _, status, how, grounded in page.entities.get(document_id, []):
        _count_item(tally, ("entity", entity_id) in page.audited, status, how)
        if str(how) not in ("manual", "imported"):
            tally.entities += 1
            tally.ungrounded += not grounded
    for relation_id, *_, status, how in page.relations.get(document_id, []):
        _count_item(tally, ("relation", relation_id) in page.audited, status, how)


def _figures(pair: Pair, agreement: AgreementTally, against: dict[str, GoldTally], tally: _ItemTally) -> ItemFigures:
    """The figures of the tallies once every page is counted (a rate with nothing to divide by is None)."""
    audit, augmented = _decided(tally.audit), _decided(tally.augmented)
    return ItemFigures(
        pair=pair,
        model_vs_model=agreement.figures(),
        against_gold={name: t.figures() for name, t in sorted(against.items())},
        documents=tally.documents,
        curated_documents=tally.curated,
        audit=audit,
        augmentation=Augmentation(
            augmented.accepted,
            augmented.rejected,
            augmented.pending,
            augmented.precision,
            yield_=_ratio(tally.augmented["accepted"], tally.augmented),
        ),
        hallucination=Hallucination(
            entities=tally.entities,
            ungrounded=tally.ungrounded,
            rate=tally.ungrounded / tally.entities if tally.entities else None,
        ),
        curated_entity_types=dict(tally.curated_types.most_common()),
        curated_relations=CuratedRelations(
            total=tally.curated_relations,
            cross_sentence=tally.curated_cross,
            cross_sentence_share=tally.curated_cross / tally.curated_relations if tally.curated_relations else None,
        ),
        cost=Cost(
            total_usd=round(tally.cost, 6),
            per_curated_document_usd=round(tally.cost / tally.curated, 6) if tally.curated else None,
        ),
    )


def _view(
    by_name: dict[str, dict[str, ExportDocument]], name: str | None, doc_id: str, ran: set[str]
) -> ExportDocument | None:
    """What an annotator proposed in a document: nothing proposed is an empty document, no run is None."""
    if name is None or name not in ran:
        return None
    return by_name.get(name, {}).get(doc_id) or _empty(doc_id)


def _count_item(tally: _ItemTally, audited: bool, status: str, agreement: str) -> None:
    if audited:
        tally.audit[str(status)] += 1
    if str(agreement) == "augmented":
        tally.augmented[str(status)] += 1


def _ratio(part: int, counts: Counter[str]) -> float | None:
    total = sum(counts.values())
    return part / total if total else None


def _decided(counts: Counter[str]) -> Decided:
    accepted, rejected = counts[ItemStatus.accepted], counts[ItemStatus.rejected]
    return Decided(
        accepted=accepted,
        rejected=rejected,
        pending=counts[ItemStatus.proposed],
        precision=accepted / (accepted + rejected) if accepted + rejected else None,
    )


def _documents(project_id: int, batch_id: int | None) -> Any:
    query = select(Document.id).where(Document.project_id == project_id)
    if batch_id is not None:
        query = query.where(Document.batch_id == batch_id)
    return query


def status_over_time(session: Session, *, project_id: int, batch_id: int | None = None) -> StatusOverTime:
    """Documents created and curated per day (cumulative), and the current count per status."""
    query = select(Document.created_at, Document.curated_at, Document.status).where(Document.project_id == project_id)
    if batch_id is not None:
        query = query.where(Document.batch_id == batch_id)
    created: Counter[str] = Counter()
    curated: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for created_at, curated_at, status in session.exec(query):
        created[created_at.date().isoformat()] += 1
        if curated_at is not None:
            curated[curated_at.date().isoformat()] += 1
        statuses[str(status)] += 1
    days = sorted(set(created) | set(curated))
    return StatusOverTime(
        days=tuple(days),
        cumulative=Cumulative(
            documents=tuple(accumulate(created[day] for day in days)),
            curated=tuple(accumulate(curated[day] for day in days)),
        ),
        by_status={s.value: statuses[s.value] for s in DocumentStatus},
    )


def _hour(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H")


def reviewer_throughput(
    session: Session, *, project_id: int, batch_id: int | None = None
) -> tuple[ReviewerThroughput, ...]:
    """Per reviewer: decisions and documents submitted, and both per active hour (an hour with any activity)."""
    docs = _documents(project_id, batch_id)
    hours: dict[str, set[str]] = defaultdict(set)
    # The count is the queue's (review/counts.py); every decision record still marks its hour as active.
    counted = decisions_by_reviewer(session, document_ids=docs)
    names = dict(session.exec(select(User.id, User.username).where(col(User.id).in_(list(counted)))).all())
    decisions: Counter[str] = Counter({names[uid]: c.total for uid, c in counted.items() if uid in names})
    documents: Counter[str] = Counter()
    query = (
        select(User.username, Decision.created_at)
        .join(User, col(User.id) == col(Decision.user_id))
        .where(col(Decision.document_id).in_(docs))
    )
    for name, at in session.exec(query):
        hours[name].add(_hour(at))
    a_query = (
        select(User.username, ReviewAssignment.submitted_at)
        .join(User, col(User.id) == col(ReviewAssignment.user_id))
        .where(col(ReviewAssignment.document_id).in_(docs), ReviewAssignment.status == AssignmentStatus.submitted)
    )
    for name, submitted_at in session.exec(a_query):
        documents[name] += 1
        if submitted_at is not None:
            hours[name].add(_hour(submitted_at))
    return tuple(
        ReviewerThroughput(
            reviewer=name,
            decisions=decisions[name],
            documents=documents[name],
            active_hours=len(hours[name]),
            decisions_per_hour=decisions[name] / len(hours[name]),
            documents_per_hour=documents[name] / len(hours[name]),
        )
        for name in sorted(hours)
    )


def _keys(result: Mapping[str, object]) -> tuple[set[str], set[str]]:
    """A stored review result's entity and relation keys (anything not shaped as a list of objects is none)."""
    return _item_keys(result.get("entities")), _item_keys(result.get("relations"))


def _item_keys(items: object) -> set[str]:
    return {str(i.get("key")) for i in items if isinstance(i, dict)} if isinstance(items, list) else set()


def human_agreement(session: Session, *, project_id: int, batch_id: int | None = None) -> HumanAgreement:
    """F1 between the results of reviewers who reviewed the same document (double review), micro-averaged."""
    query = (
        select(ReviewAssignment.document_id, ReviewAssignment.result)
        .where(col(ReviewAssignment.document_id).in_(_documents(project_id, batch_id)))
        .where(ReviewAssignment.status == AssignmentStatus.submitted, col(ReviewAssignment.result).is_not(None))
        .order_by(col(ReviewAssignment.document_id), col(ReviewAssignment.id))
    )
    by_doc: dict[int, list[Mapping[str, object]]] = defaultdict(list)
    for doc_id, result in session.exec(query):
        if isinstance(result, dict):
            by_doc[doc_id].append(result)
    counts = {"entities": Counter[str](), "relations": Counter[str]()}
    documents = 0
    for results in by_doc.values():
        if len(results) < 2:
            continue
        documents += 1
        for x, y in combinations(results, 2):
            for name, mine, theirs in zip(("entities", "relations"), _keys(x), _keys(y), strict=True):
                counts[name].update(correct=len(mine & theirs), predicted=len(mine), gold=len(theirs))
    entities, relations = (prf(c["correct"], c["predicted"], c["gold"]) for c in counts.values())
    return HumanAgreement(documents, entities, relations)


def agreement_classes(session: Session, *, project_id: int, batch_id: int | None = None) -> AgreementClasses:
    """How many entities and relations fall in each agreement class, with shares."""
    docs = _documents(project_id, batch_id)
    return AgreementClasses(
        *(_classes(session, model, docs) for model in (Entity, Relation))  # entities, relations
    )


def _classes(session: Session, model: type[Entity] | type[Relation], docs: Any) -> ClassCounts:
    counts: Counter[str] = Counter()
    for agreement in session.exec(select(model.agreement).where(col(model.document_id).in_(docs))):
        counts[str(agreement)] += 1
    total = sum(counts.values())
    return ClassCounts(total, {k: ClassShare(count=v, share=v / total) for k, v in sorted(counts.items())})


def dashboard(session: Session, *, project_id: int, batch_id: int | None = None) -> Dashboard:
    """Every dashboard figure for a project, or one batch of it."""
    a, b = pair_of(session, project_id=project_id)
    selection = Selection(project_id=project_id, status="all", batch_id=batch_id)
    items = item_figures(session, selection, (a.name if a else None, b.name if b else None))
    return Dashboard(
        pair=items.pair,
        model_vs_model=items.model_vs_model,
        against_gold=items.against_gold,
        documents=items.documents,
        curated_documents=items.curated_documents,
        audit=items.audit,
        augmentation=items.augmentation,
        hallucination=items.hallucination,
        curated_entity_types=items.curated_entity_types,
        curated_relations=items.curated_relations,
        cost=items.cost,
        status=status_over_time(session, project_id=project_id, batch_id=batch_id),
        reviewers=reviewer_throughput(session, project_id=project_id, batch_id=batch_id),
        agreement_classes=agreement_classes(session, project_id=project_id, batch_id=batch_id),
        human_agreement=human_agreement(session, project_id=project_id, batch_id=batch_id),
        recall_audit=recall_summary(session, project_id=project_id, batch_id=batch_id),
    )
