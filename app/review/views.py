"""What the review page shows of one entity and one relation: its rows, badges and marks."""

from dataclasses import dataclass, field
from functools import cached_property


@dataclass
class EntityView:
    id: int
    type: str
    type_index: int
    name: str
    status: str
    agreement: str
    grounded: bool
    mentions: list[tuple[int, int, int, str, int]] = field(default_factory=list)  # id, start, end, text, sentence
    badges: list[tuple[str, str, str]] = field(default_factory=list)  # (css class, label, tooltip or "")
    relation_count: int = 0
    auto: bool = False  # accepted by routing without review (its slice is trusted)

    @cached_property
    def sentences(self) -> frozenset[int]:
        # Computed once, after load() has added every mention: each relation row of the entity asks.
        return frozenset(m[4] for m in self.mentions)


@dataclass
class RelationView:
    id: int
    head: EntityView
    tail: EntityView
    type: str
    type_name: str
    evidence: list[int]
    status: str
    agreement: str
    badges: list[tuple[str, str, str]] = field(default_factory=list)
    auto: bool = False  # accepted by routing without review (its slice is trusted)

    @property
    def distance(self) -> int | None:
        """Sentences between the closest mentions of head and tail: 0 within one sentence."""
        hs, ts = self.head.sentences, self.tail.sentences
        if not hs or not ts:
            return None
        if hs & ts:
            return 0
        return min(abs(h - t) for h in hs for t in ts)
