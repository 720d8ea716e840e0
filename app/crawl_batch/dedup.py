"""Exact and near-duplicate fingerprints: normalized SHA-256 hashes and MinHash signatures (the index that
looks them up is near_duplicates.py)."""

import bisect
import functools
import hashlib
import itertools
import re
import sys
import unicodedata
from collections.abc import Sequence
from typing import NamedTuple, TypeGuard

import numpy as np
from numpy.typing import NDArray

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
        if np.any(out == _GENERAL):
            return None
        out = _expand(codes, table.length.take(codes, mode="clip").astype(np.intp))
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


def _expand(codes: NDArray[np.uint32], counts: NDArray[np.intp]) -> NDArray[np.uint32]:
    """The table's output for the code points, each taking counts of them (some none, some several)."""
    table = _normalize_table()
    owner = np.repeat(np.arange(codes.size), counts)
    first_out = np.cumsum(counts) - counts
    start = table.start.take(codes, mode="clip")[owner].astype(np.intp)
    return table.atoms[start + np.arange(owner.size) - first_out[owner]]


class _NormalizedTexts(NamedTuple):
    """_normalized_codes of several texts, end to end."""

    codes: NDArray[np.uint32]
    # Text i is codes[bounds[i] : bounds[i + 1]].
    bounds: NDArray[np.intp]
    # Texts that need the general path; they have no code points here.
    general: NDArray[np.bool_]


def _normalize_many(texts: Sequence[str]) -> _NormalizedTexts:
    """_normalized_codes of each text, with the same few NumPy calls however many texts there are."""
    general = np.zeros(len(texts), dtype=np.bool_)
    try:
        codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype="<u4")
        lengths = [len(text) for text in texts]
    except UnicodeEncodeError:
        # Lone surrogates cannot be encoded; only the texts holding them are left out.
        parts = []
        for i, text in enumerate(texts):
            try:
                parts.append(text.encode("utf-32-le"))
            except UnicodeEncodeError:
                parts.append(b"")
                general[i] = True
        codes = np.frombuffer(b"".join(parts), dtype="<u4")
        lengths = [len(part) // 4 for part in parts]
    bounds = np.array([0, *itertools.accumulate(lengths)], dtype=np.intp)
    table = _normalize_table()
    out = table.direct.take(codes, mode="clip")
    if out.size and out.max() >= _EXPANDS:
        counts = table.length.take(codes, mode="clip").astype(np.intp)
        unknown = np.flatnonzero(out == _GENERAL)
        if unknown.size:
            # Texts that need the general path are normalized apart, so they give no code points here.
            general[np.searchsorted(bounds, unknown, side="right") - 1] = True
            counts[np.repeat(general, np.diff(bounds))] = 0
        out = _expand(codes, counts)
        bounds = np.concatenate(([0], np.cumsum(counts)))[bounds]
    spaces = np.flatnonzero(out == _SPACE)
    if spaces.size:
        # _normalized_codes's rules, each text on its own: a run of spaces collapses to its first space, which
        # goes too when it is beside a CJK character or at either end of the text. Spaces are few, so this looks
        # at them and their neighbours only.
        boundary = np.zeros(out.size + 1, dtype=np.bool_)
        boundary[bounds] = True
        at_start = boundary[spaces]
        continues = np.zeros_like(at_start)
        np.equal(spaces[1:], spaces[:-1] + 1, out=continues[1:])
        first = np.flatnonzero(at_start | ~continues)
        last = np.append(first[1:], spaces.size) - 1
        before, after = spaces[first] - 1, spaces[last] + 1
        goes = at_start[first] | boundary[after]
        # Past either end of all the texts the indices clip, and the run is at an end of its text then anyway.
        goes |= table.cjk.take(out.take(before, mode="clip"), mode="clip")
        goes |= table.cjk.take(out.take(after, mode="clip"), mode="clip")
        stays = np.zeros_like(at_start)
        stays[first[~goes]] = True
        deleted = spaces[~stays]
        keep = np.ones(out.size, dtype=np.bool_)
        keep[deleted] = False
        out = out[keep]
        bounds -= np.searchsorted(deleted, bounds)
    return _NormalizedTexts(out, bounds, general)


def _to_text(codes: NDArray[np.uint32]) -> str:
    return codes.astype("<u4", copy=False).tobytes().decode("utf-32-le")


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


def shingle_hashes(text: str, *, seed: int = DEFAULT_SEED) -> NDArray[np.uint64]:
    """Return the 32-bit hashes (as uint64) of the character 5-grams of the normalized text, as MinHash sees them."""
    return _shingle_keys(_codes_for_hash(text)[1], seed).astype(np.uint64)


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
    digests: list[str] = []
    matrix = np.empty((len(texts), DEFAULT_NUM_PERM), dtype=np.uint32)
    ends = list(itertools.accumulate(map(len, texts)))
    first = 0
    while first < len(texts):
        done = ends[first - 1] if first else 0
        stop = max(first + 1, bisect.bisect_right(ends, done + _CHUNK_CODES, lo=first))
        chunk = texts[first:stop]
        normalized = _normalize_many(chunk)
        rows = matrix[first:stop]
        rows[:] = _signatures(normalized.codes, normalized.bounds, DEFAULT_NUM_PERM, DEFAULT_SEED)
        joined = _to_text(normalized.codes)
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
    minimum = np.full(num_perm, _MASK32, dtype=np.uint32)
    np.minimum.at(minimum, _bins(keys, num_perm), keys)
    _densify(minimum.reshape(1, num_perm), seed)
    return minimum


def _signatures(codes: NDArray[np.uint32], bounds: NDArray[np.intp], num_perm: int, seed: int) -> Signature2D:
    """_signature of each text of codes (as _NormalizedTexts holds them) of at least one whole 5-gram.

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


def estimate_jaccard(first: Signature, second: Signature) -> float:
    """Estimate the Jaccard similarity of two texts as the share of equal signature slots."""
    if first.shape != second.shape:
        raise ValueError("signatures have different lengths")
    return float(np.count_nonzero(first == second)) / first.size
