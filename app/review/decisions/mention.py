"""Decisions on a mention: adjust its span, delete it, split it off into a new entity."""

from app.db import require_id
from app.errors import InvalidInput
from app.models import Entity, ItemStatus, Mention
from app.review.commands import MentionAdjust, MentionDelete, MentionSplit
from app.review.decisions.context import (
    Context,
    check_span_free,
    entity_label,
    follow_mentions,
    get_item,
    mentions_of,
    new_entity,
    set_entity_status,
)
from app.review.decisions.inputs import entity_type, span_of


def adjust(ctx: Context, command: MentionAdjust) -> str:
    mention: Mention = get_item(ctx, Mention, command.id)
    start, end, sentence = span_of(ctx, command)
    check_span_free(ctx, start, end, except_mention=mention.id)
    old = mention.text
    ctx.changes.touch(mention)
    mention.start, mention.end, mention.sentence_id = start, end, sentence
    mention.text = ctx.document.text[start:end]
    entity = ctx.session.get(Entity, mention.entity_id)
    assert entity is not None
    set_entity_status(ctx, entity, ItemStatus.accepted)
    follow_mentions(ctx, entity)
    return f"mention {old!r} → {mention.text!r}"


def _only_mention(ctx: Context, mention: Mention, what: str) -> None:
    if len(mentions_of(ctx, mention.entity_id)) <= 1:
        raise InvalidInput.for_field("id", f"{mention.text!r} is the entity's only mention: {what}.")


def delete(ctx: Context, command: MentionDelete) -> str:
    mention: Mention = get_item(ctx, Mention, command.id)
    _only_mention(ctx, mention, "reject or delete the entity instead")
    ctx.changes.delete(mention)
    ctx.session.flush()
    entity = ctx.session.get(Entity, mention.entity_id)
    assert entity is not None
    follow_mentions(ctx, entity)
    return f"removed mention {mention.text!r} at {mention.start}–{mention.end}"


def split(ctx: Context, command: MentionSplit) -> str:
    """Split a mention off into a new entity (the same type unless `type` is given)."""
    mention: Mention = get_item(ctx, Mention, command.id)
    _only_mention(ctx, mention, "there is nothing to split it from")
    old = ctx.session.get(Entity, mention.entity_id)
    assert old is not None
    etype = entity_type(ctx, command.type) if command.type else old.type
    entity = new_entity(ctx, etype, mention.text)
    ctx.changes.touch(mention)
    mention.entity_id = require_id(entity)
    mention.status = ItemStatus.accepted
    ctx.session.flush()
    follow_mentions(ctx, old)
    ctx.created_id = entity.id
    return f"split {mention.text!r} off {entity_label(old)} as {entity_label(entity)}"
