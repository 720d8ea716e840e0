"""A model's answer for one document in the shape of the annotation contract v1 (entities as clusters of surface
strings, relations between entity ids with evidence sentence numbers), as plain data. Pure.

The annotation package validates it as its contract (`AnnotationOutput.model_validate(p.as_contract())`) and
grounds the strings like any annotator's; this package does not import the annotation package.
"""

from dataclasses import asdict, dataclass, field
from typing import Any

from app.modelling.data import Doc

CONTRACT_VERSION = "v1"


@dataclass(frozen=True, slots=True)
class PredictedEntity:
    id: str  # "E1", "E2", …
    type: str
    name: str
    mentions: list[str]  # distinct surface strings, each a substring of the document


@dataclass(frozen=True, slots=True)
class PredictedRelation:
    head: str  # an entity id
    tail: str
    type: str
    evidence: list[int] = field(default_factory=list)  # sentence numbers, 0-based


@dataclass(frozen=True, slots=True)
class Prediction:
    entities: list[PredictedEntity] = field(default_factory=list)
    relations: list[PredictedRelation] = field(default_factory=list)

    def as_contract(self) -> dict[str, Any]:
        """The contract v1 JSON object."""
        return asdict(self)


def prediction_of(doc: Doc) -> Prediction:
    """A predicted Doc (spans) as contract entities (surface strings) and relations."""
    entities = []
    for i, entity in enumerate(doc.entities):
        names = list(dict.fromkeys(doc.mention_text(m) for m in entity.mentions))
        entities.append(PredictedEntity(f"E{i + 1}", entity.type, names[0] if names else "", names))
    relations = [
        PredictedRelation(f"E{r.head + 1}", f"E{r.tail + 1}", r.type, sorted(set(r.evidence))) for r in doc.relations
    ]
    return Prediction(entities, relations)
