"""Turn the pair's outputs into a document's items: ground, align, classify, auto-accept, with provenance."""

from dataclasses import dataclass

from sqlalchemy import delete
from sqlmodel import Session, col, select

from app.annotation.calibration import Destination
from app.annotation.crossval import EntityMatch, ProposedEntity, align_entities, align_relations
from app.annotation.grounding import consensus_spans, outside_others
from app.annotation.recheck import (
    KnownEntity,
    entity_opinion,
    found_pairs,
    relation_opinion,
    settled_entity_type,
    settled_relation_type,
    span_key,
)
from app.annotation.routing import Router, recall_sampled
from app.annotation.sides import Built, SecondLooks, Side
from app.annotation.voter import Voter
from app.db import require_id
from app.models import (
    Agreement,
    Document,
    DocumentStatus,
    Entity,
    Mention,
    Proposal,
    Relation,
)
from app.project.label_schema import LabelSchema, ProjectSettings

MACHINE_AGREEMENTS = [
    Agreement.agreed,
    Agreement.type_conflict,
    Agreement.a_only,
    Agreement.b_only,
    Agreement.augmented,
    Agreement.confirmed,
    Agreement.disputed,
    Agreement.retracted,
    Agreement.unconfirmed,
    Agreement.imported,
]


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


def _sentence_id(sentences: list[tuple[int, int]], start: int) -> int:
    for i, (s, e) in enumerate(sentences):
        if s <= start < e:
            return i
    return max(0, len(sentences) - 1)


@dataclass(frozen=True)
class _Answer:
    """An annotator's type for an item: from its first pass, or from its blind second look."""

    side: str
    type: str
    second_look: bool = False
    found: bool = False


class _Builder:
    """One rebuild of one document's machine items: entities, then relations, then pairs the second look found."""

    def __init__(
        self,
        session: Session,
        document: Document,
        schema: LabelSchema,
        settings: ProjectSettings,
        sides: dict[str, Side],
        second: SecondLooks,
        voter: Side | None = None,
    ) -> None:
        assert document.id is not None
        self.session, self.document, self.doc_id = session, document, document.id
        self.schema, self.sides, self.second = schema, sides, second
        self.router = Router(session, document=document, schema=schema, settings=settings)
        self.symmetric = {r.code for r in schema.relation_types if r.symmetric}
        self.built = Built()
        self.matches: list[EntityMatch] = []
        self.merged: dict[str, dict[str, Entity]] = {"a": {}, "b": {}}
        self.keys: dict[int, str] = {}
        self.by_key: dict[str, Entity] = {}
        self.related: set[tuple[str, str]] = set()
        self.voter = Voter(voter) if voter is not None and voter.run is not None else None

    def _names(self, sides: str) -> str:
        return "+".join(self.sides[s].name or s.upper() for s in sides)

    def _proposers(self, sides: str, voted: bool) -> str:
        """The proposers' names, the third voter's last when it proposed the item too (cut to the column's 300
        characters, the same way every time: three long names would not fit)."""
        return (self._names(sides) + (f"+{self.voter.name}" if self.voter is not None and voted else ""))[:300]

    def _voted(self, kind: str, item_id: int, item_type: str, voted: bool) -> None:
        """The third voter's proposal of the item, as provenance (marked: it is not one of the pair's)."""
        if voted and self.voter is not None and self.voter.side.run is not None:
            run_id = require_id(self.voter.side.run)
            self.session.add(
                Proposal(
                    run_id=run_id, item_kind=kind, item_id=item_id, proposed_type=item_type, payload={"voter": True}
                )
            )

    def _note(self, alone: str) -> str:
        """Why the second opinion is missing for an item only `alone` proposed, if it is."""
        reason = self.second.missing.get(_other(alone)) if alone else None
        return f"no second opinion ({reason})" if reason else ""

    def _provenance(self, kind: str, item_id: int, answers: list[_Answer], audit: bool) -> None:
        for answer in answers:
            run = self.sides[answer.side].run
            run_id = self.second.run_ids.get(answer.side) if answer.second_look else (run.id if run else None)
            if run_id is None:
                continue
            payload: dict[str, object] = {"audit": True} if audit else {}
            if answer.second_look:
                payload["recheck"] = True
            self.session.add(
                Proposal(
                    run_id=run_id,
                    item_kind=kind,
                    item_id=item_id,
                    proposed_type=answer.type,
                    augmentation=answer.found,
                    payload=payload,
                )
            )

    def entities(self) -> None:
        side_a, side_b = self.sides["a"], self.sides["b"]
        by_key_a = {e.key: e for e in side_a.entities}
        by_key_b = {e.key: e for e in side_b.entities}
        self.matches = align_entities(side_a.entities, side_b.entities).matches
        pairs = [
            (by_key_a.get(m.a_key) if m.a_key else None, by_key_b.get(m.b_key) if m.b_key else None)
            for m in self.matches
        ]
        spans = outside_others([consensus_spans(ea.spans if ea else [], eb.spans if eb else []) for ea, eb in pairs])
        for match, (ea, eb), kept in zip(self.matches, pairs, spans, strict=True):
            self._entity(match, ea, eb, kept)

    def _entity(
        self, match: EntityMatch, ea: ProposedEntity | None, eb: ProposedEntity | None, kept: list[tuple[int, int]]
    ) -> None:
        """Store one aligned entity with its mentions, its class settled by the second look, and route it."""
        first = ea or eb
        assert first is not None
        alone = "" if ea is not None and eb is not None else ("a" if ea is not None else "b")
        key = span_key(kept)
        agreement, entity_type, answers = self._settle_entity(match, ea, eb, alone, key, bool(kept))
        entity = Entity(
            document_id=self.doc_id,
            type=entity_type,
            name=first.name,
            agreement=Agreement(agreement),
            grounded=bool(kept),
        )
        self.session.add(entity)
        self.session.flush()
        assert entity.id is not None
        voted = self.voter is not None and self.voter.entity(entity.id, entity_type, kept)
        verdict = self.router.entity(
            entity,
            proposers=self._proposers(alone or "ab", voted),
            spans=kept,
            sample=f"{self.doc_id}:entity:{first.name}|{entity_type}",
            note=self._note(alone) if agreement == match.agreement else "",
        )
        self._provenance("entity", entity.id, answers, verdict.destination == Destination.audit)
        self._voted("entity", entity.id, entity_type, voted)
        sentence_ids = self._mentions(entity, entity.id, kept)
        for side, proposed in (("a", ea), ("b", eb)):
            if proposed is not None:
                self.merged[side][proposed.key] = entity
        if kept:
            self.keys[entity.id] = key
            self.by_key[key] = entity
            self.built.entities[key] = KnownEntity(key, entity.name, entity.type, tuple(sorted(sentence_ids)))
            self.built.entity_class[key] = (match.agreement, alone)

    def _settle_entity(
        self,
        match: EntityMatch,
        ea: ProposedEntity | None,
        eb: ProposedEntity | None,
        alone: str,
        key: str,
        grounded: bool,
    ) -> tuple[str, str, list[_Answer]]:
        """The entity's class and type once the second look is applied, with every answer that speaks for it."""
        first = ea or eb
        assert first is not None
        answers = [_Answer(s, e.type) for s, e in (("a", ea), ("b", eb)) if e is not None]
        agreement: str = match.agreement
        entity_type = first.type
        if alone and grounded:
            opinion = entity_opinion(
                agreement, first.type, key, self.second.looks.get(_other(alone)), own=self.second.looks.get(alone)
            )
            agreement = opinion.agreement
            if opinion.other_type is not None:
                answers.append(_Answer(_other(alone), opinion.other_type, second_look=True))
        elif agreement == "type_conflict" and ea is not None and eb is not None and grounded:
            settled = settled_entity_type((ea.type, eb.type), key, self.second.looks)
            if settled is not None:
                agreement, entity_type = "confirmed", settled
                answers += [_Answer("a", settled, second_look=True), _Answer("b", settled, second_look=True)]
        return agreement, entity_type, answers

    def _mentions(self, entity: Entity, entity_id: int, kept: list[tuple[int, int]]) -> set[int]:
        """Store the entity's grounded mentions; the sentences they stand in."""
        side_a, side_b = self.sides["a"], self.sides["b"]
        sentences = [(s, e) for s, e in self.document.sentences]
        sentence_ids = set()
        for start, end in kept:
            sid = side_a.sentence_of.get((start, end), side_b.sentence_of.get((start, end)))
            sid = sid if sid is not None else _sentence_id(sentences, start)
            sentence_ids.add(sid)
            self.session.add(
                Mention(
                    entity_id=entity_id,
                    document_id=self.doc_id,
                    start=start,
                    end=end,
                    text=self.document.text[start:end],
                    sentence_id=sid,
                    status=entity.status,
                )
            )
        return sentence_ids

    def relations(self) -> None:
        side_a, side_b = self.sides["a"], self.sides["b"]
        for rmatch in align_relations(side_a.relations, side_b.relations, self.matches, self.symmetric):
            ra = side_a.relations[rmatch.a] if rmatch.a is not None else None
            rb = side_b.relations[rmatch.b] if rmatch.b is not None else None
            if ra is not None:
                head, tail = self.merged["a"].get(ra.head), self.merged["a"].get(ra.tail)
            else:
                assert rb is not None
                head, tail = self.merged["b"].get(rb.head), self.merged["b"].get(rb.tail)
            first = ra or rb
            if head is None or tail is None or first is None:
                continue
            alone = "" if ra is not None and rb is not None else ("a" if ra is not None else "b")
            pair = (self.keys.get(require_id(head), ""), self.keys.get(require_id(tail), ""))
            self.related.add(pair)
            answers = [_Answer(s, r.type) for s, r in (("a", ra), ("b", rb)) if r is not None]
            agreement: str = rmatch.agreement
            if alone and head.grounded and tail.grounded:
                opinion = relation_opinion(
                    agreement,
                    first.type,
                    pair,
                    self.second.looks.get(_other(alone)),
                    symmetric=self.symmetric,
                    own=self.second.looks.get(alone),
                )
                agreement = opinion.agreement
                if opinion.other_type is not None:
                    answers.append(_Answer(_other(alone), opinion.other_type, second_look=True))
            relation_type = first.type
            if agreement == "type_conflict" and ra is not None and rb is not None:
                settled = settled_relation_type((ra.type, rb.type), pair, self.second.looks, self.symmetric)
                if settled is not None:
                    agreement, relation_type = "confirmed", settled
                    answers += [_Answer("a", settled, second_look=True), _Answer("b", settled, second_look=True)]
            evidence = sorted({*(ra.evidence if ra else []), *(rb.evidence if rb else [])})
            note = self._note(alone) if agreement == rmatch.agreement else ""
            self._relation(head, tail, relation_type, evidence, agreement, answers, alone or "ab", note)
            self.built.relations.append((*pair, first.type, rmatch.agreement, alone))

    def found(self) -> None:
        """Relations the annotators' first passes missed, from their blind answers to the candidate pairs."""
        for f in found_pairs(self.second.looks, self.related):
            head, tail = self.by_key.get(f.head), self.by_key.get(f.tail)
            if head is None or tail is None:
                continue
            answers = [_Answer(s, t, second_look=True, found=True) for s, t in f.answers]
            sides = "".join(s for s, t in f.answers if t == f.type)
            note = self._note(sides) if f.agreement == "augmented" and len(sides) == 1 else ""
            self._relation(head, tail, f.type, f.evidence, f.agreement, answers, sides, note)

    def _relation(
        self,
        head: Entity,
        tail: Entity,
        relation_type: str,
        evidence: list[int],
        agreement: str,
        answers: list[_Answer],
        proposers: str,
        note: str,
    ) -> None:
        relation = Relation(
            document_id=self.doc_id,
            head_id=require_id(head),
            tail_id=require_id(tail),
            type=relation_type,
            evidence=evidence,
            agreement=Agreement(agreement),
        )
        self.session.add(relation)
        self.session.flush()
        assert relation.id is not None
        voted = self.voter is not None and self.voter.relation(
            relation.head_id, relation.tail_id, relation_type, symmetric=relation_type in self.symmetric
        )
        verdict = self.router.relation(
            relation,
            head=head,
            tail=tail,
            proposers=self._proposers(proposers, voted),
            sample=f"{self.doc_id}:relation:{head.name}|{relation_type}|{tail.name}",
            note=note,
        )
        self._provenance("relation", relation.id, answers, verdict.destination == Destination.audit)
        self._voted("relation", relation.id, relation_type, voted)


def _other(side: str) -> str:
    return "b" if side == "a" else "a"


def rebuild(
    session: Session,
    *,
    document: Document,
    schema: LabelSchema,
    settings: ProjectSettings,
    side_a: Side,
    side_b: Side,
    second: SecondLooks | None = None,
    voter: Side | None = None,
) -> Built:
    """Replace the document's machine items with the cross-validated ones, the second look's answers applied and
    the third voter's agreement marked (app/annotation/voter.py)."""
    assert document.id is not None
    remove_items(session, document_id=document.id, agreements=MACHINE_AGREEMENTS)
    sides = {"a": side_a, "b": side_b}
    builder = _Builder(session, document, schema, settings, sides, second or SecondLooks(), voter)
    builder.router.forget()
    builder.entities()
    builder.relations()
    builder.found()
    if document.blind_review is None and recall_sampled(document.id, settings.recall_audit_rate):
        document.blind_review = "pending"
    document.status = DocumentStatus.annotated
    document.version += 1
    session.add(document)
    session.flush()
    return builder.built
