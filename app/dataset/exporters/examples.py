"""Training examples for the generative formats (seq2seq, chat): a document cut into the windows the annotators
see (app.annotation.windows.make_windows: runs of whole sentences within a token budget, overlapping by one
sentence, never truncated), each with the entities mentioned in it and the relations between them."""

from dataclasses import dataclass

from app.annotation.windows import make_windows
from app.dataset.exporters.prepare import Prepared, Span, mention_spans
from app.evaluation.records import ExportRelation


@dataclass(frozen=True, slots=True)
class ExampleEntity:
    type: str
    # The entity's name when the window's text contains it, else its longest mention in the window.
    name: str
    # The entity's mentions inside the window (document code points), in text order.
    spans: list[Span]


@dataclass(frozen=True, slots=True)
class Example:
    window: int  # 0, 1, … within the document
    sentence_ids: list[int]
    start: int  # the window's text is the document's text[start:end], first sentence to last
    end: int
    # Ordered by first mention in the window (then by the document's entity order).
    entities: list[ExampleEntity]
    # (head, tail, relation): head and tail are positions in `entities`; evidence is kept as the document has it.
    relations: list[tuple[int, int, ExportRelation]]


def examples_of(p: Prepared, *, budget_tokens: int) -> list[Example]:
    """One example per window; none for a document without text. A relation is in every window that mentions both
    its head and its tail (so in none when no window mentions both: the documented cost of windows)."""
    text = p.doc.text
    if not p.sentences:
        return []
    spans = mention_spans(p)
    out = []
    if len(text) <= budget_tokens:
        # No character is estimated at more than one token, so the whole document is make_windows' one window,
        # without a width lookup per character (most of the time an export would spend).
        windows = [list(range(len(p.sentences)))]
    else:
        windows = make_windows(text, p.sentences, budget_tokens=budget_tokens)
    for number, ids in enumerate(windows):
        first, last = ids[0], ids[-1]
        start, end = p.sentences[first][0], p.sentences[last][1]
        window_text = text[start:end]
        inside: list[tuple[int, int, ExampleEntity]] = []
        for position, (entity, entity_spans) in enumerate(zip(p.entities, spans, strict=True)):
            mine = sorted(span for sid, span in entity_spans if first <= sid <= last and span[1] > span[0])
            if not mine:
                continue
            name = entity.name.strip()
            if not name or name not in window_text:
                name = max((text[a:b] for a, b in mine), key=len)
            inside.append((mine[0][0], position, ExampleEntity(entity.type, name, mine)))
        inside.sort(key=lambda x: (x[0], x[1]))
        local = {position: k for k, (_, position, _) in enumerate(inside)}
        relations = [(local[h], local[t], r) for h, t, r in p.relations if h in local and t in local]
        out.append(Example(number, ids, start, end, [e for _, _, e in inside], relations))
    return out
