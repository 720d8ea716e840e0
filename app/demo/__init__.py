"""The demo project a fresh installation starts with: a small Chinese batch run through the whole loop.

Two sample model annotators (A and B) replay answers recorded for this batch (app/annotation/sample.py): no key,
no network, nothing paid. With them the batch shows what real models bring: agreed items, type conflicts, items
the blind second look confirmed, disputed or withdrew, pairs found later, costs and the dashboard. The two builtin
annotators (real but weak, offline) run beside them for comparison.
"""

import logging
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.annotation import jobs as annotation_jobs
from app.annotation.sample import SAMPLE_PROVIDER
from app.annotation.service import create_annotator, list_annotators
from app.crawl_batch.jobs import ingest_batch
from app.crawl_batch.service import create_batch, upload_dir
from app.crawl_batch.uploads import StoredUpload
from app.models import Document
from app.project.service import create_project

log = logging.getLogger(__name__)
SAMPLE = Path(__file__).with_name("sample_batch.jsonl")
DEMO_NAME = "示例项目（样例答案演示）"
# The sample annotators: recorded model answers, replayed (role → model label, prices per 1M tokens in / out).
SAMPLE_MODELS = {"A": ("sample-model-a", 0.27, 1.10), "B": ("sample-model-b", 0.30, 2.50)}


def create_demo_project(engine: Engine) -> int:
    """Project, sample batch ingested, and both builtin annotators run and cross-validated; returns its id."""
    with Session(engine, expire_on_commit=False) as session:
        project = create_project(
            session,
            name=DEMO_NAME,
            preset="zh-general",
            description="A small sample of Chinese web-style pages. Annotators A and B are sample answers: model "
            "answers recorded for this batch and replayed (no key, no live model calls, nothing paid; the costs "
            "shown are what the calls would cost). The builtin annotators (offline, weak by design) run beside "
            "them. Add your own model annotators for real work.",
        )
        assert project.id is not None
        for name, provider in (("builtin-lexicon", "builtin:lexicon"), ("builtin-patterns", "builtin:patterns")):
            create_annotator(session, project=project, data={"name": name, "provider": provider})
        # Prices as a real pair might charge, so the batch page and the dashboard show what the calls would cost;
        # the answers are replayed and nothing is paid.
        for role, (model, price_in, price_out) in SAMPLE_MODELS.items():
            create_annotator(
                session,
                project=project,
                data={
                    "name": f"sample-answers-{role.lower()}",
                    "provider": SAMPLE_PROVIDER,
                    "model": model,
                    "price_input_per_m": price_in,
                    "price_output_per_m": price_out,
                    "parameters": {"role": role},
                },
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
        annotation_jobs.augment(doc_id, engine=engine)  # the blind second look, from the recorded answers
    log.info("demo project %s ready with %d documents", project_id, len(doc_ids))
    return project_id
