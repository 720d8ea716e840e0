"""Calibrated routing, the pure core: each slice's precision from what people decided, and where an item goes.

A slice is kind|agreement|proposers|type ("relation|a_only|gpt|任职于"). Its precision is estimated from the items
people judged (reviewed, or audited after auto-acceptance) with one-sided 95% Wilson bounds. A slice with too few
judged items borrows the evidence of the same slice over all types (kind|agreement|proposers|*); with too few there
as well, only the prior holds: agreed and confirmed items are accepted, everything else is reviewed.

With enough evidence a slice earns trust when its lower bound reaches the target. A slice the prior trusts keeps
that trust until its upper bound falls below the target, that is until the evidence shows it is worse: judged by
its lower bound alone, a perfect record of 30 items (bound 0.917) would send a sound slice back to review until 88
items in a row were correct, which the audit sample of an agreed slice takes thousands of items to bring.

Rejection mirrors it: a slice is rejected without review when its upper bound falls to 1 − target (at least the
target share of its items are wrong); retracted items (both models, the proposer included, said no when asked
blind) are rejected until their lower bound rises above 1 − target. Rejected slices keep their audit sample too.
An item that is not grounded in the text (or a relation with such an argument) is always rejected without review:
no span supports it, it is never exported. A reviewer can restore any rejected item.
"""

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

# One-sided 95%: the precision is at least the bound with 95% confidence.
Z = 1.6449
ANY_TYPE = "*"
# Trusted before there is evidence: both models named the same item independently.
PRIOR_TRUSTED = frozenset({"agreed", "confirmed"})
# Rejected before there is evidence: the proposer, asked blind again, withdrew it, and the other model says no.
PRIOR_REJECTED = frozenset({"retracted", "unconfirmed"})


class Destination(StrEnum):
    auto = "auto"
    review = "review"
    audit = "audit"
    reject = "reject"


@dataclass(frozen=True)
class SliceStats:
    judged: int
    correct: int

    @property
    def precision(self) -> float | None:
        return self.correct / self.judged if self.judged else None

    @property
    def lower_bound(self) -> float:
        return wilson_lower_bound(self.correct, self.judged)

    @property
    def upper_bound(self) -> float:
        return 1.0 - wilson_lower_bound(self.judged - self.correct, self.judged) if self.judged else 1.0


@dataclass(frozen=True)
class Policy:
    auto_accept: bool = True
    target_precision: float = 0.97
    min_evidence: int = 30
    audit_rate: float = 0.1


@dataclass(frozen=True)
class Verdict:
    destination: Destination
    reason: str
    # The slice whose evidence decided (the item's own, or its all-types slice); None when the prior decided.
    evidence_slice: str | None = None


def wilson_lower_bound(correct: int, n: int, z: float = Z) -> float:
    """Lower end of the Wilson score interval of correct/n (0 when nothing was judged)."""
    if n <= 0:
        return 0.0
    if not 0 <= correct <= n:
        raise ValueError(f"correct must be between 0 and n, not {correct} of {n}")
    p = correct / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z2 / n))


def slice_key(kind: str, agreement: str, proposers: str, item_type: str) -> str:
    return f"{kind}|{agreement}|{proposers}|{item_type}"


def any_type(key: str) -> str:
    """The slice of the same kind, class and proposers over all types."""
    return key.rsplit("|", 1)[0] + "|" + ANY_TYPE


def tally(outcomes: Iterable[tuple[str, bool]]) -> dict[str, SliceStats]:
    """(slice, correct) pairs to stats per slice, the all-types slices included."""
    return tally_counts((key, 1, int(ok)) for key, ok in outcomes)


def tally_counts(counts: Iterable[tuple[str, int, int]]) -> dict[str, SliceStats]:
    """(slice, judged, correct) counts to stats per slice, the all-types slices included."""
    judged: dict[str, int] = {}
    correct: dict[str, int] = {}
    for key, n, ok in counts:
        for k in (key, any_type(key)):
            judged[k] = judged.get(k, 0) + n
            correct[k] = correct.get(k, 0) + ok
    return {k: SliceStats(judged[k], correct[k]) for k in judged}


def trusted(stats: Mapping[str, SliceStats], key: str, policy: Policy) -> tuple[bool, str, str | None]:
    """Whether the slice is trusted now, why, and whose evidence decided."""
    agreement = key.split("|")[1]
    prior = agreement in PRIOR_TRUSTED
    for k in (key, any_type(key)):
        s = stats.get(k)
        if s is not None and s.judged >= policy.min_evidence:
            scope = "slice" if k == key else "slice over all types"
            target = policy.target_precision
            if prior:  # trusted until shown worse than the target
                bound = s.upper_bound
                ok = bound >= target
                which = "upper bound"
            else:  # reviewed until shown at least as good as the target
                bound = s.lower_bound
                ok = bound >= target
                which = "precision bound"
            sign = "≥" if ok else "<"
            return ok, f"{scope}: {which} {bound:.3f} {sign} {target} (n={s.judged}, {s.correct} correct)", k
    if prior:
        return True, f"{agreement}: trusted until reviews show otherwise", None
    return False, f"{agreement}: reviewed until {policy.min_evidence} reviews show its precision", None


def rejected(stats: Mapping[str, SliceStats], key: str, policy: Policy) -> tuple[bool, str, str | None]:
    """Whether the slice's items are rejected without review now, why, and whose evidence decided."""
    agreement = key.split("|")[1]
    prior = agreement in PRIOR_REJECTED
    ceiling = round(1 - policy.target_precision, 6)
    for k in (key, any_type(key)):
        s = stats.get(k)
        if s is not None and s.judged >= policy.min_evidence:
            scope = "slice" if k == key else "slice over all types"
            bound, which = (s.lower_bound, "lower bound") if prior else (s.upper_bound, "upper bound")
            ok = bound <= ceiling
            sign = "≤" if ok else ">"
            return ok, f"{scope}: {which} {bound:.3f} {sign} {ceiling} (n={s.judged}, {s.correct} correct)", k
    if prior:
        return True, f"{agreement}: rejected until reviews show otherwise", None
    return False, "", None


def route(
    stats: Mapping[str, SliceStats],
    key: str,
    policy: Policy,
    *,
    grounded: bool,
    allowed: bool,
    sample_key: str,
) -> Verdict:
    """Where one item goes. What the schema forbids is always reviewed; what the text does not hold, rejected."""
    if not policy.auto_accept:
        return Verdict(Destination.review, "auto-acceptance is off")
    if not grounded:
        return Verdict(Destination.reject, "not grounded in the text: rejected unless a reviewer restores it")
    if not allowed:
        return Verdict(Destination.review, "the schema does not allow it")
    ok, reason, source = trusted(stats, key, policy)
    if ok:
        if sampled(sample_key, policy.audit_rate):
            return Verdict(Destination.audit, "audit sample of a trusted slice; " + reason, source)
        return Verdict(Destination.auto, reason, source)
    no, why, why_source = rejected(stats, key, policy)
    if no:
        if sampled(sample_key, policy.audit_rate):
            return Verdict(Destination.audit, "audit sample of a rejected slice; " + why, why_source)
        return Verdict(Destination.reject, why, why_source)
    return Verdict(Destination.review, reason, source)


def sampled(key: str, rate: float) -> bool:
    """A deterministic random sample: the same key is drawn however often a document is rebuilt."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate
