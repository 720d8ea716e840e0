"""Grounding: where an annotator's mention strings occur in the document, as exact code-point spans."""

import math
import unicodedata
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import opencc
from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

How = Literal["exact", "normalized", "fuzzy"]

FUZZY_MIN_LENGTH = 4
FUZZY_MIN_SIMILARITY = 0.85
MIN_FUZZY_SPAN = 2
# Bounds on fuzzy work per surface: entity names longer than this are prose, not names, and only the
# sentences sharing the most bigrams with the surface are searched, so a pathological surface cannot stall
# a document.
_FUZZY_MAX_LENGTH = 64
_FUZZY_MAX_SENTENCES = 16
_FUZZY_MAX_COMPARISONS = 1000
_HOW_RANK: dict[How, int] = {"exact": 0, "normalized": 1, "fuzzy": 2}


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    sentence_id: int
    how: How


def normalize_name(name: str) -> str:
    """The key under which two entity names count as the same: NFKC, casefolded, whitespace removed."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


def ground_surface(
    text: str,
    sentences: list[tuple[int, int]],
    surface: str,
    *,
    fuzzy: bool = True,
    min_similarity: float = FUZZY_MIN_SIMILARITY,
) -> list[Span]:
    """Every non-overlapping occurrence of surface in text: exact, then normalized, else fuzzy."""
    if not 0 < min_similarity <= 1:
        raise ValueError("min_similarity must be in (0, 1]")
    surface = surface.strip()
    if not surface or len(surface) > len(text):
        return []
    doc = _document(text, tuple(sentences))
    found: list[tuple[int, int, How]] = []
    start = text.find(surface)
    while start >= 0:
        found.append((start, start + len(surface), "exact"))
        start = text.find(surface, start + len(surface))
    key = _fold(surface)
    # Normalized matching adds the occurrences exact matching missed (other script, width, case, spacing).
    # Fuzzy matching is the last resort: when the string does occur, near misses elsewhere are more often
    # other names than typos.
    if key:
        found = _add_normalized(doc, key, found)
        if not found and fuzzy:
            found = _fuzzy(doc, key, min_similarity)
    return [Span(s, e, doc.sentence_of(s), how) for s, e, how in found]


def ground_entity(text: str, sentences: list[tuple[int, int]], name: str, mentions: list[str]) -> list[Span]:
    """The spans of an entity's name and mentions, deduplicated; of overlapping spans the longer is kept."""
    surfaces = list(dict.fromkeys(s.strip() for s in [name, *mentions] if s.strip()))
    candidates = [span for surface in surfaces for span in ground_surface(text, sentences, surface)]
    candidates.sort(key=lambda sp: (sp.start - sp.end, _HOW_RANK[sp.how], sp.start))
    kept: list[Span] = []
    starts: list[int] = []
    for span in candidates:
        i = bisect_left(starts, span.start)
        if i > 0 and kept[i - 1].end > span.start:
            continue
        if i < len(kept) and kept[i].start < span.end:
            continue
        kept.insert(i, span)
        starts.insert(i, span.start)
    return kept


class _Document:
    """The folded copy of a text, mapped back to original code points, and its sentences in folded space."""

    def __init__(self, text: str, sentences: tuple[tuple[int, int], ...]) -> None:
        folded: list[str] = []
        origin: list[int] = []
        for i, ch in enumerate(text):
            piece = _fold_char(ch)
            folded.append(piece)
            origin.extend([i] * len(piece))
        self.folded = "".join(folded)
        # origin[j] is the code point of the original text that folded character j came from.
        self.origin = origin
        self.sentence_starts = [s for s, _ in sentences]
        self.folded_ranges = [(bisect_left(origin, s), bisect_left(origin, e)) for s, e in sentences]
        self._bigrams: dict[str, list[int]] | None = None

    def sentence_of(self, start: int) -> int:
        """The sentence containing start (or the last one before it); -1 when there are no sentences."""
        if not self.sentence_starts:
            return -1
        return max(0, bisect_right(self.sentence_starts, start) - 1)

    def aligned(self, a: int, b: int) -> bool:
        """Whether folded[a:b] starts and ends on whole original characters (one may fold into several)."""
        o = self.origin
        return (a == 0 or o[a - 1] != o[a]) and (b == len(o) or o[b] != o[b - 1])

    def original(self, a: int, b: int) -> tuple[int, int]:
        return self.origin[a], self.origin[b - 1] + 1

    def bigram_index(self) -> dict[str, list[int]]:
        """Sentence ids per folded bigram, built on first use since only fuzzy matching needs it."""
        if self._bigrams is None:
            index: dict[str, list[int]] = {}
            for sid, (fs, fe) in enumerate(self.folded_ranges):
                for bigram in {self.folded[j : j + 2] for j in range(fs, fe - 1)}:
                    index.setdefault(bigram, []).append(sid)
            self._bigrams = index
        return self._bigrams


@lru_cache(maxsize=4)
def _document(text: str, sentences: tuple[tuple[int, int], ...]) -> _Document:
    # Grounding calls come in runs of hundreds per document; fold it once.
    return _Document(text, sentences)


@lru_cache(maxsize=2)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s.json")


@lru_cache(maxsize=1 << 16)
def _fold_char(ch: str) -> str:
    # NFKD rather than NFKC: folding one code point at a time cannot compose "e" + U+0301, so both sides are
    # decomposed instead. Traditional is folded to Simplified character by character (臺→台, 髮→发, 發→发):
    # the mapping is many-to-one in that direction, so either script in the surface meets either in the text.
    # Invisible format characters (zero-width space, soft hyphen, BOM) are dropped along with whitespace:
    # web text hides them inside names.
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", ch).casefold())
    kept = "".join(c for c in decomposed if not c.isspace() and unicodedata.category(c) != "Cf")
    return "".join(_t2s().convert(c) for c in kept)


def _fold(surface: str) -> str:
    return "".join(_fold_char(ch) for ch in surface)


def _overlaps(spans: list[tuple[int, int, How]], start: int, end: int) -> bool:
    """Whether [start, end) overlaps one of the sorted, non-overlapping spans."""
    i = bisect_left(spans, start, key=lambda span: span[0])
    if i > 0 and spans[i - 1][1] > start:
        return True
    return i < len(spans) and spans[i][0] < end


def _add_normalized(doc: _Document, key: str, exact: list[tuple[int, int, How]]) -> list[tuple[int, int, How]]:
    found = list(exact)
    j = doc.folded.find(key)
    while j >= 0:
        end = j + len(key)
        if doc.aligned(j, end):
            start, stop = doc.original(j, end)
            if not _overlaps(found, start, stop):
                found.append((start, stop, "normalized"))
                found.sort()
                j = doc.folded.find(key, end)
                continue
        j = doc.folded.find(key, j + 1)
    return found


def _fuzzy(doc: _Document, key: str, min_similarity: float) -> list[tuple[int, int, How]]:
    """At most one best approximate match per sentence, within a fixed budget of comparisons."""
    length = len(key)
    if not FUZZY_MIN_LENGTH <= length <= _FUZZY_MAX_LENGTH or not doc.folded_ranges:
        return []
    max_edits = math.floor((1 - min_similarity) * length + 1e-9)
    if max_edits < 1:
        return []
    # q-gram lemma: each edit destroys at most two bigrams, so a close enough match keeps the rest.
    bigrams = {key[j : j + 2] for j in range(length - 1)}
    needed = max(1, len(bigrams) - 2 * max_edits)
    index = doc.bigram_index()
    shared = Counter(sid for bigram in bigrams for sid in index.get(bigram, ()))
    ranked = sorted((sid for sid, n in shared.items() if n >= needed), key=lambda sid: (-shared[sid], sid))
    # A window of the surface's length around a match within max_edits is within 3 * max_edits indel
    # operations of the surface, so this cutoff never drops a sentence that holds a match.
    cutoff = 100 * (1 - 3 * max_edits / (2 * length)) - 1e-6
    found: list[tuple[int, int, How]] = []
    budget = _FUZZY_MAX_COMPARISONS
    for sid in sorted(ranked[:_FUZZY_MAX_SENTENCES]):
        fs, fe = doc.folded_ranges[sid]
        if fe - fs < length - max_edits or budget <= 0:
            continue
        # rapidfuzz locates the best window in C; the exact bounds are then refined around it.
        located = fuzz.partial_ratio_alignment(key, doc.folded[fs:fe], score_cutoff=cutoff)
        if located is None:
            continue
        best, used = _refine(doc, key, fs + located.dest_start, (fs, fe), max_edits, min_similarity)
        budget -= used
        if best is not None:
            start, stop = doc.original(*best)
            if stop - start >= MIN_FUZZY_SPAN:
                found.append((start, stop, "fuzzy"))
    return found


def _refine(
    doc: _Document,
    key: str,
    near: int,
    bounds: tuple[int, int],
    max_edits: int,
    min_similarity: float,
) -> tuple[tuple[int, int] | None, int]:
    """The most similar folded window starting within max_edits of near, or None; and the comparisons made."""
    length = len(key)
    fs, fe = bounds
    best: tuple[float, int, int, int] | None = None
    used = 0
    for a in range(max(fs, near - max_edits), min(fe, near + max_edits + 1)):
        for width in range(max(1, length - max_edits), length + max_edits + 1):
            b = a + width
            if b > fe:
                break
            used += 1
            distance = Levenshtein.distance(key, doc.folded[a:b], score_cutoff=max_edits)
            if distance > max_edits or not doc.aligned(a, b):
                continue
            similarity = 1 - distance / max(length, width)
            candidate = (-similarity, abs(width - length), a, b)
            if similarity >= min_similarity and (best is None or candidate < best):
                best = candidate
    return (None if best is None else (best[2], best[3])), used


def consensus_spans(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Both sides' mentions; where their boundaries differ, the text both include (a model that takes in a
    neighbouring character or word is outvoted by one that does not)."""
    kept: list[tuple[int, int]] = []
    for span in sorted({*a, *b}):
        if kept and span[0] < kept[-1][1]:
            start, end = max(kept[-1][0], span[0]), min(kept[-1][1], span[1])
            if start < end:
                kept[-1] = (start, end)
            continue
        kept.append(span)
    return kept


def outside_others(spans: list[list[tuple[int, int]]]) -> list[list[tuple[int, int]]]:
    """Each entity's spans without those lying inside another entity's mention ("北京" in "北京大学"): grounding
    finds a name wherever it occurs. An entity all of whose spans lie inside others keeps them (a nested entity)."""
    every = sorted({(s, e, i) for i, own in enumerate(spans) for s, e in own})
    starts = [s for s, _e, _i in every]
    longest = max((e - s for s, e, _i in every), default=0)
    out = []
    for i, own in enumerate(spans):
        free = []
        for s, e in own:
            # Only spans starting at most `longest` before s can reach past e.
            window = every[bisect_left(starts, s - longest) : bisect_right(starts, s)]
            if not any(j != i and e <= oe and (os, oe) != (s, e) for os, oe, j in window):
                free.append((s, e))
        out.append(free or own)
    return out
