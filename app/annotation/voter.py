"""The third voter (role C): an annotator beside the pair whose grounded proposals are matched against the items
the pair's cross-validation made. Pure.

Where the voter proposed the same item (an entity of the same type on one of its spans; a relation of the same type
between the same entities), its name joins the item's proposers, so the item falls in a routing slice of its own
("relation|a_only|gpt+tiny@run3|任职于" apart from "relation|a_only|gpt|任职于") that earns its own precision
estimate from what reviewers decide. The voter adds no item and changes no agreement class: the pair's classes
and their priors stand, and a slice the voter joins is trusted only once its own record shows it.
"""

from dataclasses import dataclass, field

from app.annotation.sides import Side


@dataclass
class Voter:
    side: Side
    # The voter's entity key → the built entity sharing one of its spans.
    entity_of: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.side.name

    def entity(self, entity_id: int, entity_type: str, spans: list[tuple[int, int]]) -> bool:
        """Whether the voter proposed this entity (same type, a shared span); remembers which of its entities it is."""
        shared = set(spans)
        agrees = False
        for proposed in self.side.entities:
            if shared.intersection(proposed.spans):
                self.entity_of.setdefault(proposed.key, entity_id)
                agrees = agrees or proposed.type == entity_type
        return agrees

    def relation(self, head_id: int, tail_id: int, relation_type: str, *, symmetric: bool) -> bool:
        """Whether the voter proposed this relation between these entities (either way round when symmetric)."""
        for r in self.side.relations:
            if r.type != relation_type:
                continue
            ends = (self.entity_of.get(r.head), self.entity_of.get(r.tail))
            if ends == (head_id, tail_id) or (symmetric and ends == (tail_id, head_id)):
                return True
        return False
