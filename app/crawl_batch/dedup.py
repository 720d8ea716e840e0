"""Exact and near-duplicate detection: normalized SHA-256 hashes, MinHash signatures and an LSH index."""

import functools
import hashlib
import re
import sys
import unicodedata
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

Signature = NDArray[np.uint32]

SHINGLE_SIZE = 5
DEFAULT_NUM_PERM = 128
DEFAULT_SEED = 1
DEFAULT_THRESHOLD = 0.8

_MASK64 = (1 << 64) - 1
_CHUNK = 2048
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
        self._buckets: list[dict[bytes, list[str]]] = [{} for _ in range(self.bands)]
        self._signatures: dict[str, Signature] = {}

    def __len__(self) -> int:
        return len(self._signatures)

    def __contains__(self, key: object) -> bool:
        return key in self._signatures

    def signature(self, text: str) -> Signature:
        """Compute a signature with this index's num_perm and seed."""
        return minhash_signature(text, num_perm=self.num_perm, seed=self.seed)

    def add(self, key: str, signature: Signature) -> None:
        """Insert a signature under a new key."""
        if key in self._signatures:
            raise ValueError(f"key already indexed: {key!r}")
        signature = self._checked(signature)
        self._signatures[key] = signature
        for bucket, band in zip(self._buckets, self._band_keys(signature), strict=True):
            bucket.setdefault(band, []).append(key)

    def query(self, signature: Signature) -> list[str]:
        """Return keys whose estimated Jaccard similarity is at least the threshold, most similar first."""
        signature = self._checked(signature)
        candidates: set[str] = set()
        for bucket, band in zip(self._buckets, self._band_keys(signature), strict=True):
            candidates.update(bucket.get(band, ()))
        if not candidates:
            return []
        keys = sorted(candidates)
        stored = np.stack([self._signatures[key] for key in keys])
        similarity = np.count_nonzero(stored == signature, axis=1) / self.num_perm
        # The tolerance keeps a similarity equal to the threshold despite floating-point rounding.
        cutoff = self.threshold - 1e-9
        matches = [(float(s), key) for s, key in zip(similarity, keys, strict=True) if s >= cutoff]
        matches.sort(key=lambda match: (-match[0], match[1]))
        return [key for _, key in matches]

    def _checked(self, signature: Signature) -> Signature:
        array = np.asarray(signature, dtype=np.uint32)
        if array.shape != (self.num_perm,):
            raise ValueError(f"expected a signature of {self.num_perm} values, got shape {array.shape}")
        return array

    def _band_keys(self, signature: Signature) -> list[bytes]:
        rows = self.rows
        return [signature[band * rows : (band + 1) * rows].tobytes() for band in range(self.bands)]
