"""Database → ExportDocument, a page of documents at a time: constant memory, short transactions.

Each page (documents in id order) is read in its own short session with a few IN queries over plain columns,
then the session is closed before the documents are handed on: a slow consumer (an HTTP client, a zip writer)
never holds a transaction, which on SQLite (BEGIN IMMEDIATE) would block every writer.
"""

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, String, cast, func, select
from sqlmodel import Session, col

from app.dataset.records import (
    DecisionRecord,
    DocumentProvenance,
    ExportDocument,
    ExportEntity,
    ExportMention,
    ExportRelation,
    ItemProvenance,
    ProposalRecord,
)
from app.dataset.splits import DEFAULT_RATIOS, split_of
from app.models import (
    Annotator,
    AnnotatorRun,
    CrawlBatch,
    Decision,
    Document,
    DocumentStatus,
    Entity,
    ItemStatus,
    Mention,
    Proposal,
    Relation,
    ReviewAssignment,
    User,
)
from app.models.review import AssignmentStatus

Bind = Engine | Connection
STATUSES = ("curated", "all")
PAGE_SIZE = 200
# The audit flag is all the export needs from a proposal's payload: matched in its JSON text, not decoded.
_AUDIT = re.compile(r'"audit"\s*:\s*true')


def _select(*columns: Any) -> Any:
    """A SELECT of plain columns (rows, not ORM objects: much cheaper per row)."""
    return select(*(col(c) if not isinstance(c, ColumnElement) else c for c in columns))


@dataclass(frozen=True, slots=True)
class Selection:
    """Which documents and items: curated (accepted items of curated documents) or all (every non-rejected)."""

    project_id: int
    status: str = "curated"
    batch_id: int | None = None
    split: str | None = None  # train / dev / test, by split_of(seed, id, ratios)
    seed: int = 0
    ratios: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATIOS))
    # Items of every status (rejected included): what the annotators proposed, for the metrics.
    every_item: bool = False


@dataclass(slots=True)
class RawPage:
    """One page's rows, keyed by document id."""

    documents: list[Any]
    entities: dict[int, list[Any]]
    mentions: dict[int, list[Any]]  # by entity id
    relations: dict[int, list[Any]]
    proposals: dict[tuple[str, int], list[tuple[str, str, str, bool, bool]]]  # (kind, id) → rows
    decisions: dict[tuple[str, int], list[DecisionRecord]]
    reviewers: dict[int, list[str]]
    cost: dict[int, float]
    runs: dict[int, set[str]]  # document id → names of the annotators that ran on it
    sources: dict[int, str]  # batch id → file name


def iter_pages(source: Bind | Session, selection: Selection, *, page_size: int = PAGE_SIZE) -> Iterator[RawPage]:
    """Pages of documents in id order, each read in a short session of its own (or all in the given session,
    for a caller inside a request: on SQLite a second session would wait for the request's write lock)."""
    last = 0
    while True:
        if isinstance(source, Session):
            page = load_page(source, selection, after=last, limit=page_size)
        else:
            with Session(source) as session:
                page = load_page(session, selection, after=last, limit=page_size)
        if page is None:
            return
        last = page.documents[-1].id
        yield page


def iter_documents(bind: Bind, selection: Selection, *, page_size: int = PAGE_SIZE) -> Iterator[ExportDocument]:
    """The selected documents as ExportDocuments; titles made unique (DocRED matches documents by title)."""
    seen: set[str] = set()
    for page in iter_pages(bind, selection, page_size=page_size):
        for doc in export_documents(page, selection):
            title = doc.title.strip() or f"document {doc.id}"
            if title in seen:
                title = f"{title} (#{doc.id})"
            seen.add(title)
            yield doc if title == doc.title else _retitled(doc, title)


def _retitled(doc: ExportDocument, title: str) -> ExportDocument:
    return ExportDocument(
        doc.id,
        title,
        doc.text,
        doc.sentences,
        doc.entities,
        doc.relations,
        doc.url,
        doc.language,
        doc.meta,
        doc.provenance,
    )


def _document_query(selection: Selection, after: int, limit: int) -> Any:
    d = Document
    query = _select(
        d.id,
        d.title,
        d.text,
        d.sentences,
        d.url,
        d.language,
        d.status,
        d.batch_id,
        d.warc_record_id,
        d.crawl_date,
        d.meta,
        d.curated_at,
    ).where(col(d.project_id) == selection.project_id, col(d.id) > after)
    if selection.status == "curated":
        query = query.where(col(d.status) == DocumentStatus.curated)
    if selection.batch_id is not None:
        query = query.where(col(d.batch_id) == selection.batch_id)
    return query.order_by(col(d.id)).limit(limit)


def load_page(session: Session, selection: Selection, *, after: int, limit: int) -> RawPage | None:
    """The next page of documents after id `after` with their items and provenance, or None at the end."""
    documents: list[Any] = []
    while not documents:
        rows = list(session.connection().execute(_document_query(selection, after, limit)))
        if not rows:
            return None
        after = rows[-1].id
        documents = [r for r in rows if selection.split is None or _split(selection, r.id) == selection.split]
    ids = [r.id for r in documents]
    curated = selection.status == "curated" and not selection.every_item

    def item_ok(column: Any) -> Any:
        return column == ItemStatus.accepted if curated else column != ItemStatus.rejected

    entities: dict[int, list[Any]] = defaultdict(list)
    e_query = _select(
        Entity.id, Entity.document_id, Entity.type, Entity.name, Entity.status, Entity.agreement, Entity.grounded
    ).where(col(Entity.document_id).in_(ids))
    if not selection.every_item:
        e_query = e_query.where(item_ok(col(Entity.status)))
    for r in session.connection().execute(e_query.order_by(col(Entity.id))):
        entities[r.document_id].append(r)
    mentions: dict[int, list[Any]] = defaultdict(list)
    m_query = _select(Mention.entity_id, Mention.start, Mention.end, Mention.text, Mention.sentence_id).where(
        col(Mention.document_id).in_(ids)
    )
    if not selection.every_item:
        m_query = m_query.where(col(Mention.status) != ItemStatus.rejected)
    for r in session.connection().execute(m_query.order_by(col(Mention.start), col(Mention.end), col(Mention.id))):
        mentions[r.entity_id].append(r)
    relations: dict[int, list[Any]] = defaultdict(list)
    r_query = _select(
        Relation.id,
        Relation.document_id,
        Relation.head_id,
        Relation.tail_id,
        Relation.type,
        Relation.evidence,
        Relation.status,
        Relation.agreement,
    ).where(col(Relation.document_id).in_(ids))
    if not selection.every_item:
        r_query = r_query.where(item_ok(col(Relation.status)))
    for r in session.connection().execute(r_query.order_by(col(Relation.id))):
        relations[r.document_id].append(r)

    proposals: dict[tuple[str, int], list[tuple[str, str, str, bool, bool]]] = defaultdict(list)
    p_query = (
        _select(
            Proposal.item_kind,
            Proposal.item_id,
            Proposal.proposed_type,
            Proposal.augmentation,
            cast(col(Proposal.payload), String).label("payload"),
            Annotator.name,
            AnnotatorRun.prompt_version,
        )
        .join(AnnotatorRun, col(AnnotatorRun.id) == col(Proposal.run_id))
        .join(Annotator, col(Annotator.id) == col(AnnotatorRun.annotator_id))
        .where(col(AnnotatorRun.document_id).in_(ids), col(Proposal.item_kind).in_(("entity", "relation")))
        .order_by(col(Annotator.name), col(Proposal.id))
    )
    for r in session.connection().execute(p_query):
        audit = bool(r.payload and _AUDIT.search(r.payload))
        proposals[r.item_kind, r.item_id].append(
            (r.name, r.prompt_version, r.proposed_type or "", bool(r.augmentation), audit)
        )
    return RawPage(
        documents=documents,
        entities=entities,
        mentions=mentions,
        relations=relations,
        proposals=proposals,
        decisions=_decisions(session, ids),
        reviewers=_reviewers(session, ids),
        cost=_cost(session, ids),
        runs=_runs(session, ids) if selection.every_item else {},
        sources=_sources(session, {r.batch_id for r in documents if r.batch_id is not None}),
    )


def _split(selection: Selection, document_id: int) -> str:
    return split_of(selection.seed, document_id, selection.ratios)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _decisions(session: Session, ids: Sequence[int]) -> dict[tuple[str, int], list[DecisionRecord]]:
    """Every item a reviewer's decision changed (a bulk accept touches many), undone decisions and undos aside."""
    out: dict[tuple[str, int], list[DecisionRecord]] = defaultdict(list)
    query = (
        _select(
            Decision.item_kind, Decision.item_id, Decision.action, Decision.after, Decision.created_at, User.username
        )
        .outerjoin(User, col(User.id) == col(Decision.user_id))
        .where(col(Decision.document_id).in_(ids), col(Decision.undone_at).is_(None), col(Decision.action) != "undo")
        .order_by(col(Decision.created_at), col(Decision.id))
    )
    for r in session.connection().execute(query):
        record = DecisionRecord(r.username or "", r.action, _iso(r.created_at))
        touched = {(r.item_kind, r.item_id)} if r.item_id is not None else set()
        rows = (r.after or {}).get("rows", []) if isinstance(r.after, dict) else []
        for row in rows:
            if isinstance(row, list) and len(row) >= 2 and row[0] in ("entity", "relation"):
                touched.add((row[0], row[1]))
        for key in sorted(touched, key=str):
            out[key].append(record)
    return out


def _reviewers(session: Session, ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    query = (
        _select(ReviewAssignment.document_id, User.username)
        .join(User, col(User.id) == col(ReviewAssignment.user_id))
        .where(col(ReviewAssignment.document_id).in_(ids), col(ReviewAssignment.status) == AssignmentStatus.submitted)
        .order_by(col(ReviewAssignment.submitted_at), col(ReviewAssignment.id))
    )
    for r in session.connection().execute(query):
        out[r.document_id].append(r.username)
    return out


def _cost(session: Session, ids: Sequence[int]) -> dict[int, float]:
    query = (
        _select(AnnotatorRun.document_id, func.sum(AnnotatorRun.cost))
        .where(col(AnnotatorRun.document_id).in_(ids))
        .group_by(col(AnnotatorRun.document_id))
    )
    return {doc_id: float(total or 0) for doc_id, total in session.connection().execute(query)}


def _runs(session: Session, ids: Sequence[int]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = defaultdict(set)
    query = (
        _select(AnnotatorRun.document_id, Annotator.name)
        .join(Annotator, col(Annotator.id) == col(AnnotatorRun.annotator_id))
        .where(col(AnnotatorRun.document_id).in_(ids))
    )
    for doc_id, name in session.connection().execute(query):
        out[doc_id].add(name)
    return out


def _sources(session: Session, batch_ids: set[int]) -> dict[int, str]:
    if not batch_ids:
        return {}
    query = _select(CrawlBatch.id, CrawlBatch.filename).where(col(CrawlBatch.id).in_(sorted(batch_ids)))
    return dict(session.connection().execute(query).tuples().all())


def _provenance(page: RawPage, kind: str, item: Any) -> ItemProvenance:
    rows = page.proposals.get((kind, item.id), [])
    notes = {f"{kind}_id": str(item.id)}
    if any(audit for *_, audit in rows):
        notes["audit"] = "true"
    if kind == "entity" and not item.grounded:
        notes["grounded"] = "false"
    return ItemProvenance(
        status=str(item.status),
        agreement=str(item.agreement),
        proposals=[ProposalRecord(name, version, ptype, aug) for name, version, ptype, aug, _ in rows],
        decisions=list(page.decisions.get((kind, item.id), [])),
        notes=notes,
    )


def _entities(page: RawPage, doc_id: int) -> list[ExportEntity]:
    out = []
    for e in page.entities.get(doc_id, []):
        mentions = [ExportMention(m.start, m.end, m.text, m.sentence_id) for m in page.mentions.get(e.id, [])]
        out.append(ExportEntity(e.id, e.type, e.name, mentions, _provenance(page, "entity", e)))
    # Reading order: by first mention (entities without one last, by id).
    out.sort(key=lambda x: (x.mentions[0].start if x.mentions else 1 << 62, x.index))
    return out


def export_documents(page: RawPage, selection: Selection) -> list[ExportDocument]:
    """The page's documents with the selected items and full provenance."""
    out = []
    for d in page.documents:
        entities = _entities(page, d.id)
        known = {e.index for e in entities}
        relations = [
            ExportRelation(r.head_id, r.tail_id, r.type, list(r.evidence or []), _provenance(page, "relation", r))
            for r in page.relations.get(d.id, [])
            if r.head_id in known and r.tail_id in known
        ]
        notes = {"document_id": str(d.id)}
        if d.id in page.cost:
            notes["cost_usd"] = f"{page.cost[d.id]:.6f}"
        if d.curated_at is not None:
            notes["curated_at"] = d.curated_at.isoformat()
        meta = d.meta if isinstance(d.meta, dict) else {}
        provenance = DocumentProvenance(
            source=page.sources.get(d.batch_id, "") if d.batch_id is not None else str(meta.get("source", "")),
            record_id=d.warc_record_id or "",
            crawl_date=_iso(d.crawl_date),
            status=str(d.status),
            split=_split(selection, d.id) if selection.split is not None else "",
            reviewers=page.reviewers.get(d.id, []),
            notes=notes,
        )
        out.append(
            ExportDocument(
                id=str(d.id),
                title=d.title or "",
                text=d.text,
                sentences=[(int(s), int(e)) for s, e in d.sentences or []],
                entities=entities,
                relations=relations,
                url=d.url or "",
                language=d.language or "",
                meta={"docred_sents": meta["docred_sents"]} if "docred_sents" in meta else {},
                provenance=provenance,
            )
        )
    return out


def gold_and_annotators(page: RawPage) -> tuple[list[ExportDocument], dict[str, list[ExportDocument]]]:
    """From a page read with every_item: the curated gold (curated documents only) and each annotator's own
    proposals (with the type it proposed), for agreement and against-gold metrics. Texts are left out."""
    gold: list[ExportDocument] = []
    views: dict[str, list[ExportDocument]] = defaultdict(list)
    for d in page.documents:
        sentences = [(int(s), int(e)) for s, e in d.sentences or []]
        every = page.entities.get(d.id, [])
        mentions = {
            e.id: [ExportMention(m.start, m.end, "", m.sentence_id) for m in page.mentions.get(e.id, [])] for e in every
        }
        relations = page.relations.get(d.id, [])
        if d.status == DocumentStatus.curated:
            accepted = [e for e in every if e.status == ItemStatus.accepted]
            keep = {e.id for e in accepted}
            gold.append(
                ExportDocument(
                    id=str(d.id),
                    title="",
                    text="",
                    sentences=sentences,
                    entities=[ExportEntity(e.id, e.type, e.name, mentions[e.id]) for e in accepted],
                    relations=[
                        ExportRelation(r.head_id, r.tail_id, r.type, list(r.evidence or []))
                        for r in relations
                        if r.status == ItemStatus.accepted and r.head_id in keep and r.tail_id in keep
                    ],
                )
            )
        mine: dict[str, tuple[list[ExportEntity], list[ExportRelation]]] = defaultdict(lambda: ([], []))
        for e in every:
            for name, _v, ptype, _aug, _audit in page.proposals.get(("entity", e.id), []):
                prov = ItemProvenance(agreement=str(e.agreement))
                mine[name][0].append(ExportEntity(e.id, ptype or e.type, e.name, mentions[e.id], prov))
        for r in relations:
            for name, _v, ptype, _aug, _audit in page.proposals.get(("relation", r.id), []):
                prov = ItemProvenance(agreement=str(r.agreement))
                relation = ExportRelation(r.head_id, r.tail_id, ptype or r.type, list(r.evidence or []), prov)
                mine[name][1].append(relation)
        for name, (ents, rels) in mine.items():
            known = {e.index for e in ents}
            views[name].append(
                ExportDocument(
                    id=str(d.id),
                    title="",
                    text="",
                    sentences=sentences,
                    entities=_dedup(ents),
                    relations=[r for r in rels if r.head in known and r.tail in known],
                )
            )
    return gold, dict(views)


def _dedup(entities: list[ExportEntity]) -> list[ExportEntity]:
    seen: set[int] = set()
    out = []
    for e in entities:
        if e.index not in seen:
            seen.add(e.index)
            out.append(e)
    return out
