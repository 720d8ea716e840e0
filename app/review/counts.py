"""What counts as a reviewer's decision: one definition, counted by one query for the queue and the dashboard."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func
from sqlalchemy import select as columns
from sqlmodel import Session, col

from app.models import Decision

# Records in the audit log that are not judgements on an item: the end or reopening of a pass, the end of a
# blind pass, and undo itself (the decision it reverted is marked undone and is not counted either).
NOT_DECISIONS = frozenset({"submit", "reopen", "finish_blind", "undo"})
# Shown beside every count of decisions (queue, dashboard) and in docs/reviewer-guide.md.
DECISIONS_MEANING = (
    "Decisions: judgements on items (accept, reject, change type, edit, add, merge, …) that still stand. "
    "Undone decisions, undo itself and submitting or reopening a document are not counted."
)


@dataclass(frozen=True)
class DecisionCount:
    total: int
    since: int  # of them, taken at or after the `since` time asked for (0 when none was given)


def decisions_by_reviewer(
    session: Session, *, document_ids: Any, since: datetime | None = None
) -> dict[int, DecisionCount]:
    """Per reviewer id: decisions (as DECISIONS_MEANING says) on the documents of `document_ids` (a subquery)."""
    recent = func.sum(case((col(Decision.created_at) >= since, 1), else_=0)) if since is not None else func.sum(0)
    query = (
        columns(col(Decision.user_id), func.count(), recent)
        .where(
            col(Decision.document_id).in_(document_ids),
            col(Decision.user_id).is_not(None),
            col(Decision.undone_at).is_(None),
            col(Decision.action).not_in(sorted(NOT_DECISIONS)),
        )
        .group_by(col(Decision.user_id))
    )
    return {int(user_id): DecisionCount(int(n), int(n_recent or 0)) for user_id, n, n_recent in session.execute(query)}
