"""The label schema of a project (entity and relation types) and its settings: domain values, validated with the
exact field of every problem."""

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from app.errors import FieldError, InvalidInput

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Color = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]
_CODE_RE = re.compile(r"^[^\s<>&\"'`]+$")


class EntityType(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    name: str = Field(min_length=1, max_length=100)
    color: Color = "#8a8f98"
    description: str = Field(default="", max_length=2000)


class RelationType(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    # Empty means any entity type is allowed.
    head_types: list[Code] = Field(default_factory=list)
    tail_types: list[Code] = Field(default_factory=list)
    symmetric: bool = False


class LabelSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity_types: list[EntityType] = Field(min_length=1, max_length=200)
    relation_types: list[RelationType] = Field(default_factory=list, max_length=1000)

    def entity_codes(self) -> list[str]:
        return [t.code for t in self.entity_types]

    def relation(self, code: str) -> RelationType | None:
        return next((r for r in self.relation_types if r.code == code), None)


def parse_label_schema(data: Any, *, field: str = "schema") -> LabelSchema:
    """Validate a label schema, naming the exact field of every problem (422)."""
    if not isinstance(data, dict):
        raise InvalidInput(
            "The schema must be a JSON object with entity_types and relation_types.",
            errors=[FieldError((field,), "expected a JSON object")],
        )
    try:
        schema = LabelSchema.model_validate(data)
    except ValidationError as exc:
        errors = [FieldError((field, *e["loc"]), e["msg"]) for e in exc.errors()]
        raise InvalidInput(f"Invalid schema: {errors[0].field}: {errors[0].message}", errors=errors) from None
    errors = []
    seen: dict[str, int] = {}
    for i, et in enumerate(schema.entity_types):
        if not _CODE_RE.match(et.code):
            errors.append(FieldError((field, "entity_types", i, "code"), "codes cannot contain spaces or <>&\"'`"))
        if et.code in seen:
            errors.append(FieldError((field, "entity_types", i, "code"), f"duplicate entity type code {et.code!r}"))
        seen[et.code] = i
    known = set(seen)
    seen_rel: set[str] = set()
    for i, rt in enumerate(schema.relation_types):
        if not _CODE_RE.match(rt.code):
            errors.append(FieldError((field, "relation_types", i, "code"), "codes cannot contain spaces or <>&\"'`"))
        if rt.code in seen_rel:
            errors.append(FieldError((field, "relation_types", i, "code"), f"duplicate relation type code {rt.code!r}"))
        seen_rel.add(rt.code)
        for side in ("head_types", "tail_types"):
            for j, code in enumerate(getattr(rt, side)):
                if code not in known:
                    errors.append(
                        FieldError(
                            (field, "relation_types", i, side, j),
                            f"unknown entity type {code!r} (known: {', '.join(sorted(known))})",
                        )
                    )
    if errors:
        raise InvalidInput(f"Invalid schema: {errors[0].field}: {errors[0].message}", errors=errors)
    return schema


class ProjectSettings(BaseModel):
    """How uploads are filtered and deduplicated, and how annotations are routed, in a project."""

    model_config = ConfigDict(extra="forbid")

    # ISO 639-1 codes to keep; empty keeps every language.
    languages: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]] = Field(
        default_factory=lambda: ["zh"], max_length=50
    )
    min_chars: int = Field(default=50, ge=0, le=1_000_000)
    max_chars: int = Field(default=500_000, ge=1, le=5_000_000)
    min_cjk_ratio: float = Field(default=0.3, ge=0, le=1)
    extractor: Literal["resiliparse", "trafilatura"] = "resiliparse"
    near_duplicate_threshold: float = Field(default=0.8, ge=0.5, le=1)
    # Items of trusted slices are accepted without review, except a random audit sample. A slice is trusted when
    # the lower bound of its estimated precision reaches target_precision over at least min_evidence reviewed
    # items; before that, only agreed and confirmed items are (the prior).
    auto_accept: bool = True
    audit_rate: float = Field(default=0.1, ge=0, le=1)
    target_precision: float = Field(default=0.97, gt=0.5, le=1)
    min_evidence: int = Field(default=30, ge=1, le=100_000)
    augmentation: bool = True
    augmentation_cap: int = Field(default=40, ge=0, le=500)
    # The blind second opinion: the other model classifies single-model items without being told they were
    # proposed (same type: confirmed; "no relation"/"not an entity": disputed).
    recheck: bool = True
    # The other model votes on each relation only one annotator proposed: shown to reviewers, never acceptance.
    verification: bool = False
    # Share of documents reviewed blind first (text only, proposals revealed after): estimates what both missed.
    recall_audit_rate: float = Field(default=0, ge=0, le=1)
    # Stop enqueuing paid calls once the project has spent this much (USD); None = no cap.
    budget_usd: float | None = Field(default=None, ge=0)
    # Independent reviews per document; with 2 or more an admin adjudicates where the reviewers differ.
    reviewers_per_document: int = Field(default=1, ge=1, le=5)
    # A claimed document stays locked to its reviewer this long after their last action.
    review_lock_minutes: int = Field(default=30, ge=1, le=24 * 60)


def parse_project_settings(data: Any) -> ProjectSettings:
    """Validate project settings, naming the field of every problem (422)."""
    try:
        return ProjectSettings.model_validate(data)
    except ValidationError as exc:
        errors = [FieldError(("settings", *e["loc"]), e["msg"]) for e in exc.errors()]
        raise InvalidInput(f"Invalid settings: {errors[0].field}: {errors[0].message}", errors=errors) from None
