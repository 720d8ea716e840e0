"""One typed command per review decision, parsed at the edge (API body, workbench form) before the domain runs.

Each command names its item and action and carries exactly the fields that action reads: anything else, or a
field of the wrong type, is a 422 naming the field. Checks that need the document or the schema (offsets in
range, a type the schema allows, evidence sentences that exist) stay with the decision handlers.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from app.errors import InvalidInput, field_error
from app.request_limits import StoredInt

Unit = Literal["code_point", "utf16"]


def _sentence_list(value: Any) -> Any:
    """The workbench sends evidence as typed: "1, 2" (or with a full-width comma, or spaces)."""
    if isinstance(value, str):
        return [p for p in value.replace("，", ",").replace(" ", ",").split(",") if p]
    return value


Evidence = Annotated[list[StoredInt], BeforeValidator(_sentence_list)]


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: StoredInt = Field(description="the document version the client saw; 409 if it changed since")


class _OnItem(_Command):
    id: StoredInt = Field(description="the item's id")


class _NoItem(_Command):
    id: StoredInt | None = Field(default=None, description="ignored: the command names no existing item")


class SpanFields(BaseModel):
    """A span of the document's text: code points unless `unit` is utf16 (the browser's offsets)."""

    start: StoredInt
    end: StoredInt = Field(description="exclusive")
    unit: Unit = "code_point"


class EntityStatus(_OnItem):
    """accept; reject (also rejects its relations); delete (with its mentions and relations)."""

    item: Literal["entity"]
    action: Literal["accept", "reject", "delete"]


class EntityRetype(_OnItem):
    item: Literal["entity"]
    action: Literal["retype"]
    type: str


class EntityCreate(_NoItem, SpanFields):
    item: Literal["entity"]
    action: Literal["create"]
    type: str
    name: str | None = Field(default=None, description="a piece of the document's text; default the span's")


class EntityMerge(_OnItem):
    """Coreference: the entity's mentions, relations and provenance move to `into`."""

    item: Literal["entity"]
    action: Literal["merge"]
    into: StoredInt


class EntityAddMention(_OnItem, SpanFields):
    item: Literal["entity"]
    action: Literal["add_mention"]


class MentionAdjust(_OnItem, SpanFields):
    item: Literal["mention"]
    action: Literal["adjust"]


class MentionDelete(_OnItem):
    item: Literal["mention"]
    action: Literal["delete"]


class MentionSplit(_OnItem):
    """Split the mention off into a new entity, of the same type unless `type` is given."""

    item: Literal["mention"]
    action: Literal["split"]
    type: str | None = None


class RelationStatus(_OnItem):
    """accept (also accepts head and tail); reject; swap head and tail; delete."""

    item: Literal["relation"]
    action: Literal["accept", "reject", "swap", "delete"]


class RelationRetype(_OnItem):
    item: Literal["relation"]
    action: Literal["retype"]
    type: str


class RelationEvidence(_OnItem):
    item: Literal["relation"]
    action: Literal["evidence"]
    evidence: Evidence = Field(description='sentence numbers (also as a string: "1, 2")')


class RelationCreate(_NoItem):
    item: Literal["relation"]
    action: Literal["create"]
    head: StoredInt
    tail: StoredInt
    type: str
    evidence: Evidence | None = Field(default=None, description="default: the closest mentions' sentences")


class AcceptAgreed(_NoItem):
    """Accept every agreed, grounded item still to review."""

    item: Literal["document"]
    action: Literal["accept_agreed"]


class RejectAnnotator(_NoItem):
    """Reject every item still to review that only this annotator proposed."""

    item: Literal["document"]
    action: Literal["reject_annotator"]
    annotator: StoredInt


EntityCommand = Annotated[
    EntityStatus | EntityRetype | EntityCreate | EntityMerge | EntityAddMention, Field(discriminator="action")
]
MentionCommand = Annotated[MentionAdjust | MentionDelete | MentionSplit, Field(discriminator="action")]
RelationCommand = Annotated[
    RelationStatus | RelationRetype | RelationEvidence | RelationCreate, Field(discriminator="action")
]
DocumentCommand = Annotated[AcceptAgreed | RejectAnnotator, Field(discriminator="action")]
DecisionCommand = Annotated[
    EntityCommand | MentionCommand | RelationCommand | DocumentCommand, Field(discriminator="item")
]

_ADAPTER: TypeAdapter[DecisionCommand] = TypeAdapter(DecisionCommand)
_CLASSES: tuple[type[_Command], ...] = (
    EntityStatus,
    EntityRetype,
    EntityCreate,
    EntityMerge,
    EntityAddMention,
    MentionAdjust,
    MentionDelete,
    MentionSplit,
    RelationStatus,
    RelationRetype,
    RelationEvidence,
    RelationCreate,
    AcceptAgreed,
    RejectAnnotator,
)


def parse_command(values: dict[str, Any]) -> DecisionCommand:
    """A command from plain values (a script's dict); a 422 naming the field when it is malformed."""
    try:
        return _ADAPTER.validate_python(values)
    except ValidationError as exc:
        errors = [field_error(e) for e in exc.errors()]
        raise InvalidInput(f"Invalid input: {errors[0].field}: {errors[0].message}", errors=errors) from None


def command_from_form(form: dict[str, str], *, version: int) -> DecisionCommand:
    """The workbench's form as a command: fields the action does not read (the CSRF token) are left out, and so
    is an empty `id` (a create names no item); an empty `evidence` clears it, an empty `name` or split `type`
    means none given."""
    fields: set[str] = set()
    for cls in _CLASSES:
        item, action = cls.model_fields["item"].annotation, cls.model_fields["action"].annotation
        if form.get("item") in getattr(item, "__args__", ()) and form.get("action") in getattr(action, "__args__", ()):
            fields = set(cls.model_fields)
    values: dict[str, Any] = {
        k: v for k, v in form.items() if (not fields or k in fields) and not (k == "id" and not v.strip())
    }
    return parse_command({**values, "version": version})
