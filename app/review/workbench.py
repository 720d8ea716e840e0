"""Everything the review page shows about one document, read with plain column queries (fast on long documents)."""

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlmodel import Session

from app.agreement_classes import CLASSES, AgreementClass, described
from app.annotation.service import pair_of
from app.db import require_id
from app.models import Document
from app.project.label_schema import LabelSchema
from app.review import rows
from app.review import workbench_reads as reads
from app.review.adjudication import entity_key, relation_key
from app.review.decisions import allowed_relation_types, proposals_hidden
from app.review.highlight import Span, render_sentences, render_text
from app.review.result import ReviewResult
from app.review.views import EntityView, RelationView

STATUS_ORDER = {"proposed": 0, "accepted": 1, "rejected": 2}
# Highlighted text by (document, version, spans): the same page is drawn again and again while nothing moves.
_TEXT_CACHE: dict[tuple[Any, ...], Markup] = {}
_TEXT_CACHE_SIZE = 32


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


def _first(e: EntityView) -> int:
    return e.mentions[0][1] if e.mentions else 1 << 30


def load(
    session: Session,
    *,
    document: Document,
    schema: LabelSchema,
    results: list[tuple[str, ReviewResult]] | None = None,
    changed: dict[str, set[int]] | None = None,
) -> Workbench:
    """Read the document's items and their provenance; `results` are (reviewer, result) pairs in adjudication.

    With `changed` (entity and relation ids a decision touched) only what its redraw needs is read: those
    items, the relations of those entities, and every mention in the sentences their mentions are in. In a
    blind pass nothing but the reviewer's own items is read, so nothing else can show.
    """
    doc_id = require_id(document)
    hidden = proposals_hidden(document)
    relation_names = {r.code: r.name for r in schema.relation_types}
    a, b = pair_of(session, project_id=document.project_id)
    letters = {x.id: tag for x, tag in ((a, "A"), (b, "B")) if x is not None and x.id is not None}
    annotators, run_tag = reads.run_tags(session, document, letters)
    where = reads.scope(session, doc_id, hidden=hidden, changed=changed)
    conn = session.connection()  # Core rows: no ORM bookkeeping for thousands of plain tuples
    entities = reads.read_entities(conn, doc_id, where, {t.code: i for i, t in enumerate(schema.entity_types)})
    relations = reads.read_relations(conn, where, entities, relation_names)
    reads.count_relations(conn, doc_id, where, entities, relations)
    if run_tag and not hidden:
        reads.add_badges(conn, run_tag, entities, relations, relation_names, partial=changed is not None)
    if not hidden:
        reads.mark_auto_accepted(conn, doc_id, entities, relations)
    reviewers: dict[str, list[str]] = {}
    for who, result in results or []:
        for key in [*(e["key"] for e in result["entities"]), *(r["key"] for r in result["relations"])]:
            reviewers.setdefault(key, []).append(who)
    return Workbench(
        document,
        schema,
        entities,
        relations,
        annotators,
        reviewers,
        None if changed is None else reads.status_counts(session, doc_id, own_only=hidden),
        described(a=a.name if a else None, b=b.name if b else None),
        blind_pass=hidden,
    )
