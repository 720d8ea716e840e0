"""The project API's request and response shapes."""

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from app.project.label_schema import LabelSchema, ProjectSettings

# A schema and settings arrive as plain JSON: the service validates them and names the exact field of every
# problem. OpenAPI still shows their shapes (LabelSchema is among the components through ProjectRead).
LabelSchemaJson = Annotated[dict[str, object], WithJsonSchema({"$ref": "#/components/schemas/LabelSchema"})]
SettingsJson = Annotated[dict[str, object], WithJsonSchema(ProjectSettings.model_json_schema())]


class ProjectCreate(BaseModel):
    """POST /api/v1/projects: a preset name or a full schema."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    preset: str | None = None
    label_schema: LabelSchemaJson | None = Field(default=None, alias="schema")
    guidelines: str | None = Field(default=None, max_length=100_000)
    description: str = Field(default="", max_length=5000)


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settings: SettingsJson | None = Field(default=None, description="only the keys to change")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    label_schema: LabelSchemaJson | None = Field(default=None, alias="schema")
    guidelines: str | None = Field(default=None, max_length=100_000)
    description: str | None = Field(default=None, max_length=5000)


class ProjectRead(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    id: int
    name: str
    description: str
    preset: str | None
    label_schema: LabelSchema = Field(serialization_alias="schema")
    # The stored column as saved (validated on every write): answered as it is, so its bytes never change.
    settings: SettingsJson
    guidelines: str
    created_at: datetime
    updated_at: datetime


# What a form field shows: what was typed, or the saved setting.
FormValue = str | float | bool


@dataclass(frozen=True, slots=True)
class NewProjectForm:
    """The new-project form's values (again with what was typed, after an error)."""

    source: str = "preset"
    preset: str = ""
    name: str = ""
    description: str = ""
    schema_text: str = ""


@dataclass(frozen=True, slots=True)
class EditProjectForm:
    """The edit form's values: the saved project, or what was typed (a blank routing field shows the saved one)."""

    name: str
    description: str
    guidelines: str
    schema_text: str
    languages: str
    extractor: str
    min_chars: FormValue
    near_duplicate_threshold: FormValue
    reviewers_per_document: FormValue
    review_lock_minutes: FormValue
    auto_accept: FormValue
    audit_rate: FormValue
    target_precision: FormValue
    min_evidence: FormValue
    recheck: FormValue
    recall_audit_rate: FormValue


class EditProjectPost(BaseModel):
    """What the edit form posts. A routing field left out of the post (an older form, a script) leaves its setting
    unchanged; "on"/"off" and numbers are validated as settings by the service."""

    name: str = ""
    description: str = ""
    guidelines: str = ""
    schema_text: str = ""
    languages: str = ""
    extractor: str = "resiliparse"
    min_chars: str = "50"
    near_duplicate_threshold: str = "0.8"
    reviewers_per_document: str = "1"
    review_lock_minutes: str = "30"
    auto_accept: str = ""
    audit_rate: str = ""
    target_precision: str = ""
    min_evidence: str = ""
    recheck: str = ""
    recall_audit_rate: str = ""

    def _routing(self) -> dict[str, str]:
        """The routing fields that were posted, stripped."""
        fields = ("auto_accept", "audit_rate", "target_precision", "min_evidence", "recheck", "recall_audit_rate")
        return {k: v.strip() for k in fields if (v := getattr(self, k)).strip()}

    def settings(self) -> dict[str, object]:
        """The posted settings, for the service to validate."""
        return {
            "languages": self.languages.replace(",", " ").lower().split(),
            "extractor": self.extractor,
            "min_chars": self.min_chars.strip() or "0",
            "near_duplicate_threshold": self.near_duplicate_threshold.strip() or "0.8",
            "reviewers_per_document": self.reviewers_per_document.strip() or "1",
            "review_lock_minutes": self.review_lock_minutes.strip() or "30",
            **self._routing(),
        }

    def shown_over(self, saved: EditProjectForm) -> EditProjectForm:
        """The form shown again after a refusal: what was typed, a blank routing field showing the saved value."""
        routing = {k: getattr(self, k) for k in self._routing()}
        return replace(
            saved,
            name=self.name,
            description=self.description,
            guidelines=self.guidelines,
            schema_text=self.schema_text,
            languages=self.languages,
            extractor=self.extractor,
            min_chars=self.min_chars,
            near_duplicate_threshold=self.near_duplicate_threshold,
            reviewers_per_document=self.reviewers_per_document,
            review_lock_minutes=self.review_lock_minutes,
            **routing,
        )


# The edit form's fields that show a setting.
SETTINGS_FIELDS = (
    "extractor",
    "min_chars",
    "near_duplicate_threshold",
    "reviewers_per_document",
    "review_lock_minutes",
    "auto_accept",
    "audit_rate",
    "target_precision",
    "min_evidence",
    "recheck",
    "recall_audit_rate",
)
