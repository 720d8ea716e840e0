"""Frozen, versioned snapshots: every format and split written once to the data directory, with checksums."""

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.config import get_settings
from app.dataset.datasheet import DatasheetCounts, DatasheetTally
from app.dataset.document_rows import Bind, Selection, selected_document_ids
from app.dataset.loaders import iter_documents
from app.dataset.service import FORMATS, check_format, check_split, check_status, format_tag, writer_for
from app.dataset.splits import (
    DEFAULT_RATIOS,
    SPLITS,
    SplitError,
    check_ratios,
    empty_splits,
    split_counts,
    split_of,
)
from app.db import require_id
from app.errors import Conflict, InvalidInput, NotFound
from app.evaluation.records import DocumentProvenance, ExportDocument
from app.jobs import enqueue
from app.models import DatasetSnapshot, Project, SnapshotStatus, User

FILE_SPLITS = ("all", *SPLITS)


@dataclass(frozen=True, slots=True)
class SnapshotParams:
    """What a snapshot froze (its `params` JSON column), read once: the status and batch selected, the ratios."""

    status: str | None
    split: Mapping[str, float] | None
    batch_id: int | None

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> "SnapshotParams":
        return cls(status=raw.get("status"), split=raw.get("split"), batch_id=raw.get("batch_id"))


class EmptySplits(Conflict):
    """A split given a share would hold no document: freezing needs the ratios changed or a confirmation."""

    def __init__(self, message: str, counts: dict[str, int]) -> None:
        super().__init__(message)
        self.counts = counts
        self.extra = {"split_counts": counts, "confirm_with": "confirm_empty_splits"}


def snapshot_dir(project_id: int, version: int) -> Path:
    return get_settings().data_dir / "snapshots" / str(project_id) / f"v{version}"


def file_name(fmt: str, split: str) -> str:
    return f"{fmt}/{split}.{FORMATS[fmt][0]}"


def download_name(snapshot: DatasetSnapshot, *, fmt: str, split: str) -> str:
    """The name a downloaded file is saved under (seq2seq and chat say so: they are .jsonl too)."""
    return f"concord-project{snapshot.project_id}-v{snapshot.version}-{split}{format_tag(fmt)}.{FORMATS[fmt][0]}"


def create_snapshot(
    session: Session,
    *,
    project: Project,
    name: str,
    user: User | None,
    seed: int = 0,
    split: Mapping[str, float] | None = None,
    status: str = "curated",
    batch_id: int | None = None,
    confirm_empty_splits: bool = False,
) -> DatasetSnapshot:
    """Queue a new version; the job "dataset.build_snapshot" writes its files. A taken name is a 409, and so is
    a split given a share that would hold no document, unless `confirm_empty_splits`."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput.for_field("name", "A snapshot needs a name of 1 to 200 characters.")
    check_status(status)
    try:
        ratios = check_ratios(split if split is not None else DEFAULT_RATIOS)
    except SplitError as exc:
        raise InvalidInput.for_field("split", f"Invalid split: {exc}.") from None
    taken = select(DatasetSnapshot.id).where(DatasetSnapshot.project_id == project.id, DatasetSnapshot.name == name)
    if session.exec(taken).first() is not None:
        raise Conflict(f"This project already has a snapshot named {name!r}; snapshots are immutable.")
    if not confirm_empty_splits:
        check_no_empty_split(session, project=project, seed=seed, ratios=ratios, status=status, batch_id=batch_id)
    latest = session.exec(
        select(func.max(DatasetSnapshot.version)).where(DatasetSnapshot.project_id == project.id)
    ).one()
    snapshot = DatasetSnapshot(
        project_id=require_id(project),
        name=name,
        version=(latest or 0) + 1,
        split_seed=seed,
        params={"status": status, "split": ratios, "batch_id": batch_id},
        created_by_id=user.id if user else None,
    )
    try:
        with session.begin_nested():
            session.add(snapshot)
            session.flush()
    except IntegrityError:
        # A concurrent request took the name or the version first.
        raise Conflict(f"A snapshot named {name!r} (or version v{snapshot.version}) was just created.") from None
    enqueue(session, "dataset.build_snapshot", snapshot_id=require_id(snapshot))
    return snapshot


def check_no_empty_split(
    session: Session, *, project: Project, seed: int, ratios: Mapping[str, float], status: str, batch_id: int | None
) -> dict[str, int]:
    """The documents per split; EmptySplits (409) when a split with a share would get none of them."""
    selection = Selection(project_id=require_id(project), status=status, batch_id=batch_id)
    counts = split_counts(seed, selected_document_ids(session, selection), ratios)
    empty = empty_splits(counts, ratios)
    if empty:
        n = sum(counts.values())
        shares = " / ".join(f"{name} {ratios[name]:g}" for name in SPLITS)
        which = empty[0] if len(empty) == 1 else ", ".join(empty[:-1]) + " and " + empty[-1]
        raise EmptySplits(
            f"With {n} {'curated ' if status == 'curated' else ''}document{'' if n == 1 else 's'} and ratios "
            f"{shares}, the {which} split{'' if len(empty) == 1 else 's'} would be empty. Change the ratios, or "
            "confirm to freeze with empty splits.",
            counts,
        )
    return counts


def list_snapshots(session: Session, *, project_id: int) -> list[DatasetSnapshot]:
    query = select(DatasetSnapshot).where(DatasetSnapshot.project_id == project_id)
    return list(session.exec(query.order_by(col(DatasetSnapshot.version).desc())))


def get_snapshot(session: Session, snapshot_id: int) -> DatasetSnapshot:
    snapshot = session.get(DatasetSnapshot, snapshot_id)
    if snapshot is None:
        raise NotFound(f"Snapshot {snapshot_id} does not exist.")
    return snapshot


def find_snapshot(session: Session, ref: str) -> DatasetSnapshot:
    """A snapshot by id or by name (a name used by several projects must be given as an id)."""
    if ref.isdigit():
        return get_snapshot(session, int(ref))
    found = list(session.exec(select(DatasetSnapshot).where(DatasetSnapshot.name == ref)))
    if not found:
        raise NotFound(f"No snapshot is named {ref!r}.")
    if len(found) > 1:
        ids = ", ".join(str(s.id) for s in found)
        raise InvalidInput(f"Several projects have a snapshot named {ref!r}; give its id ({ids}).")
    return found[0]


def snapshot_file(snapshot: DatasetSnapshot, *, fmt: str, split: str = "all") -> Path:
    """The frozen file of one format and split; 409 while the snapshot is not built."""
    check_format(fmt)
    split = check_split(split, allow_all=True) or "all"
    if snapshot.status != SnapshotStatus.done or not snapshot.path:
        raise Conflict(f"Snapshot v{snapshot.version} is {snapshot.status}; its files are not ready.")
    path = Path(snapshot.path) / file_name(fmt, split)
    if not path.is_file():
        raise NotFound(f"The file {file_name(fmt, split)} of snapshot v{snapshot.version} is missing.")
    return path


class _Sink:
    """Drives one streaming exporter by pushing documents into it, so one pass feeds every file."""

    def __init__(self, path: Path, write: Callable[[Iterable[ExportDocument]], Iterator[bytes]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file: BinaryIO = path.open("wb")
        self.sha256 = hashlib.sha256()
        self.queue: deque[ExportDocument] = deque()
        self.closed = False
        self.chunks = write(self._feed())

    def _feed(self) -> Iterator[ExportDocument]:
        while True:
            if self.queue:
                yield self.queue.popleft()
            elif self.closed:
                return
            else:  # every exporter yields after each document; one that did not would lose documents
                raise RuntimeError("exporter asked for a document before writing the previous one")

    def _write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.sha256.update(chunk)

    def push(self, doc: ExportDocument) -> None:
        self.queue.append(doc)
        while self.queue:
            self._write(next(self.chunks))

    def close(self) -> str:
        self.closed = True
        for chunk in self.chunks:
            self._write(chunk)
        self.file.close()
        return self.sha256.hexdigest()


def _with_split(doc: ExportDocument, split: str) -> ExportDocument:
    p = doc.provenance
    provenance = DocumentProvenance(p.source, p.record_id, p.crawl_date, p.status, split, p.reviewers, p.notes)
    return ExportDocument(
        doc.id, doc.title, doc.text, doc.sentences, doc.entities, doc.relations, doc.url, doc.language, doc.meta,
        provenance,
    )  # fmt: skip


def write_files(
    bind: Bind, directory: Path, *, project: Project, selection: Selection, seed: int, ratios: Mapping[str, float]
) -> tuple[dict[str, str], DatasheetCounts]:
    """Every format × (all, train, dev, test) in one pass over the documents: checksums and counts."""
    sinks = {
        (fmt, split): _Sink(directory / file_name(fmt, split), writer_for(fmt, project))
        for fmt in FORMATS
        for split in FILE_SPLITS
    }
    tally = DatasheetTally()
    try:
        for doc in iter_documents(bind, selection):
            split = split_of(seed, int(doc.id), ratios)
            doc = _with_split(doc, split)
            tally.add(doc, split)
            for fmt in FORMATS:
                sinks[fmt, "all"].push(doc)
                sinks[fmt, split].push(doc)
        checksums = {file_name(fmt, split): sink.close() for (fmt, split), sink in sinks.items()}
    finally:
        for sink in sinks.values():
            sink.file.close()
    return dict(sorted(checksums.items())), tally.result()
