"""Calibrated routing's pure core: slice estimates from literal decision lists, and where each item goes."""

import math

import pytest

from app.annotation.calibration import (
    Destination,
    Policy,
    route,
    slice_key,
    tally,
    trusted,
    wilson_lower_bound,
)

A_ONLY = slice_key("relation", "a_only", "gpt", "任职于")
AGREED = slice_key("relation", "agreed", "gpt+gem", "任职于")
CONFIRMED = slice_key("relation", "confirmed", "gem", "创办")
NO_AUDIT = Policy(audit_rate=0)


def decisions(key: str, correct: int, wrong: int) -> list[tuple[str, bool]]:
    return [(key, True)] * correct + [(key, False)] * wrong


def go(stats: dict, key: str, policy: Policy = NO_AUDIT, **kw: bool) -> Destination:  # type: ignore[type-arg]
    return route(
        stats,
        key,
        policy,
        grounded=kw.get("grounded", True),
        allowed=kw.get("allowed", True),
        sample_key="1:relation:k",
    ).destination


def test_wilson_lower_bound_matches_the_closed_form() -> None:
    assert wilson_lower_bound(0, 0) == 0.0
    # All correct: n / (n + z^2).
    assert wilson_lower_bound(30, 30) == pytest.approx(30 / (30 + 1.6449**2), abs=1e-4)
    # 95 of 100 at one-sided 95%: the textbook value 0.9000.
    assert wilson_lower_bound(95, 100) == pytest.approx(0.9000, abs=1e-3)
    assert wilson_lower_bound(0, 10) == 0.0
    assert wilson_lower_bound(50, 100) < 0.5 < wilson_lower_bound(60, 100)
    with pytest.raises(ValueError, match="between 0 and n"):
        wilson_lower_bound(11, 10)


def test_before_enough_evidence_only_agreed_and_confirmed_are_accepted() -> None:
    stats = tally(decisions(A_ONLY, 29, 0))  # one short of min_evidence
    assert go(stats, A_ONLY) == Destination.review
    assert go(stats, AGREED) == Destination.auto
    assert go(stats, CONFIRMED) == Destination.auto
    for agreement in ("type_conflict", "b_only", "augmented", "disputed"):
        assert go(stats, slice_key("relation", agreement, "gpt", "任职于")) == Destination.review


def test_a_slice_that_earns_its_bound_is_accepted_and_one_that_loses_it_goes_back_to_review() -> None:
    # 120 of 120 correct: bound 0.978 ≥ 0.97. 100 of 100: 0.973. 60 of 60: 0.957 — not yet.
    assert go(tally(decisions(A_ONLY, 120, 0)), A_ONLY) == Destination.auto
    assert go(tally(decisions(A_ONLY, 60, 0)), A_ONLY) == Destination.review
    # An agreed slice trusted by the prior is demoted once its audits show it is worse than the target.
    bad_agreed = tally(decisions(AGREED, 40, 5))
    assert go(bad_agreed, AGREED) == Destination.review
    ok, reason, source = trusted(bad_agreed, AGREED, NO_AUDIT)
    assert not ok and source == AGREED and "upper bound" in reason and "< 0.97" in reason and "n=45" in reason


def test_a_type_without_enough_evidence_borrows_its_slice_over_all_types() -> None:
    other_type = slice_key("relation", "a_only", "gpt", "创办")
    stats = tally(decisions(other_type, 150, 0) + decisions(A_ONLY, 3, 0))
    ok, reason, source = trusted(stats, A_ONLY, NO_AUDIT)
    assert ok and source == "relation|a_only|gpt|*" and "all types" in reason
    # With its own evidence, the type decides, even against a good coarse slice.
    stats = tally(decisions(other_type, 300, 0) + decisions(A_ONLY, 30, 10))
    assert go(stats, A_ONLY) == Destination.review
    # Other proposers or classes lend nothing.
    stats = tally(decisions(slice_key("relation", "a_only", "gem", "创办"), 300, 0))
    assert go(stats, A_ONLY) == Destination.review


def test_ungrounded_items_are_rejected_and_forbidden_ones_reviewed() -> None:
    stats = tally(decisions(AGREED, 500, 0))
    assert go(stats, AGREED) == Destination.auto
    assert go(stats, AGREED, grounded=False) == Destination.reject
    assert go(stats, A_ONLY, grounded=False) == Destination.reject
    assert go(stats, AGREED, allowed=False) == Destination.review
    # With auto-acceptance off a person sees everything, the ungrounded too.
    off = Policy(auto_accept=False, audit_rate=0)
    assert go(stats, AGREED, off) == Destination.review
    assert go(stats, AGREED, off, grounded=False) == Destination.review


def test_a_slice_the_prior_trusts_keeps_its_trust_until_shown_worse_than_the_target() -> None:
    # A perfect record of 30 (lower bound 0.917) does not demote an agreed slice...
    assert go(tally(decisions(AGREED, 30, 0)), AGREED) == Destination.auto
    # ...nor does 0.96 on 50 (upper bound above 0.97): not shown worse.
    assert go(tally(decisions(AGREED, 48, 2)), AGREED) == Destination.auto
    # 0.90 on 200 is (upper bound 0.93).
    ok, reason, _ = trusted(tally(decisions(AGREED, 180, 20)), AGREED, NO_AUDIT)
    assert not ok and reason.startswith("slice: upper bound 0.93") and "(n=200, 180 correct)" in reason
    # A slice the prior does not trust must show it is good: 30 of 30 is not enough for 0.97.
    assert go(tally(decisions(A_ONLY, 30, 0)), A_ONLY) == Destination.review


def test_items_only_one_of_four_opinions_holds_are_rejected_until_reviews_show_otherwise() -> None:
    # Withdrawn blind (its proposer and the other model both said no when asked) and found-unconfirmed (nobody
    # proposed it; asked blind, one model gave it, the other did not) are rejected before there is evidence...
    for agreement in ("retracted", "unconfirmed"):
        key = slice_key("relation", agreement, "gpt", "任职于")
        assert go({}, key) == Destination.reject
        # ...and while their audits keep the lower bound at or under 1 − target (1 of 60 correct: 0.003)...
        assert go(tally(decisions(key, 1, 59)), key) == Destination.reject
        # ...but once audits show more than the target share may be right (6 of 60: 0.047), people decide.
        assert go(tally(decisions(key, 6, 54)), key) == Destination.review
    # Any other slice is rejected only when shown to be that bad: 0 of 100 (upper bound 0.026 ≤ 0.03).
    assert go(tally(decisions(A_ONLY, 0, 100)), A_ONLY) == Destination.reject
    assert go(tally(decisions(A_ONLY, 1, 59)), A_ONLY) == Destination.review


def test_target_and_min_evidence_are_the_policy_settings() -> None:
    stats = tally(decisions(A_ONLY, 10, 0))
    assert go(stats, A_ONLY, Policy(min_evidence=10, target_precision=0.75, audit_rate=0)) == Destination.auto
    assert go(stats, A_ONLY, Policy(min_evidence=10, target_precision=0.9, audit_rate=0)) == Destination.review
    assert go(stats, A_ONLY, Policy(min_evidence=11, target_precision=0.75, audit_rate=0)) == Destination.review


def test_the_audit_sample_of_trusted_slices_is_about_the_rate_and_stable() -> None:
    policy = Policy(audit_rate=0.1)
    stats = tally([])
    routed = [
        route(stats, AGREED, policy, grounded=True, allowed=True, sample_key=f"7:relation:key{i}").destination
        for i in range(4000)
    ]
    audited = routed.count(Destination.audit)
    assert 320 <= audited <= 480
    assert set(routed) == {Destination.auto, Destination.audit}
    again = [
        route(stats, AGREED, policy, grounded=True, allowed=True, sample_key=f"7:relation:key{i}").destination
        for i in range(4000)
    ]
    assert again == routed
    # Items of untrusted slices are reviewed anyway: never counted as audit samples.
    untrusted = {
        route(stats, A_ONLY, policy, grounded=True, allowed=True, sample_key=f"7:relation:key{i}").destination
        for i in range(200)
    }
    assert untrusted == {Destination.review}


def test_tally_counts_each_slice_and_its_all_types_slice() -> None:
    stats = tally(decisions(A_ONLY, 3, 1) + decisions(slice_key("relation", "a_only", "gpt", "创办"), 2, 0))
    assert (stats[A_ONLY].judged, stats[A_ONLY].correct) == (4, 3)
    assert (stats["relation|a_only|gpt|*"].judged, stats["relation|a_only|gpt|*"].correct) == (6, 5)
    assert math.isclose(stats[A_ONLY].precision or 0, 0.75)
