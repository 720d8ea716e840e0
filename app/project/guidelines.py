"""Project guidelines, written in Markdown, as safe HTML: raw HTML is escaped, unsafe links are left as text.

markdown-it-py with `html` off writes any tag in the text as visible text; its link check refuses javascript:,
vbscript:, file: and data: URLs. Images are off too: the CSP would block a remote one anyway.
"""

from markdown_it import MarkdownIt
from markupsafe import Markup

_MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table").disable("image")
# The guidelines sit under the page's own h1 and "Guidelines" h2: their "# Title" is an h3.
_HEADING_SHIFT = 2


def render_guidelines(text: str) -> Markup:
    """The guidelines as HTML for the project page (empty text: empty markup)."""
    env: dict[str, object] = {}
    tokens = _MD.parse(text, env)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + _HEADING_SHIFT, 6)}"
    html = _MD.renderer.render(tokens, _MD.options, env)
    return Markup(html)  # noqa: S704 - html disabled: the renderer escapes every tag and attribute
