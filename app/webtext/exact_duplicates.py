"""Exact duplicates: text hashes to the ids of their documents, over a compact table of integer hashes to rows."""

from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

_MASK64 = (1 << 64) - 1
# A hash table merges its latest entries into its sorted arrays once they pass this share of them.
_RECENT_SHARE = 32
_MIN_RECENT = 4096
_PENDING = -1


class RowsByHash:
    """Integer hashes to row numbers, several rows per hash, in 8 or 12 bytes an entry."""

    def __init__(self, hash_type: type[np.unsignedinteger[Any]]) -> None:
        self._hashes: NDArray[np.unsignedinteger[Any]] = np.empty(0, dtype=hash_type)
        self._rows: NDArray[np.uint32] = np.empty(0, dtype=np.uint32)
        # The latest entries wait in dicts (about 90 bytes an entry) until they pass a share of the sorted arrays,
        # so that merging them, which copies the arrays, stays rare. A hash's second and later rows wait in _more.
        self._recent: dict[int, int] = {}
        self._more: dict[int, list[int]] = {}
        self._waiting = 0

    def add(self, hashes: list[int], row: int) -> None:
        recent = self._recent
        for key in hashes:
            if recent.setdefault(key, row) != row:
                self._more.setdefault(key, []).append(row)
        self._waiting += len(hashes)
        if self._waiting > max(_MIN_RECENT, self._hashes.size // _RECENT_SHARE):
            self._merge_recent()

    def extend(self, hashes: NDArray[np.unsignedinteger[Any]], rows: NDArray[np.uint32]) -> None:
        """Merge many entries into the sorted arrays at once."""
        # Hashes must have the arrays' type: NumPy would otherwise convert the whole array to search it.
        hashes = hashes.astype(self._hashes.dtype, copy=False)
        order = np.argsort(hashes, kind="stable")
        at = np.searchsorted(self._hashes, hashes[order], side="right")
        self._hashes = np.insert(self._hashes, at, hashes[order])
        self._rows = np.insert(self._rows, at, rows[order])

    def get(self, key: int) -> list[int]:
        """Rows stored under the hash."""
        found = [] if (row := self._recent.get(key)) is None else [row, *self._more.get(key, ())]
        hashes = self._hashes
        start = int(hashes.searchsorted(hashes.dtype.type(key)))
        while start < hashes.size and hashes.item(start) == key:
            found.append(self._rows.item(start))
            start += 1
        return found

    def get_any(self, keys: list[int]) -> list[int]:
        """Rows stored under any of the hashes, once per entry."""
        found: list[int] = []
        for key in keys:
            if (row := self._recent.get(key)) is not None:
                found.append(row)
                found.extend(self._more.get(key, ()))
        if self._hashes.size:
            needles = np.array(keys, dtype=self._hashes.dtype)
            starts = self._hashes.searchsorted(needles)
            hit = self._hashes.take(starts, mode="clip") == needles
            if np.count_nonzero(hit):
                stops = self._hashes.searchsorted(needles[hit], side="right")
                starts = starts[hit]
                if max((stops - starts).tolist()) == 1:
                    found.extend(self._rows.take(starts).tolist())
                else:
                    for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
                        found.extend(self._rows[start:stop].tolist())
        return found

    def get_each(self, keys: list[int]) -> dict[int, list[int]]:
        """Rows stored under each hash, by position in keys for those with any, with one search of the arrays."""
        recent, more = self._recent, self._more
        found = {
            position: [row, *more.get(key, ())]
            for position, key in enumerate(keys)
            if (row := recent.get(key)) is not None
        }
        if self._hashes.size and keys:
            needles = np.array(keys, dtype=self._hashes.dtype)
            starts = self._hashes.searchsorted(needles)
            hits = np.flatnonzero(self._hashes.take(starts, mode="clip") == needles)
            # Hits are rare (a duplicate, or two bands sharing 32 bits of hash): each is looked at on its own.
            for position in hits.tolist():
                start = int(starts[position])
                stop = int(self._hashes.searchsorted(needles[position], side="right"))
                found.setdefault(position, []).extend(self._rows[start:stop].tolist())
        return found

    def found(self, keys: NDArray[np.unsignedinteger[Any]]) -> NDArray[np.bool_]:
        """Whether each hash has at least one entry."""
        keys = keys.astype(self._hashes.dtype, copy=False)
        present = np.fromiter((key in self._recent for key in keys.tolist()), dtype=bool, count=keys.size)
        if self._hashes.size:
            present |= self._hashes.take(self._hashes.searchsorted(keys), mode="clip") == keys
        return present

    def _merge_recent(self) -> None:
        count = len(self._recent)
        hashes = np.fromiter(self._recent.keys(), dtype=self._hashes.dtype, count=count)
        rows = np.fromiter(self._recent.values(), dtype=np.uint32, count=count)
        if self._more:
            more = [(key, row) for key, rows_more in self._more.items() for row in rows_more]
            hashes = np.concatenate((hashes, np.array([key for key, _ in more], dtype=hashes.dtype)))
            rows = np.concatenate((rows, np.array([row for _, row in more], dtype=np.uint32)))
        self._recent, self._more, self._waiting = {}, {}, 0
        self.extend(hashes, rows)


class TextHashIds:
    """Text hashes to the ids of their documents, or None while a document is pending, in ~20 bytes a text."""

    def __init__(self) -> None:
        # Keyed by the 64-bit built-in hash of the text hash instead of the 113-byte string: two different texts
        # collide with probability 2**-64 (keyed SipHash), about 1e-9 in a batch of 200,000 texts, and a
        # collision only makes ingestion skip the later text as an exact duplicate.
        self._slots = RowsByHash(np.uint64)
        self._ids = array("q")

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, digest: object) -> bool:
        return isinstance(digest, str) and self._slot(digest) is not None

    def __getitem__(self, digest: str) -> int | None:
        slot = self._slot(digest)
        if slot is None:
            raise KeyError(digest)
        doc_id = self._ids[slot]
        return None if doc_id == _PENDING else doc_id

    def __setitem__(self, digest: str, doc_id: int | None) -> None:
        if doc_id is not None and doc_id < 0:
            raise ValueError("document ids are never negative")
        slot = self._slot(digest)
        if slot is None:
            self._slots.add([hash(digest) & _MASK64], len(self._ids))
            self._ids.append(_PENDING if doc_id is None else doc_id)
        else:
            self._ids[slot] = _PENDING if doc_id is None else doc_id

    def update(self, pairs: Sequence[tuple[str, int | None]]) -> None:
        """Set many ids, as item assignment would one by one; fastest for text hashes not yet present."""
        hashes = np.fromiter((hash(digest) & _MASK64 for digest, _ in pairs), dtype=np.uint64, count=len(pairs))
        if np.unique(hashes).size < hashes.size or self._slots.found(hashes).any():
            for digest, doc_id in pairs:
                self[digest] = doc_id
            return
        if any(doc_id is not None and doc_id < 0 for _, doc_id in pairs):
            raise ValueError("document ids are never negative")
        first = len(self._ids)
        self._ids.extend(_PENDING if doc_id is None else doc_id for _, doc_id in pairs)
        self._slots.extend(hashes, np.arange(first, len(self._ids), dtype=np.uint32))

    def _insert_pending(self, digest: str) -> None:
        """Add a text hash known to be absent, its document pending."""
        self._slots.add([hash(digest) & _MASK64], len(self._ids))
        self._ids.append(_PENDING)

    def contains_each(self, digests: Sequence[str]) -> list[bool]:
        """Whether each text hash is present, as `in` would say one by one."""
        slots = self._slots.get_each([hash(digest) & _MASK64 for digest in digests])
        return [position in slots for position in range(len(digests))]

    def _slot(self, digest: str) -> int | None:
        slots = self._slots.get(hash(digest) & _MASK64)
        return slots[0] if slots else None
