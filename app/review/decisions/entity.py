"""Decisions on an entity: accept, reject, retype, create, delete, merge, add a mention."""

from app.db import require_id
from app.errors import InvalidInput
from app.models import Entity, ItemStatus
from app.review.commands import EntityAddMention, EntityCreate, EntityMerge, EntityRetype, EntityStatus
from app.review.decisions.context import (
    Context,
    check_span_free,
    entity_label,
    follow_mentions,
    get_item,
    mentions_of,
    new_entity,
    new_mention,
    proposals_of,
    relations_of,
    set_entity_status,
)
from app.review.decisions.inputs import entity_param, entity_type, given_name, span_of


def accept(ctx: Context, command: EntityStatus) -> str:
    entity = get_item(ctx, Entity, command.id)
    set_entity_status(ctx, entity, ItemStatus.accepted)
    return f"accepted {entity_label(entity)}"


def reject(ctx: Context, command: EntityStatus) -> str:
    """Rejecting an entity rejects its relations too: a relation needs both of its arguments."""
    entity = get_item(ctx, Entity, command.id)
    set_entity_status(ctx, entity, ItemStatus.rejected)
    n = 0
    for r in relations_of(ctx, require_id(entity)):
        if r.status != ItemStatus.rejected:
            ctx.changes.touch(r)
            r.status = ItemStatus.rejected
            n += 1
    return f"rejected {entity_label(entity)}" + (f" and its {n} relation(s)" if n else "")


def retype(ctx: Context, command: EntityRetype) -> str:
    entity = get_item(ctx, Entity, command.id)
    new = entity_type(ctx, command.type)
    old = entity.type
    set_entity_status(ctx, entity, ItemStatus.accepted)
    entity.type = new
    return f"{entity.name}: {old} → {new}"


def create(ctx: Context, command: EntityCreate) -> str:
    start, end, sentence = span_of(ctx, command)
    etype = entity_type(ctx, command.type)
    check_span_free(ctx, start, end)
    entity = new_entity(ctx, etype, given_name(ctx, command.name) or ctx.document.text[start:end])
    new_mention(ctx, entity, start, end, sentence)
    ctx.created_id = entity.id
    return f"created {entity_label(entity)} at {start}–{end}"


def _delete_entity(ctx: Context, entity: Entity) -> int:
    n = 0
    for r in relations_of(ctx, require_id(entity)):
        for p in proposals_of(ctx, "relation", require_id(r)):
            ctx.changes.delete(p)
        ctx.changes.delete(r)
        n += 1
    for m in mentions_of(ctx, require_id(entity)):
        ctx.changes.delete(m)
    for p in proposals_of(ctx, "entity", require_id(entity)):
        ctx.changes.delete(p)
    ctx.session.flush()
    ctx.changes.delete(entity)
    return n


def delete(ctx: Context, command: EntityStatus) -> str:
    entity = get_item(ctx, Entity, command.id)
    n = _delete_entity(ctx, entity)
    return f"deleted {entity_label(entity)}" + (f" and its {n} relation(s)" if n else "")


def merge(ctx: Context, command: EntityMerge) -> str:
    """Coreference: the entity's mentions, relations and provenance move to `into`; the entity goes."""
    source = get_item(ctx, Entity, command.id)
    target = entity_param(ctx, command.into)
    if target.id == source.id:
        raise InvalidInput.for_field("into", "An entity cannot be merged into itself.")
    spans = {(m.start, m.end) for m in mentions_of(ctx, require_id(target))}
    for m in mentions_of(ctx, require_id(source)):
        if (m.start, m.end) in spans:
            ctx.changes.delete(m)
            continue
        ctx.changes.touch(m)
        m.entity_id = require_id(target)
        m.status = ItemStatus.accepted
    existing = {(r.head_id, r.tail_id, r.type) for r in relations_of(ctx, require_id(target))}
    for r in relations_of(ctx, require_id(source)):
        head = target.id if r.head_id == source.id else r.head_id
        tail = target.id if r.tail_id == source.id else r.tail_id
        if head == tail or (head, tail, r.type) in existing:
            for p in proposals_of(ctx, "relation", require_id(r)):
                ctx.changes.delete(p)
            ctx.changes.delete(r)
            continue
        ctx.changes.touch(r)
        r.head_id, r.tail_id = head or 0, tail or 0
        existing.add((r.head_id, r.tail_id, r.type))
    for p in proposals_of(ctx, "entity", require_id(source)):
        ctx.changes.touch(p)
        p.item_id = require_id(target)
    ctx.session.flush()
    set_entity_status(ctx, target, ItemStatus.accepted)
    follow_mentions(ctx, target)
    ctx.changes.delete(source)
    return f"merged {entity_label(source)} into {entity_label(target)}"


def add_mention(ctx: Context, command: EntityAddMention) -> str:
    entity = get_item(ctx, Entity, command.id)
    start, end, sentence = span_of(ctx, command)
    check_span_free(ctx, start, end)
    mention = new_mention(ctx, entity, start, end, sentence)
    set_entity_status(ctx, entity, ItemStatus.accepted)
    follow_mentions(ctx, entity)
    return f"added mention {mention.text!r} to {entity_label(entity)}"
