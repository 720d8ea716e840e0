"""Storing a chunk of ingested documents with one executemany INSERT at the driver."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table

from app.models import Document, DocumentStatus
from app.models.types import utcnow
from app.webtext.pipeline import Processed

# The columns ingestion sets, in the order of DocumentInsert's rows; the rest take their defaults.
_CONSTANT_COLUMNS = ("project_id", "batch_id", "duplicate_urls", "status", "version", "created_at")
_RECORD_COLUMNS = (
    "url",
    "title",
    "warc_record_id",
    "crawl_date",
    "language",
    "script",
    "text",
    "sentences",
    "text_hash",
    "minhash",
    "meta",
)
# JSON columns whose values come serialized already, as the JSON column would serialize them.
_SERIALIZED_COLUMNS = frozenset({"sentences"})

# The placeholder of a named value in each DB-API parameter style SQLAlchemy's drivers use.
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%({})s", "named": ":{}"}


@dataclass(frozen=True)
class DocumentInsert:
    """An executemany INSERT of documents at the driver, with the columns' own bind processing.

    Through SQLAlchemy's insert() each row's 17 values go through its per-value bind processing, a fifth of the
    cost of storing a document; here the values every row shares are processed once, and only the columns that
    have a processor (JSON, dates) are processed per row.
    """

    sql: str
    positional: bool
    keys: tuple[str, ...]
    constants: tuple[Any, ...]
    processors: tuple[tuple[int, Any], ...]

    @classmethod
    def for_batch(cls, connection: Connection, *, project_id: int, batch_id: int) -> "DocumentInsert":
        table: Table = Document.__table__  # type: ignore[attr-defined]
        dialect = connection.dialect
        keys = _CONSTANT_COLUMNS + _RECORD_COLUMNS
        placeholder = _PLACEHOLDERS.get(dialect.paramstyle or "")
        if placeholder is None:
            raise RuntimeError(f"unsupported DB-API parameter style {dialect.paramstyle!r}")
        quote = dialect.identifier_preparer.quote
        # Built from the table's own names and the placeholders; values only ever travel as parameters.
        columns = ", ".join(map(quote, keys))
        sql = (
            f"INSERT INTO {quote(table.name)} ({columns}) "  # noqa: S608
            f"VALUES ({', '.join(placeholder.format(name) for name in keys)})"
        )

        def processor(name: str) -> Any:
            return table.c[name].type.dialect_impl(dialect).bind_processor(dialect)

        shared: tuple[Any, ...] = (project_id, batch_id, [], DocumentStatus.new.value, 1, utcnow())
        constants = tuple(
            value if (process := processor(name)) is None else process(value)
            for name, value in zip(_CONSTANT_COLUMNS, shared, strict=True)
        )
        processors = tuple(
            (i, process)
            for i, name in enumerate(_RECORD_COLUMNS)
            if name not in _SERIALIZED_COLUMNS and (process := processor(name)) is not None
        )
        return cls(sql, bool(dialect.positional), keys, constants, processors)

    def execute(self, connection: Connection, documents: list[Processed]) -> None:
        rows: list[Any] = []
        for p in documents:
            values = [
                p.url,
                p.title,
                p.record_id,
                p.crawl_date,
                p.language,
                p.script,
                p.text,
                p.sentences_json,
                p.text_hash,
                p.minhash,
                p.meta,
            ]
            for i, process in self.processors:
                values[i] = process(values[i])
            row = self.constants + tuple(values)
            rows.append(row if self.positional else dict(zip(self.keys, row, strict=True)))
        connection.exec_driver_sql(self.sql, rows)
