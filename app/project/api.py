"""Projects over HTTP: /api/v1/projects."""

from fastapi import APIRouter

from app.auth.deps import ApiAdmin, ApiReader
from app.db import SessionDep
from app.models import Project
from app.project import service
from app.project.schemas import ProjectCreate, ProjectRead, ProjectUpdate

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


def _read(project: Project) -> ProjectRead:
    return ProjectRead.model_validate(project, from_attributes=True)


@router.post("", status_code=201, response_model=ProjectRead)
def create_project(body: ProjectCreate, session: SessionDep, user: ApiAdmin) -> ProjectRead:
    """Create a project from a preset (`zh-general`, `person-relations`, `docred`) or a full schema."""
    project = service.create_project(
        session,
        name=body.name,
        preset=body.preset,
        schema=body.label_schema,
        guidelines=body.guidelines,
        description=body.description,
        created_by=user,
    )
    return _read(project)


@router.get("", response_model=list[ProjectRead])
def list_projects(session: SessionDep, _user: ApiReader) -> list[ProjectRead]:
    return [_read(p) for p in service.list_projects(session)]


@router.get("/{project_id}", response_model=ProjectRead)
def get_project(project_id: int, session: SessionDep, _user: ApiReader) -> ProjectRead:
    return _read(service.get_project(session, project_id))


@router.patch("/{project_id}", response_model=ProjectRead)
def update_project(project_id: int, body: ProjectUpdate, session: SessionDep, _user: ApiAdmin) -> ProjectRead:
    project = service.update_project(
        session,
        project=service.get_project(session, project_id),
        name=body.name,
        schema=body.label_schema,
        guidelines=body.guidelines,
        description=body.description,
        settings=body.settings,
    )
    return _read(project)
