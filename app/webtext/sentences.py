"""Sentence splitting for Chinese, English and mixed web text; spans are Python code-point offsets."""

import re
import unicodedata

_CJK_TERMS = "。！？；｡…⋯"
_ASCII_TERMS = "!?.．"
_TERMS = _CJK_TERMS + _ASCII_TERMS
# Characters that stay with the sentence they follow: closing quotes and brackets, and emoji (with their
# modifiers, ZWJ and variation selectors), because "太好了！👍" ends with the thumbs-up.
_CLOSERS = "」』”’）)】》〉〕〗〙〛｣］\\]}\"'\u200d\ufe0f\u2600-\u27bf\U0001f000-\U0001faff\U000e0020-\U000e007f"
_CJK = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003ffff“‘"
)
_LINE_BREAKS = r"\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

# Candidate sentence ends in one compiled scan. A run starting with a CJK terminator always ends a sentence;
# an ASCII-only run (". ! ? ...") only when followed by whitespace, the end, or CJK text, which already
# skips decimals, URLs and e-mail addresses ("3.14", "a.b?c=d"), and then only after the checks in
# _ascii_run_ends. The lookbehind and possessive quantifiers keep long punctuation runs linear.
_SCAN = re.compile(
    rf"""
    (?P<nl>\r\n|[{_LINE_BREAKS}])
    |(?<![{_TERMS}])
     (?:(?P<cjk>[{_ASCII_TERMS}]*+[{_CJK_TERMS}][{_TERMS}]*+(?:[{_CLOSERS}]++[{_TERMS}]++)*+[{_CLOSERS}]*+)
       |(?P<ascii>[{_ASCII_TERMS}]++(?:[{_CLOSERS}]++[{_TERMS}]++)*+[{_CLOSERS}]*+)(?=\s|\Z|[{_CJK}]))
    """,
    re.VERBOSE,
)
_TOKEN_TAIL = re.compile(r"[A-Za-z0-9][A-Za-z0-9.]*\Z")
_INITIALS = re.compile(r"(?:[A-Za-z]{1,2}\.)+[A-Za-z]{1,2}|[A-Z]")
_NEXT_LOWER = re.compile(r"[ \t\u00a0\u3000]*[a-z]")
_NEXT_DIGIT = re.compile(r"[ \t\u00a0\u3000]*[0-9]")
_SOFT_BREAK_TAIL = re.compile(r"(?s).*[\s，、,；;：:]")
_ELLIPSIS = frozenset("….⋯")
_TERM_SET = frozenset(_TERMS)
# Every match of _SCAN starts with one of these.
_CANDIDATE = re.compile(f"[{_LINE_BREAKS}{re.escape(_TERMS)}]")
# A lone full stop, exclamation or question mark, or semicolon always ends its sentence just after it.
_PLAIN_ENDS = frozenset("。！？；｡")
_SQUOTE = re.compile(r"(?<![A-Za-z0-9])'|'(?![A-Za-z0-9])")

# Abbreviations that are followed by a capitalised word, so "Mr. Smith" stays one sentence. "etc." is left
# out on purpose: it often ends a sentence, and "etc. and" is already kept by the lowercase rule.
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "mt", "rev", "hon", "messrs", "mme", "mlle"}
    | {"gen", "col", "capt", "lt", "sgt", "cpl", "e.g", "i.e", "cf", "vs", "viz", "approx", "ca"}
    | {"dept", "univ", "assn", "inc", "ltd", "corp", "co", "bros"}
)
# Abbreviations that only precede a number ("No. 5", "Fig. 3", "pp. 10"); a bare "no." may end a sentence.
_NUMBER_ABBREVIATIONS = frozenset(
    {"no", "nos", "vol", "vols", "fig", "figs", "p", "pp", "art", "sec", "ch", "op", "nr", "eq", "eqs"}
)
_MAX_TOKEN = 24
_QUOTE_WINDOW = 1000
_MAX_GRAPHEME_BACKTRACK = 32


def split_sentences(text: str, *, max_len: int = 500) -> list[tuple[int, int]]:
    """Return (start, end) code-point spans of the sentences of text, in order, each at most max_len long."""
    if max_len < 1:
        raise ValueError("max_len must be at least 1")
    spans: list[tuple[int, int]] = []
    append = spans.append
    scan = _SCAN.match
    start = scanned = 0
    # _SCAN is only tried where a candidate character stands: the regex engine finds those with its fast
    # character-set search, while _SCAN.finditer would try its alternatives at every position (3x slower).
    # Most sentences end at a newline or at one of 。！？； and are short: those take the inlined path below,
    # the same as _run_end and _emit would do.
    for candidate in _CANDIDATE.finditer(text):
        at = candidate.start()
        if at < scanned:
            continue
        match = scan(text, at)
        if match is None:
            continue
        scanned = match.end()
        kind = match.lastgroup
        if kind == "nl":
            stop, after = match.span()
        else:
            run = match.group()
            if kind == "cjk" and run in _PLAIN_ENDS:
                stop = after = match.end()
            else:
                end = _run_end(text, start, match, kind == "ascii")
                if end is None:
                    continue
                stop = after = end
        segment = text[start:stop]
        stripped = segment.strip()
        if stripped:
            if len(stripped) <= max_len:
                first = start + len(segment) - len(segment.lstrip())
                append((first, first + len(stripped)))
            else:
                _emit(text, start, stop, max_len, spans)
        start = after
    _emit(text, start, len(text), max_len, spans)
    return spans


def _run_end(text: str, start: int, match: re.Match[str], ascii_only: bool) -> int | None:
    """Where the sentence ending in this terminator run ends, or None if the run does not end one."""
    run_start, end = match.span()
    run = match.group()
    if '"' in run or "'" in run:
        end = _drop_opening_quotes(text, start, run_start, run)
    terms = "".join(ch for ch in run[: end - run_start] if ch in _TERM_SET)
    if _ELLIPSIS.issuperset(terms) and _NEXT_LOWER.match(text, end):
        return None  # "Wait... what" is one sentence; "……然后" is not lowercase ASCII and splits.
    if ascii_only and not _ascii_run_ends(text, start, run_start, terms, end):
        return None
    return end


def _drop_opening_quotes(text: str, start: int, run_start: int, run: str) -> int:
    """Cut the run before an ASCII quote that opens the next sentence rather than closing this one."""
    # Quote parity is counted over a bounded window so a huge unsplit sentence stays linear.
    lo = max(start, run_start - _QUOTE_WINDOW)
    for offset, ch in enumerate(run):
        if ch == '"':
            opening = text.count('"', lo, run_start + offset) % 2 == 0
        elif ch == "'":
            opening = len(_SQUOTE.findall(text, lo, run_start + offset)) % 2 == 0
        else:
            continue
        if opening:
            return run_start + offset
    return run_start + len(run)


def _ascii_run_ends(text: str, start: int, run_start: int, terms: str, end: int) -> bool:
    """Apply the English rules: lowercase continuation, abbreviations, initials and list numbers."""
    if _NEXT_LOWER.match(text, end):
        return False
    if terms not in (".", "．"):
        return True
    token_match = _TOKEN_TAIL.search(text, max(start, run_start - _MAX_TOKEN), run_start)
    if token_match is None:
        return True
    token = token_match.group()
    lowered = token.lower()
    if token.isdigit():
        # A list number: "1. First item" at the start of a sentence, or "2.香蕉" glued to its item.
        if end == run_start + 1 and end < len(text) and not text[end].isspace():
            return False
        return len(token) > 3 or bool(text[start : token_match.start()].strip())
    if lowered in _ABBREVIATIONS or _INITIALS.fullmatch(token):
        return False
    return not (lowered in _NUMBER_ABBREVIATIONS and _NEXT_DIGIT.match(text, end))


def _emit(text: str, start: int, end: int, max_len: int, spans: list[tuple[int, int]]) -> None:
    """Append the whitespace-stripped span, force-split into pieces of at most max_len."""
    segment = text[start:end]
    stripped = segment.strip()
    if not stripped:
        return
    start += len(segment) - len(segment.lstrip())
    end = start + len(stripped)
    while end - start > max_len:
        cut = _force_cut(text, start, start + max_len)
        piece = text[start:cut]
        spans.append((start, start + len(piece.rstrip())))
        rest = text[cut:end]
        start = cut + len(rest) - len(rest.lstrip())
    if start < end:
        spans.append((start, end))


def _force_cut(text: str, start: int, limit: int) -> int:
    """Pick a cut in (start, limit]: after the last comma or space of the second half, else a hard cut."""
    soft = _SOFT_BREAK_TAIL.match(text, start + (limit - start) // 2, limit)
    if soft is not None and soft.end() > start:
        return soft.end()
    # Step back out of a grapheme cluster (👍🏽, ZWJ families, flags, combining marks) when it is short.
    for cut in range(limit, max(start, limit - _MAX_GRAPHEME_BACKTRACK), -1):
        if not _joins_previous(text, start, cut):
            return cut
    return limit


def _joins_previous(text: str, start: int, index: int) -> bool:
    """Whether text[index] continues the grapheme before it (marks, ZWJ sequences, modifiers, flags)."""
    if index <= start or index >= len(text):
        return False
    ch, prev = text[index], text[index - 1]
    if prev == "\u200d" or ch == "\u200d" or unicodedata.category(ch) in ("Mn", "Mc", "Me"):
        return True
    code = ord(ch)
    if 0x1F3FB <= code <= 0x1F3FF or 0xFE00 <= code <= 0xFE0F or 0xE0020 <= code <= 0xE007F:
        return True
    if _is_regional(ch) and _is_regional(prev):
        # Flags are pairs of regional indicators; count the pairs from the piece's start, not the text's.
        run = 0
        while index - run - 1 >= start and _is_regional(text[index - run - 1]):
            run += 1
        return run % 2 == 1
    return False


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF
