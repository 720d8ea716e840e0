"""Turn the pair's outputs into a document's items: ground, align, classify, auto-accept, with provenance."""

import hashlib
from dataclasses import dataclass, field

from sqlalchemy import delete
from sqlmodel import Session, col, select

from app.annotation.crossval import ProposedEntity, ProposedRelation, align_entities, align_relations
from app.annotation.grounding import ground_entity
from app.annotation.schemas import AnnotationOutput, SpannedOutput
from app.models import (
    Agreement,
    AnnotatorRun,
    Document,
    DocumentStatus,
    Entity,
    ItemStatus,
    Mention,
    Proposal,
    Relation,
)
from app.project.schemas import LabelSchema, ProjectSettings

MACHINE_AGREEMENTS = [
    Agreement.agreed,
    Agreement.type_conflict,
    Agreement.a_only,
    Agreement.b_only,
    Agreement.augmented,
    Agreement.imported,
]


@dataclass
class Side:
    """One annotator's grounded proposals for the document."""

    run: AnnotatorRun | None
    entities: list[ProposedEntity] = field(default_factory=list)
    relations: list[ProposedRelation] = field(default_factory=list)
    sentence_of: dict[tuple[int, int], int] = field(default_factory=dict)


def side_from_output(
    text: str, sentences: list[tuple[int, int]], output: AnnotationOutput, run: AnnotatorRun | None, schema: LabelSchema
) -> Side:
    """Ground every entity's mention strings; unknown types and dangling relations are dropped."""
    side = Side(run)
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


def side_from_spans(output: SpannedOutput, run: AnnotatorRun | None) -> Side:
    side = Side(run)
    for e in output.entities:
        for start, end, sid in e.spans:
            side.sentence_of[(start, end)] = sid
        side.entities.append(ProposedEntity(key=e.id, type=e.type, name=e.name, spans=[(s[0], s[1]) for s in e.spans]))
    side.relations = [
        ProposedRelation(head=r.head, tail=r.tail, type=r.type, evidence=r.evidence) for r in output.relations
    ]
    return side


def remove_items(session: Session, *, document_id: int, agreements: list[Agreement], entities: bool = True) -> None:
    """Delete a document's items of these agreement classes, with their provenance rows (ids may be reused)."""
    relation_ids = list(
        session.exec(
            select(Relation.id).where(Relation.document_id == document_id, col(Relation.agreement).in_(agreements))
        )
    )
    entity_ids = (
        list(
            session.exec(
                select(Entity.id).where(Entity.document_id == document_id, col(Entity.agreement).in_(agreements))
            )
        )
        if entities
        else []
    )
    for kind, ids in (("relation", relation_ids), ("entity", entity_ids)):
        if ids:
            session.exec(delete(Proposal).where(col(Proposal.item_kind) == kind, col(Proposal.item_id).in_(ids)))
    if relation_ids:
        session.exec(delete(Relation).where(col(Relation.id).in_(relation_ids)))
    if entity_ids:
        session.exec(delete(Entity).where(col(Entity.id).in_(entity_ids)))
    session.flush()


def _audited(document_id: int, kind: str, key: str, rate: float) -> bool:
    """A deterministic random sample: the same item is audited however often the document is rebuilt."""
    digest = hashlib.sha256(f"{document_id}:{kind}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def _route(
    settings: ProjectSettings, doc_id: int, kind: str, key: str, agreement: Agreement, grounded: bool
) -> tuple[ItemStatus, bool]:
    """Agreed and grounded items are accepted unless sampled for audit; everything else goes to review."""
    if not (settings.auto_accept and agreement == Agreement.agreed and grounded):
        return ItemStatus.proposed, False
    if _audited(doc_id, kind, key, settings.audit_rate):
        return ItemStatus.proposed, True
    return ItemStatus.accepted, False


def _sentence_id(sentences: list[tuple[int, int]], start: int) -> int:
    for i, (s, e) in enumerate(sentences):
        if s <= start < e:
            return i
    return max(0, len(sentences) - 1)


def rebuild(
    session: Session,
    *,
    document: Document,
    schema: LabelSchema,
    settings: ProjectSettings,
    side_a: Side,
    side_b: Side,
) -> dict[str, int]:
    """Replace the document's machine items with the cross-validated ones; returns counts per agreement class."""
    assert document.id is not None
    doc_id = document.id
    remove_items(session, document_id=doc_id, agreements=MACHINE_AGREEMENTS)
    session.flush()
    sentences = [(s, e) for s, e in document.sentences]
    by_key_a = {e.key: e for e in side_a.entities}
    by_key_b = {e.key: e for e in side_b.entities}
    matches = align_entities(side_a.entities, side_b.entities).matches
    merged_of_a: dict[str, Entity] = {}
    merged_of_b: dict[str, Entity] = {}
    counts: dict[str, int] = {}
    for match in matches:
        ea = by_key_a.get(match.a_key) if match.a_key else None
        eb = by_key_b.get(match.b_key) if match.b_key else None
        first = ea or eb
        assert first is not None
        spans = sorted({*(ea.spans if ea else []), *(eb.spans if eb else [])})
        kept: list[tuple[int, int]] = []
        for span in spans:  # overlapping spans of the two sides: keep the first (A's when both)
            if not kept or span[0] >= kept[-1][1]:
                kept.append(span)
        grounded = bool(kept)
        agreement = Agreement(match.agreement)
        key = f"{first.name}|{first.type}"
        status, audit = _route(settings, doc_id, "entity", key, agreement, grounded)
        entity = Entity(
            document_id=doc_id,
            type=first.type,
            name=first.name,
            agreement=agreement,
            grounded=grounded,
            status=status,
        )
        session.add(entity)
        session.flush()
        assert entity.id is not None
        for start, end in kept:
            sid = side_a.sentence_of.get((start, end), side_b.sentence_of.get((start, end)))
            session.add(
                Mention(
                    entity_id=entity.id,
                    document_id=doc_id,
                    start=start,
                    end=end,
                    text=document.text[start:end],
                    sentence_id=sid if sid is not None else _sentence_id(sentences, start),
                    status=entity.status,
                )
            )
        for side, proposed in ((side_a, ea), (side_b, eb)):
            if proposed is not None and side.run is not None and side.run.id is not None:
                session.add(
                    Proposal(
                        run_id=side.run.id,
                        item_kind="entity",
                        item_id=entity.id,
                        proposed_type=proposed.type,
                        payload={"audit": True} if audit else {},
                    )
                )
        if ea is not None:
            merged_of_a[ea.key] = entity
        if eb is not None:
            merged_of_b[eb.key] = entity
        counts[f"entity:{agreement}"] = counts.get(f"entity:{agreement}", 0) + 1

    symmetric = {r.code for r in schema.relation_types if r.symmetric}
    for rmatch in align_relations(side_a.relations, side_b.relations, matches, symmetric):
        ra = side_a.relations[rmatch.a] if rmatch.a is not None else None
        rb = side_b.relations[rmatch.b] if rmatch.b is not None else None
        if ra is not None:
            head, tail = merged_of_a.get(ra.head), merged_of_a.get(ra.tail)
        else:
            assert rb is not None
            head, tail = merged_of_b.get(rb.head), merged_of_b.get(rb.tail)
        first_r = ra or rb
        if head is None or tail is None or first_r is None:
            continue
        agreement = Agreement(rmatch.agreement)
        evidence = sorted({*(ra.evidence if ra else []), *(rb.evidence if rb else [])})
        grounded = head.grounded and tail.grounded
        key = f"{head.name}|{first_r.type}|{tail.name}"
        status, audit = _route(settings, doc_id, "relation", key, agreement, grounded)
        relation = Relation(
            document_id=doc_id,
            head_id=head.id or 0,
            tail_id=tail.id or 0,
            type=first_r.type,
            evidence=evidence,
            agreement=agreement,
            status=status,
        )
        session.add(relation)
        session.flush()
        for side, proposed_r in ((side_a, ra), (side_b, rb)):
            if proposed_r is not None and side.run is not None and side.run.id is not None:
                session.add(
                    Proposal(
                        run_id=side.run.id,
                        item_kind="relation",
                        item_id=relation.id or 0,
                        proposed_type=proposed_r.type,
                        payload={"audit": True} if audit else {},
                    )
                )
        counts[f"relation:{agreement}"] = counts.get(f"relation:{agreement}", 0) + 1

    document.status = DocumentStatus.annotated
    document.version += 1
    session.add(document)
    session.flush()
    return counts
