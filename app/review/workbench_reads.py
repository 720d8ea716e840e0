"""The review page's reads: one document's items, the badges of their proposals and routing's marks, with plain
column queries (Core rows, no ORM bookkeeping: fast on documents with thousands of items)."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func
from sqlalchemy import select as columns
from sqlmodel import Session, col, select

from app.models import (
    Agreement,
    Annotator,
    AnnotatorKind,
    AnnotatorRun,
    Document,
    Entity,
    Mention,
    Proposal,
    Relation,
    Route,
    RoutedItem,
)
from app.review.views import EntityView, RelationView


def _key(value: int | None) -> int:
    """A primary key as read from its table (typed optional by the model, never NULL in a row)."""
    if value is None:
        raise RuntimeError("a stored row without an id")
    return value


@dataclass(frozen=True, slots=True)
class Scope:
    """Which rows a load reads: the whole document, or what a decision's redraw needs; in a blind pass only the
    reviewer's own items. Each is a SQL condition, None for no condition beyond the document."""

    entity: Any
    mention: Any
    relation: Any
    partial: bool  # only part of the document is read
    hidden: bool  # a blind pass: the proposals stay hidden


def scope(session: Session, document_id: int, *, hidden: bool, changed: dict[str, set[int]] | None) -> Scope:
    """With `changed` (entity and relation ids a decision touched): those items, the relations of those entities,
    and every mention in the sentences their mentions are in."""
    entity: Any = (col(Entity.agreement) == Agreement.manual) if hidden else None
    relation: Any = col(Relation.document_id) == document_id
    if hidden:
        relation = relation & (col(Relation.agreement) == Agreement.manual)
    if changed is None:
        return Scope(entity, None, relation, partial=False, hidden=hidden)
    changed_entities = set(changed.get("entity", set()))
    changed_relations = set(changed.get("relation", set()))
    sentences = set(session.exec(select(Mention.sentence_id).where(col(Mention.entity_id).in_(changed_entities))))
    relation = relation & (
        col(Relation.id).in_(changed_relations)
        | col(Relation.head_id).in_(changed_entities)
        | col(Relation.tail_id).in_(changed_entities)
    )
    ends = session.execute(columns(col(Relation.head_id), col(Relation.tail_id)).where(relation)).all()
    wanted = changed_entities | {h for h, _t in ends} | {t for _h, t in ends}
    mention = (col(Mention.document_id) == document_id) & (
        col(Mention.sentence_id).in_(sentences) | col(Mention.entity_id).in_(wanted)
    )
    wanted |= set(session.exec(select(Mention.entity_id).where(mention)))
    in_wanted = col(Entity.id).in_(wanted)
    return Scope(in_wanted if entity is None else entity & in_wanted, mention, relation, partial=True, hidden=hidden)


def run_tags(
    session: Session, document: Document, letters: dict[int, str]
) -> tuple[dict[int, str], dict[int, tuple[str, str]]]:
    """The project's annotators by id (name), and each of the document's runs as (tag, annotator name): the tag is
    A or B for the project's pair (`letters`), "import" for imported annotations, else the annotator's name."""
    annotators: dict[int, tuple[str, str]] = {
        _key(aid): (name, kind)
        for aid, name, kind in session.exec(
            select(Annotator.id, Annotator.name, Annotator.kind).where(Annotator.project_id == document.project_id)
        )
    }
    tags: dict[int, tuple[str, str]] = {}
    for run_id, annotator_id in session.exec(
        select(AnnotatorRun.id, AnnotatorRun.annotator_id).where(col(AnnotatorRun.document_id) == document.id)
    ):
        name, kind = annotators.get(annotator_id, ("?", ""))
        tag = "import" if kind == AnnotatorKind.imported else letters.get(annotator_id, name)
        tags[_key(run_id)] = (tag, name)
    return {k: v[0] for k, v in annotators.items()}, tags


def read_entities(
    conn: Connection, document_id: int, where: Scope, type_index: dict[str, int]
) -> dict[int, EntityView]:
    """The entities in scope, each with its mentions in text order."""
    entities: dict[int, EntityView] = {}
    entity_query = columns(
        col(Entity.id),
        col(Entity.type),
        col(Entity.name),
        col(Entity.status),
        col(Entity.agreement),
        col(Entity.grounded),
    ).where(col(Entity.document_id) == document_id)
    if where.entity is not None:
        entity_query = entity_query.where(where.entity)
    for eid, etype, name, status, agreement, grounded in conn.execute(entity_query):
        key = _key(eid)
        entities[key] = EntityView(
            key, etype, type_index.get(etype, 0), name, str(status), str(agreement), bool(grounded)
        )
    mention_query = columns(
        col(Mention.id),
        col(Mention.entity_id),
        col(Mention.start),
        col(Mention.end),
        col(Mention.text),
        col(Mention.sentence_id),
    ).where(where.mention if where.mention is not None else col(Mention.document_id) == document_id)
    for mid, entity_id, start, end, text, sentence_id in conn.execute(mention_query.order_by(col(Mention.start))):
        if entity_id in entities:
            entities[entity_id].mentions.append((_key(mid), start, end, text, sentence_id))
    return entities


def read_relations(
    conn: Connection, where: Scope, entities: dict[int, EntityView], relation_names: dict[str, str]
) -> list[RelationView]:
    """The relations in scope whose two ends are read."""
    relations = []
    for rid, head_id, tail_id, rtype, evidence, status, agreement in conn.execute(
        columns(
            col(Relation.id),
            col(Relation.head_id),
            col(Relation.tail_id),
            col(Relation.type),
            col(Relation.evidence),
            col(Relation.status),
            col(Relation.agreement),
        ).where(where.relation)
    ):
        head, tail = entities.get(head_id), entities.get(tail_id)
        if head is None or tail is None:
            continue
        relations.append(
            RelationView(
                _key(rid),
                head,
                tail,
                rtype,
                relation_names.get(rtype, rtype),
                list(evidence or []),
                str(status),
                str(agreement),
            )
        )
    return relations


def count_relations(
    conn: Connection, document_id: int, where: Scope, entities: dict[int, EntityView], relations: list[RelationView]
) -> None:
    """Each entity's relation count, over the whole document even when only part of it was read."""
    if not where.partial:
        for r in relations:
            r.head.relation_count += 1
            r.tail.relation_count += 1
        return
    for head_id, tail_id in conn.execute(
        columns(col(Relation.head_id), col(Relation.tail_id)).where(
            col(Relation.document_id) == document_id,
            col(Relation.head_id).in_(list(entities)) | col(Relation.tail_id).in_(list(entities)),
            *([col(Relation.agreement) == Agreement.manual] if where.hidden else []),
        )
    ):
        for end_id in (head_id, tail_id):
            if end_id in entities:
                entities[end_id].relation_count += 1


def add_badges(
    conn: Connection,
    run_tag: dict[int, tuple[str, str]],
    entities: dict[int, EntityView],
    relations: list[RelationView],
    relation_names: dict[str, str],
    *,
    partial: bool,
) -> None:
    """Who proposed each item and how: votes, blind answers, augmentation, a type conflict, an audit sample."""
    # Votes, audit and blind-answer marks read in SQL: decoding ~2,000 JSON payloads per page showed in the profile.
    proposal_query = columns(
        col(Proposal.item_kind),
        col(Proposal.item_id),
        col(Proposal.run_id),
        col(Proposal.augmentation),
        col(Proposal.payload)["vote"].as_boolean(),
        col(Proposal.payload)["audit"].as_boolean(),
        col(Proposal.proposed_type),
        col(Proposal.payload)["recheck"].as_boolean(),
    ).where(col(Proposal.run_id).in_(list(run_tag)))
    if partial:
        proposal_query = proposal_query.where(col(Proposal.item_id).in_(list(entities) + [r.id for r in relations]))
    views: dict[tuple[str, int], EntityView | RelationView] = {("entity", e.id): e for e in entities.values()}
    views.update({("relation", r.id): r for r in relations})
    for kind, item_id, run_id, augmentation, vote, audit, proposed, blind in conn.execute(proposal_query):
        view = views.get((kind, item_id))
        if view is None:
            continue
        tag, name = run_tag.get(run_id, ("?", "?"))
        proposed = proposed or ""
        shown = relation_names.get(proposed, proposed) if kind == "relation" else proposed
        # A type conflict shows both types: the item's, and the one this annotator gave (blind or not).
        other = bool(proposed) and proposed != view.type
        if vote is not None:
            view.badges.append(("vote-yes" if vote else "vote-no", f"{tag} {'✓' if vote else '✗'}", ""))
        elif blind:
            label = f"{tag} blind: {shown}" if other else f"{tag} blind"
            view.badges.append(("blind", label, f"{name}, asked blind, answered {shown}"))
        elif augmentation:
            view.badges.append(("aug", f"{tag} aug", ""))
        elif other:
            view.badges.append((_source(tag), f"{tag}: {shown}", f"{name} proposed it as {shown}"))
        else:
            view.badges.append((_source(tag), tag, ""))
        if audit and not any(b[0] == "audit" for b in view.badges):
            view.badges.append(("audit", "audit", "a trusted item sampled for a spot check"))


def _source(tag: str) -> str:
    return "src-import" if tag == "import" else "src-model"


def mark_auto_accepted(
    conn: Connection, document_id: int, entities: dict[int, EntityView], relations: list[RelationView]
) -> None:
    """Items routing accepted without review: "Review agreed items too" stops on them."""
    views: dict[tuple[str, int], EntityView | RelationView] = {("entity", e.id): e for e in entities.values()}
    views.update({("relation", r.id): r for r in relations})
    for kind, item_id in conn.execute(
        columns(col(RoutedItem.item_kind), col(RoutedItem.item_id)).where(
            col(RoutedItem.document_id) == document_id, col(RoutedItem.route) == Route.auto
        )
    ):
        view = views.get((kind, item_id))
        if view is not None:
            view.auto = True
            view.badges.append(("auto", "auto", "accepted without review: its slice of items has proven precise"))


def status_counts(session: Session, document_id: int, *, own_only: bool = False) -> dict[str, int]:
    """Items per status (own_only: the reviewer's own items only, as a blind pass shows them)."""
    out = {"todo": 0, "accepted": 0, "rejected": 0}
    for model in (Entity, Relation):
        query = columns(col(model.status), func.count()).where(col(model.document_id) == document_id)
        if own_only:
            query = query.where(col(model.agreement) == Agreement.manual)
        for status, n in session.execute(query.group_by(col(model.status))):
            out["todo" if status == "proposed" else str(status)] += n
    return out
