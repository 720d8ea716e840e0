"""Streaming exporters, one module per format: DocRED JSON, JSONL, brat standoff, CoNLL BIO, and for generative
models seq2seq (text in, linearised triples out) and chat (OpenAI fine-tuning messages); one document in memory
at a time.

Every writer takes an iterable of ExportDocument and yields bytes, at least one chunk per document. Entities
without a (non-blank) mention are not exported, with the relations that use them; entities are renumbered 0..n-1
in document order, which is the `index` of the JSONL and the vertexSet index of DocRED. A name the text does not
contain is never exported: such an entity is named by its longest mention's text. A structurally broken record
(offsets outside the text, a relation to an unknown entity, evidence outside the sentences) raises ExportError
before any byte of that document is yielded. `prepare` (prepare.py) does all of this once for every format;
tokens.py tokenizes for DocRED and CoNLL;
examples.py cuts documents into windows for seq2seq and chat.
"""

from app.dataset.exporters.brat import brat_config, brat_files, export_brat
from app.dataset.exporters.chat import chat_records, export_chat
from app.dataset.exporters.conll import conll_lines, export_conll
from app.dataset.exporters.docred import docred_record, export_docred
from app.dataset.exporters.jsonl import export_jsonl, jsonl_record
from app.dataset.exporters.prepare import ExportError, Prepared, prepare, trim, type_word
from app.dataset.exporters.seq2seq import (
    TargetError,
    Triple,
    export_seq2seq,
    linearise,
    parse_target,
    relations_outside_windows,
    seq2seq_records,
)

__all__ = [
    "ExportError",
    "Prepared",
    "TargetError",
    "Triple",
    "brat_config",
    "brat_files",
    "chat_records",
    "conll_lines",
    "docred_record",
    "export_brat",
    "export_chat",
    "export_conll",
    "export_docred",
    "export_jsonl",
    "export_seq2seq",
    "jsonl_record",
    "linearise",
    "parse_target",
    "prepare",
    "relations_outside_windows",
    "seq2seq_records",
    "trim",
    "type_word",
]
