"""All tables, imported here so that SQLModel.metadata (and Alembic) sees every one."""

from app.models.annotation import (
    Agreement,
    Annotator,
    AnnotatorKind,
    AnnotatorRun,
    Entity,
    ItemStatus,
    LlmCall,
    Mention,
    Proposal,
    Relation,
    RunStatus,
)
from app.models.crawl_batch import BatchStatus, CrawlBatch
from app.models.dataset import DatasetSnapshot, SnapshotStatus
from app.models.document import Document, DocumentStatus
from app.models.health import HealthProbe
from app.models.project import Project
from app.models.review import AssignmentStatus, Decision, ReviewAssignment
from app.models.routing import ItemOutcome, Route, RoutedItem
from app.models.training import TrainingRun, TrainingStatus
from app.models.user import ApiToken, Role, User

__all__ = [
    "Agreement",
    "Annotator",
    "AnnotatorKind",
    "AnnotatorRun",
    "ApiToken",
    "AssignmentStatus",
    "BatchStatus",
    "CrawlBatch",
    "DatasetSnapshot",
    "Decision",
    "Document",
    "DocumentStatus",
    "Entity",
    "HealthProbe",
    "ItemOutcome",
    "ItemStatus",
    "LlmCall",
    "Mention",
    "Project",
    "Proposal",
    "Relation",
    "ReviewAssignment",
    "Role",
    "Route",
    "RoutedItem",
    "RunStatus",
    "SnapshotStatus",
    "TrainingRun",
    "TrainingStatus",
    "User",
]
