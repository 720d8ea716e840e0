"""Exact and near-duplicate fingerprints: normalized SHA-256 hashes and MinHash signatures (the index that
looks them up is near_duplicates.py)."""

import functools
import hashlib
import re
import sys
import unicodedata
from typing import NamedTuple, TypeGuard

import numpy as np
from numpy.typing import NDArray

Signature = NDArray[np.uint32]

SHINGLE_SIZE = 5
DEFAULT_NUM_PERM = 128
DEFAULT_SEED = 1
DEFAULT_THRESHOLD = 0.8

_MASK64 = (1 << 64) - 1
_MASK32 = (1 << 32) - 1
_GOLDEN_GAMMA = 0x9E3779B97F4A7C15
# Stored signatures start with this tag, naming the scheme: one-permutation MinHash with optimal densification.
# Untagged ones predate it (128 separate permutations); the two do not compare, so ingestion re-signs old texts.
SIGNATURE_TAG = b"OPH1"
# An empty bin copies the first filled bin of the sequence drawn for it, this many times num_perm long.
_DENSIFY_DRAWS = 4
_CJK = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\U00020000-\U0003ffff"
)
# Chinese and Japanese do not separate words with spaces, so a space next to one of their characters is noise.
_CJK_SPACE = re.compile(rf" (?:(?=[{_CJK}])|(?<=[{_CJK}] ))")
_CJK_CHAR = re.compile(f"[{_CJK}]")
_FOLDABLE = re.compile("[\uff01-\uff5e\u3000\u00a0]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
# The per-character tables of normalize_for_hash cover planes 0 to 3; rarer characters take the general path.
_TABLE_SIZE = 0x40000
_EXPANDS = 0xFFFFFFFE
_GENERAL = 0xFFFFFFFF
_SPACE = 0x20


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


def _is_invisible(char: str) -> bool:
    """Format and control characters (but whitespace) and variation selectors, which hashing deletes."""
    code = ord(char)
    return (
        (unicodedata.category(char) in ("Cf", "Cc") and not char.isspace())
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
    )


@functools.cache
def _drop_patterns() -> _DropPatterns:
    """Build the punctuation and invisible-character classes from the Unicode database, once per process."""
    punctuation: list[int] = []
    invisible: list[int] = []
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if unicodedata.category(char)[0] == "P":
            punctuation.append(code)
        elif _is_invisible(char):
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
    codes = _normalized_codes(text)
    return _normalize_in_full(text) if codes is None else _to_text(codes)


def _normalize_in_full(text: str) -> str:
    """normalize_for_hash by its definition; _normalized_codes computes the same from tables, when it can."""
    patterns = _drop_patterns()
    # Punctuation becomes a word break so "a,b" and "a, b" agree. Dropping it before NFKC lets NFKC take its
    # quick path on most Chinese text; NFKC can create punctuation ("⒈" -> "1."), so what it changed is
    # cleaned again.
    dropped = _drop_punctuation(_fold_width(text), patterns)
    normalized = unicodedata.normalize("NFKC", dropped)
    if normalized != dropped:
        normalized = _drop_punctuation(normalized, patterns)
    return _CJK_SPACE.sub("", normalized.casefold()).strip()


class _NormalizeTable(NamedTuple):
    """What normalize_for_hash makes of each code point below _TABLE_SIZE, when it acts on each one alone."""

    # The character's output if it is one code point, else _EXPANDS (see start and length) or _GENERAL (the
    # text must take the general path). A separator's output is a space; runs of spaces collapse to one.
    direct: NDArray[np.uint32]
    # Where the character's output starts in `atoms`, and its length (0 deletes the character).
    start: NDArray[np.uint32]
    length: NDArray[np.uint8]
    atoms: NDArray[np.uint32]
    # Whether a space beside the character is deleted (Chinese and Japanese characters).
    cjk: NDArray[np.bool_]


@functools.cache
def _normalize_table() -> _NormalizeTable:
    """Run each code point through the steps of _normalize_in_full, once per process (2.5 MB).

    Width folding, deletion and separators act on each character alone. NFKC and case folding do too, unless a
    character can combine with its neighbours: combining marks, the second halves of canonical compositions
    (Hangul vowel and final jamo among them) and characters decomposing to either. Text with one of those, or
    with a character past plane 3, takes the general path.
    """
    seconds = {0x1161 + i for i in range(21)} | {0x11A8 + i for i in range(27)}
    # No character past the table decomposes, so no second half can come from there.
    for code in range(_TABLE_SIZE):
        decomposition = unicodedata.decomposition(chr(code))
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2:
                seconds.add(int(parts[1], 16))
    direct = np.full(_TABLE_SIZE + 1, _GENERAL, dtype=np.uint32)
    start = np.zeros(_TABLE_SIZE + 1, dtype=np.uint32)
    length = np.zeros(_TABLE_SIZE + 1, dtype=np.uint8)
    atoms: list[int] = []
    cjk = np.zeros(_TABLE_SIZE + 1, dtype=np.bool_)
    for code in range(_TABLE_SIZE):
        char = chr(_fold_code(code))
        cjk[code] = _CJK_CHAR.match(chr(code)) is not None
        if 0xD800 <= code <= 0xDFFF:
            continue
        if _is_invisible(char):
            output: list[int] = []
        elif _is_separator(char):
            output = [_SPACE]
        else:
            first = unicodedata.normalize("NFKD", char)[0]
            if unicodedata.combining(char) or unicodedata.combining(first) or {ord(char), ord(first)} & seconds:
                continue
            # What NFKC makes of the character is cleaned of punctuation again, then case-folded.
            output = []
            for part in unicodedata.normalize("NFKC", char):
                if not _is_invisible(part):
                    output.extend([_SPACE] if _is_separator(part) else map(ord, part.casefold()))
        direct[code] = output[0] if len(output) == 1 else _EXPANDS
        start[code], length[code] = len(atoms), len(output)
        atoms.extend(output)
    return _NormalizeTable(direct, start, length, np.array(atoms, dtype=np.uint32), cjk)


def _fold_code(code: int) -> int:
    """_fold_width of one code point."""
    if 0xFF01 <= code <= 0xFF5E:
        return code - 0xFEE0
    return _SPACE if code in (0x3000, 0xA0) else code


def _is_separator(char: str) -> bool:
    """Whitespace or punctuation, which hashing turns into a word break."""
    return char.isspace() or unicodedata.category(char)[0] == "P"


def _normalized_codes(text: str) -> NDArray[np.uint32] | None:
    """The code points of normalize_for_hash(text), or None when the text needs the general path."""
    try:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    except UnicodeEncodeError:
        return None
    table = _normalize_table()
    # Code points past the table clip to its last entry, _GENERAL.
    out = table.direct.take(codes, mode="clip")
    if out.size and out.max() >= _EXPANDS:
        index = np.minimum(codes, _TABLE_SIZE)
        if np.any(table.direct[index] == _GENERAL):
            return None
        counts = table.length[index].astype(np.intp)
        owner = np.repeat(np.arange(codes.size), counts)
        first_out = np.cumsum(counts) - counts
        out = table.atoms[table.start[index][owner].astype(np.intp) + np.arange(owner.size) - first_out[owner]]
    space = out == _SPACE
    if space.any():
        # Runs of spaces collapse to one, then a space beside a CJK character goes, then the ends are stripped.
        run = space.copy()
        run[1:] &= space[:-1]
        run[0] = False
        out = out[~run]
        space = out == _SPACE
        cjk = table.cjk.take(out, mode="clip")
        beside_cjk = np.zeros_like(space)
        beside_cjk[1:] |= cjk[:-1]
        beside_cjk[:-1] |= cjk[1:]
        out = out[~(space & beside_cjk)]
        if out.size and out[0] == _SPACE:
            out = out[1:]
        if out.size and out[-1] == _SPACE:
            out = out[:-1]
    return out


def _to_text(codes: NDArray[np.uint32]) -> str:
    return codes.astype("<u4", copy=False).tobytes().decode("utf-32-le")


def text_hash(text: str) -> str:
    """Return the SHA-256 hex digest of the normalized text, for exact deduplication."""
    return hashlib.sha256(normalize_for_hash(text).encode("utf-8")).hexdigest()


def _mix64(values: NDArray[np.uint64]) -> NDArray[np.uint64]:
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


def shingle_hashes(text: str, *, seed: int = DEFAULT_SEED) -> NDArray[np.uint64]:
    """Return the 32-bit hashes (as uint64) of the character 5-grams of the normalized text, as MinHash sees them."""
    return _shingle_keys(_codes_for_hash(text)[1], seed).astype(np.uint64)


@functools.cache
def _shingle_constants(seed: int) -> tuple[tuple[int, ...], int]:
    """Odd multipliers for the positions of a 5-gram and the length, then the salt, drawn from SplitMix64."""
    states = np.arange(1, SHINGLE_SIZE + 3, dtype=np.uint64) * np.uint64(_GOLDEN_GAMMA) + np.uint64(seed & _MASK64)
    words = (_mix64(states) >> np.uint64(32)).tolist()
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


def _codes_for_hash(text: str) -> tuple[str, NDArray[np.uint32]]:
    codes = _normalized_codes(text)
    if codes is None:
        normalized = _normalize_in_full(text)
        return normalized, np.frombuffer(normalized.encode("utf-32-le"), dtype="<u4")
    return _to_text(codes), codes


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
    # Multiply-shift maps the hash to its bin, and is monotone: each bin holds an interval of hashes, so the
    # bin's minimum hash is its slot value.
    bins = ((keys.astype(np.uint64) * np.uint64(num_perm)) >> np.uint64(32)).astype(np.intp)
    minimum = np.full(num_perm, _MASK32, dtype=np.uint32)
    np.minimum.at(minimum, bins, keys)
    # Only the last bin can hold the hash 2**32 - 1; taking it for empty then is rare, harmless and repeatable.
    filled = minimum != _MASK32
    empty = np.flatnonzero(~filled)
    if empty.size:
        draws = _densify_draws(num_perm, seed)[empty]
        hits = filled[draws]
        first = hits.argmax(axis=1)
        rows = np.arange(empty.size)
        source = draws[rows, first]
        missed = ~hits[rows, first]
        if missed.any():
            # So few bins are filled that every draw missed: take the next filled bin, circularly.
            filled_bins = np.flatnonzero(filled)
            source[missed] = filled_bins[np.searchsorted(filled_bins, empty[missed]) % filled_bins.size]
        minimum[empty] = minimum[source]
    return minimum


@functools.cache
def _densify_draws(num_perm: int, seed: int) -> NDArray[np.intp]:
    """For each bin, the fixed random sequence of bins it may copy when empty: _DENSIFY_DRAWS * num_perm long."""
    count = _DENSIFY_DRAWS * num_perm
    # Counter-mode SplitMix64 from a state of its own, apart from the 5-gram hashes' salt.
    state = np.uint64((seed ^ 0xD1B54A32D192ED03) & _MASK64)
    values = _mix64(np.arange(1, num_perm * count + 1, dtype=np.uint64) * np.uint64(_GOLDEN_GAMMA) + state)
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


def estimate_jaccard(first: Signature, second: Signature) -> float:
    """Estimate the Jaccard similarity of two texts as the share of equal signature slots."""
    if first.shape != second.shape:
        raise ValueError("signatures have different lengths")
    return float(np.count_nonzero(first == second)) / first.size
