"""What each review action does to a document's entities, mentions and relations (recorded in a ChangeSet)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from app.errors import Conflict, InvalidInput, NotFound
from app.models import Agreement, AnnotatorRun, Document, Entity, ItemStatus, Mention, Proposal, Relation
from app.models.document import BlindReview
from app.project.schemas import LabelSchema, RelationType
from app.review.changes import ChangeSet


@dataclass
class Context:
    session: Session
    document: Document
    schema: LabelSchema
    changes: ChangeSet
    params: dict[str, Any]


Handler = Callable[[Context, int | None], str]


# --- the recall audit's blind pass --------------------------------------------------------------------------


def proposals_hidden(document: Document) -> bool:
    """In a blind pass only the reviewer's own items exist for them: the models' proposals are hidden."""
    return document.blind_review == BlindReview.pending


def refuse_while_blind(document: Document, why: str) -> None:
    if proposals_hidden(document):
        raise Conflict(f"Document {document.id} is in its blind pass: {why}")


def _own(ctx: Context, obj: Entity | Mention | Relation) -> bool:
    if isinstance(obj, Mention):
        entity = ctx.session.get(Entity, obj.entity_id)
        return entity is not None and entity.agreement == Agreement.manual
    return obj.agreement == Agreement.manual


# --- input checks -------------------------------------------------------------------------------------------


def _int(params: dict[str, Any], name: str) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput.for_field(name, f"`{name}` is required and must be an integer.")
    try:
        return int(value)
    except ValueError:
        raise InvalidInput.for_field(name, f"`{name}` must be an integer, not {value!r}.") from None


def utf16_to_code_point(text: str, offset: int, name: str) -> int:
    """Map a UTF-16 index (the browser's) to a code point index; an index inside a surrogate pair is refused."""
    if offset < 0:
        raise InvalidInput.for_field(name, f"`{name}` {offset} is negative.")
    units = 0
    for i, ch in enumerate(text):
        if units == offset:
            return i
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > offset:
            raise InvalidInput.for_field(
                name,
                f"`{name}` {offset} splits the surrogate pair of {ch!r} (character {i}); use {units - 2} or {units}.",
            )
    if units == offset:
        return len(text)
    raise InvalidInput.for_field(name, f"`{name}` {offset} is past the end of the text ({units} UTF-16 units).")


def span_of(ctx: Context) -> tuple[int, int, int]:
    """(start, end, sentence) from the request, trimmed of surrounding whitespace; code points unless unit=utf16."""
    text = ctx.document.text
    start, end = _int(ctx.params, "start"), _int(ctx.params, "end")
    unit = ctx.params.get("unit", "code_point")
    if unit == "utf16":
        start, end = utf16_to_code_point(text, start, "start"), utf16_to_code_point(text, end, "end")
    elif unit != "code_point":
        raise InvalidInput.for_field("unit", "`unit` is code_point (the default) or utf16.")
    if not 0 <= start < end <= len(text):
        raise InvalidInput.for_field(
            "start", f"Offsets {start}–{end} are out of range: the text has {len(text)} characters (end exclusive)."
        )
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start == end:
        raise InvalidInput.for_field("start", "The selected text is only whitespace.")
    sentence = sentence_of(ctx.document, start)
    last = sentence_of(ctx.document, end - 1)
    if last != sentence:
        raise InvalidInput.for_field(
            "end", f"A mention cannot cross sentences (it runs from sentence {sentence} into {last})."
        )
    return start, end, sentence


def sentence_of(document: Document, offset: int) -> int:
    for i, (s, e) in enumerate(document.sentences):
        if s <= offset < e:
            return i
    # Text between sentences belongs to the sentence before it.
    before = [i for i, (s, _e) in enumerate(document.sentences) if s <= offset]
    return before[-1] if before else 0


def entity_type(ctx: Context, name: str = "type") -> str:
    code = ctx.params.get(name)
    known = ctx.schema.entity_codes()
    if not isinstance(code, str) or code not in known:
        raise InvalidInput.for_field(name, f"Unknown entity type {code!r}; the schema has {', '.join(known)}.")
    return code


def _allowed(rt: RelationType, head_type: str, tail_type: str) -> bool:
    return (not rt.head_types or head_type in rt.head_types) and (not rt.tail_types or tail_type in rt.tail_types)


def allowed_relation_types(schema: LabelSchema, head_type: str, tail_type: str) -> list[str]:
    return [rt.code for rt in schema.relation_types if _allowed(rt, head_type, tail_type)]


def relation_type(ctx: Context, head: Entity, tail: Entity, name: str = "type") -> str:
    """The requested relation type, if the schema allows it from the head's type to the tail's."""
    return check_relation_type(ctx.schema, ctx.params.get(name), head, tail, name)


def check_relation_type(schema: LabelSchema, code: Any, head: Entity, tail: Entity, name: str = "type") -> str:
    rt = schema.relation(code) if isinstance(code, str) else None
    if rt is None:
        raise InvalidInput.for_field(name, f"Unknown relation type {code!r}.")
    if not _allowed(rt, head.type, tail.type):
        allowed = allowed_relation_types(schema, head.type, tail.type)
        raise InvalidInput.for_field(
            name,
            f"The schema does not allow {rt.code} from {head.type} to {tail.type}"
            + (f" (allowed: {', '.join(allowed)})." if allowed else " (no relation type allows that pair)."),
        )
    return rt.code


def evidence_of(ctx: Context) -> list[int]:
    raw = ctx.params.get("evidence", [])
    if isinstance(raw, str):
        raw = [p for p in raw.replace("，", ",").replace(" ", ",").split(",") if p]
    if not isinstance(raw, list):
        raise InvalidInput.for_field("evidence", "`evidence` is a list of sentence numbers.")
    n = len(ctx.document.sentences)
    out = set()
    for item in raw:
        try:
            i = int(item)
        except (TypeError, ValueError):
            raise InvalidInput.for_field("evidence", f"Evidence {item!r} is not a sentence number.") from None
        if not 0 <= i < n:
            raise InvalidInput.for_field("evidence", f"Sentence {i} does not exist (the document has 0–{n - 1}).")
        out.add(i)
    return sorted(out)


def get_item(ctx: Context, model: type[Entity] | type[Mention] | type[Relation], item_id: int | None) -> Any:
    kind = model.__tablename__
    if item_id is None:
        raise InvalidInput.for_field("id", f"Which {kind}? `id` is required.")
    obj: Any = ctx.session.get(model, item_id)
    if obj is None or obj.document_id != ctx.document.id:
        raise NotFound(f"Document {ctx.document.id} has no {kind} {item_id}.")
    if proposals_hidden(ctx.document) and not _own(ctx, obj):
        refuse_while_blind(
            ctx.document, "the models' proposals are hidden and take no decisions until the blind pass is finished."
        )
    return obj


def _entity_param(ctx: Context, name: str) -> Entity:
    entity: Entity = get_item(ctx, Entity, _int(ctx.params, name))
    return entity


def _mentions(ctx: Context, entity_id: int) -> list[Mention]:
    return list(ctx.session.exec(select(Mention).where(Mention.entity_id == entity_id).order_by(col(Mention.start))))


def _relations_of(ctx: Context, entity_id: int) -> list[Relation]:
    return list(
        ctx.session.exec(
            select(Relation).where(
                Relation.document_id == ctx.document.id,
                (col(Relation.head_id) == entity_id) | (col(Relation.tail_id) == entity_id),
            )
        )
    )


def _proposals(ctx: Context, kind: str, item_id: int) -> list[Proposal]:
    return list(ctx.session.exec(select(Proposal).where(Proposal.item_kind == kind, Proposal.item_id == item_id)))


def _set_entity_status(ctx: Context, entity: Entity, status: ItemStatus) -> None:
    ctx.changes.touch(entity)
    entity.status = status
    for m in _mentions(ctx, entity.id or 0):
        if m.status != status:
            ctx.changes.touch(m)
            m.status = status


def name_from_mentions(name: str, texts: list[str]) -> str:
    """The name an entity with these mention texts (in text order) carries: its own while a mention still says
    it, else the longest mention text (the first of the longest on ties) — never a string no mention says."""
    if not texts or name in texts:
        return name
    return max(texts, key=len)


def _follow_mentions(ctx: Context, entity: Entity) -> None:
    """Re-derive the entity's name after its mentions changed (adjusted, moved, removed)."""
    texts = [m.text for m in _mentions(ctx, entity.id or 0)]
    name = name_from_mentions(entity.name, texts)
    if name != entity.name:
        ctx.changes.touch(entity)
        entity.name = name


def _label(entity: Entity) -> str:
    return f"{entity.name} ({entity.type})"


# --- entities -----------------------------------------------------------------------------------------------


def entity_accept(ctx: Context, item_id: int | None) -> str:
    entity = get_item(ctx, Entity, item_id)
    _set_entity_status(ctx, entity, ItemStatus.accepted)
    return f"accepted {_label(entity)}"


def entity_reject(ctx: Context, item_id: int | None) -> str:
    """Rejecting an entity rejects its relations too: a relation needs both of its arguments."""
    entity = get_item(ctx, Entity, item_id)
    _set_entity_status(ctx, entity, ItemStatus.rejected)
    n = 0
    for r in _relations_of(ctx, entity.id or 0):
        if r.status != ItemStatus.rejected:
            ctx.changes.touch(r)
            r.status = ItemStatus.rejected
            n += 1
    return f"rejected {_label(entity)}" + (f" and its {n} relation(s)" if n else "")


def entity_retype(ctx: Context, item_id: int | None) -> str:
    entity = get_item(ctx, Entity, item_id)
    new = entity_type(ctx)
    old = entity.type
    _set_entity_status(ctx, entity, ItemStatus.accepted)
    entity.type = new
    return f"{entity.name}: {old} → {new}"


def _check_span_free(ctx: Context, start: int, end: int, except_mention: int | None = None) -> None:
    query = (
        select(Mention, Entity)
        .join(Entity, col(Entity.id) == Mention.entity_id)
        .where(
            Mention.document_id == ctx.document.id,
            Mention.start == start,
            Mention.end == end,
            Entity.status != ItemStatus.rejected,
        )
    )
    if proposals_hidden(ctx.document):  # a hidden proposal must not show through a clash
        query = query.where(Entity.agreement == Agreement.manual)
    clash = ctx.session.exec(query).first()
    if clash is not None and clash[0].id != except_mention:
        raise Conflict(f"{ctx.document.text[start:end]!r} at {start}–{end} is already a mention of {_label(clash[1])}.")


def _new_entity(ctx: Context, etype: str, name: str) -> Entity:
    """A reviewer's own entity: accepted, grounded, agreement 'manual'."""
    entity = Entity(
        document_id=ctx.document.id or 0,
        type=etype,
        name=name,
        status=ItemStatus.accepted,
        agreement=Agreement.manual,
        grounded=True,
    )
    ctx.changes.add(entity)
    return entity


def _new_mention(ctx: Context, entity: Entity, start: int, end: int, sentence: int) -> Mention:
    mention = Mention(
        entity_id=entity.id or 0,
        document_id=ctx.document.id or 0,
        start=start,
        end=end,
        text=ctx.document.text[start:end],
        sentence_id=sentence,
        status=ItemStatus.accepted,
    )
    ctx.changes.add(mention)
    return mention


def _given_name(ctx: Context) -> str | None:
    """An explicit name at creation: a string of the document's text (a dataset never names what it does not
    contain); it holds until the entity's mentions change, then the name follows them again."""
    raw = ctx.params.get("name")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    name = raw.strip() if isinstance(raw, str) else ""
    if not name or len(name) > 500 or name not in ctx.document.text:
        raise InvalidInput.for_field("name", "`name` must be a piece of the document's text (up to 500 characters).")
    return name


def entity_create(ctx: Context, _item_id: int | None) -> str:
    start, end, sentence = span_of(ctx)
    etype = entity_type(ctx)
    _check_span_free(ctx, start, end)
    entity = _new_entity(ctx, etype, _given_name(ctx) or ctx.document.text[start:end])
    _new_mention(ctx, entity, start, end, sentence)
    ctx.params["created_id"] = entity.id
    return f"created {_label(entity)} at {start}–{end}"


def _delete_entity(ctx: Context, entity: Entity) -> int:
    n = 0
    for r in _relations_of(ctx, entity.id or 0):
        for p in _proposals(ctx, "relation", r.id or 0):
            ctx.changes.delete(p)
        ctx.changes.delete(r)
        n += 1
    for m in _mentions(ctx, entity.id or 0):
        ctx.changes.delete(m)
    for p in _proposals(ctx, "entity", entity.id or 0):
        ctx.changes.delete(p)
    ctx.session.flush()
    ctx.changes.delete(entity)
    return n


def entity_delete(ctx: Context, item_id: int | None) -> str:
    entity = get_item(ctx, Entity, item_id)
    n = _delete_entity(ctx, entity)
    return f"deleted {_label(entity)}" + (f" and its {n} relation(s)" if n else "")


def entity_merge(ctx: Context, item_id: int | None) -> str:
    """Coreference: the entity's mentions, relations and provenance move to `into`; the entity goes."""
    source = get_item(ctx, Entity, item_id)
    target = _entity_param(ctx, "into")
    if target.id == source.id:
        raise InvalidInput.for_field("into", "An entity cannot be merged into itself.")
    spans = {(m.start, m.end) for m in _mentions(ctx, target.id or 0)}
    for m in _mentions(ctx, source.id or 0):
        if (m.start, m.end) in spans:
            ctx.changes.delete(m)
            continue
        ctx.changes.touch(m)
        m.entity_id = target.id or 0
        m.status = ItemStatus.accepted
    existing = {(r.head_id, r.tail_id, r.type) for r in _relations_of(ctx, target.id or 0)}
    for r in _relations_of(ctx, source.id or 0):
        head = target.id if r.head_id == source.id else r.head_id
        tail = target.id if r.tail_id == source.id else r.tail_id
        if head == tail or (head, tail, r.type) in existing:
            for p in _proposals(ctx, "relation", r.id or 0):
                ctx.changes.delete(p)
            ctx.changes.delete(r)
            continue
        ctx.changes.touch(r)
        r.head_id, r.tail_id = head or 0, tail or 0
        existing.add((r.head_id, r.tail_id, r.type))
    for p in _proposals(ctx, "entity", source.id or 0):
        ctx.changes.touch(p)
        p.item_id = target.id or 0
    ctx.session.flush()
    _set_entity_status(ctx, target, ItemStatus.accepted)
    _follow_mentions(ctx, target)
    ctx.changes.delete(source)
    return f"merged {_label(source)} into {_label(target)}"


def entity_add_mention(ctx: Context, item_id: int | None) -> str:
    entity = get_item(ctx, Entity, item_id)
    start, end, sentence = span_of(ctx)
    _check_span_free(ctx, start, end)
    mention = _new_mention(ctx, entity, start, end, sentence)
    _set_entity_status(ctx, entity, ItemStatus.accepted)
    _follow_mentions(ctx, entity)
    return f"added mention {mention.text!r} to {_label(entity)}"


# --- mentions -----------------------------------------------------------------------------------------------


def mention_adjust(ctx: Context, item_id: int | None) -> str:
    mention: Mention = get_item(ctx, Mention, item_id)
    start, end, sentence = span_of(ctx)
    _check_span_free(ctx, start, end, except_mention=mention.id)
    old = mention.text
    ctx.changes.touch(mention)
    mention.start, mention.end, mention.sentence_id = start, end, sentence
    mention.text = ctx.document.text[start:end]
    entity = ctx.session.get(Entity, mention.entity_id)
    assert entity is not None
    _set_entity_status(ctx, entity, ItemStatus.accepted)
    _follow_mentions(ctx, entity)
    return f"mention {old!r} → {mention.text!r}"


def _only_mention(ctx: Context, mention: Mention, what: str) -> None:
    if len(_mentions(ctx, mention.entity_id)) <= 1:
        raise InvalidInput.for_field("id", f"{mention.text!r} is the entity's only mention: {what}.")


def mention_delete(ctx: Context, item_id: int | None) -> str:
    mention: Mention = get_item(ctx, Mention, item_id)
    _only_mention(ctx, mention, "reject or delete the entity instead")
    ctx.changes.delete(mention)
    ctx.session.flush()
    entity = ctx.session.get(Entity, mention.entity_id)
    assert entity is not None
    _follow_mentions(ctx, entity)
    return f"removed mention {mention.text!r} at {mention.start}–{mention.end}"


def mention_split(ctx: Context, item_id: int | None) -> str:
    """Split a mention off into a new entity (the same type unless `type` is given)."""
    mention: Mention = get_item(ctx, Mention, item_id)
    _only_mention(ctx, mention, "there is nothing to split it from")
    old = ctx.session.get(Entity, mention.entity_id)
    assert old is not None
    etype = entity_type(ctx) if ctx.params.get("type") else old.type
    entity = _new_entity(ctx, etype, mention.text)
    ctx.changes.touch(mention)
    mention.entity_id = entity.id or 0
    mention.status = ItemStatus.accepted
    ctx.session.flush()
    _follow_mentions(ctx, old)
    ctx.params["created_id"] = entity.id
    return f"split {mention.text!r} off {_label(old)} as {_label(entity)}"


# --- relations ----------------------------------------------------------------------------------------------


def _accept_arguments(ctx: Context, relation: Relation) -> None:
    for entity_id in (relation.head_id, relation.tail_id):
        entity = ctx.session.get(Entity, entity_id)
        if entity is not None and entity.status != ItemStatus.accepted:
            _set_entity_status(ctx, entity, ItemStatus.accepted)


def _relation_label(ctx: Context, relation: Relation) -> str:
    head, tail = ctx.session.get(Entity, relation.head_id), ctx.session.get(Entity, relation.tail_id)
    return f"{head.name if head else '?'} —{relation.type}→ {tail.name if tail else '?'}"


def relation_accept(ctx: Context, item_id: int | None) -> str:
    """Accepting a relation accepts its head and tail too."""
    relation: Relation = get_item(ctx, Relation, item_id)
    ctx.changes.touch(relation)
    relation.status = ItemStatus.accepted
    _accept_arguments(ctx, relation)
    return f"accepted {_relation_label(ctx, relation)}"


def relation_reject(ctx: Context, item_id: int | None) -> str:
    relation: Relation = get_item(ctx, Relation, item_id)
    ctx.changes.touch(relation)
    relation.status = ItemStatus.rejected
    return f"rejected {_relation_label(ctx, relation)}"


def _arguments(ctx: Context, relation: Relation) -> tuple[Entity, Entity]:
    head, tail = ctx.session.get(Entity, relation.head_id), ctx.session.get(Entity, relation.tail_id)
    assert head is not None and tail is not None
    return head, tail


def relation_retype(ctx: Context, item_id: int | None) -> str:
    relation: Relation = get_item(ctx, Relation, item_id)
    head, tail = _arguments(ctx, relation)
    new = relation_type(ctx, head, tail)
    _check_relation_free(ctx, head.id or 0, tail.id or 0, new, except_id=relation.id)
    old = relation.type
    ctx.changes.touch(relation)
    relation.type = new
    relation.status = ItemStatus.accepted
    _accept_arguments(ctx, relation)
    return f"{head.name} —{old}→ {tail.name}: type {old} → {new}"


def relation_swap(ctx: Context, item_id: int | None) -> str:
    relation: Relation = get_item(ctx, Relation, item_id)
    head, tail = _arguments(ctx, relation)
    check_relation_type(ctx.schema, relation.type, tail, head)  # the schema must allow the reversed direction
    _check_relation_free(ctx, tail.id or 0, head.id or 0, relation.type, except_id=relation.id)
    ctx.changes.touch(relation)
    relation.head_id, relation.tail_id = tail.id or 0, head.id or 0
    relation.status = ItemStatus.accepted
    _accept_arguments(ctx, relation)
    return f"swapped to {tail.name} —{relation.type}→ {head.name}"


def relation_evidence(ctx: Context, item_id: int | None) -> str:
    relation: Relation = get_item(ctx, Relation, item_id)
    evidence = evidence_of(ctx)
    old = relation.evidence
    ctx.changes.touch(relation)
    relation.evidence = evidence
    return f"evidence {old} → {evidence}"


def _check_relation_free(ctx: Context, head: int, tail: int, rtype: str, except_id: int | None = None) -> None:
    query = select(Relation.id).where(
        Relation.document_id == ctx.document.id,
        Relation.head_id == head,
        Relation.tail_id == tail,
        Relation.type == rtype,
        Relation.status != ItemStatus.rejected,
    )
    if proposals_hidden(ctx.document):
        query = query.where(Relation.agreement == Agreement.manual)
    clash = ctx.session.exec(query).first()
    if clash is not None and clash != except_id:
        raise Conflict(f"That relation already exists (relation {clash}).")


def _closest_sentences(ctx: Context, head: Entity, tail: Entity) -> list[int]:
    """Default evidence: the sentences of the closest pair of head and tail mentions."""
    hs = {m.sentence_id for m in _mentions(ctx, head.id or 0)}
    ts = {m.sentence_id for m in _mentions(ctx, tail.id or 0)}
    if not hs or not ts:
        return []
    h, t = min(((h, t) for h in hs for t in ts), key=lambda p: (abs(p[0] - p[1]), p))
    return sorted({h, t})


def relation_create(ctx: Context, _item_id: int | None) -> str:
    head, tail = _entity_param(ctx, "head"), _entity_param(ctx, "tail")
    if head.id == tail.id:
        raise InvalidInput.for_field("tail", "A relation needs two different entities.")
    rtype = relation_type(ctx, head, tail)
    evidence = evidence_of(ctx) if "evidence" in ctx.params else _closest_sentences(ctx, head, tail)
    _check_relation_free(ctx, head.id or 0, tail.id or 0, rtype)
    relation = Relation(
        document_id=ctx.document.id or 0,
        head_id=head.id or 0,
        tail_id=tail.id or 0,
        type=rtype,
        evidence=evidence,
        status=ItemStatus.accepted,
        agreement=Agreement.manual,
    )
    ctx.changes.add(relation)
    _accept_arguments(ctx, relation)
    ctx.params["created_id"] = relation.id
    return f"created {head.name} —{rtype}→ {tail.name}"


def relation_delete(ctx: Context, item_id: int | None) -> str:
    relation: Relation = get_item(ctx, Relation, item_id)
    label = _relation_label(ctx, relation)
    for p in _proposals(ctx, "relation", relation.id or 0):
        ctx.changes.delete(p)
    ctx.changes.delete(relation)
    return f"deleted {label}"


# --- the document at once -----------------------------------------------------------------------------------


def accept_agreed(ctx: Context, _item_id: int | None) -> str:
    """Accept every agreed, grounded item still awaiting review."""
    refuse_while_blind(ctx.document, "there is nothing agreed to accept until the blind pass is finished.")
    n = 0
    for entity in ctx.session.exec(
        select(Entity).where(
            Entity.document_id == ctx.document.id,
            Entity.status == ItemStatus.proposed,
            Entity.agreement == Agreement.agreed,
            col(Entity.grounded).is_(True),
        )
    ):
        _set_entity_status(ctx, entity, ItemStatus.accepted)
        n += 1
    for relation in ctx.session.exec(
        select(Relation).where(
            Relation.document_id == ctx.document.id,
            Relation.status == ItemStatus.proposed,
            Relation.agreement == Agreement.agreed,
        )
    ):
        ctx.changes.touch(relation)
        relation.status = ItemStatus.accepted
        _accept_arguments(ctx, relation)
        n += 1
    return f"accepted {n} agreed item(s)"


def reject_from_annotator(ctx: Context, _item_id: int | None) -> str:
    """Reject every item still awaiting review that only this annotator proposed."""
    refuse_while_blind(ctx.document, "the models' proposals are hidden until the blind pass is finished.")
    annotator_id = _int(ctx.params, "annotator")
    run_ids = set(
        ctx.session.exec(
            select(AnnotatorRun.id).where(
                AnnotatorRun.document_id == ctx.document.id, AnnotatorRun.annotator_id == annotator_id
            )
        )
    )
    if not run_ids:
        raise InvalidInput.for_field("annotator", f"Annotator {annotator_id} proposed nothing in this document.")
    proposers: dict[tuple[str, int], set[bool]] = {}
    run_of_doc = set(ctx.session.exec(select(AnnotatorRun.id).where(AnnotatorRun.document_id == ctx.document.id)))
    for p in ctx.session.exec(select(Proposal).where(col(Proposal.run_id).in_(run_of_doc))):
        if "vote" in p.payload:
            continue
        proposers.setdefault((p.item_kind, p.item_id), set()).add(p.run_id in run_ids)
    only = {key for key, who in proposers.items() if who == {True}}
    n = 0
    for relation in ctx.session.exec(
        select(Relation).where(Relation.document_id == ctx.document.id, Relation.status == ItemStatus.proposed)
    ):
        if ("relation", relation.id) in only:
            ctx.changes.touch(relation)
            relation.status = ItemStatus.rejected
            n += 1
    for entity in ctx.session.exec(
        select(Entity).where(Entity.document_id == ctx.document.id, Entity.status == ItemStatus.proposed)
    ):
        if ("entity", entity.id) in only:
            n += 1
            _set_entity_status(ctx, entity, ItemStatus.rejected)
            for r in _relations_of(ctx, entity.id or 0):
                if r.status == ItemStatus.proposed:
                    ctx.changes.touch(r)
                    r.status = ItemStatus.rejected
    return f"rejected {n} item(s) only annotator {annotator_id} proposed"


HANDLERS: dict[tuple[str, str], Handler] = {
    ("entity", "accept"): entity_accept,
    ("entity", "reject"): entity_reject,
    ("entity", "retype"): entity_retype,
    ("entity", "create"): entity_create,
    ("entity", "delete"): entity_delete,
    ("entity", "merge"): entity_merge,
    ("entity", "add_mention"): entity_add_mention,
    ("mention", "adjust"): mention_adjust,
    ("mention", "delete"): mention_delete,
    ("mention", "split"): mention_split,
    ("relation", "accept"): relation_accept,
    ("relation", "reject"): relation_reject,
    ("relation", "retype"): relation_retype,
    ("relation", "swap"): relation_swap,
    ("relation", "evidence"): relation_evidence,
    ("relation", "create"): relation_create,
    ("relation", "delete"): relation_delete,
    ("document", "accept_agreed"): accept_agreed,
    ("document", "reject_annotator"): reject_from_annotator,
}
