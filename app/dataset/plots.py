"""Tiny SVG charts for the dataset pages: a line chart over time, horizontal bars, grouped bars.

Labels come from web text, so every one is XML-escaped (and stripped of characters XML cannot hold). The
pages run under a strict CSP: no scripts and no inline style attributes, only presentation attributes and
class names. Each chart is role="img" with an aria-label, and each mark carries a <title> tooltip.
"""

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
_INK = "#333333"
_GRID = "#dddddd"
_FONT = 'font-family="sans-serif" font-size="11"'
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FONT_SIZE = 11.0
# Break a long category label after one of these when it has to go on two lines.
_BREAKS = " -_/·:."


def _esc(text: str) -> str:
    return escape(_NOT_XML.sub("", text), quote=True)


def _text_width(text: str) -> float:
    """About how wide the text is drawn: a wide (CJK) character takes an em, the others about 0.6 em."""
    return sum(_FONT_SIZE if unicodedata.east_asian_width(ch) in "WF" else _FONT_SIZE * 0.6 for ch in text)


def _fit(text: str, width: float) -> str:
    """The text, cut with "…" only when it would not fit in `width` (the whole label stays in the tooltip)."""
    if _text_width(text) <= width:
        return text
    out = ""
    for ch in text:
        if _text_width(out + ch + "…") > width:
            break
        out += ch
    return out + "…"


def _two_lines(text: str, width: float) -> list[str]:
    """A category label on one line if it fits, else on two (broken after a separator where there is one)."""
    if _text_width(text) <= width:
        return [text]
    first = _fit(text, width)[:-1]
    cut = max((first.rfind(ch) for ch in _BREAKS), default=-1)
    if cut > len(first) // 3:
        first = first[: cut + 1]
    rest = text[len(first) :].strip()
    return [first.strip(), _fit(rest, width)] if rest else [first]


def _num(value: float) -> str:
    return f"{value:.3g}"


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _svg(title: str, width: int, height: int, body: list[str], *, cls: str = "chart") -> Markup:
    """The finished chart, marked safe for templates: every piece of text in it went through _esc."""
    label = _esc(title)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{cls}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{label}"><title>{label}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - built from escaped pieces


def _text(x: float, y: float, content: str, anchor: str = "start", cls: str = "chart-label", *, whole: str = "") -> str:
    """A label; `whole` is the full text when `content` was shortened, as its tooltip."""
    tip = f"<title>{_esc(whole)}</title>" if whole and whole != content else ""
    return (
        f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{_INK}" {_FONT}>'
        f"{_esc(content)}{tip}</text>"
    )


def empty_chart(title: str, *, width: int = 320, height: int = 60) -> Markup:
    """The placeholder drawn when there is nothing to plot yet."""
    body = [_text(width / 2, height / 2 + 4, "no data yet", "middle", "chart-empty")]
    return _svg(title, width, height, body, cls="chart chart-none")


def _legend(names: Sequence[str], y: float) -> list[str]:
    out, x = [], 8.0
    for i, name in enumerate(names):
        colour = PALETTE[i % len(PALETTE)]
        out.append(
            f'<rect class="series-{i % len(PALETTE)}" x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" '
            f'fill="{colour}"><title>{_esc(name)}</title></rect>'
        )
        shown = _fit(name, 220)
        out.append(_text(x + 14, y, shown, whole=name))
        x += 14 + _text_width(shown) + 18
    return out


def _y_axis(left: float, right: float, top: float, bottom: float, low: float, high: float) -> list[str]:
    out = []
    for k in range(3):
        value = low + (high - low) * k / 2
        y = bottom - (bottom - top) * k / 2
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{_GRID}" stroke-width="1"/>')
        out.append(_text(left - 4, y + 4, _num(value), "end", "chart-tick"))
    return out


def line_chart(
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    width: int = 560,
    height: int = 240,
) -> Markup:
    """One line per series over the x labels (dates, snapshot names); None or NaN leaves a gap."""
    values = [v for vs in series.values() for v in (_finite(x) for x in vs) if v is not None]
    if not x_labels or not values:
        return empty_chart(title)
    left, right, top = 48.0, width - 12.0, 12.0
    bottom = height - (44.0 if len(series) > 1 else 28.0)
    top_value = max(max(values), 0.0) or 1.0
    low = min(min(values), 0.0)
    span = top_value - low

    def x_at(i: int) -> float:
        return left + (right - left) * (i / (len(x_labels) - 1) if len(x_labels) > 1 else 0.5)

    def y_at(v: float) -> float:
        return bottom - (bottom - top) * (v - low) / span

    body = _y_axis(left, right, top, bottom, low, top_value)
    lines: list[str] = []
    marks: list[str] = []
    for i in sorted({0, len(x_labels) // 2, len(x_labels) - 1}):
        body.append(_text(x_at(i), bottom + 16, _fit(x_labels[i], 140), "middle", "chart-tick", whole=x_labels[i]))
    for s, (name, points) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for i, raw in enumerate(points[: len(x_labels)]):
            v = _finite(raw)
            if v is None:
                runs.append([])
                continue
            runs[-1].append(f"{x_at(i):.1f},{y_at(v):.1f}")
            marks.append(
                f'<circle class="series-{s % len(PALETTE)}" cx="{x_at(i):.1f}" cy="{y_at(v):.1f}" r="3" '
                f'fill="{colour}"><title>{_esc(f"{name} · {x_labels[i]}: {_num(v)}")}</title></circle>'
            )
        lines += [
            f'<polyline class="series-{s % len(PALETTE)}" points="{" ".join(run)}" fill="none" '
            f'stroke="{colour}" stroke-width="2"/>'
            for run in runs
            if len(run) > 1
        ]
    body += lines + marks
    if len(series) > 1:
        body += _legend(list(series), height - 8)
    return _svg(title, width, height, body)


def bar_chart(bars: Sequence[tuple[str, float]], *, title: str, width: int = 560) -> Markup:
    """Horizontal bars, one per (label, value), drawn from zero; a negative value draws no bar."""
    if not bars:
        return empty_chart(title)
    row, top = 22.0, 8.0
    # As wide as the longest label needs, up to 40% of the chart; a longer one is cut, whole in its tooltip.
    label_width = min(max(_text_width(label) for label, _ in bars) + 12, width * 0.4)
    height = int(top * 2 + row * len(bars))
    values = [_finite(v) or 0.0 for _, v in bars]
    scale = max(max(values), 0.0) or 1.0
    bar_space = width - label_width - 56
    body = []
    for i, ((label, _), value) in enumerate(zip(bars, values, strict=True)):
        y = top + row * i
        length = bar_space * max(value, 0.0) / scale
        body.append(_text(label_width - 6, y + 15, _fit(label, label_width - 8), "end", whole=label))
        body.append(
            f'<rect class="bar" x="{label_width}" y="{y + 4:.1f}" width="{length:.1f}" height="{row - 8:.1f}" '
            f'fill="{PALETTE[0]}"><title>{_esc(f"{label}: {_num(value)}")}</title></rect>'
        )
        body.append(_text(label_width + length + 4, y + 15, _num(value), "start", "chart-value"))
    return _svg(title, width, height, body)


def grouped_bar_chart(
    categories: Sequence[str],
    groups: Mapping[str, Sequence[float]],
    *,
    title: str,
    width: int = 560,
    height: int = 260,
) -> Markup:
    """Vertical bars: for each category, one bar per group (e.g. P, R, F1 per annotator)."""
    values = [_finite(v) or 0.0 for vs in groups.values() for v in vs]
    if not categories or not groups or not values:
        return empty_chart(title)
    left, right, top, bottom = 48.0, width - 12.0, 12.0, height - 58.0
    top_value = max(max(values), 0.0) or 1.0
    body = _y_axis(left, right, top, bottom, 0.0, top_value)
    slot = (right - left) / len(categories)
    bar = slot * 0.8 / len(groups)
    for c, category in enumerate(categories):
        x0 = left + slot * c + slot * 0.1
        for g, (name, numbers) in enumerate(groups.items()):
            value = (_finite(numbers[c]) or 0.0) if c < len(numbers) else 0.0
            h = (bottom - top) * max(value, 0.0) / top_value
            body.append(
                f'<rect class="series-{g % len(PALETTE)}" x="{x0 + bar * g:.1f}" y="{bottom - h:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}" fill="{PALETTE[g % len(PALETTE)]}">'
                f"<title>{_esc(f'{category} · {name}: {_num(value)}')}</title></rect>"
            )
        centre = left + slot * (c + 0.5)
        for k, line in enumerate(_two_lines(category, slot - 6)):
            body.append(_text(centre, bottom + 15 + 13 * k, line, "middle", "chart-tick", whole=category))
    body += _legend(list(groups), height - 8)
    return _svg(title, width, height, body)
