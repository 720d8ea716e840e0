"""The project API's request and response shapes."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from app.project.label_schema import LabelSchema, ProjectSettings

# A schema and settings arrive as plain JSON: the service validates them and names the exact field of every
# problem. OpenAPI still shows their shapes (LabelSchema is among the components through ProjectRead).
LabelSchemaJson = Annotated[dict[str, Any], WithJsonSchema({"$ref": "#/components/schemas/LabelSchema"})]
SettingsJson = Annotated[dict[str, Any], WithJsonSchema(ProjectSettings.model_json_schema())]


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
    settings: dict[str, Any]
    guidelines: str
    created_at: datetime
    updated_at: datetime
