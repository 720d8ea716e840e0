"""The state a decision works on, and the row-level moves every kind of decision shares."""

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from app.db import require_id
from app.errors import Conflict, InvalidInput, NotFound
from app.models import Agreement, Document, Entity, ItemStatus, Mention, Proposal, Relation
from app.models.document import BlindReview
from app.project.label_schema import LabelSchema
from app.review.changes import ChangeSet


@dataclass
class Context:
    """What a decision handler works on; a handler that creates an item leaves its id in `created_id`."""

    session: Session
    document: Document
    schema: LabelSchema
    changes: ChangeSet
    created_id: int | None = None


def proposals_hidden(document: Document) -> bool:
    """In a blind pass only the reviewer's own items exist for them: the models' proposals are hidden."""
    return document.blind_review == BlindReview.pending


def refuse_while_blind(document: Document, why: str) -> None:
    if proposals_hidden(document):
        raise Conflict(f"Document {document.id} is in its blind pass: {why}")


def _own(ctx: Context, obj: Entity | Mention | Relation) -> bool:
    if isinstance(obj, Mention):
        entity = ctx.session.get(Entity, obj.entity_id)
        return entity is not None and entity.agreement == Agreement.manual
    return obj.agreement == Agreement.manual


def get_item(ctx: Context, model: type[Entity] | type[Mention] | type[Relation], item_id: int | None) -> Any:
    kind = model.__tablename__
    if item_id is None:
        raise InvalidInput.for_field("id", f"Which {kind}? `id` is required.")
    obj: Any = ctx.session.get(model, item_id)
    if obj is None or obj.document_id != ctx.document.id:
        raise NotFound(f"Document {ctx.document.id} has no {kind} {item_id}.")
    if proposals_hidden(ctx.document) and not _own(ctx, obj):
        refuse_while_blind(
            ctx.document, "the models' proposals are hidden and take no decisions until the blind pass is finished."
        )
    return obj


def mentions_of(ctx: Context, entity_id: int) -> list[Mention]:
    return list(ctx.session.exec(select(Mention).where(Mention.entity_id == entity_id).order_by(col(Mention.start))))


def relations_of(ctx: Context, entity_id: int) -> list[Relation]:
    return list(
        ctx.session.exec(
            select(Relation).where(
                Relation.document_id == ctx.document.id,
                (col(Relation.head_id) == entity_id) | (col(Relation.tail_id) == entity_id),
            )
        )
    )


def proposals_of(ctx: Context, kind: str, item_id: int) -> list[Proposal]:
    return list(ctx.session.exec(select(Proposal).where(Proposal.item_kind == kind, Proposal.item_id == item_id)))


def set_entity_status(ctx: Context, entity: Entity, status: ItemStatus) -> None:
    ctx.changes.touch(entity)
    entity.status = status
    for m in mentions_of(ctx, require_id(entity)):
        if m.status != status:
            ctx.changes.touch(m)
            m.status = status


def name_from_mentions(name: str, texts: list[str]) -> str:
    """The name an entity with these mention texts (in text order) carries: its own while a mention still says
    it, else the longest mention text (the first of the longest on ties) — never a string no mention says."""
    if not texts or name in texts:
        return name
    return max(texts, key=len)


def follow_mentions(ctx: Context, entity: Entity) -> None:
    """Re-derive the entity's name after its mentions changed (adjusted, moved, removed)."""
    texts = [m.text for m in mentions_of(ctx, require_id(entity))]
    name = name_from_mentions(entity.name, texts)
    if name != entity.name:
        ctx.changes.touch(entity)
        entity.name = name


def entity_label(entity: Entity) -> str:
    return f"{entity.name} ({entity.type})"


def new_entity(ctx: Context, etype: str, name: str) -> Entity:
    """A reviewer's own entity: accepted, grounded, agreement 'manual'."""
    entity = Entity(
        document_id=require_id(ctx.document),
        type=etype,
        name=name,
        status=ItemStatus.accepted,
        agreement=Agreement.manual,
        grounded=True,
    )
    ctx.changes.add(entity)
    return entity


def new_mention(ctx: Context, entity: Entity, start: int, end: int, sentence: int) -> Mention:
    mention = Mention(
        entity_id=require_id(entity),
        document_id=require_id(ctx.document),
        start=start,
        end=end,
        text=ctx.document.text[start:end],
        sentence_id=sentence,
        status=ItemStatus.accepted,
    )
    ctx.changes.add(mention)
    return mention


def check_span_free(ctx: Context, start: int, end: int, except_mention: int | None = None) -> None:
    query = (
        select(Mention, Entity)
        .join(Entity, col(Entity.id) == Mention.entity_id)
        .where(
            Mention.document_id == ctx.document.id,
            Mention.start == start,
            Mention.end == end,
            Entity.status != ItemStatus.rejected,
        )
    )
    if proposals_hidden(ctx.document):  # a hidden proposal must not show through a clash
        query = query.where(Entity.agreement == Agreement.manual)
    clash = ctx.session.exec(query).first()
    if clash is not None and clash[0].id != except_mention:
        raise Conflict(
            f"{ctx.document.text[start:end]!r} at {start}–{end} is already a mention of {entity_label(clash[1])}."
        )


def accept_arguments(ctx: Context, relation: Relation) -> None:
    for entity_id in (relation.head_id, relation.tail_id):
        entity = ctx.session.get(Entity, entity_id)
        if entity is not None and entity.status != ItemStatus.accepted:
            set_entity_status(ctx, entity, ItemStatus.accepted)


def relation_label(ctx: Context, relation: Relation) -> str:
    head, tail = ctx.session.get(Entity, relation.head_id), ctx.session.get(Entity, relation.tail_id)
    return f"{head.name if head else '?'} —{relation.type}→ {tail.name if tail else '?'}"


def arguments_of(ctx: Context, relation: Relation) -> tuple[Entity, Entity]:
    head, tail = ctx.session.get(Entity, relation.head_id), ctx.session.get(Entity, relation.tail_id)
    assert head is not None and tail is not None
    return head, tail


def check_relation_free(ctx: Context, head: int, tail: int, rtype: str, except_id: int | None = None) -> None:
    query = select(Relation.id).where(
        Relation.document_id == ctx.document.id,
        Relation.head_id == head,
        Relation.tail_id == tail,
        Relation.type == rtype,
        Relation.status != ItemStatus.rejected,
    )
    if proposals_hidden(ctx.document):
        query = query.where(Relation.agreement == Agreement.manual)
    clash = ctx.session.exec(query).first()
    if clash is not None and clash != except_id:
        raise Conflict(f"That relation already exists (relation {clash}).")
