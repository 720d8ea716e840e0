"""Decisions on a relation: accept, reject, retype, swap, evidence, create, delete."""

from app.errors import InvalidInput
from app.models import Agreement, Entity, ItemStatus, Relation
from app.review.decisions.context import (
    Context,
    accept_arguments,
    arguments_of,
    check_relation_free,
    get_item,
    mentions_of,
    proposals_of,
    relation_label,
)
from app.review.decisions.inputs import check_relation_type, entity_param, evidence_of, relation_type


def relation_accept(ctx: Context, item_id: int | None) -> str:
    """Accepting a relation accepts its head and tail too."""
    relation: Relation = get_item(ctx, Relation, item_id)
    ctx.changes.touch(relation)
    relation.status = ItemStatus.accepted
    accept_arguments(ctx, relation)
    return f"accepted {relation_label(ctx, relation)}"


def relation_reject(ctx: Context, item_id: int | None) -> str:
    relation: Relation = get_item(ctx, Relation, item_id)
    ctx.changes.touch(relation)
    relation.status = ItemStatus.rejected
    return f"rejected {relation_label(ctx, relation)}"


def relation_retype(ctx: Context, item_id: int | None) -> str:
    relation: Relation = get_item(ctx, Relation, item_id)
    head, tail = arguments_of(ctx, relation)
    new = relation_type(ctx, head, tail)
    check_relation_free(ctx, head.id or 0, tail.id or 0, new, except_id=relation.id)
    old = relation.type
    ctx.changes.touch(relation)
    relation.type = new
    relation.status = ItemStatus.accepted
    accept_arguments(ctx, relation)
    return f"{head.name} —{old}→ {tail.name}: type {old} → {new}"


def relation_swap(ctx: Context, item_id: int | None) -> str:
    relation: Relation = get_item(ctx, Relation, item_id)
    head, tail = arguments_of(ctx, relation)
    check_relation_type(ctx.schema, relation.type, tail, head)  # the schema must allow the reversed direction
    check_relation_free(ctx, tail.id or 0, head.id or 0, relation.type, except_id=relation.id)
    ctx.changes.touch(relation)
    relation.head_id, relation.tail_id = tail.id or 0, head.id or 0
    relation.status = ItemStatus.accepted
    accept_arguments(ctx, relation)
    return f"swapped to {tail.name} —{relation.type}→ {head.name}"


def relation_evidence(ctx: Context, item_id: int | None) -> str:
    relation: Relation = get_item(ctx, Relation, item_id)
    evidence = evidence_of(ctx)
    old = relation.evidence
    ctx.changes.touch(relation)
    relation.evidence = evidence
    return f"evidence {old} → {evidence}"


def _closest_sentences(ctx: Context, head: Entity, tail: Entity) -> list[int]:
    """Default evidence: the sentences of the closest pair of head and tail mentions."""
    hs = {m.sentence_id for m in mentions_of(ctx, head.id or 0)}
    ts = {m.sentence_id for m in mentions_of(ctx, tail.id or 0)}
    if not hs or not ts:
        return []
    h, t = min(((h, t) for h in hs for t in ts), key=lambda p: (abs(p[0] - p[1]), p))
    return sorted({h, t})


def relation_create(ctx: Context, _item_id: int | None) -> str:
    head, tail = entity_param(ctx, "head"), entity_param(ctx, "tail")
    if head.id == tail.id:
        raise InvalidInput.for_field("tail", "A relation needs two different entities.")
    rtype = relation_type(ctx, head, tail)
    evidence = evidence_of(ctx) if "evidence" in ctx.params else _closest_sentences(ctx, head, tail)
    check_relation_free(ctx, head.id or 0, tail.id or 0, rtype)
    relation = Relation(
        document_id=ctx.document.id or 0,
        head_id=head.id or 0,
        tail_id=tail.id or 0,
        type=rtype,
        evidence=evidence,
        status=ItemStatus.accepted,
        agreement=Agreement.manual,
    )
    ctx.changes.add(relation)
    accept_arguments(ctx, relation)
    ctx.params["created_id"] = relation.id
    return f"created {head.name} —{rtype}→ {tail.name}"


def relation_delete(ctx: Context, item_id: int | None) -> str:
    relation: Relation = get_item(ctx, Relation, item_id)
    label = relation_label(ctx, relation)
    for p in proposals_of(ctx, "relation", relation.id or 0):
        ctx.changes.delete(p)
    ctx.changes.delete(relation)
    return f"deleted {label}"
