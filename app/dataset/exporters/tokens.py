"""Tokens for DocRED and CoNLL: CJK characters one by one (the HacRED convention), other text as words, with
punctuation split off (word-internal ".", "'", "-" kept: "3.14", "n't"), and always cut at mention boundaries so
every mention covers whole tokens. DocRED documents imported with their tokens (meta.docred_sents) reuse them."""

import re
from bisect import bisect_left
from itertools import pairwise

from app.dataset.exporters.prepare import Prepared, Span
from app.evaluation.records import ExportDocument
from app.webtext.docred import _joiner

# The importer's CJK ranges (app.webtext.docred._is_cjk, which its joiner uses), as a regex class.
CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0003ffff"
_WORD_CHAR = rf"[^\W{CJK}]"
WORD_TOKEN = re.compile(rf"(?!\s)[{CJK}]|{_WORD_CHAR}+(?:[.'’\-]{_WORD_CHAR}+)*|\S")
CHAR_TOKEN = re.compile(r"\S")
# Where a character is not a token by itself: a blank, or a character of a word. Without either, every
# character of a sentence is a token (CJK text and its punctuation).
NOT_ONE_CHAR_TOKEN = re.compile(rf"\s|{_WORD_CHAR}")


def tokenize(text: str, span: Span, cuts: list[int], pattern: re.Pattern[str]) -> list[Span]:
    """Tokens of text[span] by pattern, never crossing a cut."""
    bounds = [span[0], *sorted({c for c in cuts if span[0] < c < span[1]}), span[1]]
    return [m.span() for a, b in pairwise(bounds) for m in pattern.finditer(text, a, b)]


def original_tokens(doc: ExportDocument, sentences: list[Span]) -> list[list[Span]] | None:
    """Token spans of meta.docred_sents in the text, when the text is still the one they make."""
    sents = doc.meta.docred_sents
    if not isinstance(sents, list) or len(sents) != len(sentences):
        return None
    pieces: list[str] = []
    length = 0
    previous = ""
    out: list[list[Span]] = []
    for tokens, sentence in zip(sents, sentences, strict=True):
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            return None
        spans: list[Span] = []
        for token in tokens:
            if token:
                sep = _joiner(previous, token) if previous else ""
                pieces.append(sep + token)
                length += len(sep)
                previous = token
            spans.append((length, length + len(token)))
            length += len(token)
        nonempty = [s for s in spans if s[1] > s[0]]
        if (nonempty[0][0], nonempty[-1][1]) != sentence if nonempty else sentence[0] != sentence[1]:
            return None
        out.append(spans)
    return out if "".join(pieces) == doc.text else None


def split_at(spans: list[Span], cuts: list[int]) -> list[Span]:
    cut_set = sorted(set(cuts))
    out: list[Span] = []
    for a, b in spans:
        inner = [c for c in cut_set if a < c < b]
        out.extend(zip([a, *inner], [*inner, b], strict=True))
    return out


def sentence_cuts(p: Prepared, mentions: list[list[tuple[int, Span]]]) -> list[list[int]]:
    cuts: list[list[int]] = [[] for _ in p.sentences]
    for spans in mentions:
        for sid, (start, end) in spans:
            cuts[sid] += [start, end]
    return cuts


def word_tokens(text: str, sentence: Span, cuts: list[int]) -> tuple[list[str], dict[int, int]]:
    """The tokens of a sentence by WORD_TOKEN, never crossing a cut, and how many precede each cut (and each
    end of the sentence). findall, not finditer: no Match object per token (a CJK sentence is all tokens)."""
    start, end = sentence
    if NOT_ONE_CHAR_TOKEN.search(text, start, end) is None:
        # One token per character, so a cut never splits one and the counts are offsets.
        return list(text[start:end]), {c: c - start for c in (start, *cuts, end)}
    tokens: list[str] = []
    before = {start: 0}
    for cut in sorted({c for c in cuts if start < c < end}):
        tokens += WORD_TOKEN.findall(text, start, cut)
        before[cut] = len(tokens)
        start = cut
    tokens += WORD_TOKEN.findall(text, start, end)
    before[end] = len(tokens)
    return tokens, before


def token_range(tokens: list[Span], start: int, end: int) -> list[int] | None:
    """[first, last + 1] of the non-empty tokens inside [start, end) (tokens are cut at its ends)."""
    k = bisect_left(tokens, (start, start))
    while k < len(tokens) and tokens[k][0] == tokens[k][1]:
        k += 1
    last = k
    while last < len(tokens) and tokens[last][1] <= end:
        last += 1
    while last > k and tokens[last - 1][0] == tokens[last - 1][1]:
        last -= 1
    return [k, last] if last > k else None
