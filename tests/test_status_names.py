"""Statuses by human name: every code the models define has a name, unknown codes read as words."""

from enum import StrEnum

import pytest

from app.models import BatchStatus, DocumentStatus, ItemStatus, RunStatus, SnapshotStatus
from app.status_names import NAMES, describe, status_badge


@pytest.mark.parametrize(
    ("kind", "codes"),
    [
        ("batch", BatchStatus),
        ("document", DocumentStatus),
        ("run", RunStatus),
        ("item", ItemStatus),
        ("snapshot", SnapshotStatus),
    ],
)
def test_every_status_has_a_name_and_a_tooltip(kind: str, codes: type[StrEnum]) -> None:
    for code in codes:
        assert code.value in NAMES[kind], f"{kind} status {code.value} has no name"
        name = describe(kind, code.value)
        assert "_" not in name.label and name.label[0].isupper() and name.tip


def test_the_badge_keeps_the_code_as_a_class_and_escapes() -> None:
    html = str(status_badge("document", "in_review", element_id="s"))
    assert html == (
        '<span class="status status-in_review" id="s" title="A reviewer is working on it (or has started and not '
        'submitted).">In review</span>'
    )
    odd = str(status_badge("batch", '<b>"x"_y</b>'))
    assert "<b>" not in odd and "&lt;b&gt;" in odd


def test_an_unknown_code_reads_as_words() -> None:
    assert describe("batch", "paused_by_admin").label == "Paused by admin"
