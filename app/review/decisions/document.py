"""Decisions on the whole document at once: accept what both models agreed, reject one annotator."""

from sqlmodel import col, select

from app.db import require_id
from app.errors import InvalidInput
from app.models import Agreement, AnnotatorRun, Entity, ItemStatus, Proposal, Relation
from app.review.commands import AcceptAgreed, RejectAnnotator
from app.review.decisions.context import (
    Context,
    accept_arguments,
    refuse_while_blind,
    relations_of,
    set_entity_status,
)


def accept_agreed(ctx: Context, _command: AcceptAgreed) -> str:
    """Accept every agreed, grounded item still awaiting review."""
    refuse_while_blind(ctx.document, "there is nothing agreed to accept until the blind pass is finished.")
    n = 0
    for entity in ctx.session.exec(
        select(Entity).where(
            Entity.document_id == ctx.document.id,
            Entity.status == ItemStatus.proposed,
            Entity.agreement == Agreement.agreed,
            col(Entity.grounded).is_(True),
        )
    ):
        set_entity_status(ctx, entity, ItemStatus.accepted)
        n += 1
    for relation in ctx.session.exec(
        select(Relation).where(
            Relation.document_id == ctx.document.id,
            Relation.status == ItemStatus.proposed,
            Relation.agreement == Agreement.agreed,
        )
    ):
        ctx.changes.touch(relation)
        relation.status = ItemStatus.accepted
        accept_arguments(ctx, relation)
        n += 1
    return f"accepted {n} agreed item(s)"


def reject_from_annotator(ctx: Context, command: RejectAnnotator) -> str:
    """Reject every item still awaiting review that only this annotator proposed."""
    refuse_while_blind(ctx.document, "the models' proposals are hidden until the blind pass is finished.")
    annotator_id = command.annotator
    run_ids = set(
        ctx.session.exec(
            select(AnnotatorRun.id).where(
                AnnotatorRun.document_id == ctx.document.id, AnnotatorRun.annotator_id == annotator_id
            )
        )
    )
    if not run_ids:
        raise InvalidInput.for_field("annotator", f"Annotator {annotator_id} proposed nothing in this document.")
    proposers: dict[tuple[str, int], set[bool]] = {}
    run_of_doc = set(ctx.session.exec(select(AnnotatorRun.id).where(AnnotatorRun.document_id == ctx.document.id)))
    for p in ctx.session.exec(select(Proposal).where(col(Proposal.run_id).in_(run_of_doc))):
        if "vote" in p.payload:
            continue
        proposers.setdefault((p.item_kind, p.item_id), set()).add(p.run_id in run_ids)
    only = {key for key, who in proposers.items() if who == {True}}
    n = 0
    for relation in ctx.session.exec(
        select(Relation).where(Relation.document_id == ctx.document.id, Relation.status == ItemStatus.proposed)
    ):
        if ("relation", relation.id) in only:
            ctx.changes.touch(relation)
            relation.status = ItemStatus.rejected
            n += 1
    for entity in ctx.session.exec(
        select(Entity).where(Entity.document_id == ctx.document.id, Entity.status == ItemStatus.proposed)
    ):
        if ("entity", entity.id) in only:
            n += 1
            set_entity_status(ctx, entity, ItemStatus.rejected)
            for r in relations_of(ctx, require_id(entity)):
                if r.status == ItemStatus.proposed:
                    ctx.changes.touch(r)
                    r.status = ItemStatus.rejected
    return f"rejected {n} item(s) only annotator {annotator_id} proposed"
