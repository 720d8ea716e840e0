"""Near-duplicate lookup: an LSH index over MinHash signatures (exact text hashes live in exact_duplicates.py)."""

import functools
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from app.webtext.dedup import (
    DEFAULT_NUM_PERM,
    DEFAULT_SEED,
    DEFAULT_THRESHOLD,
    GOLDEN_GAMMA,
    Signature,
    minhash_signature,
    mix64,
)
from app.webtext.exact_duplicates import RowsByHash, TextHashIds

_MASK32 = (1 << 32) - 1

# Signatures are kept in fixed blocks instead of one doubling matrix: growing never copies them, never holds
# two copies at once, and reserves at most one block (2 MiB at 128 permutations) ahead of need.
_BLOCK_SHIFT = 12
_BLOCK_ROWS = 1 << _BLOCK_SHIFT


@functools.cache
def _band_multipliers(bands: int, rows: int) -> NDArray[np.uint64]:
    """Fixed odd 64-bit multipliers, one per band and slot, from SplitMix64 in counter mode."""
    values = mix64(np.arange(1, bands * rows + 1, dtype=np.uint64) * np.uint64(GOLDEN_GAMMA))
    return (values | np.uint64(1)).reshape(bands, rows)


@functools.cache
def optimal_bands(
    threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5
) -> tuple[int, int]:
    """Choose (bands, rows) minimizing weighted false-positive and false-negative areas, like datasketch."""
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be between 0 and 1")
    grid = np.linspace(0.0, 1.0, 1001)
    below, above = grid <= threshold, grid >= threshold
    # Every (bands, rows) with bands * rows <= num_perm at once, a row of the grid each, in the order a loop over
    # bands then rows would take: argmin's first minimum is then that loop's first minimum.
    pairs = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)])
    probability = 1.0 - (1.0 - grid ** pairs[:, 1:].astype(float)) ** pairs[:, :1].astype(float)
    false_positive = np.trapezoid(probability[:, below], grid[below], axis=1)
    false_negative = np.trapezoid(1.0 - probability[:, above], grid[above], axis=1)
    error = false_positive_weight * false_positive + false_negative_weight * false_negative
    bands, rows = pairs[int(np.argmin(error))].tolist()
    return bands, rows


class NearDuplicateIndex:
    """An in-memory LSH index over MinHash signatures, answering "which stored texts are near this one"."""

    def __init__(
        self, threshold: float = DEFAULT_THRESHOLD, num_perm: int = DEFAULT_NUM_PERM, seed: int = DEFAULT_SEED
    ) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self.seed = seed
        # Verification drops false positives, so missing a true duplicate is weighted as the worse error.
        self.bands, self.rows = optimal_bands(threshold, num_perm, 0.2, 0.8)
        # Each stored text is a row: its signature in a block, its key in one UTF-8 buffer, and one entry per
        # band in _buckets, keyed by 32 bits of the band's hash; query checks candidates share a whole band.
        self._blocks: list[NDArray[np.uint32]] = []
        self._key_bytes = bytearray()
        self._key_ends = array("Q")
        self._buckets = RowsByHash(np.uint32)
        self._rows_by_key = RowsByHash(np.uint32)
        # Ingestion adds the very signature it has just queried, so the last band hashes are kept for add.
        self._last_bands: tuple[bytes, list[int]] = (b"", [])

    def __len__(self) -> int:
        return len(self._key_ends)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._row_of(key) is not None

    def signature(self, text: str) -> Signature:
        """Compute a signature with this index's num_perm and seed."""
        return minhash_signature(text, num_perm=self.num_perm, seed=self.seed)

    def add(self, key: str, signature: Signature) -> None:
        """Insert a signature under a new key."""
        if key in self:
            raise ValueError(f"key already indexed: {key!r}")
        signature = self._checked(signature)
        self._insert(key, signature, self._band_hashes(signature))

    def _insert(self, key: str, signature: Signature, band_hashes: list[int]) -> None:
        """Add a signature of the right shape under a key known to be new, with its band hashes."""
        row = len(self)
        if row >> _BLOCK_SHIFT == len(self._blocks):
            self._blocks.append(np.empty((_BLOCK_ROWS, self.num_perm), dtype=np.uint32))
        self._blocks[-1][row & (_BLOCK_ROWS - 1)] = signature
        self._key_bytes += key.encode("utf-8", "surrogatepass")
        self._key_ends.append(len(self._key_bytes))
        self._buckets.add(band_hashes, row)
        self._rows_by_key.add([hash(key) & _MASK32], row)

    def add_many(self, keys: Sequence[str], signatures: Sequence[Signature] | NDArray[np.uint32]) -> None:
        """Insert signatures under new keys, as add would one by one; nothing is added if a key is taken."""
        matrix = np.asarray(signatures, dtype=np.uint32)
        if not keys and not matrix.size:
            return
        if matrix.shape != (len(keys), self.num_perm):
            raise ValueError(f"expected {len(keys)} signatures of {self.num_perm} values, got shape {matrix.shape}")
        key_hashes = np.fromiter((hash(key) & _MASK32 for key in keys), dtype=np.uint32, count=len(keys))
        seen: set[str] = set()
        for key in keys:
            if key in seen:
                raise ValueError(f"key already indexed: {key!r}")
            seen.add(key)
        for position in np.flatnonzero(self._rows_by_key.found(key_hashes)).tolist():
            if self._row_of(keys[position]) is not None:
                raise ValueError(f"key already indexed: {keys[position]!r}")
        rows = np.arange(len(self), len(self) + len(keys), dtype=np.uint32)
        self._append(keys, matrix)
        self._buckets.extend(self._band_keys(matrix).ravel(), np.repeat(rows, self.bands))
        self._rows_by_key.extend(key_hashes, rows)

    def query(self, signature: Signature) -> list[str]:
        """Return keys whose estimated Jaccard similarity is at least the threshold, most similar first."""
        signature = self._checked(signature)
        rows = sorted(set(self._buckets.get_any(self._band_hashes(signature))))
        if not rows:
            return []
        stored = np.empty((len(rows), self.num_perm), dtype=np.uint32)
        for i, row in enumerate(rows):
            stored[i] = self._blocks[row >> _BLOCK_SHIFT][row & (_BLOCK_ROWS - 1)]
        matches = self._similar(signature, stored, [self._key_at(row) for row in rows])
        return [key for _, key in sorted(matches, key=_most_similar_first)]

    def _similar(self, signature: Signature, stored: NDArray[np.uint32], keys: list[str]) -> list[tuple[float, str]]:
        """(similarity, key) of the stored signatures at least threshold similar that share a whole band with it."""
        equal = stored == signature
        similarity = equal.sum(axis=1) / self.num_perm
        # The tolerance keeps a similarity equal to the threshold despite floating-point rounding.
        similar = np.flatnonzero(similarity >= self.threshold - 1e-9).tolist()
        if not similar:
            return []
        # Bucket hashes have 32 bits, so a bucket may hold a row that shares no whole band with the signature.
        bands = equal[similar, : self.bands * self.rows].reshape(len(similar), self.bands, self.rows)
        shares_band = bands.all(axis=2).any(axis=1).tolist()
        return [(float(similarity[i]), keys[i]) for i, shared in zip(similar, shares_band, strict=True) if shared]

    def _checked(self, signature: Signature) -> Signature:
        array = np.asarray(signature, dtype=np.uint32)
        if array.shape != (self.num_perm,):
            raise ValueError(f"expected a signature of {self.num_perm} values, got shape {array.shape}")
        return array

    def _band_hashes(self, signature: Signature) -> list[int]:
        data = signature.tobytes()
        if data != self._last_bands[0]:
            self._last_bands = (data, self._band_keys(signature.reshape(1, -1))[0].tolist())
        return self._last_bands[1]

    def _band_keys(self, matrix: NDArray[np.uint32]) -> NDArray[np.uint32]:
        """32-bit hashes of each band of each signature (a row each), keying the buckets.

        Multilinear hashing, with an odd multiplier per band and slot so that equal values in two bands do not
        share a bucket; the high half of the 64-bit sum is the hash. Equal bands always hash alike; unequal ones
        rarely do, and query checks candidates share a whole band anyway.
        """
        multipliers = _band_multipliers(self.bands, self.rows)
        bands = matrix[:, : self.bands * self.rows].reshape(-1, self.bands, self.rows).astype(np.uint64)
        bands *= multipliers
        sums: NDArray[np.uint64] = bands.sum(axis=2, dtype=np.uint64)
        return (sums >> np.uint64(32)).astype(np.uint32)

    def _append(self, keys: Sequence[str], matrix: NDArray[np.uint32]) -> None:
        row, done = len(self), 0
        while done < len(keys):
            block, within = divmod(row, _BLOCK_ROWS)
            if block == len(self._blocks):
                self._blocks.append(np.empty((_BLOCK_ROWS, self.num_perm), dtype=np.uint32))
            count = min(len(keys) - done, _BLOCK_ROWS - within)
            self._blocks[block][within : within + count] = matrix[done : done + count]
            row, done = row + count, done + count
        for key in keys:
            self._key_bytes += key.encode("utf-8", "surrogatepass")
            self._key_ends.append(len(self._key_bytes))

    def _key_at(self, row: int) -> str:
        start = self._key_ends[row - 1] if row else 0
        return self._key_bytes[start : self._key_ends[row]].decode("utf-8", "surrogatepass")

    def _row_of(self, key: str) -> int | None:
        for row in self._rows_by_key.get(hash(key) & _MASK32):
            if self._key_at(row) == key:
                return row
        return None


def _most_similar_first(match: tuple[float, str]) -> tuple[float, str]:
    return -match[0], match[1]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What deduplication made of a text: kept, or a duplicate ("exact" or "near") of the kept text `original`."""

    kind: Literal["kept", "exact", "near"]
    original: str


def deduplicate_chunk(
    hashes: "TextHashIds", index: NearDuplicateIndex, digests: Sequence[str], signatures: NDArray[np.uint32]
) -> list[Verdict]:
    """Deduplicate texts in order, and add the kept ones to `hashes` (as pending) and `index`.

    The same verdicts as, text by text: an exact duplicate if its hash is taken, else a near duplicate of the
    first key index.query gives, else kept and added. The stored texts are looked up for the whole chunk at
    once; the chunk's own kept texts are compared in memory as they come.
    """
    matrix = np.asarray(signatures, dtype=np.uint32)
    if matrix.shape != (len(digests), index.num_perm):
        raise ValueError(f"expected {len(digests)} signatures of {index.num_perm} values, got shape {matrix.shape}")
    taken = hashes.contains_each(digests)
    bands = index._band_keys(matrix).tolist()
    # Band position (text * bands + band) -> rows of stored texts in that band's bucket, for the few with any.
    stored_rows = index._buckets.get_each([key for row in bands for key in row]) if len(index) else {}
    with_stored = {position // index.bands for position in stored_rows}
    verdicts: list[Verdict] = []
    kept: list[int] = []
    kept_hashes: set[str] = set()
    # Band hash -> positions of this chunk's kept texts in that bucket.
    chunk_buckets: dict[int, list[int]] = {}
    for i, digest in enumerate(digests):
        if taken[i] or digest in kept_hashes:
            verdicts.append(Verdict("exact", digest))
            continue
        matches: list[tuple[float, str]] = []
        if i in with_stored:
            first = i * index.bands
            rows = sorted({row for band in range(first, first + index.bands) for row in stored_rows.get(band, ())})
            stored = np.stack([index._blocks[row >> _BLOCK_SHIFT][row & (_BLOCK_ROWS - 1)] for row in rows])
            matches = index._similar(matrix[i], stored, [index._key_at(row) for row in rows])
        if chunk_buckets and (earlier := [chunk_buckets[key] for key in bands[i] if key in chunk_buckets]):
            positions = sorted({j for bucket in earlier for j in bucket})
            matches += index._similar(matrix[i], matrix[positions], [digests[j] for j in positions])
        if matches:
            verdicts.append(Verdict("near", min(matches, key=_most_similar_first)[1]))
            continue
        verdicts.append(Verdict("kept", digest))
        kept.append(i)
        kept_hashes.add(digest)
        for key in bands[i]:
            chunk_buckets.setdefault(key, []).append(i)
    # One by one: the latest entries wait in dicts, where adding a few costs little however large the index.
    for i in kept:
        index._insert(digests[i], matrix[i], bands[i])
        hashes._insert_pending(digests[i])
    return verdicts
