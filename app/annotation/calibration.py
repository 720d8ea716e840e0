"""Calibrated routing, the pure core: each slice's precision from what people decided, and where an item goes.

A slice is kind|agreement|proposers|type ("relation|a_only|gpt|任职于"). Its precision is estimated from the items
people judged (reviewed, or audited after auto-acceptance) with a one-sided 95% Wilson lower bound. A slice with
too few judged items borrows the evidence of the same slice over all types (kind|agreement|proposers|*); with too
few there as well, only the prior holds: agreed and confirmed items are accepted, everything else is reviewed.
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


class Destination(StrEnum):
    auto = "auto"
    review = "review"
    audit = "audit"


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
    judged: dict[str, int] = {}
    correct: dict[str, int] = {}
    for key, ok in outcomes:
        for k in (key, any_type(key)):
            judged[k] = judged.get(k, 0) + 1
            correct[k] = correct.get(k, 0) + int(ok)
    return {k: SliceStats(judged[k], correct[k]) for k in judged}


def trusted(stats: Mapping[str, SliceStats], key: str, policy: Policy) -> tuple[bool, str, str | None]:
    """Whether the slice is trusted now, why, and whose evidence decided."""
    agreement = key.split("|")[1]
    for k in (key, any_type(key)):
        s = stats.get(k)
        if s is not None and s.judged >= policy.min_evidence:
            bound = s.lower_bound
            ok = bound >= policy.target_precision
            sign = "≥" if ok else "<"
            scope = "slice" if k == key else "slice over all types"
            return ok, f"{scope}: precision bound {bound:.3f} {sign} {policy.target_precision} (n={s.judged})", k
    if agreement in PRIOR_TRUSTED:
        return True, f"{agreement}: trusted until reviews show otherwise", None
    return False, f"{agreement}: reviewed until {policy.min_evidence} reviews show its precision", None


def route(
    stats: Mapping[str, SliceStats],
    key: str,
    policy: Policy,
    *,
    grounded: bool,
    allowed: bool,
    sample_key: str,
) -> Verdict:
    """Where one item goes. Ungrounded items and what the schema forbids are always reviewed."""
    if not grounded:
        return Verdict(Destination.review, "not grounded in the text")
    if not allowed:
        return Verdict(Destination.review, "the schema does not allow it")
    if not policy.auto_accept:
        return Verdict(Destination.review, "auto-acceptance is off")
    ok, reason, source = trusted(stats, key, policy)
    if not ok:
        return Verdict(Destination.review, reason, source)
    if sampled(sample_key, policy.audit_rate):
        return Verdict(Destination.audit, "audit sample of a trusted slice; " + reason, source)
    return Verdict(Destination.auto, reason, source)


def sampled(key: str, rate: float) -> bool:
    """A deterministic random sample: the same key is drawn however often a document is rebuilt."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate
