"""Exports of a project's documents, streamed page by page, and evaluation of predictions against a gold file."""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, Engine
from sqlmodel import Session

from app.annotation.contract import CONTRACT_VERSION
from app.annotation.prompts import prompt_version
from app.crawl_batch.service import get_batch
from app.dataset.datasheet import ChatFormat, GenerativeFormats, Seq2seqFormat
from app.dataset.document_rows import STATUSES, Bind, Selection
from app.dataset.exporters import export_brat, export_chat, export_conll, export_docred, export_jsonl, export_seq2seq
from app.dataset.exporters.chat import WINDOW_TOKENS as CHAT_WINDOW_TOKENS
from app.dataset.exporters.seq2seq import LINEARISATION
from app.dataset.exporters.seq2seq import WINDOW_TOKENS as SEQ2SEQ_WINDOW_TOKENS
from app.dataset.loaders import iter_documents
from app.dataset.predictions import load_predictions
from app.dataset.splits import DEFAULT_RATIOS, SPLITS
from app.errors import InvalidInput
from app.evaluation.records import ExportDocument
from app.evaluation.scores import EvaluationInputError, EvaluationReport, evaluate
from app.models import Project
from app.project.service import get_project, label_schema_of

FORMATS: dict[str, tuple[str, str]] = {
    "docred": ("json", "application/json"),
    "jsonl": ("jsonl", "application/x-ndjson"),
    "brat": ("zip", "application/zip"),
    "conll": ("conll", "text/plain; charset=utf-8"),
    "seq2seq": ("jsonl", "application/x-ndjson"),
    "chat": ("jsonl", "application/x-ndjson"),
}
# For generative models; their files are .jsonl like the JSONL export's, so their names carry the format.
GENERATIVE_FORMATS = ("seq2seq", "chat")


def format_tag(fmt: str) -> str:
    """What a download's file name adds for a format whose extension another format shares ("-chat")."""
    return f"-{fmt}" if fmt in GENERATIVE_FORMATS else ""


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidInput.for_field("format", f"Unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    return fmt


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise InvalidInput.for_field("status", f"Unknown status {status!r}; choose one of {', '.join(STATUSES)}.")
    return status


def check_split(split: str | None, *, allow_all: bool = False) -> str | None:
    choices = (*SPLITS, "all") if allow_all else SPLITS
    if split in (None, "") or (allow_all and split == "all"):
        return None
    if split not in choices:
        raise InvalidInput.for_field("split", f"Unknown split {split!r}; choose one of {', '.join(choices)}.")
    return split


def writer_for(fmt: str, project: Project) -> Callable[[Iterable[ExportDocument]], Iterator[bytes]]:
    """The streaming exporter of a format (brat declares the project's types in annotation.conf; chat asks with the
    project's schema and guidelines)."""
    if fmt == "chat":
        label_schema, guidelines = label_schema_of(project), project.guidelines
        return lambda docs: export_chat(docs, schema=label_schema, guidelines=guidelines)
    if fmt == "brat":
        schema = project.label_schema or {}
        entity_types = [str(t.get("code")) for t in schema.get("entity_types", []) if isinstance(t, dict)]
        relation_types = [str(t.get("code")) for t in schema.get("relation_types", []) if isinstance(t, dict)]
        return lambda docs: export_brat(docs, entity_types=entity_types, relation_types=relation_types)
    return {"docred": export_docred, "jsonl": export_jsonl, "conll": export_conll, "seq2seq": export_seq2seq}[fmt]


def generative_settings(project: Project) -> GenerativeFormats:
    """What a trainer needs to know of the seq2seq and chat files (the datasheet's `formats`)."""
    return GenerativeFormats(
        seq2seq=Seq2seqFormat(linearisation=LINEARISATION, window_tokens=SEQ2SEQ_WINDOW_TOKENS),
        chat=ChatFormat(
            contract=CONTRACT_VERSION,
            prompt_version=prompt_version(label_schema_of(project), project.guidelines),
            window_tokens=CHAT_WINDOW_TOKENS,
        ),
    )


def documents_for(fmt: str, bind: Bind, selection: Selection) -> Iterator[ExportDocument]:
    """The documents a format's writer reads: only JSONL carries provenance, so only it pays for reading it."""
    return iter_documents(bind, selection, provenance=fmt == "jsonl")


@dataclass(frozen=True)
class Export:
    filename: str
    media_type: str
    chunks: Iterator[bytes]


def bind_of(session: Session) -> Engine | Connection:
    """What a streaming reader opens its own short sessions on: the engine (or the test's connection)."""
    bind = session.get_bind()
    assert isinstance(bind, Engine | Connection)
    return bind


def plan_export(
    session: Session,
    *,
    project_id: int,
    fmt: str,
    status: str = "curated",
    batch_id: int | None = None,
    split: str | None = None,
    seed: int = 0,
) -> Export:
    """Check the request, then return a lazy stream: documents are read page by page as the client reads."""
    project = get_project(session, project_id)
    check_format(fmt)
    check_status(status)
    split = check_split(split)
    if batch_id is not None and get_batch(session, batch_id).project_id != project_id:
        raise InvalidInput.for_field("batch", f"Batch {batch_id} is not a batch of this project.")
    selection = Selection(
        project_id=project_id, status=status, batch_id=batch_id, split=split, seed=seed, ratios=dict(DEFAULT_RATIOS)
    )
    parts = [f"concord-project{project_id}", status]
    if batch_id is not None:
        parts.append(f"batch{batch_id}")
    if split:
        parts.append(f"{split}-seed{seed}")
    ext, media_type = FORMATS[fmt]
    chunks = writer_for(fmt, project)(documents_for(fmt, bind_of(session), selection))
    return Export(f"{'-'.join(parts)}{format_tag(fmt)}.{ext}", media_type, _coalesced(chunks))


def _coalesced(chunks: Iterable[bytes], size: int = 512 * 1024) -> Iterator[bytes]:
    """The same bytes in pieces of about `size`: the writers yield one small chunk per document, and every
    chunk costs the HTTP server a send of its own and a hop to and from the thread the writer runs in."""
    pending: list[bytes] = []
    length = 0
    for chunk in chunks:
        pending.append(chunk)
        length += len(chunk)
        if length >= size:
            yield b"".join(pending)
            pending.clear()
            length = 0
    if pending:
        yield b"".join(pending)


def evaluate_files(gold: bytes, predicted: bytes, train: bytes | None = None) -> EvaluationReport:
    """Score a predictions file (our JSONL or DocRED) against a gold file; EvaluationInputError names the
    first bad record, prefixed with which file it is in."""
    gold_docs = _load("gold", gold)
    train_docs = _load("train", train) if train is not None else None
    try:
        predictions = load_predictions(predicted, gold_docs)
    except EvaluationInputError as exc:
        raise EvaluationInputError(f"predictions: {exc}") from None
    return evaluate(gold_docs, predictions, train=train_docs)


def _load(what: str, data: bytes) -> list[ExportDocument]:
    try:
        return load_predictions(data)
    except EvaluationInputError as exc:
        raise EvaluationInputError(f"{what}: {exc}") from None
