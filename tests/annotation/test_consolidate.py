"""Routing: what is accepted without review, and the audit sample."""

from app.annotation.consolidate import _route
from app.models import Agreement, ItemStatus
from app.project.schemas import ProjectSettings


def test_only_agreed_grounded_items_are_auto_accepted() -> None:
    on = ProjectSettings(audit_rate=0)
    assert _route(on, 1, "entity", "k", Agreement.agreed, True) == (ItemStatus.accepted, False)
    for agreement in (Agreement.type_conflict, Agreement.a_only, Agreement.b_only, Agreement.augmented):
        assert _route(on, 1, "entity", "k", agreement, True) == (ItemStatus.proposed, False)
    assert _route(on, 1, "entity", "k", Agreement.agreed, False) == (ItemStatus.proposed, False)
    off = ProjectSettings(auto_accept=False)
    assert _route(off, 1, "entity", "k", Agreement.agreed, True) == (ItemStatus.proposed, False)


def test_the_audit_sample_is_about_the_rate_and_stable() -> None:
    settings = ProjectSettings(audit_rate=0.1)
    routed = [_route(settings, 7, "relation", f"key{i}", Agreement.agreed, True) for i in range(4000)]
    audited = sum(audit for _, audit in routed)
    assert 320 <= audited <= 480
    assert all(status == ItemStatus.proposed for status, audit in routed if audit)
    again = [_route(settings, 7, "relation", f"key{i}", Agreement.agreed, True) for i in range(4000)]
    assert again == routed
