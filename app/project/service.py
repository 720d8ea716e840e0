"""Projects: create from a preset or a schema, edit, look up."""

import copy
from collections.abc import Callable, Mapping
from typing import TypeVar

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.errors import FieldError, InvalidInput, NotFound
from app.models import Project, User
from app.models.types import utcnow
from app.project.label_schema import LabelSchema, ProjectSettings, parse_label_schema, parse_project_settings
from app.project.presets import PRESETS

DEFAULT_SETTINGS = ProjectSettings()

# A label schema or settings as a request sent them: validated here, once, naming the field of every problem.
JsonObject = Mapping[str, object]


def _check_name_free(session: Session, name: str, *, except_id: int | None = None) -> None:
    query = select(Project.id).where(func.lower(Project.name) == name.lower())
    if except_id is not None:
        query = query.where(Project.id != except_id)
    if session.exec(query).first() is not None:
        raise InvalidInput.for_field("name", f"A project named {name!r} already exists.")


def _flush_unique(session: Session, project: Project) -> None:
    # The check above races with a concurrent request; the unique index decides, inside a savepoint.
    try:
        with session.begin_nested():
            session.add(project)
            session.flush()
    except IntegrityError:
        raise InvalidInput.for_field("name", f"A project named {project.name!r} already exists.") from None


def resolve_schema(*, preset: str | None, schema: JsonObject | None, guidelines: str | None) -> tuple[LabelSchema, str]:
    """The label schema and guidelines from exactly one of a preset name or a schema."""
    if (preset is None) == (schema is None):
        raise InvalidInput(
            "Give either a preset or a schema.",
            errors=[FieldError(("preset",), f"one of: {', '.join(PRESETS)}; or send a schema instead")],
        )
    if preset is not None:
        if preset not in PRESETS:
            raise InvalidInput.for_field("preset", f"Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
        _, data, preset_guidelines = PRESETS[preset]
        return parse_label_schema(data), guidelines if guidelines is not None else preset_guidelines
    return parse_label_schema(schema), guidelines or ""


def create_project(
    session: Session,
    *,
    name: str,
    preset: str | None = None,
    schema: JsonObject | None = None,
    guidelines: str | None = None,
    description: str = "",
    created_by: User | None = None,
) -> Project:
    """A new project with a validated label schema; the name must be unused."""
    name = name.strip()
    if not name:
        raise InvalidInput.for_field("name", "Give the project a name.")
    label_schema, guidelines = resolve_schema(preset=preset, schema=schema, guidelines=guidelines)
    _check_name_free(session, name)
    project = Project(
        name=name,
        description=description.strip(),
        preset=preset,
        label_schema=label_schema.model_dump(mode="json"),
        guidelines=guidelines,
        settings=DEFAULT_SETTINGS.model_dump(),
        created_by_id=created_by.id if created_by else None,
    )
    _flush_unique(session, project)
    return project


def update_project(
    session: Session,
    *,
    project: Project,
    name: str | None = None,
    schema: JsonObject | None = None,
    guidelines: str | None = None,
    description: str | None = None,
    settings: JsonObject | None = None,
) -> Project:
    """Change a project's name, schema, guidelines, description or settings; all validated first."""
    label_schema = parse_label_schema(schema) if schema is not None else None
    new_settings = parse_project_settings({**project.settings, **settings}) if settings is not None else None
    if name is not None:
        name = name.strip()
        if not name:
            raise InvalidInput.for_field("name", "Give the project a name.")
        _check_name_free(session, name, except_id=project.id)
        project.name = name
    if label_schema is not None:
        project.label_schema = label_schema.model_dump(mode="json")
    if guidelines is not None:
        project.guidelines = guidelines
    if description is not None:
        project.description = description.strip()
    if new_settings is not None:
        project.settings = new_settings.model_dump()
    project.updated_at = utcnow()
    _flush_unique(session, project)
    return project


def get_project(session: Session, project_id: int) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} does not exist.")
    return project


def list_projects(session: Session) -> list[Project]:
    return list(session.exec(select(Project).order_by(col(Project.name))).all())


_Parsed = TypeVar("_Parsed")
# (project id, updated_at) → (a copy of the JSON column parsed, what it parsed to)
_ParseCache = dict[tuple[int | None, object], tuple[JsonObject, _Parsed]]
_CACHED_VERSIONS = 64


def _parsed_once(
    cache: _ParseCache[_Parsed], project: Project, raw: JsonObject, parse: Callable[[JsonObject], _Parsed]
) -> _Parsed:
    """parse(raw), once per version of the project (its id and updated_at); a copy of raw is kept beside the
    result so a change not yet saved is parsed anew. The latest versions stay cached."""
    key = (project.id, project.updated_at)
    cached = cache.get(key)
    if cached is None or cached[0] != raw:
        cached = cache[key] = (copy.deepcopy(raw), parse(raw))
        while len(cache) > _CACHED_VERSIONS:
            cache.pop(next(iter(cache)))
    return cached[1]


def label_schema_of(project: Project) -> LabelSchema:
    """The project's schema, parsed once per version of it (the review page asks for it on every decision)."""
    return _parsed_once(_SCHEMAS, project, project.label_schema, LabelSchema.model_validate)


def settings_of(project: Project) -> ProjectSettings:
    """The project's settings, with defaults for keys added since it was created (parsed once per version)."""
    return _parsed_once(
        _SETTINGS,
        project,
        project.settings,
        ProjectSettings.model_validate,  # a key added since the project was saved takes its default
    )


_SCHEMAS: _ParseCache[LabelSchema] = {}
_SETTINGS: _ParseCache[ProjectSettings] = {}
