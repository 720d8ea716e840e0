"""How each agreement class is named and explained to people; the codes stay as they are in the API and exports.

The one table every page reads (workbench rows, queue filter, batch page, dashboard, snapshot datasheet), so a
class reads the same everywhere.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class AgreementClass:
    code: str
    label: str
    tip: str


_TABLE = (
    AgreementClass("agreed", "Both models", "Both models proposed it independently, with the same type."),
    AgreementClass(
        "confirmed",
        "Confirmed blind",
        "One model proposed it; the other, asked blind (not told it had been proposed), gave the same type.",
    ),
    AgreementClass(
        "type_conflict",
        "Type conflict",
        "Both models name it, with different types (the second may have answered blind): choose the right one.",
    ),
    AgreementClass("a_only", "Model A only", "Only model A proposed it; model B gave no second opinion on it."),
    AgreementClass("b_only", "Model B only", "Only model B proposed it; model A gave no second opinion on it."),
    AgreementClass(
        "disputed",
        "Disputed",
        "One model proposed it and the blind answers disagree: the other said there is no such relation / it is "
        "not an entity while the proposer still gives it, or the other gave it while the proposer no longer does.",
    ),
    AgreementClass(
        "retracted",
        "Withdrawn blind",
        "One model proposed it; asked blind afterwards, neither model gives it, the proposer included: rejected "
        "without review unless audited; restore it if the text states it.",
    ),
    AgreementClass(
        "unconfirmed",
        "Found, unconfirmed",
        "Nobody proposed it at first; asked blind afterwards about the pair, one model gave it and the other did not: "
        "rejected without review unless audited; restore it if the text states it.",
    ),
    AgreementClass(
        "augmented",
        "Found later",
        "Proposed when a model was asked afterwards about entity pairs nobody had related.",
    ),
    AgreementClass("imported", "Imported", "Came with the document from an imported dataset."),
    AgreementClass("manual", "Reviewer", "Added by a reviewer."),
)
CLASSES: dict[str, AgreementClass] = {c.code: c for c in _TABLE}
# The classes a machine run can produce, in the order pages list them.
MACHINE = (
    "agreed",
    "confirmed",
    "type_conflict",
    "a_only",
    "b_only",
    "disputed",
    "retracted",
    "unconfirmed",
    "augmented",
)
# The classes the review queue filters by.
REVIEWABLE = (*MACHINE, "imported")


def describe(code: str, *, a: str | None = None, b: str | None = None) -> AgreementClass:
    """The label and explanation of a class; the annotators' names, when given, go into the explanation."""
    known = CLASSES.get(code)
    if known is None:
        return AgreementClass(code, code.replace("_", " "), f"Agreement class {code!r}.")
    text = known.tip
    for letter, name in (("A", a), ("B", b)):
        if name:
            text = text.replace(f"model {letter}", f"model {letter} ({name})", 1)
    return known if text == known.tip else AgreementClass(code, known.label, text)


def label(code: str) -> str:
    return describe(code).label


def tip(code: str) -> str:
    return describe(code).tip


def described(*, a: str | None = None, b: str | None = None) -> dict[str, AgreementClass]:
    """Every known class described once, for a page that shows many items."""
    return {code: describe(code, a=a, b=b) for code in CLASSES}
