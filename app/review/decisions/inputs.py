"""A decision's inputs checked against the document and the schema: spans, types, evidence, ids."""

from typing import Any

from app.errors import InvalidInput
from app.models import Document, Entity
from app.project.schemas import LabelSchema, RelationType
from app.review.decisions.context import Context, get_item


def int_param(params: dict[str, Any], name: str) -> int:
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
    start, end = int_param(ctx.params, "start"), int_param(ctx.params, "end")
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


def entity_param(ctx: Context, name: str) -> Entity:
    entity: Entity = get_item(ctx, Entity, int_param(ctx.params, name))
    return entity


def given_name(ctx: Context) -> str | None:
    """An explicit name at creation: a string of the document's text (a dataset never names what it does not
    contain); it holds until the entity's mentions change, then the name follows them again."""
    raw = ctx.params.get("name")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    name = raw.strip() if isinstance(raw, str) else ""
    if not name or len(name) > 500 or name not in ctx.document.text:
        raise InvalidInput.for_field("name", "`name` must be a piece of the document's text (up to 500 characters).")
    return name
