"""CoNLL BIO: `token<TAB>tag` lines, a blank line after each sentence, `-DOCSTART-` before each document."""

from bisect import bisect_right
from collections.abc import Iterable, Iterator

from app.dataset.exporters.prepare import Span, mention_spans, prepare, type_word
from app.dataset.exporters.tokens import CHAR_TOKEN, WORD_TOKEN, tokenize
from app.evaluation.records import ExportDocument


def conll_lines(doc: ExportDocument) -> list[str]:
    """BIO lines of one document, a blank line after each sentence.

    Chinese ("zh*") is tagged per character, other languages per word. Of overlapping or nested mentions
    only the longest is kept (the earlier one on a tie): BIO cannot nest.
    """
    p = prepare(doc)
    text = doc.text
    candidates = [
        (span, entity.type) for entity, spans in zip(p.entities, mention_spans(p), strict=True) for _, span in spans
    ]
    candidates.sort(key=lambda c: (c[0][0] - c[0][1], c[0][0]))
    kept: list[tuple[Span, str]] = []
    for span, kind in candidates:
        if span[1] > span[0] and all(span[1] <= a or b <= span[0] for (a, b), _ in kept):
            kept.append((span, kind))
    kept.sort()
    cuts = [x for (a, b), _ in kept for x in (a, b)]
    pattern = CHAR_TOKEN if doc.language.lower().startswith("zh") else WORD_TOKEN
    starts = [a for (a, _), _ in kept]
    lines: list[str] = []
    for sentence in p.sentences:
        tokens = tokenize(text, sentence, cuts, pattern)
        for a, b in tokens:
            k = bisect_right(starts, a) - 1
            tag = "O"
            if k >= 0 and a < kept[k][0][1]:
                (start, _), kind = kept[k]
                tag = ("B-" if a == start else "I-") + type_word(kind)
            lines.append(f"{text[a:b]}\t{tag}")
        if tokens:
            lines.append("")
    return lines


def export_conll(docs: Iterable[ExportDocument]) -> Iterator[bytes]:
    """CoNLL BIO: `token<TAB>tag` lines, sentences separated by blank lines, `-DOCSTART-` before each document."""
    for doc in docs:
        yield "\n".join(["-DOCSTART-\tO", "", *conll_lines(doc), ""]).encode()
