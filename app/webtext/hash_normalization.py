"""Text normalized for hashing: copies that differ only in width, case, punctuation or spacing become equal.

Exact deduplication hashes the normalized text and near-duplicate detection shingles it (dedup.py). The
definition is normalize_in_full; normalized_codes and normalize_many compute the same from per-character
tables, for one text or many at once, when the text allows it.
"""

import functools
import itertools
import re
import sys
import unicodedata
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

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
    codes = normalized_codes(text)
    return normalize_in_full(text) if codes is None else codes_to_text(codes)


def normalize_in_full(text: str) -> str:
    """normalize_for_hash by its definition; normalized_codes computes the same from tables, when it can."""
    patterns = _drop_patterns()
    # Punctuation becomes a word break so "a,b" and "a, b" agree. Dropping it before NFKC lets NFKC take its
    # quick path on most Chinese text; NFKC can create punctuation ("⒈" -> "1."), so what it changed is
    # cleaned again.
    dropped = _drop_punctuation(_fold_width(text), patterns)
    normalized = unicodedata.normalize("NFKC", dropped)
    if normalized != dropped:
        normalized = _drop_punctuation(normalized, patterns)
    return _CJK_SPACE.sub("", normalized.casefold()).strip()


class NormalizeTable(NamedTuple):
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
def normalize_table() -> NormalizeTable:
    """Run each code point through the steps of normalize_in_full, once per process (2.5 MB).

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
    return NormalizeTable(direct, start, length, np.array(atoms, dtype=np.uint32), cjk)


def _fold_code(code: int) -> int:
    """_fold_width of one code point."""
    if 0xFF01 <= code <= 0xFF5E:
        return code - 0xFEE0
    return _SPACE if code in (0x3000, 0xA0) else code


def _is_separator(char: str) -> bool:
    """Whitespace or punctuation, which hashing turns into a word break."""
    return char.isspace() or unicodedata.category(char)[0] == "P"


def normalized_codes(text: str) -> NDArray[np.uint32] | None:
    """The code points of normalize_for_hash(text), or None when the text needs the general path."""
    try:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    except UnicodeEncodeError:
        return None
    table = normalize_table()
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
    table = normalize_table()
    owner = np.repeat(np.arange(codes.size), counts)
    first_out = np.cumsum(counts) - counts
    start = table.start.take(codes, mode="clip")[owner].astype(np.intp)
    return table.atoms[start + np.arange(owner.size) - first_out[owner]]


class NormalizedTexts(NamedTuple):
    """normalized_codes of several texts, end to end."""

    codes: NDArray[np.uint32]
    # Text i is codes[bounds[i] : bounds[i + 1]].
    bounds: NDArray[np.intp]
    # Texts that need the general path; they have no code points here.
    general: NDArray[np.bool_]


def normalize_many(texts: Sequence[str]) -> NormalizedTexts:
    """normalized_codes of each text, with the same few NumPy calls however many texts there are."""
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
    table = normalize_table()
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
        # normalized_codes's rules, each text on its own: a run of spaces collapses to its first space, which
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
    return NormalizedTexts(out, bounds, general)


def codes_to_text(codes: NDArray[np.uint32]) -> str:
    return codes.astype("<u4", copy=False).tobytes().decode("utf-32-le")
