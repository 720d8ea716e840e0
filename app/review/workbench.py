"""Everything the review page shows about one document, read with plain column queries (fast on long documents)."""

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from markupsafe import Markup
from sqlalchemy import func
from sqlalchemy import select as columns
from sqlmodel import Session, col, select

from app.agreement_classes import CLASSES, AgreementClass, described
from app.annotation.service import pair_of
from app.models import (
    Agreement,
    Annotator,
    AnnotatorKind,
    AnnotatorRun,
    Document,
    Entity,
    Mention,
    Proposal,
    Relation,
    Route,
    RoutedItem,
)
from app.project.label_schema import LabelSchema
from app.review import rows
from app.review.adjudication import entity_key, relation_key
from app.review.decisions import allowed_relation_types, proposals_hidden
from app.review.highlight import Span, render_sentences, render_text

STATUS_ORDER = {"proposed": 0, "accepted": 1, "rejected": 2}
# Highlighted text by (document, version, spans): the same page is drawn again and again while nothing moves.
_TEXT_CACHE: dict[tuple[Any, ...], Markup] = {}
_TEXT_CACHE_SIZE = 32


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


@dataclass
class Workbench:
    document: Document
    schema: LabelSchema
    entities: dict[int, EntityView]
    relations: list[RelationView]
    annotators: dict[int, str]
    reviewers: dict[str, list[str]]  # adjudication: item key → reviewers who accepted it
    known_counts: dict[str, int] | None = None  # set when only part of the document was read
    # Agreement classes as this project's reviewers read them (A and B named).
    classes: dict[str, AgreementClass] = field(default_factory=lambda: dict(CLASSES))
    # A blind pass (recall audit): only the reviewer's own items were read; the proposals stay hidden.
    blind_pass: bool = False
    _allowed: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    def spans(self) -> list[Span]:
        return [
            Span(mid, e.id, s, end, e.type_index, e.status, e.agreement)
            for e in self.entities.values()
            for mid, s, end, _t, _sid in e.mentions
        ]

    def text_html(self) -> Markup:
        spans = self.spans()
        key = (self.document.id, self.document.version, hash(tuple(spans)))
        html = _TEXT_CACHE.get(key)
        if html is None:
            html = render_text(self.document.text, self.document.sentences, spans)
            _TEXT_CACHE[key] = html
            while len(_TEXT_CACHE) > _TEXT_CACHE_SIZE:
                _TEXT_CACHE.pop(next(iter(_TEXT_CACHE)))
        return html

    def _in_adjudication(self) -> bool:
        return self.document.status == "adjudication"

    def _entity_html(self, e: EntityView, oob: bool) -> str:
        who = self.reviewers.get(self.entity_key(e), []) if self._in_adjudication() else None
        return rows.entity_row(e, reviewers=who, oob=oob, classes=self.classes)

    def _relation_html(self, r: RelationView, oob: bool) -> str:
        pair = (r.head.type, r.tail.type)
        allowed = self._allowed.get(pair)
        if allowed is None:
            allowed = self._allowed[pair] = " ".join(self.allowed_types(r))
        who = self.reviewers.get(self.relation_key(r), []) if self._in_adjudication() else None
        return rows.relation_row(r, allowed=allowed, reviewers=who, oob=oob, classes=self.classes)

    # rows.py escapes every value it puts in a row, so its HTML is marked safe as a whole.
    def entity_row(self, e: EntityView, oob: bool = False) -> Markup:
        return Markup(self._entity_html(e, oob))  # noqa: S704

    def relation_row(self, r: RelationView, oob: bool = False) -> Markup:
        return Markup(self._relation_html(r, oob))  # noqa: S704

    def relation_rows(self) -> Markup:
        return Markup("".join(self._relation_html(r, False) for r in self.ordered_relations()))  # noqa: S704

    def entity_rows(self, entities: list[EntityView]) -> Markup:
        return Markup("".join(self._entity_html(e, False) for e in entities))  # noqa: S704

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
        if self.known_counts is not None:
            return self.known_counts
        out = {"todo": 0, "accepted": 0, "rejected": 0}
        statuses = [e.status for e in self.entities.values()] + [r.status for r in self.relations]
        for status in statuses:
            out["todo" if status == "proposed" else status] += 1
        return out

    def allowed_types(self, relation: RelationView) -> list[str]:
        return allowed_relation_types(self.schema, relation.head.type, relation.tail.type)


def _source(tag: str) -> str:
    return "src-import" if tag == "import" else "src-model"


def _first(e: EntityView) -> int:
    return e.mentions[0][1] if e.mentions else 1 << 30


def load(
    session: Session,
    *,
    document: Document,
    schema: LabelSchema,
    results: list[tuple[str, dict[str, Any]]] | None = None,
    changed: dict[str, set[int]] | None = None,
) -> Workbench:
    """Read the document's items and their provenance; `results` are (reviewer, result) pairs in adjudication.

    With `changed` (entity and relation ids a decision touched) only what its redraw needs is read: those
    items, the relations of those entities, and every mention in the sentences their mentions are in. In a
    blind pass nothing but the reviewer's own items is read, so nothing else can show.
    """
    doc_id = document.id
    hidden = proposals_hidden(document)
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

    entity_filter: Any = None
    mention_filter: Any = None
    relation_filter: Any = col(Relation.document_id) == doc_id
    if hidden:
        relation_filter = relation_filter & (col(Relation.agreement) == Agreement.manual)
    if changed is not None:
        changed_entities = set(changed.get("entity", set()))
        changed_relations = set(changed.get("relation", set()))
        sentences = set(session.exec(select(Mention.sentence_id).where(col(Mention.entity_id).in_(changed_entities))))
        relation_filter = relation_filter & (
            col(Relation.id).in_(changed_relations)
            | col(Relation.head_id).in_(changed_entities)
            | col(Relation.tail_id).in_(changed_entities)
        )
        ends = session.execute(columns(col(Relation.head_id), col(Relation.tail_id)).where(relation_filter)).all()
        wanted = changed_entities | {h for h, _t in ends} | {t for _h, t in ends}
        mention_filter = (col(Mention.document_id) == doc_id) & (
            col(Mention.sentence_id).in_(sentences) | col(Mention.entity_id).in_(wanted)
        )
        wanted |= set(session.exec(select(Mention.entity_id).where(mention_filter)))
        entity_filter = col(Entity.id).in_(wanted)

    run_tag: dict[int, tuple[str, str]] = {}
    for run_id, annotator_id in session.exec(
        select(AnnotatorRun.id, AnnotatorRun.annotator_id).where(col(AnnotatorRun.document_id) == doc_id)
    ):
        name, kind = annotators.get(annotator_id, ("?", ""))
        tag = "import" if kind == AnnotatorKind.imported else letter.get(annotator_id, name)
        run_tag[run_id or 0] = (tag, name)

    entities: dict[int, EntityView] = {}
    entity_query = columns(
        col(Entity.id),
        col(Entity.type),
        col(Entity.name),
        col(Entity.status),
        col(Entity.agreement),
        col(Entity.grounded),
    ).where(col(Entity.document_id) == doc_id)
    if entity_filter is not None:
        entity_query = entity_query.where(entity_filter)
    if hidden:
        entity_query = entity_query.where(col(Entity.agreement) == Agreement.manual)
    conn = session.connection()  # Core rows: no ORM bookkeeping for thousands of plain tuples
    for eid, etype, name, status, agreement, grounded in conn.execute(entity_query):
        entities[eid or 0] = EntityView(
            eid or 0, etype, type_index.get(etype, 0), name, str(status), str(agreement), bool(grounded)
        )
    mention_query = columns(
        col(Mention.id),
        col(Mention.entity_id),
        col(Mention.start),
        col(Mention.end),
        col(Mention.text),
        col(Mention.sentence_id),
    ).where(mention_filter if mention_filter is not None else col(Mention.document_id) == doc_id)
    for mid, entity_id, start, end, text, sentence_id in conn.execute(mention_query.order_by(col(Mention.start))):
        if entity_id in entities:
            entities[entity_id].mentions.append((mid or 0, start, end, text, sentence_id))
    relations = []
    for rid, head_id, tail_id, rtype, evidence, status, agreement in conn.execute(
        columns(
            col(Relation.id),
            col(Relation.head_id),
            col(Relation.tail_id),
            col(Relation.type),
            col(Relation.evidence),
            col(Relation.status),
            col(Relation.agreement),
        ).where(relation_filter)
    ):
        head, tail = entities.get(head_id), entities.get(tail_id)
        if head is None or tail is None:
            continue
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
            )
        )
    if changed is None:
        for r in relations:
            r.head.relation_count += 1
            r.tail.relation_count += 1
    else:  # the shown entities' relation counts, over the whole document
        for head_id, tail_id in session.execute(
            columns(col(Relation.head_id), col(Relation.tail_id)).where(
                col(Relation.document_id) == doc_id,
                col(Relation.head_id).in_(list(entities)) | col(Relation.tail_id).in_(list(entities)),
                *([col(Relation.agreement) == Agreement.manual] if hidden else []),
            )
        ):
            for end_id in (head_id, tail_id):
                if end_id in entities:
                    entities[end_id].relation_count += 1

    if run_tag and not hidden:
        # Votes, audit and blind-answer marks read in SQL: decoding ~2,000 JSON payloads per page showed in the profile.
        proposal_query = columns(
            col(Proposal.item_kind),
            col(Proposal.item_id),
            col(Proposal.run_id),
            col(Proposal.augmentation),
            col(Proposal.payload)["vote"].as_boolean(),
            col(Proposal.payload)["audit"].as_boolean(),
            col(Proposal.proposed_type),
            col(Proposal.payload)["recheck"].as_boolean(),
        ).where(col(Proposal.run_id).in_(list(run_tag)))
        if changed is not None:
            proposal_query = proposal_query.where(col(Proposal.item_id).in_(list(entities) + [r.id for r in relations]))
        views: dict[tuple[str, int], EntityView | RelationView] = {("entity", e.id): e for e in entities.values()}
        views.update({("relation", r.id): r for r in relations})
        for kind, item_id, run_id, augmentation, vote, audit, proposed, blind in conn.execute(proposal_query):
            view = views.get((kind, item_id))
            if view is None:
                continue
            tag, name = run_tag.get(run_id, ("?", "?"))
            proposed = proposed or ""
            shown = relation_names.get(proposed, proposed) if kind == "relation" else proposed
            # A type conflict shows both types: the item's, and the one this annotator gave (blind or not).
            other = bool(proposed) and proposed != view.type
            if vote is not None:
                view.badges.append(("vote-yes" if vote else "vote-no", f"{tag} {'✓' if vote else '✗'}", ""))
            elif blind:
                label = f"{tag} blind: {shown}" if other else f"{tag} blind"
                view.badges.append(("blind", label, f"{name}, asked blind, answered {shown}"))
            elif augmentation:
                view.badges.append(("aug", f"{tag} aug", ""))
            elif other:
                view.badges.append((_source(tag), f"{tag}: {shown}", f"{name} proposed it as {shown}"))
            else:
                view.badges.append((_source(tag), tag, ""))
            if audit and not any(b[0] == "audit" for b in view.badges):
                view.badges.append(("audit", "audit", "a trusted item sampled for a spot check"))

    if not hidden:
        _mark_auto_accepted(conn, doc_id or 0, entities, relations)
    reviewers: dict[str, list[str]] = {}
    for who, result in results or []:
        for item in [*result.get("entities", []), *result.get("relations", [])]:
            reviewers.setdefault(item["key"], []).append(who)
    counts = None if changed is None else status_counts(session, doc_id or 0, own_only=hidden)
    return Workbench(
        document,
        schema,
        entities,
        relations,
        {k: v[0] for k, v in annotators.items()},
        reviewers,
        counts,
        described(a=a.name if a else None, b=b.name if b else None),
        blind_pass=hidden,
    )


def _mark_auto_accepted(
    conn: Any, document_id: int, entities: dict[int, EntityView], relations: list[RelationView]
) -> None:
    """Items routing accepted without review: "Review agreed items too" stops on them."""
    views: dict[tuple[str, int], EntityView | RelationView] = {("entity", e.id): e for e in entities.values()}
    views.update({("relation", r.id): r for r in relations})
    for kind, item_id in conn.execute(
        columns(col(RoutedItem.item_kind), col(RoutedItem.item_id)).where(
            col(RoutedItem.document_id) == document_id, col(RoutedItem.route) == Route.auto
        )
    ):
        view = views.get((kind, item_id))
        if view is not None:
            view.auto = True
            view.badges.append(("auto", "auto", "accepted without review: its slice of items has proven precise"))


def status_counts(session: Session, document_id: int, *, own_only: bool = False) -> dict[str, int]:
    """Items per status (own_only: the reviewer's own items only, as a blind pass shows them)."""
    out = {"todo": 0, "accepted": 0, "rejected": 0}
    for model in (Entity, Relation):
        query = columns(col(model.status), func.count()).where(col(model.document_id) == document_id)
        if own_only:
            query = query.where(col(model.agreement) == Agreement.manual)
        for status, n in session.execute(query.group_by(col(model.status))):
            out["todo" if status == "proposed" else str(status)] += n
    return out
