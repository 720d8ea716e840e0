"""Exact and near-duplicate fingerprints: SHA-256 hashes and MinHash signatures of the text normalized by
hash_normalization.py (the index that looks them up is near_duplicates.py)."""

import bisect
import functools
import hashlib
import itertools
from collections.abc import Sequence
from typing import TypeGuard

import numpy as np
from numpy.typing import NDArray

from app.webtext.hash_normalization import (
    codes_to_text,
    normalize_for_hash,
    normalize_in_full,
    normalize_many,
    normalize_table,
    normalized_codes,
)

# Without it, the NumPy path below computes the same.
from app.webtext.native import compiled as _native

Signature = NDArray[np.uint32]
# One signature per row.
Signature2D = NDArray[np.uint32]

SHINGLE_SIZE = 5
DEFAULT_NUM_PERM = 128
DEFAULT_SEED = 1
DEFAULT_THRESHOLD = 0.8

_MASK64 = (1 << 64) - 1
_MASK32 = (1 << 32) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
# Stored signatures start with this tag, naming the scheme: one-permutation MinHash with optimal densification.
# Untagged ones predate it (128 separate permutations); the two do not compare, so ingestion re-signs old texts.
SIGNATURE_TAG = b"OPH1"
# An empty bin copies the first filled bin of the sequence drawn for it, this many times num_perm long.
_DENSIFY_DRAWS = 4
# Empty bins look through their draws in steps: nearly all find a filled bin among the first few.
_DRAW_STEPS = (8, 64)
# fingerprint_many works through chunks of texts of about this many code points, bounding its memory.
_CHUNK_CODES = 1 << 17


def text_hash(text: str) -> str:
    """Return the SHA-256 hex digest of the normalized text, for exact deduplication."""
    return hashlib.sha256(normalize_for_hash(text).encode("utf-8")).hexdigest()


def mix64(values: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64's finalizer, vectorized: stable across platforms and NumPy versions, unlike its generators."""
    shifted = values >> np.uint64(30)
    values = values ^ shifted
    values *= np.uint64(0xBF58476D1CE4E5B9)
    np.right_shift(values, np.uint64(27), out=shifted)
    values ^= shifted
    values *= np.uint64(0x94D049BB133111EB)
    np.right_shift(values, np.uint64(31), out=shifted)
    values ^= shifted
    return values


@functools.cache
def _shingle_constants(seed: int) -> tuple[tuple[int, ...], int]:
    """Odd multipliers for the positions of a 5-gram and the length, then the salt, drawn from SplitMix64."""
    states = np.arange(1, SHINGLE_SIZE + 3, dtype=np.uint64) * np.uint64(GOLDEN_GAMMA) + np.uint64(seed & _MASK64)
    words = (mix64(states) >> np.uint64(32)).tolist()
    return tuple(word | 1 for word in words[:-1]), words[-1]


def _shingle_keys(codes: NDArray[np.uint32], seed: int) -> NDArray[np.uint32]:
    """32-bit hashes of the 5-grams; a text shorter than a 5-gram, even the empty text, is one of its own.

    Multilinear hashing of the code points, then MurmurHash3's finalizer. 32-bit arithmetic, because NumPy
    vectorizes 32-bit multiplication and not 64-bit.
    """
    multipliers, salt = _shingle_constants(seed)
    width = min(SHINGLE_SIZE, codes.size)
    count = codes.size - width + 1
    keys = np.full(count, (salt + width * multipliers[SHINGLE_SIZE]) & _MASK32, dtype=np.uint32)
    term = np.empty(count, dtype=np.uint32)
    for offset in range(width):
        np.multiply(codes[offset : offset + count], np.uint32(multipliers[offset]), out=term)
        keys += term
    np.right_shift(keys, np.uint32(16), out=term)
    keys ^= term
    keys *= np.uint32(0x85EBCA6B)
    np.right_shift(keys, np.uint32(13), out=term)
    keys ^= term
    keys *= np.uint32(0xC2B2AE35)
    np.right_shift(keys, np.uint32(16), out=term)
    keys ^= term
    return keys


def minhash_signature(text: str, *, num_perm: int = DEFAULT_NUM_PERM, seed: int = DEFAULT_SEED) -> Signature:
    """Return the MinHash signature (num_perm uint32 values) of the text's normalized character 5-grams."""
    return _signature(_codes_for_hash(text)[1], num_perm, seed)


def fingerprint(text: str) -> tuple[str, Signature]:
    """text_hash and minhash_signature of a text, normalizing it once."""
    normalized, codes = _codes_for_hash(text)
    digest = hashlib.sha256(normalized.encode("utf-8")).hexdigest()
    return digest, _signature(codes, DEFAULT_NUM_PERM, DEFAULT_SEED)


def fingerprint_many(texts: Sequence[str]) -> tuple[list[str], Signature2D]:
    """fingerprint of each text (digests, and signatures as rows), with a fixed number of NumPy calls per chunk."""
    if _native is not None:
        return _fingerprint_many_compiled(texts)
    digests: list[str] = []
    matrix = np.empty((len(texts), DEFAULT_NUM_PERM), dtype=np.uint32)
    ends = list(itertools.accumulate(map(len, texts)))
    first = 0
    while first < len(texts):
        done = ends[first - 1] if first else 0
        stop = max(first + 1, bisect.bisect_right(ends, done + _CHUNK_CODES, lo=first))
        chunk = texts[first:stop]
        normalized = normalize_many(chunk)
        rows = matrix[first:stop]
        rows[:] = _signatures(normalized.codes, normalized.bounds, DEFAULT_NUM_PERM, DEFAULT_SEED)
        joined = codes_to_text(normalized.codes)
        bounds = normalized.bounds.tolist()
        for i, text in enumerate(chunk):
            start, end = bounds[i], bounds[i + 1]
            # Texts of less than a 5-gram are one shingle of their own, not 5-grams of the concatenation; they
            # and texts that need the general path are rare enough to take one at a time.
            if normalized.general[i] or end - start < SHINGLE_SIZE:
                digest, rows[i] = fingerprint(text)
            else:
                digest = hashlib.sha256(joined[start:end].encode("utf-8")).hexdigest()
            digests.append(digest)
        first = stop
    return digests, matrix


def _fingerprint_many_compiled(texts: Sequence[str]) -> tuple[list[str], Signature2D]:
    """fingerprint_many through the compiled module: one pass over each text normalizes, shingles and bins it."""
    matrix = np.empty((len(texts), DEFAULT_NUM_PERM), dtype=np.uint32)
    table = normalize_table()
    multipliers, salt = _shingle_constants(DEFAULT_SEED)
    assert _native is not None
    normalized = _native.normalize_and_sign(
        list(texts), table.direct, table.start, table.length, table.atoms, table.cjk, multipliers, salt, matrix
    )
    # Rows of texts that need the general path are zero, which densification leaves be; they are filled after.
    _densify(matrix, DEFAULT_SEED)
    digests: list[str] = []
    for i, text in enumerate(texts):
        done = normalized[i]
        if done is None:
            digest, matrix[i] = fingerprint(text)
        else:
            digest = hashlib.sha256(done).hexdigest()
        digests.append(digest)
    return digests, matrix


def _codes_for_hash(text: str) -> tuple[str, NDArray[np.uint32]]:
    codes = normalized_codes(text)
    if codes is None:
        normalized = normalize_in_full(text)
        return normalized, np.frombuffer(normalized.encode("utf-32-le"), dtype="<u4")
    return codes_to_text(codes), codes


def _signature(codes: NDArray[np.uint32], num_perm: int, seed: int) -> Signature:
    """One-permutation MinHash: each 5-gram hash picks one of num_perm bins, and each bin keeps its minimum.

    Hashing every 5-gram once instead of once per permutation makes this num_perm times cheaper than classic
    MinHash, with the same accuracy for texts of more 5-grams than bins. A bin no 5-gram fell into copies a
    filled one chosen by a fixed random sequence per bin ("optimal densification", Shrivastava 2017), so equal
    slots still estimate the Jaccard similarity.
    """
    if num_perm < 1:
        raise ValueError("num_perm must be at least 1")
    keys = _shingle_keys(codes, seed)
    minimum = np.full(num_perm, _MASK32, dtype=np.uint32)
    np.minimum.at(minimum, _bins(keys, num_perm), keys)
    _densify(minimum.reshape(1, num_perm), seed)
    return minimum


def _signatures(codes: NDArray[np.uint32], bounds: NDArray[np.intp], num_perm: int, seed: int) -> Signature2D:
    """_signature of each text of codes (as NormalizedTexts holds them) of at least one whole 5-gram.

    The rows of shorter texts hold nothing useful: their one shingle is not a 5-gram of the concatenation.
    """
    lengths = np.diff(bounds)
    # One spare slot at the end takes the 5-grams that span two texts.
    slots = np.full(lengths.size * num_perm + 1, _MASK32, dtype=np.uint32)
    if codes.size >= SHINGLE_SIZE:
        keys = _shingle_keys(codes, seed)
        slot = np.repeat(np.arange(0, slots.size - 1, num_perm), lengths)[: keys.size]
        slot += _bins(keys, num_perm)
        spanning = (bounds[1:-1, np.newaxis] - np.arange(1, SHINGLE_SIZE)).ravel()
        slot[spanning[(spanning >= 0) & (spanning < keys.size)]] = slots.size - 1
        np.minimum.at(slots, slot, keys)
    minimum = slots[:-1].reshape(lengths.size, num_perm)
    # Rows without a 5-gram have no filled bin to copy from; marked filled, densification leaves them be.
    minimum[lengths < SHINGLE_SIZE] = 0
    _densify(minimum, seed)
    return minimum


def _bins(keys: NDArray[np.uint32], num_perm: int) -> NDArray[np.intp] | NDArray[np.uint32]:
    """The bin of each 5-gram hash."""
    # Multiply-shift maps the hash to its bin, and is monotone: each bin holds an interval of hashes, so the
    # bin's minimum hash is its slot value. For a power of two it is a shift, in half the memory.
    if num_perm > 1 and not num_perm & (num_perm - 1):
        return keys >> np.uint32(33 - num_perm.bit_length())
    return ((keys.astype(np.uint64) * np.uint64(num_perm)) >> np.uint64(32)).astype(np.intp)


def _densify(minimum: Signature2D, seed: int) -> None:
    """Fill the empty bins of each row of minimum, in place, from the first filled bin of their draws."""
    num_perm = minimum.shape[1]
    # Only the last bin can hold the hash 2**32 - 1; taking it for empty then is rare, harmless and repeatable.
    filled = (minimum != _MASK32).ravel()
    empty = np.flatnonzero(~filled)
    if not empty.size:
        return
    bins = empty % num_perm
    row_start = empty - bins
    draws = _densify_draws(num_perm, seed)
    source = np.empty(empty.size, dtype=np.intp)
    pending = np.arange(empty.size)
    # Gathering all the draws of every empty bin would cost more than the rest of the signature.
    for low, high in itertools.pairwise((0, *_DRAW_STEPS, draws.shape[1])):
        candidates = draws[bins[pending], low:high] + row_start[pending, np.newaxis]
        hits = filled[candidates]
        first = hits.argmax(axis=1)
        found = hits[np.arange(pending.size), first]
        source[pending[found]] = candidates[found, first[found]]
        pending = pending[~found]
        if not pending.size:
            break
    if pending.size:
        # So few bins are filled that every draw missed: take the next filled bin, circularly.
        filled_slots = np.append(np.flatnonzero(filled), filled.size)
        at = np.searchsorted(filled_slots, empty[pending])
        wraps = filled_slots[at] >= row_start[pending] + num_perm
        at[wraps] = np.searchsorted(filled_slots, row_start[pending][wraps])
        source[pending] = filled_slots[at]
    flat = minimum.reshape(-1)
    flat[empty] = flat[source]


@functools.cache
def _densify_draws(num_perm: int, seed: int) -> NDArray[np.intp]:
    """For each bin, the fixed random sequence of bins it may copy when empty: _DENSIFY_DRAWS * num_perm long."""
    count = _DENSIFY_DRAWS * num_perm
    # Counter-mode SplitMix64 from a state of its own, apart from the 5-gram hashes' salt.
    state = np.uint64((seed ^ 0xD1B54A32D192ED03) & _MASK64)
    values = mix64(np.arange(1, num_perm * count + 1, dtype=np.uint64) * np.uint64(GOLDEN_GAMMA) + state)
    draws = (((values >> np.uint64(32)) * np.uint64(num_perm)) >> np.uint64(32)).astype(np.intp)
    draws = draws.reshape(num_perm, count)
    draws.flags.writeable = False
    return draws


def signature_to_bytes(signature: Signature) -> bytes:
    """Serialize a signature for storage: SIGNATURE_TAG, then little-endian uint32 values (4 bytes each)."""
    return SIGNATURE_TAG + np.asarray(signature, dtype="<u4").tobytes()


def is_current_signature(data: bytes | None, num_perm: int = DEFAULT_NUM_PERM) -> TypeGuard[bytes]:
    """Whether stored bytes hold a signature of today's scheme and size (older ones are recomputed)."""
    return data is not None and len(data) == len(SIGNATURE_TAG) + 4 * num_perm and data.startswith(SIGNATURE_TAG)


def signature_from_bytes(data: bytes) -> Signature:
    """Rebuild a signature serialized by signature_to_bytes."""
    if not data.startswith(SIGNATURE_TAG):
        raise ValueError("signature bytes lack the one-permutation tag: an older signature, to recompute")
    values = data[len(SIGNATURE_TAG) :]
    if not values or len(values) % 4:
        raise ValueError("signature bytes must be a non-empty multiple of 4 after the tag")
    return np.frombuffer(values, dtype="<u4").astype(np.uint32)
