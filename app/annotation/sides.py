"""A rebuild's inputs and output, as plain values: each annotator's grounded proposals (a side), the pair's blind
second looks, and what the rebuild made, keyed by spans as the second look needs it."""

from dataclasses import dataclass, field

from app.annotation.contract import AnnotationOutput
from app.annotation.crossval import ProposedEntity, ProposedRelation
from app.annotation.grounding import ground_entity
from app.annotation.recheck import KnownEntity, Look
from app.models import AnnotatorRun
from app.project.label_schema import LabelSchema
from app.webtext.docred import SpannedOutput


@dataclass
class Side:
    """One annotator's grounded proposals for the document."""

    run: AnnotatorRun | None
    # The annotator's name: slices of proposals are told apart by who proposed them.
    name: str = ""
    entities: list[ProposedEntity] = field(default_factory=list)
    relations: list[ProposedRelation] = field(default_factory=list)
    sentence_of: dict[tuple[int, int], int] = field(default_factory=dict)


def side_from_output(
    text: str,
    sentences: list[tuple[int, int]],
    output: AnnotationOutput,
    run: AnnotatorRun | None,
    schema: LabelSchema,
    name: str = "",
) -> Side:
    """Ground every entity's mention strings; unknown types and dangling relations are dropped."""
    side = Side(run, name)
    known_types = set(schema.entity_codes())
    keys = set()
    for e in output.entities:
        if e.type not in known_types or e.id in keys:
            continue
        keys.add(e.id)
        spans = ground_entity(text, sentences, e.name, e.mentions)
        for s in spans:
            side.sentence_of[(s.start, s.end)] = s.sentence_id
        side.entities.append(
            ProposedEntity(key=e.id, type=e.type, name=e.name, spans=[(s.start, s.end) for s in spans])
        )
    relation_codes = {r.code for r in schema.relation_types}
    for r in output.relations:
        if r.head in keys and r.tail in keys and r.head != r.tail and r.type in relation_codes:
            evidence = sorted({i for i in r.evidence if 0 <= i < len(sentences)})
            side.relations.append(ProposedRelation(head=r.head, tail=r.tail, type=r.type, evidence=evidence))
    return side


def side_from_spans(output: SpannedOutput, run: AnnotatorRun | None, name: str = "") -> Side:
    side = Side(run, name)
    for e in output.entities:
        for start, end, sid in e.spans:
            side.sentence_of[(start, end)] = sid
        side.entities.append(ProposedEntity(key=e.id, type=e.type, name=e.name, spans=[(s[0], s[1]) for s in e.spans]))
    side.relations = [
        ProposedRelation(head=r.head, tail=r.tail, type=r.type, evidence=r.evidence) for r in output.relations
    ]
    return side


@dataclass
class SecondLooks:
    """The blind answers of the pair's annotators ("a", "b"), the runs that hold them, and why any is missing."""

    looks: dict[str, Look | None] = field(default_factory=dict)
    run_ids: dict[str, int] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


@dataclass
class Built:
    """What a rebuild made: the items as the second look needs them (keyed by spans)."""

    entities: dict[str, KnownEntity] = field(default_factory=dict)
    # Entity key → its class and the side that proposed it alone ("a"/"b"), or "" for both.
    entity_class: dict[str, tuple[str, str]] = field(default_factory=dict)
    # (head key, tail key, type, class, side alone or "") of every relation.
    relations: list[tuple[str, str, str, str, str]] = field(default_factory=list)
