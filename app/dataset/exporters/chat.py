"""chat: instruction-tuning JSONL in the OpenAI fine-tuning message format, one line per document window:
`{"messages": [system, user, assistant]}`.

The system and user messages are the annotation prompt itself (app.annotation.prompts.annotation_prompt: the
project's label schema and guidelines, the title, the window's numbered sentences), so a model tuned on them is
asked exactly what it was trained on; the windows are the annotators' default ones. The assistant answers in
contract v1 (AnnotationOutput): entities E1, E2, … in order of first mention in the window, each with its name and
every distinct surface of its mentions there; relations between them with their evidence sentences in the window.
"""

import json
from collections.abc import Iterable, Iterator
from typing import TypedDict

from app.annotation.prompts import annotation_prompt
from app.dataset.exporters.examples import Example, examples_of
from app.dataset.exporters.jsonl import json_line
from app.dataset.exporters.prepare import prepare
from app.evaluation.records import ExportDocument
from app.project.label_schema import LabelSchema

# The annotators' default window (app.annotation.runner.DEFAULT_WINDOW_TOKENS; a test keeps the two equal).
WINDOW_TOKENS = 3000
_ANSWER_JSON = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":"))


class AnswerEntity(TypedDict):
    id: str
    type: str
    name: str
    mentions: list[str]


class AnswerRelation(TypedDict):
    head: str
    tail: str
    type: str
    evidence: list[int]


class AssistantAnswer(TypedDict):
    """Contract v1's answer (app/annotation/contract.py)."""

    entities: list[AnswerEntity]
    relations: list[AnswerRelation]


class ChatMessage(TypedDict):
    role: str
    content: str


class ChatRecord(TypedDict):
    messages: list[ChatMessage]


def assistant_answer(text: str, example: Example) -> AssistantAnswer:
    """Contract v1 for one window: what a perfect annotator would have answered."""
    window = set(example.sentence_ids)
    entities: list[AnswerEntity] = [
        {
            "id": f"E{k}",
            "type": e.type,
            "name": e.name,
            "mentions": list(dict.fromkeys(text[a:b] for a, b in e.spans)),
        }
        for k, e in enumerate(example.entities, start=1)
    ]
    keys: dict[tuple[int, int, str], set[int]] = {}
    for h, t, r in example.relations:
        keys.setdefault((h, t, r.type), set()).update(s for s in r.evidence if s in window)
    relations: list[AnswerRelation] = [
        {"head": f"E{h + 1}", "tail": f"E{t + 1}", "type": kind, "evidence": sorted(evidence)}
        for (h, t, kind), evidence in sorted(keys.items())
    ]
    return {"entities": entities, "relations": relations}


def chat_records(
    doc: ExportDocument, *, schema: LabelSchema, guidelines: str = "", window_tokens: int = WINDOW_TOKENS
) -> list[ChatRecord]:
    """The document's windows as fine-tuning records: nothing but `messages`, for strict validators."""
    p = prepare(doc)
    records: list[ChatRecord] = []
    for example in examples_of(p, budget_tokens=window_tokens):
        prompt = annotation_prompt(
            schema, guidelines, title=doc.title, text=doc.text, sentences=p.sentences, ids=example.sentence_ids
        )
        answer = _ANSWER_JSON.encode(assistant_answer(doc.text, example))
        records.append(
            {
                "messages": [
                    {"role": "system", "content": prompt.system},
                    {"role": "user", "content": prompt.user},
                    {"role": "assistant", "content": answer},
                ]
            }
        )
    return records


def export_chat(
    docs: Iterable[ExportDocument], *, schema: LabelSchema, guidelines: str = "", window_tokens: int = WINDOW_TOKENS
) -> Iterator[bytes]:
    """One compact JSON line per window; one chunk per document (empty for a document without text)."""
    for doc in docs:
        records = chat_records(doc, schema=schema, guidelines=guidelines, window_tokens=window_tokens)
        yield b"".join(json_line(r) for r in records)
