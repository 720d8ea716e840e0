"""A document's review history: who decided what, when, and the rows each decision changed."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app.db import require_id
from app.models import Decision, User


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One decision in a document's history: who (a username, "system" for the pipeline, "?" for a deleted user),
    when, what, and the rows it changed, before → after. The history page shows it and the API answers it."""

    id: int
    user: str
    at: datetime
    item: str
    item_id: int | None
    action: str
    summary: str
    undone: bool
    version: int
    changes: list[str]


def document_history(session: Session, *, document_id: int, limit: int = 500) -> list[HistoryEntry]:
    """The document's decisions, newest first: who, when, what, before and after."""
    names = {u.id: u.username for u in session.exec(select(User))}
    rows = session.exec(
        select(Decision).where(Decision.document_id == document_id).order_by(col(Decision.id).desc()).limit(limit)
    )
    return [
        HistoryEntry(
            id=require_id(d),
            user=names.get(d.user_id, "?") if d.user_id else "system",
            at=d.created_at,
            item=d.item_kind,
            item_id=d.item_id,
            action=d.action,
            summary=str((d.after or {}).get("summary", d.action)),
            undone=d.undone_at is not None,
            version=d.document_version,
            changes=describe_changes((d.before or {}).get("rows", []), (d.after or {}).get("rows", [])),
        )
        for d in rows
    ]


def describe_changes(before: list[list[Any]], after: list[list[Any]]) -> list[str]:
    """One line per changed row: what it was and what it became ("relation 5: status proposed → accepted")."""
    lines = []
    for (table, row_id, old), (_t, _i, new) in zip(before, after, strict=False):
        if table == "proposal":
            continue
        if old is None:
            lines.append(f"{table} {row_id}: created {_brief(table, new)}")
        elif new is None:
            lines.append(f"{table} {row_id}: deleted {_brief(table, old)}")
        else:
            diffs = [f"{k} {old.get(k)} → {v}" for k, v in new.items() if old.get(k) != v]
            lines.append(f"{table} {row_id}: " + "; ".join(diffs))
    return lines


def _brief(table: str, values: dict[str, Any] | None) -> str:
    if not values:
        return ""
    if table == "entity":
        return f"{values.get('name')} ({values.get('type')}, {values.get('status')})"
    if table == "mention":
        return f"{values.get('text')!r} at {values.get('start')}–{values.get('end')}"
    if table == "relation":
        return f"{values.get('head_id')} —{values.get('type')}→ {values.get('tail_id')} ({values.get('status')})"
    return ""
