"""The review text as HTML: sentences numbered, mentions highlighted, every piece of web text escaped.

Overlapping and nested mentions cannot nest as elements, so the text is cut at every mention boundary; each
piece lists the entities covering it (`data-e`) and takes its colour from the innermost mention. Every piece
carries its code-point offset (`data-s`) so the browser can map a selection back to server offsets.
"""

import itertools
from collections.abc import Sequence
from typing import NamedTuple

from markupsafe import Markup, escape


class Span(NamedTuple):
    mention_id: int
    entity_id: int
    start: int
    end: int
    type_index: int  # position of the entity type in the schema: the .etype-N colour class
    status: str
    agreement: str


def _piece(text: str, start: int, end: int, covering: list[Span]) -> str:
    body = escape(text[start:end])
    if not covering:
        return f'<span class="t" data-s="{start}">{body}</span>'
    inner = min(covering, key=lambda s: (s.end - s.start, -s.start))
    classes = f"m etype-{inner.type_index} st-{escape(inner.status)} ag-{escape(inner.agreement)}"
    if any(s.start == start for s in covering):
        classes += " mb"
    if any(s.end == end for s in covering):
        classes += " me"
    if len(covering) > 1:
        classes += " nest"
    entities = " ".join(sorted({str(s.entity_id) for s in covering}))
    mentions = " ".join(str(s.mention_id) for s in covering)
    return (
        f'<span class="{classes}" data-s="{start}" data-e="{entities}" data-p="{inner.entity_id}" '
        f'data-m="{mentions}">{body}</span>'
    )


def _sentence(text: str, i: int, s_start: int, s_end: int, active: list[Span], oob: bool = False) -> str:
    cuts = {s_start, s_end}
    for sp in active:
        cuts.add(max(sp.start, s_start))
        cuts.add(min(sp.end, s_end))
    points = sorted(cuts)
    pieces = []
    for a, b in itertools.pairwise(points):
        covering = [sp for sp in active if sp.start < b and sp.end > a]
        pieces.append(_piece(text, a, b, covering))
    swap = ' hx-swap-oob="true"' if oob else ""
    return f'<span class="sent" id="s{i}" data-n="{i}"{swap}>{"".join(pieces)}</span>'


def _walk(
    text: str, sentences: Sequence[Sequence[int]], spans: Sequence[Span], only: set[int] | None
) -> list[tuple[int | None, str]]:
    ordered = sorted(spans, key=lambda s: (s.start, -s.end))
    out: list[tuple[int | None, str]] = []
    cursor = 0
    bounds = [(int(s), int(e)) for s, e in sentences] or ([(0, len(text))] if text else [])
    j = 0  # first span that may still overlap the current sentence
    for i, (s_start, s_end) in enumerate(bounds):
        if s_start > cursor and only is None:
            out.append((None, _gap(text, cursor, s_start)))
        cursor = max(cursor, s_end)
        while j < len(ordered) and ordered[j].end <= s_start:
            j += 1
        if only is not None and i not in only:
            continue
        active = []
        for sp in ordered[j:]:  # sorted by start: nothing after the first span past the sentence matters
            if sp.start >= s_end:
                break
            if sp.end > s_start:
                active.append(sp)
        out.append((i, _sentence(text, i, s_start, s_end, active, oob=only is not None)))
    if cursor < len(text) and only is None:
        out.append((None, _gap(text, cursor, len(text))))
    return out


def render_text(text: str, sentences: Sequence[Sequence[int]], spans: Sequence[Span]) -> Markup:
    """HTML for the whole text: one element per sentence (id s<N>), paragraph breaks where the text had newlines."""
    return Markup("".join(html for _i, html in _walk(text, sentences, spans, None)))  # noqa: S704 - pieces escaped


def render_sentences(
    text: str, sentences: Sequence[Sequence[int]], spans: Sequence[Span], only: set[int]
) -> dict[int, Markup]:
    """Just these sentences, marked for htmx's out-of-band swap, for a partial update after a decision."""
    return {i: Markup(html) for i, html in _walk(text, sentences, spans, only) if i is not None}  # noqa: S704


def _gap(text: str, start: int, end: int) -> str:
    """Text between sentences: paragraph breaks where it has newlines, any other text kept (never dropped)."""
    out = []
    pos = start
    for k, line in enumerate(text[start:end].split("\n")):
        if k:
            out.append('<span class="pb"></span>')
        if line.strip() or (line and not k):
            out.append(f'<span class="t" data-s="{pos}">{escape(line)}</span>')
        pos += len(line) + 1
    return "".join(out)
