"""Windows: a long document is annotated in overlapping runs of sentences, never truncated, then merged."""

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from app.annotation.grounding import normalize_name

_WIDE = frozenset({"W", "F"})
_CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """Rough token count: one per wide character (CJK, kana, hangul, full-width, emoji), else 4 chars each."""
    # Tokenizers give CJK ideographs and emoji about one token each and English about four characters per
    # token; counting every East Asian Wide/Fullwidth code point as one errs on the safe (larger) side.
    wide = sum(1 for ch in text if unicodedata.east_asian_width(ch) in _WIDE)
    return wide + math.ceil((len(text) - wide) / _CHARS_PER_TOKEN)


def make_windows(
    text: str, sentences: list[tuple[int, int]], *, budget_tokens: int, overlap_sentences: int = 1
) -> list[list[int]]:
    """Runs of consecutive sentence ids within the token budget, each sharing overlap_sentences with the last."""
    if budget_tokens < 1:
        raise ValueError("budget_tokens must be at least 1")
    if overlap_sentences < 0:
        raise ValueError("overlap_sentences cannot be negative")
    n = len(sentences)
    if n == 0:
        return []
    wide = [0, *accumulate(1 if unicodedata.east_asian_width(ch) in _WIDE else 0 for ch in text)]

    def cost(first: int, last: int) -> int:
        # The same figure as estimate_tokens(text[start:end]), in constant time.
        start, end = sentences[first][0], sentences[last][1]
        w = wide[end] - wide[start]
        return w + math.ceil((end - start - w) / _CHARS_PER_TOKEN)

    windows: list[list[int]] = []
    first = 0
    while True:
        last = first
        while last + 1 < n and cost(first, last + 1) <= budget_tokens:
            last += 1
        windows.append(list(range(first, last + 1)))
        if last == n - 1:
            return windows
        # The overlap shrinks when it would leave no room for a new sentence, and never stalls the walk.
        first = max(first + 1, last + 1 - overlap_sentences)
        while first <= last and cost(first, last + 1) > budget_tokens:
            first += 1


@dataclass
class WindowEntity:
    """An entity as one window's annotator returned it; id is local to that window's output."""

    id: str
    type: str
    name: str
    mentions: list[str] = field(default_factory=list)


@dataclass
class MergedEntity:
    type: str
    # The first name seen; other windows' spellings of it are kept among the mentions.
    name: str
    mentions: list[str]
    windows: list[int]


@dataclass
class MergedEntities:
    entities: list[MergedEntity]
    # (window index, local entity id) -> index into entities, to remap each window's relations.
    index: dict[tuple[int, str], int]


def merge_entities(window_outputs: Sequence[Sequence[WindowEntity]]) -> MergedEntities:
    """Merge the windows' entities by normalized name and type, unioning their mention strings."""
    entities: list[MergedEntity] = []
    index: dict[tuple[int, str], int] = {}
    by_key: dict[tuple[str, str], int] = {}
    for window, outputs in enumerate(window_outputs):
        for entity in outputs:
            normalized = normalize_name(entity.name)
            merged_index = by_key.get((normalized, entity.type)) if normalized else None
            if merged_index is None:
                merged_index = len(entities)
                entities.append(MergedEntity(entity.type, entity.name, [], []))
                if normalized:
                    by_key[(normalized, entity.type)] = merged_index
            merged = entities[merged_index]
            surfaces = [entity.name] if entity.name != merged.name else []
            for surface in [*surfaces, *entity.mentions]:
                if surface.strip() and surface not in merged.mentions:
                    merged.mentions.append(surface)
            if not merged.windows or merged.windows[-1] != window:
                merged.windows.append(window)
            # A window repeating a local id is malformed; its first entity keeps the id.
            index.setdefault((window, entity.id), merged_index)
    return MergedEntities(entities, index)
