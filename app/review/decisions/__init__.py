"""What each review command does to a document's entities, mentions and relations (recorded in a ChangeSet).

One module per kind of item; `apply` hands each typed command to its handler.
"""

from app.review import commands as c
from app.review.decisions import document, entity, mention, relation
from app.review.decisions.context import Context, name_from_mentions, proposals_hidden, refuse_while_blind
from app.review.decisions.inputs import allowed_relation_types, sentence_of, utf16_to_code_point

__all__ = [
    "Context",
    "allowed_relation_types",
    "apply",
    "name_from_mentions",
    "proposals_hidden",
    "refuse_while_blind",
    "sentence_of",
    "utf16_to_code_point",
]


def apply(ctx: Context, command: c.DecisionCommand) -> str:
    """Run the command's handler; returns the one-line summary the audit log and the workbench show."""
    match command:
        case c.EntityStatus(action="accept"):
            return entity.accept(ctx, command)
        case c.EntityStatus(action="reject"):
            return entity.reject(ctx, command)
        case c.EntityStatus():
            return entity.delete(ctx, command)
        case c.EntityRetype():
            return entity.retype(ctx, command)
        case c.EntityCreate():
            return entity.create(ctx, command)
        case c.EntityMerge():
            return entity.merge(ctx, command)
        case c.EntityAddMention():
            return entity.add_mention(ctx, command)
        case c.MentionAdjust():
            return mention.adjust(ctx, command)
        case c.MentionDelete():
            return mention.delete(ctx, command)
        case c.MentionSplit():
            return mention.split(ctx, command)
        case c.RelationStatus(action="accept"):
            return relation.accept(ctx, command)
        case c.RelationStatus(action="reject"):
            return relation.reject(ctx, command)
        case c.RelationStatus(action="swap"):
            return relation.swap(ctx, command)
        case c.RelationStatus():
            return relation.delete(ctx, command)
        case c.RelationRetype():
            return relation.retype(ctx, command)
        case c.RelationEvidence():
            return relation.evidence(ctx, command)
        case c.RelationCreate():
            return relation.create(ctx, command)
        case c.AcceptAgreed():
            return document.accept_agreed(ctx, command)
        case c.RejectAnnotator():
            return document.reject_from_annotator(ctx, command)
