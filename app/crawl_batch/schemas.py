"""API shapes for batches (GET /api/v1/batches/{id}, which carries annotation progress, is in
app/annotation/schemas.py)."""

from pydantic import BaseModel, Field


class BatchCreated(BaseModel):
    id: int
    status: str


class ReingestRequest(BaseModel):
    format: str | None = Field(
        default=None, description="Read the file as this format (or auto); by default as at upload."
    )


class RecordErrorRead(BaseModel):
    """A record that could not be read, where it was in the file."""

    offset: int
    message: str
    line: int | None = None
    member: str | None = None
    fatal: bool = False
