"""The dataset API's request and response shapes."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.api_types import IsoDateTime
from app.models import SnapshotStatus
from app.request_limits import StoredInt


class SnapshotRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    seed: StoredInt = 0
    split: dict[str, float] | None = Field(default=None, description='e.g. {"train": 0.8, "dev": 0.1, "test": 0.1}')
    status: str = Field(default="curated", description="curated | all")
    batch: StoredInt | None = None
    confirm_empty_splits: bool = Field(
        default=False, description="freeze even if a split given a share would hold no document (otherwise 409)"
    )


class SnapshotParamsRead(BaseModel):
    """What a snapshot froze."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    status: str | None = Field(description="curated | all")
    split: dict[str, float] | None = Field(description="the train / dev / test ratios")
    batch_id: int | None = Field(description="the one batch selected, or null for the whole project")


class SnapshotRead(BaseModel):
    """A snapshot version and where to download its files (once it is done)."""

    model_config = ConfigDict(frozen=True)

    id: int
    project_id: int
    name: str
    version: str = Field(description='"v1", "v2", …')
    status: SnapshotStatus
    seed: int
    params: SnapshotParamsRead = Field(description="what was frozen: status, split ratios, batch")
    created_at: IsoDateTime
    error: str | None = Field(description="why the build failed (status failed)")
    checksums: dict[str, str] = Field(description="SHA-256 of each file, by file name")
    files: dict[str, dict[str, str]] = Field(description="download URL by format, then by split; empty until done")


class SnapshotDetail(SnapshotRead):
    datasheet: dict[str, Any] = Field(description="counts, agreement, provenance and the review protocol")


def binary_responses(media_types: list[str], description: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI for a route that answers a file: one binary body per media type it may send."""
    content = {media: {"schema": {"type": "string", "format": "binary"}} for media in media_types}
    return {200: {"description": description, "content": content}}


# POST /snapshots/{id}/evaluate reads its body itself (streamed under its own size limit): this is its schema.
EVALUATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["pred"],
                    "properties": {
                        "pred": {"type": "string", "format": "binary", "description": "the predictions file"},
                        "train": {
                            "type": "string",
                            "format": "binary",
                            "description": "the training set (DocRED JSON), for Ign F1",
                        },
                    },
                }
            },
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary", "description": "the predictions file itself"}
            },
        },
    }
}
