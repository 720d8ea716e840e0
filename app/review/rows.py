"""Rows of the review panel as HTML, every value escaped.

Written as f-strings rather than Jinja macros: 1,200 rows through macros cost about five times as much
(bench/review.py), and the review page must render in well under 100 ms for long documents. Pieces shared by
many rows (an entity's chip, a relation type's label) are escaped once per page.
"""

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

from markupsafe import escape

from app.agreement_classes import CLASSES, AgreementClass, describe
from app.status_names import describe as describe_status

if TYPE_CHECKING:
    from app.review.views import EntityView, RelationView

_OOB = ' hx-swap-oob="true"'
_AUTO = " auto"  # accepted by routing without review


@lru_cache(maxsize=4096)
def text(value: str) -> str:
    """Escaped text; names and labels repeat across rows, so each is escaped once."""
    return str(escape(value))


@lru_cache(maxsize=16)
def state(status: str) -> str:
    """An item's status by its name, what it means on hover (the code stays in the row's st-<code> class)."""
    name = describe_status("item", status)
    return f'<span class="state" title="{text(name.tip)}">{text(name.label)}</span>'


def chip(e: "EntityView") -> str:
    return f'<span class="chip etype-{e.type_index}">{text(e.name)}</span>'


def _badges(badges: list[tuple[str, str, str]]) -> str:
    """(css class, label, tooltip or "") of each badge."""
    return "".join(f'<span class="pv {text(c)}"{_title(tip)}>{text(t)}</span>' for c, t, tip in badges)


def _title(tip: str) -> str:
    return f' title="{text(tip)}"' if tip else ""


def _agreement(code: str, classes: Mapping[str, AgreementClass]) -> str:
    """The class's name, its explanation as the tooltip; the code stays in the class attribute."""
    c = classes.get(code) or describe(code)
    return f'<span class="pv ag ag-{text(code)}" title="{text(c.tip)}">{text(c.label)}</span>'


def _reviewers(who: list[str] | None) -> str:
    """Adjudication only: which reviewers accepted the item."""
    if who is None:
        return ""
    label = f"✓ {text(', '.join(who))}" if who else "✓ nobody"
    return f'<span class="pv reviewers" title="reviewers who accepted it">{label}</span>'


def entity_row(
    e: "EntityView",
    *,
    reviewers: list[str] | None = None,
    oob: bool = False,
    classes: Mapping[str, AgreementClass] = CLASSES,
) -> str:
    mentions = "".join(f"{m[0]}:{m[1]}:{m[2]}:{m[4]} " for m in e.mentions)
    count = (
        f'<span class="muted small">×{len(e.mentions)}</span>'
        if e.mentions
        else '<span class="pv warn">not in text</span>'
    )
    rels = f'<span class="muted small">{e.relation_count} rel.</span>' if e.relation_count else ""
    status, agreement = text(e.status), text(e.agreement)
    return (
        f'<div class="item ent st-{status} ag-{agreement}{_AUTO if e.auto else ""}" id="e-{e.id}" data-kind="entity" '
        f'data-id="{e.id}" data-type="{text(e.type)}" data-name="{text(e.name)}" data-mentions="{mentions}"'
        f'{_OOB if oob else ""}>{chip(e)} <span class="code">{text(e.type)}</span> {count} '
        f"{_agreement(e.agreement, classes)}{_badges(e.badges)}"
        f"{_reviewers(reviewers)} {rels} {state(e.status)}</div>"
    )


def relation_row(
    r: "RelationView",
    *,
    allowed: str,
    reviewers: list[str] | None = None,
    oob: bool = False,
    classes: Mapping[str, AgreementClass] = CLASSES,
) -> str:
    d = r.distance
    ev = " ".join(map(str, r.evidence))
    shown = "S" + ", S".join(map(str, r.evidence)) if r.evidence else "no evidence"
    cross = f'<span class="pv cross" title="cross-sentence: {d} sentence(s) apart">↔{d}</span> ' if d else ""
    status, agreement = text(r.status), text(r.agreement)
    return (
        f'<div class="item rel st-{status} ag-{agreement}{_AUTO if r.auto else ""}" id="r-{r.id}" data-kind="relation" '
        f'data-id="{r.id}" data-h="{r.head.id}" data-t="{r.tail.id}" data-ev="{ev}" data-type="{text(r.type)}" '
        f'data-types="{text(allowed)}"{_OOB if oob else ""}>{chip(r.head)} '
        f'<span class="rtype">—{text(r.type_name)}→</span> {chip(r.tail)} '
        f'<span class="ev" title="evidence sentences">{shown}</span> {cross}'
        f"{_agreement(r.agreement, classes)}{_badges(r.badges)}"
        f"{_reviewers(reviewers)} {state(r.status)}</div>"
    )
