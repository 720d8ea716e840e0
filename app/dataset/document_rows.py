"""A page of documents read from the database: its documents, items and provenance as plain rows.

Each page (documents in id order) is read in its own short session with a few queries over plain columns,
then the session is closed before the documents are handed on: a slow consumer (an HTTP client, a zip writer)
never holds a transaction, which on SQLite (BEGIN IMMEDIATE) would block every writer.

The item queries (entities, mentions, relations, proposals: tens of rows per document) return the driver's own
tuples, sorted so that each group is one run of rows; JSON columns are read as text and decoded with orjson.
Per row, that is several times cheaper than SQLAlchemy's Row objects, attribute access and the driver's JSON
decoding. Documents, decisions and costs (a row or so per document, with dates and decimals to convert) are
read as Rows.
"""

import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, String, case, cast, func, select
from sqlmodel import Session, col

from app.dataset.splits import DEFAULT_RATIOS, split_of
from app.db import json_loads
from app.evaluation.records import DecisionRecord, ProposalRecord
from app.models import (
    Annotator,
    AnnotatorRun,
    CrawlBatch,
    Decision,
    Document,
    DocumentStatus,
    Entity,
    ItemStatus,
    Mention,
    Proposal,
    Relation,
    ReviewAssignment,
    User,
)
from app.models.review import AssignmentStatus

Bind = Engine | Connection
STATUSES = ("curated", "all")
PAGE_SIZE = 1000
# The audit flag is all the export needs from a proposal's payload: matched in its JSON text, not decoded,
# and the text is only sent when it names the flag at all.
_AUDIT = re.compile(r'"audit"\s*:\s*true')


def _select(*columns: Any) -> Any:
    """A SELECT of plain columns (rows, not ORM objects: much cheaper per row)."""
    return select(*(col(c) if not isinstance(c, ColumnElement) else c for c in columns))


def _text(column: Any) -> Any:
    """A JSON column as its text (decoded by loads), not decoded by the driver."""
    return cast(col(column), String).label(column.key)


def _tuples(connection: Connection, query: Any) -> Sequence[Any]:
    """Every row of a query of plain columns (integers, strings, JSON as text) as the driver returns it: no
    Row objects and no result processing (booleans stay 0/1 on SQLite)."""
    result = connection.execute(query)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


class Runs:
    """Rows in runs of equal keys (a query sorted by the key), and each key's run by where it starts and stops.

    Not a list per key: a page would keep thousands of lists alive across many allocations, which the garbage
    collector promotes to its oldest generation, bringing on full collections page after page.
    """

    __slots__ = ("_rows", "_starts", "_stops")

    def __init__(self, rows: Sequence[Any], keys: Sequence[Any]) -> None:
        """`keys` are the rows' keys, in the same order."""
        self._rows = rows
        # Built by dict() from zip(), without a Python step per row: a later position of a key overwrites
        # an earlier one, so the reversed pairs leave each key's first position and the others its last.
        self._starts = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1), strict=True))
        self._stops = dict(zip(keys, range(1, len(keys) + 1), strict=True))

    def get(self, key: Any, default: Sequence[Any] = ()) -> Sequence[Any]:
        start = self._starts.get(key)
        return self._rows[start : self._stops[key]] if start is not None else default


_NO_RUNS = Runs((), ())


def _by_column(rows: Sequence[Any], column: int) -> Runs:
    return Runs(rows, list(map(itemgetter(column), rows)))


def loads(value: str | None) -> Any:
    """A JSON column read as text, decoded as the engine would (None stays None)."""
    return None if value is None else json_loads(value)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which documents and items: curated (accepted items of curated documents) or all (every non-rejected)."""

    project_id: int
    status: str = "curated"
    batch_id: int | None = None
    split: str | None = None  # train / dev / test, by split_of(seed, id, ratios)
    seed: int = 0
    ratios: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATIOS))
    # Items of every status (rejected included): what the annotators proposed, for the metrics.
    every_item: bool = False


@dataclass(slots=True)
class RawPage:
    """One page's rows, keyed by document id. JSON columns of documents and relations are text (loads).

    Documents are Rows; items are tuples, in these columns:
    entities (id, document_id, type, name, status, agreement, grounded), by document, in id order;
    mentions (entity_id, start, end, text, sentence_id), by entity, by start, end and id;
    relations (id, document_id, head_id, tail_id, type, evidence, status, agreement), by document, in id order.
    """

    documents: list[Any]
    entities: Runs
    mentions: Runs  # by entity id
    relations: Runs
    proposals: Runs  # (kind, id) → ProposalRecords, by annotator name
    audited: set[tuple[str, int]]  # (kind, id) of the items a proposal flagged for audit
    decisions: dict[tuple[str, int], list[DecisionRecord]]
    reviewers: dict[int, list[str]]
    cost: dict[int, float]
    runs: dict[int, set[str]]  # document id → names of the annotators that ran on it
    sources: dict[int, str]  # batch id → file name
    # False when read without provenance: proposals, decisions, reviewers, cost and sources are empty.
    with_provenance: bool = True


def _document_filter(selection: Selection) -> list[Any]:
    d = Document
    where = [col(d.project_id) == selection.project_id]
    if selection.status == "curated":
        where.append(col(d.status) == DocumentStatus.curated)
    if selection.batch_id is not None:
        where.append(col(d.batch_id) == selection.batch_id)
    return where


def selected_document_ids(session: Session, selection: Selection) -> list[int]:
    """The ids of the documents the selection holds, in id order (its split, if any, not applied)."""
    query = select(col(Document.id)).where(*_document_filter(selection)).order_by(col(Document.id))
    return [int(i) for i in session.execute(query).scalars()]


def _document_query(selection: Selection, after: int, limit: int) -> Any:
    d = Document
    query = _select(
        d.id,
        d.title,
        d.text,
        _text(d.sentences),
        d.url,
        d.language,
        d.status,
        d.batch_id,
        d.warc_record_id,
        d.crawl_date,
        _text(d.meta),
        d.curated_at,
    ).where(*_document_filter(selection), col(d.id) > after)
    return query.order_by(col(d.id)).limit(limit)


OfPage = Callable[[Any], Any]


def _of_page(selection: Selection, ids: list[int], first: int, last: int, *, joined: bool = False) -> OfPage:
    """How the item queries pick the page's documents (`ids`, read from `first` to `last`).

    Not by the ids themselves when they are all the documents of that range: an IN list of hundreds of
    parameters costs SQLAlchemy milliseconds per query to expand, where the page's own document filter is a
    few cached parameters. A split is computed here, not in SQL, so a split page names its ids. The range
    beside either keeps Postgres from misjudging how many rows match and scanning a whole table per page.

    When every id of the range is one of the page's documents (a project imported in one go), by the range
    alone: one index range scan, where the membership test sends SQLite to the index once per document. Not
    for a table `joined` to the one filtered (proposals, through their runs): there Postgres, which without
    the membership test expects more rows, would hash a full scan of the joined table.
    """
    if not joined and len(ids) == last - first + 1:
        return lambda column: col(column).between(first, last)
    if selection.split is None:
        documents = select(col(Document.id)).where(*_document_filter(selection), col(Document.id).between(first, last))
        return lambda column: col(column).between(first, last) & col(column).in_(documents)
    return lambda column: col(column).between(first, last) & col(column).in_(ids)


def load_page(
    session: Session, selection: Selection, *, after: int, limit: int, provenance: bool = True
) -> RawPage | None:
    """The next page of documents after id `after` with their items and provenance, or None at the end."""
    connection = session.connection()
    read = _page_documents(connection, selection, after, limit)
    if read is None:
        return None
    documents, first, last = read
    ids = [r.id for r in documents]
    of_page = _of_page(selection, ids, first, last)
    entities = _entity_rows(connection, selection, of_page)
    mentions = _mention_rows(connection, selection, of_page)
    relations = _relation_rows(connection, selection, of_page)
    if not provenance:
        return RawPage(
            documents, entities, mentions, relations, _NO_RUNS, set(), {}, {}, {}, {}, {}, with_provenance=False
        )
    proposals, audited = _proposals(session, _of_page(selection, ids, first, last, joined=True))
    return RawPage(
        documents=documents,
        entities=entities,
        mentions=mentions,
        relations=relations,
        proposals=proposals,
        audited=audited,
        decisions=_decisions(session, of_page),
        reviewers=_reviewers(session, of_page),
        cost=_cost(session, of_page),
        runs=_runs(session, of_page) if selection.every_item else {},
        sources=_sources(session, {r.batch_id for r in documents if r.batch_id is not None}),
    )


def _page_documents(
    connection: Connection, selection: Selection, after: int, limit: int
) -> tuple[list[Any], int, int] | None:
    """The next documents of the selection's split, with the first and last id read (a read with none of the
    split reads on), or None at the end."""
    documents: list[Any] = []
    while not documents:
        rows = connection.execute(_document_query(selection, after, limit)).all()
        if not rows:
            return None
        first, after = rows[0].id, rows[-1].id
        documents = [r for r in rows if selection.split is None or split_name(selection, r.id) == selection.split]
    return documents, first, after


def _item_filter(selection: Selection, column: Any) -> list[Any]:
    """Which entities and relations: every one (every_item), accepted ones (curated), or all but rejected."""
    if selection.every_item:
        return []
    return [col(column) == ItemStatus.accepted if selection.status == "curated" else col(column) != ItemStatus.rejected]


def _entity_rows(connection: Connection, selection: Selection, of_page: OfPage) -> Runs:
    """The page's entities, by document in id order (RawPage gives the columns)."""
    e = Entity
    query = _select(e.id, e.document_id, e.type, e.name, e.status, e.agreement, e.grounded)
    query = query.where(of_page(e.document_id), *_item_filter(selection, e.status))
    return _by_column(_tuples(connection, query.order_by(col(e.document_id), col(e.id))), 1)


def _mention_rows(connection: Connection, selection: Selection, of_page: OfPage) -> Runs:
    """The page's mentions (all but rejected ones, unless every_item), by entity, by start, end and id."""
    m = Mention
    query = _select(m.entity_id, m.start, m.end, m.text, m.sentence_id).where(of_page(m.document_id))
    if not selection.every_item:
        query = query.where(col(m.status) != ItemStatus.rejected)
    query = query.order_by(col(m.entity_id), col(m.start), col(m.end), col(m.id))
    return _by_column(_tuples(connection, query), 0)


def _relation_rows(connection: Connection, selection: Selection, of_page: OfPage) -> Runs:
    """The page's relations, by document in id order (RawPage gives the columns; evidence is JSON text)."""
    r = Relation
    query = _select(r.id, r.document_id, r.head_id, r.tail_id, r.type, _text(r.evidence), r.status, r.agreement)
    query = query.where(of_page(r.document_id), *_item_filter(selection, r.status))
    return _by_column(_tuples(connection, query.order_by(col(r.document_id), col(r.id))), 1)


def split_name(selection: Selection, document_id: int) -> str:
    return split_of(selection.seed, document_id, selection.ratios)


def iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _proposals(session: Session, of_page: OfPage) -> tuple[Runs, set[tuple[str, int]]]:
    """(kind, item id) → its proposals by annotator name; and the items a proposal flagged for audit."""
    payload = cast(col(Proposal.payload), String)
    query = (
        _select(
            Proposal.item_kind,
            Proposal.item_id,
            Annotator.name,
            AnnotatorRun.prompt_version,
            func.coalesce(col(Proposal.proposed_type), ""),
            Proposal.augmentation,
            case((payload.like('%"audit"%'), payload), else_=None),
        )
        .join(AnnotatorRun, col(AnnotatorRun.id) == col(Proposal.run_id))
        .join(Annotator, col(Annotator.id) == col(AnnotatorRun.annotator_id))
        .where(of_page(AnnotatorRun.document_id), col(Proposal.item_kind).in_(("entity", "relation")))
        .order_by(col(Proposal.item_id), col(Proposal.item_kind), col(Annotator.name), col(Proposal.id))
    )
    rows = _tuples(session.connection(), query)
    audited = {row[:2] for row in rows if row[6] is not None and _AUDIT.search(row[6])}
    # Frozen and repeated on every item an annotator proposed: one shared instance each, made once per page.
    keys = list(map(itemgetter(2, 3, 4, 5), rows))
    shared = {key: ProposalRecord(key[0], key[1], key[2], bool(key[3])) for key in set(keys)}
    return Runs(list(map(shared.__getitem__, keys)), list(map(itemgetter(0, 1), rows))), audited


def _decisions(session: Session, of_page: OfPage) -> dict[tuple[str, int], list[DecisionRecord]]:
    """Every item a reviewer's decision changed (a bulk accept touches many), undone decisions and undos aside."""
    out: dict[tuple[str, int], list[DecisionRecord]] = defaultdict(list)
    query = (
        _select(
            Decision.item_kind,
            Decision.item_id,
            Decision.action,
            _text(Decision.after),
            Decision.created_at,
            User.username,
        )
        .outerjoin(User, col(User.id) == col(Decision.user_id))
        .where(of_page(Decision.document_id), col(Decision.undone_at).is_(None), col(Decision.action) != "undo")
        .order_by(col(Decision.created_at), col(Decision.id))
    )
    for item_kind, item_id, action, after_text, created_at, username in session.connection().execute(query).all():
        record = DecisionRecord(username or "", action, iso(created_at))
        touched = {(item_kind, item_id)} if item_id is not None else set()
        after = loads(after_text)
        rows = (after or {}).get("rows", []) if isinstance(after, dict) else []
        for row in rows:
            if isinstance(row, list) and len(row) >= 2 and row[0] in ("entity", "relation"):
                touched.add((row[0], row[1]))
        for key in sorted(touched, key=str):
            out[key].append(record)
    return out


def _reviewers(session: Session, of_page: OfPage) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    query = (
        _select(ReviewAssignment.document_id, User.username)
        .join(User, col(User.id) == col(ReviewAssignment.user_id))
        .where(of_page(ReviewAssignment.document_id), col(ReviewAssignment.status) == AssignmentStatus.submitted)
        .order_by(col(ReviewAssignment.submitted_at), col(ReviewAssignment.id))
    )
    for doc_id, username in session.connection().execute(query).all():
        out[doc_id].append(username)
    return out


def _cost(session: Session, of_page: OfPage) -> dict[int, float]:
    query = (
        _select(AnnotatorRun.document_id, func.sum(AnnotatorRun.cost))
        .where(of_page(AnnotatorRun.document_id))
        .group_by(col(AnnotatorRun.document_id))
    )
    return {doc_id: float(total or 0) for doc_id, total in session.connection().execute(query).all()}


def _runs(session: Session, of_page: OfPage) -> dict[int, set[str]]:
    out: dict[int, set[str]] = defaultdict(set)
    query = (
        _select(AnnotatorRun.document_id, Annotator.name)
        .join(Annotator, col(Annotator.id) == col(AnnotatorRun.annotator_id))
        .where(of_page(AnnotatorRun.document_id))
    )
    for doc_id, name in session.connection().execute(query).all():
        out[doc_id].add(name)
    return out


def _sources(session: Session, batch_ids: set[int]) -> dict[int, str]:
    if not batch_ids:
        return {}
    query = _select(CrawlBatch.id, CrawlBatch.filename).where(col(CrawlBatch.id).in_(sorted(batch_ids)))
    return dict(session.connection().execute(query).all())
