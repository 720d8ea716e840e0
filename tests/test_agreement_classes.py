"""Agreement classes by name: one table for every page, the codes untouched."""

from app.agreement_classes import CLASSES, MACHINE, REVIEWABLE, describe, label
from app.models import Agreement
from app.templating import agreement_name


def test_every_class_has_a_name_and_an_explanation() -> None:
    assert set(CLASSES) == {a.value for a in Agreement}
    assert set(MACHINE) <= set(REVIEWABLE) <= set(CLASSES)
    assert {c: label(c) for c in CLASSES} == {
        "agreed": "Both models",
        "confirmed": "Confirmed blind",
        "type_conflict": "Type conflict",
        "a_only": "Model A only",
        "b_only": "Model B only",
        "disputed": "Disputed",
        "retracted": "Withdrawn blind",
        "unconfirmed": "Found, unconfirmed",
        "augmented": "Found later",
        "imported": "Imported",
        "manual": "Reviewer",
    }
    assert all(c.tip.endswith(".") and len(c.tip) > 15 for c in CLASSES.values())
    assert "blind" in describe("confirmed").tip and "blind" in describe("disputed").tip


def test_annotator_names_go_into_the_explanation_only() -> None:
    a_only = describe("a_only", a="gpt-4o", b="<gem>")
    assert a_only.label == "Model A only"
    assert a_only.tip == "Only model A (gpt-4o) proposed it; model B (<gem>) gave no second opinion on it."
    assert describe("agreed", a="gpt-4o") == CLASSES["agreed"]
    assert describe("new_class").label == "new class"


def test_the_template_helper_escapes_and_keeps_the_code() -> None:
    assert str(agreement_name("disputed")) == (
        '<span class="ag-name ag-disputed" title="One model proposed it and the blind answers disagree: the other '
        "said there is no such relation / it is not an entity while the proposer still gives it, or the other gave "
        'it while the proposer no longer does.">Disputed</span>'
    )
    assert "&lt;x&gt;" in str(agreement_name("<x>")) and "<x>" not in str(agreement_name("<x>"))
