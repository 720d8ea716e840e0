"""Double review's end: each reviewer's result as span keys, and the prefill an admin adjudicates from."""

from sqlmodel import Session, select

from app.db import require_id
from app.models import Agreement, Document, Entity, ItemStatus, Mention, Relation
from app.review.changes import ChangeSet
from app.review.decisions import sentence_of
from app.review.result import ResultEntity, ResultRelation, ReviewResult


def curated_result(session: Session, document_id: int) -> ReviewResult:
    """The accepted items as span keys: what a reviewer decided, comparable across reviewers."""
    keys: dict[int, str] = {}
    entities: list[ResultEntity] = []
    spans: dict[int, list[list[int]]] = {}
    for m in session.exec(
        select(Mention).where(Mention.document_id == document_id, Mention.status != ItemStatus.rejected)
    ):
        spans.setdefault(m.entity_id, []).append([m.start, m.end])
    for e in session.exec(
        select(Entity).where(Entity.document_id == document_id, Entity.status == ItemStatus.accepted)
    ):
        s = sorted(spans.get(require_id(e), []))
        key = entity_key(e.type, s)
        keys[require_id(e)] = key
        entities.append({"key": key, "type": e.type, "name": e.name, "spans": s})
    relations: list[ResultRelation] = [
        {
            "key": relation_key(keys[r.head_id], r.type, keys[r.tail_id]),
            "head": keys[r.head_id],
            "tail": keys[r.tail_id],
            "type": r.type,
            "evidence": r.evidence,
        }
        for r in session.exec(
            select(Relation).where(Relation.document_id == document_id, Relation.status == ItemStatus.accepted)
        )
        if r.head_id in keys and r.tail_id in keys
    ]
    return {"entities": entities, "relations": relations}


def entity_key(etype: str, spans: list[list[int]]) -> str:
    return etype + "|" + ",".join(f"{s}-{e}" for s, e in spans)


def relation_key(head: str, rtype: str, tail: str) -> str:
    return f"{head} >{rtype}> {tail}"


def prefill_adjudication(
    session: Session, *, changes: ChangeSet, document: Document, results: list[ReviewResult]
) -> None:
    """Apply what every reviewer agreed on; leave only their differences proposed for the admin."""
    by_key = _settle_entities(session, changes, document, results)
    _settle_relations(session, changes, document, results, by_key)


def _settle(changes: ChangeSet, obj: Entity | Relation, key: str, votes: list[set[str]]) -> None:
    """Accepted by all, rejected by all, or left proposed for the admin."""
    n = sum(key in v for v in votes)
    status = ItemStatus.accepted if n == len(votes) else ItemStatus.rejected if n == 0 else ItemStatus.proposed
    if obj.status != status:
        changes.touch(obj)
        obj.status = status


def _settle_entities(
    session: Session, changes: ChangeSet, document: Document, results: list[ReviewResult]
) -> dict[str, Entity]:
    """Settle the document's entities by vote and add the reviewers' own; returns every entity by its key."""
    doc_id = require_id(document)
    votes = [{e["key"] for e in r["entities"]} for r in results]
    spans: dict[int, list[list[int]]] = {}
    for m in session.exec(select(Mention).where(Mention.document_id == doc_id)):
        spans.setdefault(m.entity_id, []).append([m.start, m.end])
    by_key: dict[str, Entity] = {}
    for e in session.exec(select(Entity).where(Entity.document_id == doc_id)):
        key = entity_key(e.type, sorted(spans.get(require_id(e), [])))
        by_key[key] = e
        _settle(changes, e, key, votes)
        for m in session.exec(select(Mention).where(Mention.entity_id == e.id)):
            if m.status != e.status:
                changes.touch(m)
                m.status = e.status
    for r in results:  # the reviewers' own entities (created, merged, re-spanned)
        for item in r["entities"]:
            if item["key"] in by_key:
                continue
            n = sum(item["key"] in v for v in votes)
            status = ItemStatus.accepted if n == len(results) else ItemStatus.proposed
            by_key[item["key"]] = _add_entity(changes, document, item, status)
    return by_key


def _add_entity(changes: ChangeSet, document: Document, item: ResultEntity, status: ItemStatus) -> Entity:
    doc_id = require_id(document)
    entity = Entity(
        document_id=doc_id,
        type=item["type"],
        name=item["name"],
        status=status,
        agreement=Agreement.manual,
        grounded=True,
    )
    changes.add(entity)
    for start, end in item["spans"]:
        changes.add(
            Mention(
                entity_id=require_id(entity),
                document_id=doc_id,
                start=start,
                end=end,
                text=document.text[start:end],
                sentence_id=sentence_of(document, start),
                status=status,
            )
        )
    return entity


def _settle_relations(
    session: Session,
    changes: ChangeSet,
    document: Document,
    results: list[ReviewResult],
    by_key: dict[str, Entity],
) -> None:
    """Settle the document's relations by vote and add the reviewers' own between entities that remain."""
    doc_id = require_id(document)
    votes = [{x["key"] for x in r["relations"]} for r in results]
    id_key = {e.id: k for k, e in by_key.items()}
    existing: set[str] = set()
    for rel in session.exec(select(Relation).where(Relation.document_id == doc_id)):
        key = relation_key(id_key.get(rel.head_id, ""), rel.type, id_key.get(rel.tail_id, ""))
        existing.add(key)
        _settle(changes, rel, key, votes)
    for r in results:
        for item in r["relations"]:
            if item["key"] in existing or item["head"] not in by_key or item["tail"] not in by_key:
                continue
            existing.add(item["key"])
            n = sum(item["key"] in v for v in votes)
            changes.add(
                Relation(
                    document_id=doc_id,
                    head_id=require_id(by_key[item["head"]]),
                    tail_id=require_id(by_key[item["tail"]]),
                    type=item["type"],
                    evidence=item["evidence"],
                    agreement=Agreement.manual,
                    status=ItemStatus.accepted if n == len(results) else ItemStatus.proposed,
                )
            )
