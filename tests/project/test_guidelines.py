"""Guidelines as Markdown: formatting rendered, hostile markup left as visible text."""

import pytest

from app.project.guidelines import render_guidelines


def test_markdown_is_rendered_under_the_page_headings() -> None:
    text = "# 标注规范\n\n**人名** 用 `PER`。\n\n- 一\n- 二\n\n| 类型 | 例 |\n|---|---|\n| PER | 张伟 |\n"
    html = render_guidelines(text)
    assert "<h3>标注规范</h3>" in html
    assert "<strong>人名</strong>" in html and "<code>PER</code>" in html
    assert "<li>一</li>" in html and "<td>张伟</td>" in html


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<a href="https://example.org" onclick="alert(1)">x</a>',
        "<iframe src=javascript:alert(1)></iframe>",
    ],
)
def test_raw_html_is_escaped(hostile: str) -> None:
    html = render_guidelines(f"前文\n\n{hostile}\n\n后文 {hostile}")
    assert "<script" not in html and "<img" not in html and "<iframe" not in html
    assert "<a " not in html
    assert "&lt;" in html


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "vbscript:x", "data:text/html,<b>x</b>"])
def test_unsafe_links_stay_text(url: str) -> None:
    html = render_guidelines(f"[点我]({url}) <{url}>")
    assert "href" not in html


def test_safe_links_and_no_images() -> None:
    html = render_guidelines("[规范](https://example.org/a) ![图](https://example.org/x.png)")
    assert '<a href="https://example.org/a">规范</a>' in html
    assert "<img" not in html
