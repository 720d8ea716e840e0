"""SVG charts: well-formed, escaped, no scripts or inline styles, accessible, an empty state."""

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

from app.dataset.plots import bar_chart, empty_chart, grouped_bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"
NASTY = '<script>alert("x")</script> & 𠮷😀 \x00\x1f'


def _parse(svg: str) -> ET.Element:
    # Our own output under test, not untrusted input.
    return ET.fromstring(svg)  # noqa: S314


CHARTS: dict[str, Callable[[str], str]] = {
    "line": lambda label: line_chart(
        ["2025-01-01", label, "2025-03-01"], {label: [0.5, 0.7, 0.9], "F1": [0.1, None, 0.3]}, title=label
    ),
    "bar": lambda label: bar_chart([(label, 3.0), ("ORG", 1.5)], title=label),
    "grouped": lambda label: grouped_bar_chart([label, "gemini"], {"P": [0.8, 0.6], label: [0.7, 0.9]}, title=label),
    "empty": lambda label: empty_chart(label),
}


@pytest.mark.parametrize("kind", sorted(CHARTS))
def test_charts_are_well_formed_escaped_and_script_free(kind: str) -> None:
    svg = CHARTS[kind](NASTY)
    root = _parse(svg)  # well-formed XML, even with NUL in the label
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-label") == NASTY.replace("\x00", "").replace("\x1f", "")
    assert "<script" not in svg
    assert "style=" not in svg
    assert all(el.tag != f"{SVG}script" for el in root.iter())
    assert all(not any(name.startswith("on") for name in el.attrib) for el in root.iter())
    texts = [el.text or "" for el in root.iter()]
    if kind != "empty":
        assert any("<script>" in t for t in texts)  # shown as text, not markup


def test_every_mark_has_a_tooltip() -> None:
    root = _parse(bar_chart([("PER", 10.0), ("ORG", 5.0)], title="types"))
    rects = list(root.iter(f"{SVG}rect"))
    assert [r.find(f"{SVG}title").text for r in rects] == ["PER: 10", "ORG: 5"]  # type: ignore[union-attr]
    assert float(rects[1].get("width", 0)) == pytest.approx(float(rects[0].get("width", 0)) / 2)


def test_line_chart_breaks_at_missing_values() -> None:
    root = _parse(line_chart(["a", "b", "c", "d", "e"], {"f1": [1.0, 2.0, math.nan, 3.0, 4.0]}, title="t"))
    assert len(list(root.iter(f"{SVG}polyline"))) == 2
    assert len(list(root.iter(f"{SVG}circle"))) == 4


@pytest.mark.parametrize(
    "svg",
    [
        line_chart([], {}, title="t"),
        line_chart(["a"], {"s": [None]}, title="t"),
        bar_chart([], title="t"),
        grouped_bar_chart([], {}, title="t"),
    ],
)
def test_no_data_draws_a_placeholder(svg: str) -> None:
    root = _parse(svg)
    assert [el.text for el in root.iter(f"{SVG}text")] == ["no data yet"]


def test_long_labels_are_shortened_on_screen_but_whole_in_the_tooltip() -> None:
    label = "一个非常非常长的实体类型名称，来自网页文本，超过了二十二个字符"
    root = _parse(bar_chart([(label, 1.0)], title="t"))
    first = next(root.iter(f"{SVG}text"))
    shown = first.text or ""
    assert shown.endswith("…") and label.startswith(shown[:-1]) and len(shown) > 10
    assert first.find(f"{SVG}title").text == label  # type: ignore[union-attr]
    assert root.find(f"{SVG}rect/{SVG}title").text == f"{label}: 1"  # type: ignore[union-attr]


def test_short_labels_are_never_cut() -> None:
    """Annotator and class names the curator reads ("builtin-lexicon", "Model A only") are drawn whole."""
    names = ["builtin-lexicon", "gpt-4o-mini", "deepseek-chat"]
    root = _parse(grouped_bar_chart(names, {"P": [0.8, 0.6, 0.7]}, title="t"))
    texts = [el.text for el in root.iter(f"{SVG}text")]
    assert all(name in texts for name in names)
    root = _parse(bar_chart([("builtin-lexicon-zh · entity F1", 0.5)], title="t"))
    assert "builtin-lexicon-zh · entity F1" in [el.text for el in root.iter(f"{SVG}text")]


def test_a_long_category_goes_on_two_lines() -> None:
    classes = ["Both models", "Confirmed blind", "Type conflict", "Model A only", "Model B only", "Disputed"]
    root = _parse(grouped_bar_chart([*classes, "builtin-lexicon-zh-extended"], {"e": [0.1] * 7}, title="t", width=1080))
    texts = [el.text or "" for el in root.iter(f"{SVG}text")]
    assert all(c in texts for c in classes)
    assert "builtin-lexicon-zh-" in texts and "extended" in texts  # broken after a separator, nothing cut
