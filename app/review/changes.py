"""Change sets: every row a decision touches, before and after, so the audit log is exact and undo is one routine."""

from typing import Any

from sqlmodel import Session, SQLModel

from app.models import Entity, Mention, Proposal, Relation

TABLES: dict[str, type[SQLModel]] = {"entity": Entity, "mention": Mention, "relation": Relation, "proposal": Proposal}
_TABLE_OF = {model: name for name, model in TABLES.items()}
# Parents first when rows come back, children first when they go.
_INSERT_ORDER = ["entity", "mention", "relation", "proposal"]
_COLUMNS = {
    name: [c for c in model.model_fields if c != "created_at"]  # created_at is not part of a decision
    for name, model in TABLES.items()
}

Row = tuple[str, int]


def snapshot(obj: SQLModel) -> dict[str, Any]:
    table = _TABLE_OF[type(obj)]
    return {c: getattr(obj, c) for c in _COLUMNS[table]}


class ChangeSet:
    """Records each touched row's state before its first change; `rows()` reads the after-state at the end."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.before: dict[Row, dict[str, Any] | None] = {}
        self.objects: dict[Row, SQLModel] = {}
        self.deleted: set[Row] = set()

    def _key(self, obj: SQLModel) -> Row:
        obj_id = getattr(obj, "id", None)
        assert obj_id is not None, "flush before tracking"
        return _TABLE_OF[type(obj)], int(obj_id)

    def touch(self, obj: SQLModel) -> None:
        """Call before changing an existing row."""
        key = self._key(obj)
        if key not in self.before:
            self.before[key] = snapshot(obj)
        self.objects[key] = obj

    def add(self, obj: SQLModel) -> None:
        """Add a new row (flushed, so it has an id)."""
        self.session.add(obj)
        self.session.flush()
        key = self._key(obj)
        self.before.setdefault(key, None)
        self.objects[key] = obj

    def delete(self, obj: SQLModel) -> None:
        self.touch(obj)
        key = self._key(obj)
        self.deleted.add(key)
        self.session.delete(obj)

    def rows(self) -> tuple[list[list[Any]], list[list[Any]]]:
        """(before, after) as [[table, id, values-or-null], ...] — JSON for the audit log."""
        self.session.flush()
        before: list[list[Any]] = []
        after: list[list[Any]] = []
        for key, old in self.before.items():
            new = None if key in self.deleted else snapshot(self.objects[key])
            if old == new:
                continue
            before.append([key[0], key[1], _jsonable(old)])
            after.append([key[0], key[1], _jsonable(new)])
        return before, after

    def ids(self, table: str) -> set[int]:
        return {i for (t, i) in self.before if t == table}


def _jsonable(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: (str(v) if hasattr(v, "value") else v) for k, v in values.items()}


def restore(session: Session, changes: ChangeSet, rows: list[list[Any]]) -> None:
    """Put rows back to the given states (None: the row must not exist), recording it all in `changes`."""
    by_table: dict[str, list[tuple[int, dict[str, Any] | None]]] = {}
    for table, row_id, values in rows:
        by_table.setdefault(table, []).append((int(row_id), values))
    for table in reversed(_INSERT_ORDER):  # deletions, children first
        model = TABLES[table]
        for row_id, values in by_table.get(table, []):
            if values is None and (obj := session.get(model, row_id)) is not None:
                changes.delete(obj)
    session.flush()
    for table in _INSERT_ORDER:  # updates and re-inserts, parents first
        model = TABLES[table]
        for row_id, values in by_table.get(table, []):
            if values is None:
                continue
            obj = session.get(model, row_id)
            if obj is None:
                obj = model(**values)
                session.add(obj)
                session.flush()
                changes.before.setdefault((table, row_id), None)
                changes.objects[(table, row_id)] = obj
                changes.deleted.discard((table, row_id))
            else:
                changes.touch(obj)
                for k, v in values.items():
                    setattr(obj, k, v)
                session.add(obj)
        session.flush()
