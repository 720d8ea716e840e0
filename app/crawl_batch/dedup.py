"""Exact and near-duplicate detection: normalized SHA-256 hashes, MinHash signatures and an LSH index."""

import functools
import hashlib
import re
import sys
import unicodedata
from array import array
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

Signature = NDArray[np.uint32]

SHINGLE_SIZE = 5
DEFAULT_NUM_PERM = 128
DEFAULT_SEED = 1
DEFAULT_THRESHOLD = 0.8

_MASK64 = (1 << 64) - 1
_MASK32 = (1 << 32) - 1
_CHUNK = 2048
# Signatures are kept in fixed blocks instead of one doubling matrix: growing never copies them, never holds
# two copies at once, and reserves at most one block (2 MiB at 128 permutations) ahead of need.
_BLOCK_SHIFT = 12
_BLOCK_ROWS = 1 << _BLOCK_SHIFT
# A hash table merges its latest entries into its sorted arrays once they pass this share of them.
_RECENT_SHARE = 32
_MIN_RECENT = 4096
_PENDING = -1
_CJK = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\U00020000-\U0003ffff"
)
# Chinese and Japanese do not separate words with spaces, so a space next to one of their characters is noise.
_CJK_SPACE = re.compile(rf" (?:(?=[{_CJK}])|(?<=[{_CJK}] ))")
_FOLDABLE = re.compile("[\uff01-\uff5e\u3000\u00a0]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


class _DropPatterns(NamedTuple):
    separators: re.Pattern[str]
    invisible: re.Pattern[str]
    astral_punctuation: re.Pattern[str]
    astral_invisible: re.Pattern[str]


def _char_class(codes: list[int]) -> str:
    """A regex character class of the code points, as ranges (a long list of literals matches slowly)."""
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(re.escape(chr(lo)) + ("" if lo == hi else "-" + re.escape(chr(hi))) for lo, hi in ranges)


@functools.cache
def _drop_patterns() -> _DropPatterns:
    """Build the punctuation and invisible-character classes from the Unicode database, once per process."""
    punctuation: list[int] = []
    invisible: list[int] = []
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        category = unicodedata.category(char)
        if category[0] == "P":
            punctuation.append(code)
        elif (
            (category in ("Cf", "Cc") and not char.isspace())
            or 0xFE00 <= code <= 0xFE0F
            or (0xE0100 <= code <= 0xE01EF)
        ):
            invisible.append(code)
    # The regex engine only has a fast bitmap for classes inside the Basic Multilingual Plane, so the rare
    # astral characters get their own classes, applied only to texts that contain astral characters.
    bmp_punctuation = _char_class([c for c in punctuation if c <= 0xFFFF])
    return _DropPatterns(
        separators=re.compile(rf"[\s{bmp_punctuation}]+"),
        invisible=re.compile(f"[{_char_class([c for c in invisible if c <= 0xFFFF])}]+"),
        astral_punctuation=re.compile(f"[{_char_class([c for c in punctuation if c > 0xFFFF])}]+"),
        astral_invisible=re.compile(f"[{_char_class([c for c in invisible if c > 0xFFFF])}]+"),
    )


def _fold_width(text: str) -> str:
    """Map full-width ASCII forms and wide or non-breaking spaces to ASCII, exactly as NFKC would."""
    if not _FOLDABLE.search(text):
        return text
    # Vectorized here because one full-width digit makes NFKC leave its quick path and normalize the whole
    # text, which costs more than the rest of the signature.
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").copy()
    codes[(codes >= 0xFF01) & (codes <= 0xFF5E)] -= 0xFEE0
    codes[(codes == 0x3000) | (codes == 0xA0)] = 0x20
    return codes.tobytes().decode("utf-32-le")


def _drop_punctuation(text: str, patterns: _DropPatterns) -> str:
    """Delete invisible characters and turn runs of punctuation and whitespace into one space."""
    text = patterns.separators.sub(" ", patterns.invisible.sub("", text))
    if _ASTRAL.search(text):
        text = patterns.astral_punctuation.sub(" ", patterns.astral_invisible.sub("", text))
        text = patterns.separators.sub(" ", text)
    return text


def normalize_for_hash(text: str) -> str:
    """Normalize text so copies differing only in width, case, punctuation or spacing compare equal."""
    patterns = _drop_patterns()
    # Punctuation becomes a word break so "a,b" and "a, b" agree. Dropping it before NFKC lets NFKC take its
    # quick path on most Chinese text; NFKC can create punctuation ("⒈" -> "1."), so what it changed is
    # cleaned again.
    dropped = _drop_punctuation(_fold_width(text), patterns)
    normalized = unicodedata.normalize("NFKC", dropped)
    if normalized != dropped:
        normalized = _drop_punctuation(normalized, patterns)
    return _CJK_SPACE.sub("", normalized.casefold()).strip()


def text_hash(text: str) -> str:
    """Return the SHA-256 hex digest of the normalized text, for exact deduplication."""
    return hashlib.sha256(normalize_for_hash(text).encode("utf-8")).hexdigest()


def _splitmix64(state: int) -> tuple[int, int]:
    """One step of SplitMix64: stable across platforms and NumPy versions, unlike NumPy's generators."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, z ^ (z >> 31)


@functools.cache
def _permutations(num_perm: int, seed: int) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
    """The (a, b) coefficients of num_perm multiply-add-shift hash functions, derived from seed."""
    state = seed & _MASK64
    values: list[int] = []
    for _ in range(2 * num_perm):
        state, value = _splitmix64(state)
        values.append(value)
    a = np.array(values[:num_perm], dtype=np.uint64)
    b = np.array(values[num_perm:], dtype=np.uint64)
    a.flags.writeable = False
    b.flags.writeable = False
    return a, b


def _mix64(values: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64's finalizer, vectorized: spreads every input bit over the output."""
    values = values ^ (values >> np.uint64(30))
    values *= np.uint64(0xBF58476D1CE4E5B9)
    values ^= values >> np.uint64(27)
    values *= np.uint64(0x94D049BB133111EB)
    values ^= values >> np.uint64(31)
    return values


def shingle_hashes(text: str) -> NDArray[np.uint64]:
    """Return 32-bit hashes (as uint64) of the character 5-grams of the normalized text."""
    return _shingles(normalize_for_hash(text))


def _shingles(normalized: str) -> NDArray[np.uint64]:
    codes = np.frombuffer(normalized.encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    width = min(SHINGLE_SIZE, codes.size)
    count = codes.size - width + 1
    # A polynomial over code points, mixed; a text shorter than a shingle, including the empty text, is one
    # shingle of its own.
    hashes = np.full(count, 0xCBF29CE484222325, dtype=np.uint64)
    for offset in range(width):
        hashes *= np.uint64(0x100000001B3)
        hashes += codes[offset : offset + count]
    return _mix64(hashes) >> np.uint64(32)


def minhash_signature(text: str, *, num_perm: int = DEFAULT_NUM_PERM, seed: int = DEFAULT_SEED) -> Signature:
    """Return the MinHash signature (num_perm uint32 values) of the text's normalized character 5-grams."""
    return _signature(shingle_hashes(text), num_perm, seed)


def fingerprint(text: str) -> tuple[str, Signature]:
    """text_hash and minhash_signature of a text, normalizing it once."""
    normalized = normalize_for_hash(text)
    digest = hashlib.sha256(normalized.encode("utf-8")).hexdigest()
    return digest, _signature(_shingles(normalized), DEFAULT_NUM_PERM, DEFAULT_SEED)


def _signature(shingles: NDArray[np.uint64], num_perm: int, seed: int) -> Signature:
    if num_perm < 1:
        raise ValueError("num_perm must be at least 1")
    a, b = _permutations(num_perm, seed)
    # h(x) = ((a*x + b) mod 2**64) >> 32 is strongly universal for 32-bit x; the shift is monotone, so it is
    # applied once to the minimum instead of to every product.
    minimum = np.full(num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
    buffer = np.empty((num_perm, min(_CHUNK, shingles.size)), dtype=np.uint64)
    for lo in range(0, shingles.size, _CHUNK):
        chunk = shingles[lo : lo + _CHUNK]
        products = buffer[:, : chunk.size]
        np.multiply(a[:, None], chunk[None, :], out=products)
        products += b[:, None]
        np.minimum(minimum, products.min(axis=1), out=minimum)
    return (minimum >> np.uint64(32)).astype(np.uint32)


def signature_to_bytes(signature: Signature) -> bytes:
    """Serialize a signature as little-endian uint32 values (4 bytes per permutation)."""
    return np.asarray(signature, dtype="<u4").tobytes()


def signature_from_bytes(data: bytes) -> Signature:
    """Rebuild a signature serialized by signature_to_bytes."""
    if not data or len(data) % 4:
        raise ValueError("signature bytes must be a non-empty multiple of 4")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


def estimate_jaccard(first: Signature, second: Signature) -> float:
    """Estimate the Jaccard similarity of two texts as the share of equal signature slots."""
    if first.shape != second.shape:
        raise ValueError("signatures have different lengths")
    return float(np.count_nonzero(first == second)) / first.size


@functools.cache
def optimal_bands(
    threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5
) -> tuple[int, int]:
    """Choose (bands, rows) minimizing weighted false-positive and false-negative areas, like datasketch."""
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be between 0 and 1")
    grid = np.linspace(0.0, 1.0, 1001)
    below, above = grid <= threshold, grid >= threshold
    best: tuple[float, int, int] | None = None
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            probability = 1.0 - (1.0 - grid**rows) ** bands
            false_positive = np.trapezoid(probability[below], grid[below])
            false_negative = np.trapezoid(1.0 - probability[above], grid[above])
            error = float(false_positive_weight * false_positive + false_negative_weight * false_negative)
            if best is None or error < best[0]:
                best = (error, bands, rows)
    assert best is not None
    return best[1], best[2]


class _RowsByHash:
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
        self._buckets = _RowsByHash(np.uint32)
        self._rows_by_key = _RowsByHash(np.uint32)
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
        row = len(self)
        if row >> _BLOCK_SHIFT == len(self._blocks):
            self._blocks.append(np.empty((_BLOCK_ROWS, self.num_perm), dtype=np.uint32))
        self._blocks[-1][row & (_BLOCK_ROWS - 1)] = signature
        self._key_bytes += key.encode("utf-8", "surrogatepass")
        self._key_ends.append(len(self._key_bytes))
        self._buckets.add(self._band_hashes(signature), row)
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
        data, step = matrix.tobytes(), 4 * self.num_perm
        band_hashes = np.fromiter(
            (key for start in range(0, len(data), step) for key in self._hash_bands(data[start : start + step])),
            dtype=np.uint32,
            count=len(keys) * self.bands,
        )
        self._buckets.extend(band_hashes, np.repeat(rows, self.bands))
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
        equal = stored == signature
        similarity = equal.sum(axis=1) / self.num_perm
        # The tolerance keeps a similarity equal to the threshold despite floating-point rounding.
        similar = np.flatnonzero(similarity >= self.threshold - 1e-9).tolist()
        if not similar:
            return []
        # Bucket hashes have 32 bits, so a bucket may hold a row that shares no whole band with the signature.
        bands = equal[similar, : self.bands * self.rows].reshape(len(similar), self.bands, self.rows)
        shares_band = bands.all(axis=2).any(axis=1).tolist()
        matches = [
            (float(similarity[i]), self._key_at(rows[i]))
            for i, shared in zip(similar, shares_band, strict=True)
            if shared
        ]
        matches.sort(key=lambda match: (-match[0], match[1]))
        return [key for _, key in matches]

    def _checked(self, signature: Signature) -> Signature:
        array = np.asarray(signature, dtype=np.uint32)
        if array.shape != (self.num_perm,):
            raise ValueError(f"expected a signature of {self.num_perm} values, got shape {array.shape}")
        return array

    def _band_hashes(self, signature: Signature) -> list[int]:
        data = signature.tobytes()
        if data != self._last_bands[0]:
            self._last_bands = (data, self._hash_bands(data))
        return self._last_bands[1]

    def _hash_bands(self, data: bytes) -> list[int]:
        width = 4 * self.rows
        return [hash(data[start : start + width]) & _MASK32 for start in range(0, width * self.bands, width)]

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


class TextHashIds:
    """Text hashes to the ids of their documents, or None while a document is pending, in ~20 bytes a text."""

    def __init__(self) -> None:
        # Keyed by the 64-bit built-in hash of the text hash instead of the 113-byte string: two different texts
        # collide with probability 2**-64 (keyed SipHash), about 1e-9 in a batch of 200,000 texts, and a
        # collision only makes ingestion skip the later text as an exact duplicate.
        self._slots = _RowsByHash(np.uint64)
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

    def _slot(self, digest: str) -> int | None:
        slots = self._slots.get(hash(digest) & _MASK64)
        return slots[0] if slots else None
