"""The demo project a fresh installation starts with: a small Chinese batch annotated by the builtin annotators."""

import logging
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.annotation import jobs as annotation_jobs
from app.annotation.service import create_annotator, list_annotators
from app.crawl_batch.jobs import ingest_batch
from app.crawl_batch.service import create_batch, upload_dir
from app.crawl_batch.uploads import StoredUpload
from app.models import Document
from app.project.service import create_project

log = logging.getLogger(__name__)
SAMPLE = Path(__file__).with_name("sample_batch.jsonl")
DEMO_NAME = "示例项目（内置标注器演示）"


def create_demo_project(engine: Engine) -> int:
    """Project, sample batch ingested, and both builtin annotators run and cross-validated; returns its id."""
    with Session(engine, expire_on_commit=False) as session:
        project = create_project(
            session,
            name=DEMO_NAME,
            preset="zh-general",
            description="A small sample of Chinese web-style pages, annotated by the offline builtin annotators "
            "(weak by design). Add two LLM annotators to see the real loop.",
        )
        assert project.id is not None
        create_annotator(
            session,
            project=project,
            data={"name": "builtin-lexicon", "provider": "builtin:lexicon", "parameters": {"role": "A"}},
        )
        create_annotator(
            session,
            project=project,
            data={"name": "builtin-patterns", "provider": "builtin:patterns", "parameters": {"role": "B"}},
        )
        folder = upload_dir(project.id)
        folder.mkdir(parents=True, exist_ok=True)
        copy = folder / "demo-sample_batch.jsonl"
        copy.write_bytes(SAMPLE.read_bytes())
        upload = StoredUpload(copy, "sample_batch.jsonl", copy.stat().st_size, "demo")
        batch = create_batch(session, project=project, upload=upload, fmt="jsonl", created_by=None)
        session.commit()
        project_id, batch_id = project.id, batch.id
    assert batch_id is not None
    ingest_batch(batch_id, engine=engine)
    with Session(engine) as session:
        annotator_ids = [a.id for a in list_annotators(session, project_id=project_id)]
        doc_ids = list(
            session.exec(select(Document.id).where(Document.batch_id == batch_id).order_by(col(Document.id)))
        )
    for doc_id in doc_ids:
        assert doc_id is not None
        for annotator_id in annotator_ids:
            assert annotator_id is not None
            annotation_jobs.run_annotator(doc_id, annotator_id, engine=engine)
        annotation_jobs.crossvalidate(doc_id, engine=engine)
    log.info("demo project %s ready with %d documents", project_id, len(doc_ids))
    return project_id
