"""How deeply a page's elements nest, measured in one linear pass before any parser sees it. Pure.

Main-text extraction costs roughly the square of the nesting depth (16,000 levels take resiliparse seconds,
200,000 levels a quarter of an hour), while browsers stop nesting at 512 levels: a page nested deeper than any
honest page is skipped before extraction. The count is a cheap upper estimate, done in a few NumPy calls: every
start tag opens a level and every end tag closes one, except void elements, self-closing tags and elements whose
end tag HTML lets authors omit (p, li, td, ...), which would otherwise make sloppy pages look deep.
"""

import numpy as np
from numpy.typing import NDArray

# Elements that never enclose others, or whose end tag may be omitted: not counted.
_UNCOUNTED = (
    *("area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param", "source"),
    *("track", "wbr", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody", "tfoot"),
    *("colgroup", "caption", "rt", "rp", "html", "head", "body"),
)
# Tag names are compared by their first _NAME characters, packed into one integer.
_NAME = 8
_LT, _GT, _SLASH = ord("<"), ord(">"), ord("/")


def _packed(name: str) -> int:
    return sum(byte << (8 * i) for i, byte in enumerate(name.encode("ascii")))


_UNCOUNTED_KEYS = np.array(sorted(_packed(name) for name in _UNCOUNTED), dtype=np.uint64)


def nesting_depth(html: str) -> int:
    """The deepest level of element nesting in the page, estimated from its tags alone (linear time)."""
    # One byte per character (markup is ASCII; anything else becomes "?"), so positions stay those of the text.
    text = np.frombuffer(_without_comments(html).encode("ascii", "replace"), dtype=np.uint8)
    starts = np.flatnonzero(text == _LT)
    if starts.size == 0:
        return 0
    padded = np.concatenate([text, np.zeros(_NAME + 2, dtype=np.uint8)])
    closing = padded[starts + 1] == _SLASH
    name_at = starts + 1 + closing
    # The tag name, lowercased (| 0x20 lowercases letters and keeps digits), read column by column.
    key = np.zeros(starts.size, dtype=np.uint64)
    in_name = np.ones(starts.size, dtype=bool)
    is_tag = np.zeros(starts.size, dtype=bool)
    for i in range(_NAME + 1):
        char = padded[name_at + i] | 0x20
        letter = (char >= ord("a")) & (char <= ord("z"))
        if i == 0:
            is_tag = letter
        in_name &= letter | ((char >= ord("0")) & (char <= ord("9")))
        if i < _NAME:
            key |= np.where(in_name, char, 0).astype(np.uint64) << np.uint64(8 * i)
    # in_name still set: a name longer than _NAME characters, which no uncounted element has.
    counted = is_tag & ~(np.isin(key, _UNCOUNTED_KEYS) & ~in_name)
    steps: NDArray[np.int64] = np.zeros(starts.size, dtype=np.int64)
    steps[counted & closing] = -1
    steps[counted & ~closing & ~_self_closing(text, padded, starts)] = 1
    walk = np.cumsum(steps)
    # Stray end tags close nothing: the walk is held at zero, never below.
    level = walk - np.minimum(np.minimum.accumulate(walk), 0)
    return int(level.max())


def _without_comments(html: str) -> str:
    """The page without its comments (which commented-out markup would make look deep), found with str.find so
    that many unclosed comments cost one pass, not one pass each."""
    if "<!--" not in html:
        return html
    parts: list[str] = []
    position = 0
    while (start := html.find("<!--", position)) >= 0:
        parts.append(html[position:start])
        end = html.find("-->", start + 4)
        position = len(html) if end < 0 else end + 3
    parts.append(html[position:])
    return "".join(parts)


def _self_closing(text: NDArray[np.uint8], padded: NDArray[np.uint8], starts: NDArray[np.intp]) -> NDArray[np.bool_]:
    """Whether the tag opened at each start ends with "/>"."""
    ends = np.flatnonzero(text == _GT)
    following = np.searchsorted(ends, starts)
    found = following < ends.size
    result = np.zeros(starts.size, dtype=bool)
    result[found] = padded[ends[following[found]] - 1] == _SLASH
    return result
