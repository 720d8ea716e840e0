"""A decision's inputs checked against the document and the schema: spans, types, evidence, ids."""

from app.errors import InvalidInput
from app.models import Document, Entity
from app.project.label_schema import LabelSchema, RelationType
from app.review.commands import SpanFields
from app.review.decisions.context import Context, get_item


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


def span_of(ctx: Context, span: SpanFields) -> tuple[int, int, int]:
    """(start, end, sentence) of the command's span, trimmed of surrounding whitespace."""
    text = ctx.document.text
    start, end = span.start, span.end
    if span.unit == "utf16":
        start, end = utf16_to_code_point(text, start, "start"), utf16_to_code_point(text, end, "end")
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


def entity_type(ctx: Context, code: str, name: str = "type") -> str:
    known = ctx.schema.entity_codes()
    if code not in known:
        raise InvalidInput.for_field(name, f"Unknown entity type {code!r}; the schema has {', '.join(known)}.")
    return code


def _allowed(rt: RelationType, head_type: str, tail_type: str) -> bool:
    return (not rt.head_types or head_type in rt.head_types) and (not rt.tail_types or tail_type in rt.tail_types)


def allowed_relation_types(schema: LabelSchema, head_type: str, tail_type: str) -> list[str]:
    return [rt.code for rt in schema.relation_types if _allowed(rt, head_type, tail_type)]


def check_relation_type(schema: LabelSchema, code: str, head: Entity, tail: Entity, name: str = "type") -> str:
    """The relation type, if the schema allows it from the head's type to the tail's."""
    rt = schema.relation(code)
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


def evidence_of(ctx: Context, evidence: list[int]) -> list[int]:
    """Sentence numbers of the document, sorted and unique."""
    n = len(ctx.document.sentences)
    for i in evidence:
        if not 0 <= i < n:
            raise InvalidInput.for_field("evidence", f"Sentence {i} does not exist (the document has 0–{n - 1}).")
    return sorted(set(evidence))


def entity_param(ctx: Context, entity_id: int) -> Entity:
    entity: Entity = get_item(ctx, Entity, entity_id)
    return entity


def given_name(ctx: Context, raw: str | None) -> str | None:
    """An explicit name at creation: a string of the document's text (a dataset never names what it does not
    contain); it holds until the entity's mentions change, then the name follows them again."""
    if raw is None or not raw.strip():
        return None
    name = raw.strip()
    if not name or len(name) > 500 or name not in ctx.document.text:
        raise InvalidInput.for_field("name", "`name` must be a piece of the document's text (up to 500 characters).")
    return name
