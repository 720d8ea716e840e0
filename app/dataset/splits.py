"""Deterministic train/dev/test splits: a seeded hash of the document id, so a document never changes split."""

import hashlib
from collections.abc import Iterable, Mapping

SPLITS = ("train", "dev", "test")
DEFAULT_RATIOS: dict[str, float] = {"train": 0.8, "dev": 0.1, "test": 0.1}


class SplitError(ValueError):
    """Ratios that do not describe a split."""


def check_ratios(ratios: Mapping[str, float]) -> dict[str, float]:
    """The ratios with every split present (missing ones 0); they must be ≥ 0 and sum to 1."""
    unknown = sorted(set(ratios) - set(SPLITS))
    if unknown:
        raise SplitError(f"unknown split {unknown[0]!r}; the splits are train, dev and test")
    out = {name: float(ratios.get(name, 0.0)) for name in SPLITS}
    if any(not 0.0 <= v <= 1.0 for v in out.values()):
        raise SplitError("every ratio must be between 0 and 1")
    if abs(sum(out.values()) - 1.0) > 1e-6:
        raise SplitError(f"the ratios must sum to 1 (they sum to {sum(out.values()):.4g})")
    return out


def split_of(seed: int, document_id: int, ratios: Mapping[str, float] = DEFAULT_RATIOS) -> str:
    """The split of one document: the same for the same seed and id, whatever else the dataset holds."""
    digest = hashlib.sha256(f"{seed}:{document_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for name in SPLITS:
        edge += ratios.get(name, 0.0)
        if u < edge:
            return name
    # Rounding can leave u just above the last edge; the last split with a share takes it.
    return next((name for name in reversed(SPLITS) if ratios.get(name, 0.0) > 0), SPLITS[0])


def split_counts(seed: int, document_ids: Iterable[int], ratios: Mapping[str, float]) -> dict[str, int]:
    """How many of the documents each split would hold."""
    counts = dict.fromkeys(SPLITS, 0)
    for document_id in document_ids:
        counts[split_of(seed, document_id, ratios)] += 1
    return counts


def empty_splits(counts: Mapping[str, int], ratios: Mapping[str, float]) -> list[str]:
    """The splits that were given a share but would hold no document (a share of 0 is meant to be empty)."""
    return [name for name in SPLITS if ratios.get(name, 0.0) > 0 and counts.get(name, 0) == 0]
