"""What each review action does to a document's entities, mentions and relations (recorded in a ChangeSet).

One module per kind of item; this dispatcher maps (item, action) to its handler.
"""

from app.review.decisions import document, entity, mention, relation
from app.review.decisions.context import Context, Handler, name_from_mentions, proposals_hidden, refuse_while_blind
from app.review.decisions.inputs import allowed_relation_types, sentence_of, utf16_to_code_point

__all__ = [
    "HANDLERS",
    "Context",
    "Handler",
    "allowed_relation_types",
    "name_from_mentions",
    "proposals_hidden",
    "refuse_while_blind",
    "sentence_of",
    "utf16_to_code_point",
]

HANDLERS: dict[tuple[str, str], Handler] = {
    ("entity", "accept"): entity.entity_accept,
    ("entity", "reject"): entity.entity_reject,
    ("entity", "retype"): entity.entity_retype,
    ("entity", "create"): entity.entity_create,
    ("entity", "delete"): entity.entity_delete,
    ("entity", "merge"): entity.entity_merge,
    ("entity", "add_mention"): entity.entity_add_mention,
    ("mention", "adjust"): mention.mention_adjust,
    ("mention", "delete"): mention.mention_delete,
    ("mention", "split"): mention.mention_split,
    ("relation", "accept"): relation.relation_accept,
    ("relation", "reject"): relation.relation_reject,
    ("relation", "retype"): relation.relation_retype,
    ("relation", "swap"): relation.relation_swap,
    ("relation", "evidence"): relation.relation_evidence,
    ("relation", "create"): relation.relation_create,
    ("relation", "delete"): relation.relation_delete,
    ("document", "accept_agreed"): document.accept_agreed,
    ("document", "reject_annotator"): document.reject_from_annotator,
}
