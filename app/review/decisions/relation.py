"""Decisions on a relation: accept, reject, retype, swap, evidence, create, delete."""

from app.db import require_id
from app.errors import InvalidInput
from app.models import Agreement, Entity, ItemStatus, Relation
from app.review.commands import RelationCreate, RelationEvidence, RelationRetype, RelationStatus
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
from app.review.decisions.inputs import check_relation_type, entity_param, evidence_of


def accept(ctx: Context, command: RelationStatus) -> str:
    """Accepting a relation accepts its head and tail too."""
    relation: Relation = get_item(ctx, Relation, command.id)
    ctx.changes.touch(relation)
    relation.status = ItemStatus.accepted
    accept_arguments(ctx, relation)
    return f"accepted {relation_label(ctx, relation)}"


def reject(ctx: Context, command: RelationStatus) -> str:
    relation: Relation = get_item(ctx, Relation, command.id)
    ctx.changes.touch(relation)
    relation.status = ItemStatus.rejected
    return f"rejected {relation_label(ctx, relation)}"


def retype(ctx: Context, command: RelationRetype) -> str:
    relation: Relation = get_item(ctx, Relation, command.id)
    head, tail = arguments_of(ctx, relation)
    new = check_relation_type(ctx.schema, command.type, head, tail)
    check_relation_free(ctx, require_id(head), require_id(tail), new, except_id=relation.id)
    old = relation.type
    ctx.changes.touch(relation)
    relation.type = new
    relation.status = ItemStatus.accepted
    accept_arguments(ctx, relation)
    return f"{head.name} —{old}→ {tail.name}: type {old} → {new}"


def swap(ctx: Context, command: RelationStatus) -> str:
    relation: Relation = get_item(ctx, Relation, command.id)
    head, tail = arguments_of(ctx, relation)
    check_relation_type(ctx.schema, relation.type, tail, head)  # the schema must allow the reversed direction
    check_relation_free(ctx, require_id(tail), require_id(head), relation.type, except_id=relation.id)
    ctx.changes.touch(relation)
    relation.head_id, relation.tail_id = require_id(tail), require_id(head)
    relation.status = ItemStatus.accepted
    accept_arguments(ctx, relation)
    return f"swapped to {tail.name} —{relation.type}→ {head.name}"


def evidence(ctx: Context, command: RelationEvidence) -> str:
    relation: Relation = get_item(ctx, Relation, command.id)
    evidence = evidence_of(ctx, command.evidence)
    old = relation.evidence
    ctx.changes.touch(relation)
    relation.evidence = evidence
    return f"evidence {old} → {evidence}"


def _closest_sentences(ctx: Context, head: Entity, tail: Entity) -> list[int]:
    """Default evidence: the sentences of the closest pair of head and tail mentions."""
    hs = {m.sentence_id for m in mentions_of(ctx, require_id(head))}
    ts = {m.sentence_id for m in mentions_of(ctx, require_id(tail))}
    if not hs or not ts:
        return []
    h, t = min(((h, t) for h in hs for t in ts), key=lambda p: (abs(p[0] - p[1]), p))
    return sorted({h, t})


def create(ctx: Context, command: RelationCreate) -> str:
    head, tail = entity_param(ctx, command.head), entity_param(ctx, command.tail)
    if head.id == tail.id:
        raise InvalidInput.for_field("tail", "A relation needs two different entities.")
    rtype = check_relation_type(ctx.schema, command.type, head, tail)
    given = command.evidence
    evidence = _closest_sentences(ctx, head, tail) if given is None else evidence_of(ctx, given)
    check_relation_free(ctx, require_id(head), require_id(tail), rtype)
    relation = Relation(
        document_id=require_id(ctx.document),
        head_id=require_id(head),
        tail_id=require_id(tail),
        type=rtype,
        evidence=evidence,
        status=ItemStatus.accepted,
        agreement=Agreement.manual,
    )
    ctx.changes.add(relation)
    accept_arguments(ctx, relation)
    ctx.created_id = relation.id
    return f"created {head.name} —{rtype}→ {tail.name}"


def delete(ctx: Context, command: RelationStatus) -> str:
    relation: Relation = get_item(ctx, Relation, command.id)
    label = relation_label(ctx, relation)
    for p in proposals_of(ctx, "relation", require_id(relation)):
        ctx.changes.delete(p)
    ctx.changes.delete(relation)
    return f"deleted {label}"
