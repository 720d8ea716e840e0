"""Everything the review page shows about one document, read with plain column queries (fast on long documents)."""

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlalchemy import select as columns
from sqlmodel import Session, col, select

from app.annotation.service import pair_of
from app.models import Annotator, AnnotatorKind, AnnotatorRun, Document, Entity, Mention, Proposal, Relation
from app.project.schemas import LabelSchema
from app.review.decisions import allowed_relation_types
from app.review.highlight import Span, render_sentences, render_text
from app.review.service import entity_key, relation_key

STATUS_ORDER = {"proposed": 0, "accepted": 1, "rejected": 2}


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
    badges: list[tuple[str, str]] = field(default_factory=list)  # (css class, label)
    relation_count: int = 0

    @property
    def sentences(self) -> set[int]:
        return {m[4] for m in self.mentions}


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
    badges: list[tuple[str, str]] = field(default_factory=list)

    @property
    def distance(self) -> int | None:
        """Sentences between the closest mentions of head and tail: 0 within one sentence."""
        hs, ts = self.head.sentences, self.tail.sentences
        if not hs or not ts:
            return None
        return min(abs(h - t) for h in hs for t in ts)


@dataclass
class Workbench:
    document: Document
    schema: LabelSchema
    entities: dict[int, EntityView]
    relations: list[RelationView]
    annotators: dict[int, str]
    reviewers: dict[str, list[str]]  # adjudication: item key → reviewers who accepted it

    def spans(self) -> list[Span]:
        return [
            Span(mid, e.id, s, end, e.type_index, e.status, e.agreement)
            for e in self.entities.values()
            for mid, s, end, _t, _sid in e.mentions
        ]

    def text_html(self) -> Markup:
        return render_text(self.document.text, self.document.sentences, self.spans())

    def sentences_html(self, only: set[int]) -> dict[int, Markup]:
        return render_sentences(self.document.text, self.document.sentences, self.spans(), only)

    def entity_key(self, e: EntityView) -> str:
        return entity_key(e.type, sorted([m[1], m[2]] for m in e.mentions))

    def relation_key(self, r: RelationView) -> str:
        return relation_key(self.entity_key(r.head), r.type, self.entity_key(r.tail))

    def ordered_entities(self) -> list[EntityView]:
        return sorted(self.entities.values(), key=lambda e: (STATUS_ORDER.get(e.status, 3), _first(e), e.id))

    def ordered_relations(self) -> list[RelationView]:
        return sorted(self.relations, key=lambda r: (STATUS_ORDER.get(r.status, 3), _first(r.head), r.id))

    def ungrounded(self) -> list[EntityView]:
        return [e for e in self.entities.values() if not e.mentions]

    def counts(self) -> dict[str, int]:
        out = {"todo": 0, "accepted": 0, "rejected": 0}
        statuses = [e.status for e in self.entities.values()] + [r.status for r in self.relations]
        for status in statuses:
            out["todo" if status == "proposed" else status] += 1
        return out

    def allowed_types(self, relation: RelationView) -> list[str]:
        return allowed_relation_types(self.schema, relation.head.type, relation.tail.type)


def _first(e: EntityView) -> int:
    return e.mentions[0][1] if e.mentions else 1 << 30


def load(
    session: Session,
    *,
    document: Document,
    schema: LabelSchema,
    results: list[tuple[str, dict[str, Any]]] = (),  # type: ignore[assignment]
) -> Workbench:
    """Read the document's items and their provenance; `results` are (reviewer, result) pairs in adjudication."""
    doc_id = document.id
    type_index = {t.code: i for i, t in enumerate(schema.entity_types)}
    relation_names = {r.code: r.name for r in schema.relation_types}
    a, b = pair_of(session, project_id=document.project_id)
    letter = {x.id: tag for x, tag in ((a, "A"), (b, "B")) if x is not None}
    annotators: dict[int, tuple[str, str]] = {
        aid or 0: (name, kind)
        for aid, name, kind in session.exec(
            select(Annotator.id, Annotator.name, Annotator.kind).where(Annotator.project_id == document.project_id)
        )
    }
    run_tag: dict[int, tuple[str, str]] = {}
    for run_id, annotator_id in session.exec(
        select(AnnotatorRun.id, AnnotatorRun.annotator_id).where(col(AnnotatorRun.document_id) == doc_id)
    ):
        name, kind = annotators.get(annotator_id, ("?", ""))
        tag = "import" if kind == AnnotatorKind.imported else letter.get(annotator_id, name)
        run_tag[run_id or 0] = (tag, name)
    badges: dict[tuple[str, int], list[tuple[str, str]]] = {}
    if run_tag:
        for kind, item_id, run_id, augmentation, payload, ptype in session.execute(
            columns(
                col(Proposal.item_kind),
                col(Proposal.item_id),
                col(Proposal.run_id),
                col(Proposal.augmentation),
                col(Proposal.payload),
                col(Proposal.proposed_type),
            ).where(col(Proposal.run_id).in_(list(run_tag)))
        ):
            tag, name = run_tag.get(run_id, ("?", "?"))
            out = badges.setdefault((kind, item_id), [])
            if "vote" in payload:
                out.append(("vote-yes" if payload["vote"] else "vote-no", f"{tag} {'✓' if payload['vote'] else '✗'}"))
            elif augmentation:
                out.append(("aug", f"{tag} aug"))
            else:
                out.append(("src-" + ("import" if tag == "import" else "model"), tag if ptype is None else f"{tag}"))
            if payload.get("audit"):
                out.append(("audit", "audit"))
    entities: dict[int, EntityView] = {}
    for eid, etype, name, status, agreement, grounded in session.execute(
        columns(
            col(Entity.id),
            col(Entity.type),
            col(Entity.name),
            col(Entity.status),
            col(Entity.agreement),
            col(Entity.grounded),
        ).where(col(Entity.document_id) == doc_id)
    ):
        entities[eid or 0] = EntityView(
            eid or 0,
            etype,
            type_index.get(etype, 0),
            name,
            str(status),
            str(agreement),
            bool(grounded),
            badges=badges.get(("entity", eid or 0), []),
        )
    for mid, entity_id, start, end, text, sentence_id in session.execute(
        columns(
            col(Mention.id),
            col(Mention.entity_id),
            col(Mention.start),
            col(Mention.end),
            col(Mention.text),
            col(Mention.sentence_id),
        )
        .where(col(Mention.document_id) == doc_id)
        .order_by(col(Mention.start))
    ):
        if entity_id in entities:
            entities[entity_id].mentions.append((mid or 0, start, end, text, sentence_id))
    relations = []
    for rid, head_id, tail_id, rtype, evidence, status, agreement in session.execute(
        columns(
            col(Relation.id),
            col(Relation.head_id),
            col(Relation.tail_id),
            col(Relation.type),
            col(Relation.evidence),
            col(Relation.status),
            col(Relation.agreement),
        ).where(col(Relation.document_id) == doc_id)
    ):
        head, tail = entities.get(head_id), entities.get(tail_id)
        if head is None or tail is None:
            continue
        head.relation_count += 1
        tail.relation_count += 1
        relations.append(
            RelationView(
                rid or 0,
                head,
                tail,
                rtype,
                relation_names.get(rtype, rtype),
                list(evidence or []),
                str(status),
                str(agreement),
                badges=badges.get(("relation", rid or 0), []),
            )
        )
    reviewers: dict[str, list[str]] = {}
    for who, result in results or []:
        for item in [*result.get("entities", []), *result.get("relations", [])]:
            reviewers.setdefault(item["key"], []).append(who)
    return Workbench(document, schema, entities, relations, {k: v[0] for k, v in annotators.items()}, reviewers)
