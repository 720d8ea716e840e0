"""API shapes for batches."""

from pydantic import BaseModel


class BatchCreated(BaseModel):
    id: int
    status: str
