"""Database → ExportDocument, a page of documents at a time: constant memory, short transactions.

document_rows reads each page as plain rows in a short session of its own; this module turns them into
ExportDocuments (with provenance when asked), and into the gold and per-annotator views the metrics compare.
"""

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from sqlmodel import Session

from app.dataset.document_rows import PAGE_SIZE, Bind, RawPage, Selection, iso, load_page, loads, split_name
from app.evaluation.records import (
    DocumentMeta,
    DocumentProvenance,
    ExportDocument,
    ExportEntity,
    ExportMention,
    ExportRelation,
    ItemProvenance,
)
from app.models import DocumentStatus, ItemStatus

_NO_MENTION = 1 << 62
# What documents read without provenance carry: one shared, empty instance each (records are never mutated).
_NO_ITEM_PROVENANCE = ItemProvenance()
_NO_DOCUMENT_PROVENANCE = DocumentProvenance()


def iter_pages(
    source: Bind | Session, selection: Selection, *, page_size: int = PAGE_SIZE, provenance: bool = True
) -> Iterator[RawPage]:
    """Pages of documents in id order, each read in a short session of its own (or all in the given session,
    for a caller inside a request: on SQLite a second session would wait for the request's write lock).
    Without provenance, proposals, decisions, reviewers, costs and sources are not read (left empty)."""
    last = 0
    while True:
        if isinstance(source, Session):
            page = load_page(source, selection, after=last, limit=page_size, provenance=provenance)
        else:
            with Session(source) as session:
                page = load_page(session, selection, after=last, limit=page_size, provenance=provenance)
        if page is None:
            return
        last = page.documents[-1].id
        yield page


def iter_documents(
    bind: Bind, selection: Selection, *, page_size: int = PAGE_SIZE, provenance: bool = True
) -> Iterator[ExportDocument]:
    """The selected documents as ExportDocuments; titles made unique (DocRED matches documents by title).
    provenance=False leaves every provenance empty, for formats that do not carry it (DocRED, CoNLL, brat)."""
    # The titles given out, kept by their 64-bit hash (~60 bytes each instead of ~150 for the string). A hash
    # collision (about 1e-8 among a million titles) would only add the document id to a title that did not
    # need it.
    seen: set[int] = set()
    for page in iter_pages(bind, selection, page_size=page_size, provenance=provenance):
        for doc in export_documents(page, selection):
            title = doc.title.strip() or f"document {doc.id}"
            if hash(title) in seen:
                title = f"{title} (#{doc.id})"
            seen.add(hash(title))
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


def _provenance(
    page: RawPage, kind: str, item_id: int, status: str, agreement: str, grounded: bool = True
) -> ItemProvenance:
    item = (kind, item_id)
    notes = {f"{kind}_id": str(item_id)}
    if item in page.audited:
        notes["audit"] = "true"
    if not grounded:
        notes["grounded"] = "false"
    decisions = page.decisions.get(item)
    return ItemProvenance(
        str(status),
        str(agreement),
        list(page.proposals.get(item, ())),
        list(decisions) if decisions else [],
        notes,
    )


def _reading_order(entity: ExportEntity) -> tuple[int, int]:
    # By first mention (entities without one last, by id).
    return (entity.mentions[0].start if entity.mentions else _NO_MENTION, entity.index)


def _entities(page: RawPage, doc_id: int) -> list[ExportEntity]:
    out = []
    mentions = page.mentions
    with_provenance = page.with_provenance
    for entity_id, _, etype, name, status, agreement, grounded in page.entities.get(doc_id, ()):
        provenance = (
            _provenance(page, "entity", entity_id, status, agreement, grounded)
            if with_provenance
            else _NO_ITEM_PROVENANCE
        )
        spans = [ExportMention(start, end, text, sid) for _, start, end, text, sid in mentions.get(entity_id, ())]
        out.append(ExportEntity(entity_id, etype, name, spans, provenance))
    out.sort(key=_reading_order)
    return out


def export_documents(page: RawPage, selection: Selection) -> Iterator[ExportDocument]:
    """The page's documents with the selected items and full provenance (none when read without it), one at
    a time: a streaming writer drops each before the next is built, so a page's worth of objects never piles
    up for the garbage collector to scan again and again."""
    with_provenance = page.with_provenance
    for d in page.documents:
        doc_id = d.id
        entities = _entities(page, doc_id)
        known = {e.index for e in entities}
        relations = [
            ExportRelation(
                head,
                tail,
                rtype,
                list(loads(evidence) or []),
                _provenance(page, "relation", relation_id, rstatus, agreement)
                if with_provenance
                else _NO_ITEM_PROVENANCE,
            )
            for relation_id, _, head, tail, rtype, evidence, rstatus, agreement in page.relations.get(doc_id, ())
            if head in known and tail in known
        ]
        meta = loads(d.meta)
        if not isinstance(meta, dict):
            meta = {}
        provenance = _document_provenance(page, selection, d, meta) if with_provenance else _NO_DOCUMENT_PROVENANCE
        yield ExportDocument(
            str(doc_id),
            d.title or "",
            d.text,
            [(int(s), int(e)) for s, e in loads(d.sentences) or ()],
            entities,
            relations,
            d.url or "",
            d.language or "",
            DocumentMeta(docred_sents=meta.get("docred_sents")),
            provenance,
        )


def _document_provenance(page: RawPage, selection: Selection, d: Any, meta: Mapping[str, object]) -> DocumentProvenance:
    notes = {"document_id": str(d.id)}
    if d.id in page.cost:
        notes["cost_usd"] = f"{page.cost[d.id]:.6f}"
    if d.curated_at is not None:
        notes["curated_at"] = d.curated_at.isoformat()
    return DocumentProvenance(
        source=page.sources.get(d.batch_id, "") if d.batch_id is not None else str(meta.get("source", "")),
        record_id=d.warc_record_id or "",
        crawl_date=iso(d.crawl_date),
        status=str(d.status),
        split=split_name(selection, d.id) if selection.split is not None else "",
        reviewers=page.reviewers.get(d.id, []),
        notes=notes,
    )


def gold_and_annotators(page: RawPage) -> tuple[list[ExportDocument], dict[str, list[ExportDocument]]]:
    """From a page read with every_item: the curated gold (curated documents only) and each annotator's own
    proposals (with the type it proposed), for agreement and against-gold metrics. Texts are left out."""
    gold: list[ExportDocument] = []
    views: dict[str, list[ExportDocument]] = defaultdict(list)
    for d in page.documents:
        items = _document_items(page, d)
        if d.status == DocumentStatus.curated:
            gold.append(_gold(d.id, items))
        for name, (ents, rels) in _proposed(page, items).items():
            views[name].append(_annotator_view(d.id, items.sentences, ents, rels))
    return gold, dict(views)


class _DocumentItems(NamedTuple):
    """A document's items of every status, as the gold and the annotators' views read them (texts left out):
    entities as (id, type, name, status, agreement), relations as (id, head, tail, type, evidence, status,
    agreement)."""

    sentences: list[tuple[int, int]]
    entities: list[tuple[Any, ...]]
    mentions: dict[int, list[ExportMention]]  # by entity id
    relations: list[tuple[Any, ...]]


def _document_items(page: RawPage, d: Any) -> _DocumentItems:
    """A document's sentences and items from the page's rows."""
    sentences = [(int(s), int(e)) for s, e in loads(d.sentences) or []]
    every = [
        (entity_id, etype, name, status, agreement)
        for entity_id, _, etype, name, status, agreement, _ in page.entities.get(d.id, [])
    ]
    mentions = {
        entity_id: [ExportMention(start, end, "", sid) for _, start, end, _, sid in page.mentions.get(entity_id)]
        for entity_id, *_ in every
    }
    relations = [
        (relation_id, head, tail, rtype, list(loads(evidence) or []), status, agreement)
        for relation_id, _, head, tail, rtype, evidence, status, agreement in page.relations.get(d.id, [])
    ]
    return _DocumentItems(sentences, every, mentions, relations)


def _gold(doc_id: int, items: _DocumentItems) -> ExportDocument:
    """A curated document's gold: its accepted entities, and its accepted relations between two of them."""
    accepted = [
        (entity_id, etype, name)
        for entity_id, etype, name, status, _ in items.entities
        if status == ItemStatus.accepted
    ]
    keep = {entity_id for entity_id, *_ in accepted}
    return ExportDocument(
        id=str(doc_id),
        title="",
        text="",
        sentences=items.sentences,
        entities=[ExportEntity(i, etype, name, items.mentions[i]) for i, etype, name in accepted],
        relations=[
            ExportRelation(head, tail, rtype, evidence)
            for _, head, tail, rtype, evidence, status, _ in items.relations
            if status == ItemStatus.accepted and head in keep and tail in keep
        ],
    )


def _proposed(page: RawPage, items: _DocumentItems) -> dict[str, tuple[list[ExportEntity], list[ExportRelation]]]:
    """Each annotator's proposals in a document, by annotator name: the items it proposed, with the type it
    proposed and the item's agreement class."""
    mine: dict[str, tuple[list[ExportEntity], list[ExportRelation]]] = defaultdict(lambda: ([], []))
    for entity_id, etype, name, _, agreement in items.entities:
        for p in page.proposals.get(("entity", entity_id), []):
            prov = ItemProvenance(agreement=str(agreement))
            entity = ExportEntity(entity_id, p.proposed_type or etype, name, items.mentions[entity_id], prov)
            mine[p.annotator][0].append(entity)
    for relation_id, head, tail, rtype, evidence, _, agreement in items.relations:
        for p in page.proposals.get(("relation", relation_id), []):
            prov = ItemProvenance(agreement=str(agreement))
            relation = ExportRelation(head, tail, p.proposed_type or rtype, list(evidence), prov)
            mine[p.annotator][1].append(relation)
    return mine


def _annotator_view(
    doc_id: int, sentences: list[tuple[int, int]], ents: list[ExportEntity], rels: list[ExportRelation]
) -> ExportDocument:
    """An annotator's document: each entity it proposed once, and its relations between two of them."""
    known = {e.index for e in ents}
    return ExportDocument(
        id=str(doc_id),
        title="",
        text="",
        sentences=sentences,
        entities=_dedup(ents),
        relations=[r for r in rels if r.head in known and r.tail in known],
    )


def _dedup(entities: list[ExportEntity]) -> list[ExportEntity]:
    seen: set[int] = set()
    out = []
    for e in entities:
        if e.index not in seen:
            seen.add(e.index)
            out.append(e)
    return out
