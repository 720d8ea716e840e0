"""API shapes for batches and documents."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class BatchCreated(BaseModel):
    id: int
    status: str


class DocumentSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    batch_id: int | None
    url: str | None
    title: str
    language: str | None
    script: str | None
    status: str
    created_at: datetime


class DocumentList(BaseModel):
    items: list[DocumentSummary]
    total: int
    page: int
    per_page: int


class DocumentRead(DocumentSummary):
    project_id: int
    warc_record_id: str | None
    crawl_date: datetime | None
    text: str
    sentences: list[list[int]]
    duplicate_urls: list[str]
    version: int
    meta: dict[str, Any]
