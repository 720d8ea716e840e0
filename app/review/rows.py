"""Rows of the review panel as HTML, every value escaped.

Written as f-strings rather than Jinja macros: 1,200 rows through macros cost about five times as much
(bench/review.py), and the review page must render in well under 100 ms for long documents.
"""

from typing import TYPE_CHECKING

from markupsafe import escape

if TYPE_CHECKING:
    from app.review.workbench import EntityView, RelationView

_OOB = ' hx-swap-oob="true"'


def _badges(badges: list[tuple[str, str]]) -> str:
    return "".join(f'<span class="pv {escape(c)}">{escape(t)}</span>' for c, t in badges)


def _reviewers(who: list[str] | None) -> str:
    """Adjudication only: which reviewers accepted the item."""
    if who is None:
        return ""
    text = f"✓ {escape(', '.join(who))}" if who else "✓ nobody"
    return f'<span class="pv reviewers" title="reviewers who accepted it">{text}</span>'


def entity_row(e: "EntityView", *, reviewers: list[str] | None = None, oob: bool = False) -> str:
    mentions = "".join(f"{m[0]}:{m[1]}:{m[2]}:{m[4]} " for m in e.mentions)
    count = (
        f'<span class="muted small">×{len(e.mentions)}</span>'
        if e.mentions
        else '<span class="pv warn">not in text</span>'
    )
    rels = f'<span class="muted small">{e.relation_count} rel.</span>' if e.relation_count else ""
    return (
        f'<div class="item ent st-{escape(e.status)} ag-{escape(e.agreement)}" id="e-{e.id}" data-kind="entity" '
        f'data-id="{e.id}" data-type="{escape(e.type)}" data-name="{escape(e.name)}" data-mentions="{mentions}"'
        f'{_OOB if oob else ""}><span class="chip etype-{e.type_index}">{escape(e.name)}</span> '
        f'<span class="code">{escape(e.type)}</span> {count} '
        f'<span class="pv ag">{escape(e.agreement.replace("_", " "))}</span>{_badges(e.badges)}'
        f'{_reviewers(reviewers)} {rels} <span class="state">{escape(e.status)}</span></div>'
    )


def relation_row(r: "RelationView", *, allowed: str, reviewers: list[str] | None = None, oob: bool = False) -> str:
    d = r.distance
    ev = " ".join(map(str, r.evidence))
    shown = "S" + ", S".join(map(str, r.evidence)) if r.evidence else "no evidence"
    cross = f'<span class="pv cross" title="cross-sentence: {d} sentence(s) apart">↔{d}</span> ' if d else ""
    return (
        f'<div class="item rel st-{escape(r.status)} ag-{escape(r.agreement)}" id="r-{r.id}" data-kind="relation" '
        f'data-id="{r.id}" data-h="{r.head.id}" data-t="{r.tail.id}" data-ev="{ev}" data-type="{escape(r.type)}" '
        f'data-types="{escape(allowed)}"{_OOB if oob else ""}>'
        f'<span class="chip etype-{r.head.type_index}">{escape(r.head.name)}</span> '
        f'<span class="rtype">—{escape(r.type_name)}→</span> '
        f'<span class="chip etype-{r.tail.type_index}">{escape(r.tail.name)}</span> '
        f'<span class="ev" title="evidence sentences">{shown}</span> {cross}'
        f'<span class="pv ag">{escape(r.agreement.replace("_", " "))}</span>{_badges(r.badges)}'
        f'{_reviewers(reviewers)} <span class="state">{escape(r.status)}</span></div>'
    )
