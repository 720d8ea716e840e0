"""A batch's stage, from ingestion to ready for review, read from its rows as the workers leave them."""

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from app.annotation.pipeline import batch_pipeline
from app.annotation.service import start_annotation
from app.crawl_batch.pipeline import BatchPipeline, BatchStage
from app.models import (
    Annotator,
    AnnotatorKind,
    AnnotatorRun,
    BatchStatus,
    CrawlBatch,
    Document,
    DocumentStatus,
    Project,
    RunStatus,
)
from app.models.types import utcnow
from tests.factories import bearer, login, make_project, make_token, make_user


def _batch(session: Session, project: Project, n_docs: int, status: BatchStatus = BatchStatus.done) -> CrawlBatch:
    batch = CrawlBatch(project_id=project.id or 0, filename="b.jsonl", status=status, counts={"kept": n_docs})
    session.add(batch)
    session.flush()
    for i in range(n_docs):
        text = f"张伟在北京大学工作。第{i}篇。"
        session.add(Document(project_id=project.id or 0, batch_id=batch.id, text=text, text_hash=f"{batch.id}-{i}"))
    session.commit()
    return batch


def _pair(session: Session, project: Project, kind: AnnotatorKind = AnnotatorKind.llm) -> list[Annotator]:
    pair = [
        Annotator(project_id=project.id or 0, name=name, kind=kind, provider="openai", parameters={"role": role})
        for name, role in (("gpt", "A"), ("gem", "B"))
    ]
    session.add_all(pair)
    session.commit()
    return pair


def _docs(session: Session, batch: CrawlBatch) -> list[Document]:
    return list(session.exec(select(Document).where(Document.batch_id == batch.id).order_by(col(Document.id))))


def _run(
    session: Session, doc: Document, annotator: Annotator, status: RunStatus, version: str = "annotate-v1:x"
) -> None:
    session.add(
        AnnotatorRun(
            document_id=doc.id or 0,
            annotator_id=annotator.id or 0,
            prompt_version=version,
            status=status,
            finished_at=utcnow() if status != RunStatus.running else None,
        )
    )
    session.commit()


def _stage(session: Session, batch: CrawlBatch) -> BatchPipeline:
    session.refresh(batch)
    return batch_pipeline(session, batch=batch)


def test_the_stage_follows_the_batch_from_ingestion_to_ready_for_review(session: Session) -> None:
    project = make_project(session)  # the blind second opinion is on by default
    batch = _batch(session, project, 2, BatchStatus.running)
    assert _stage(session, batch).stage == BatchStage.ingesting
    assert _stage(session, batch).polling
    batch.status = BatchStatus.done
    session.add(batch)
    session.commit()
    assert _stage(session, batch) == BatchPipeline(BatchStage.not_annotated, 2, 0, 0, 0, 0)
    assert not _stage(session, batch).polling

    gpt, gem = _pair(session, project)
    start_annotation(session, project=project, batch_id=batch.id or 0)
    session.commit()
    # Asked for, before any worker has taken a job: annotating, and the page keeps asking.
    assert _stage(session, batch) == BatchPipeline(BatchStage.annotating, 2, 0, 0, 0, 2)
    assert _stage(session, batch).polling

    first, second = _docs(session, batch)
    _run(session, first, gpt, RunStatus.done)
    _run(session, first, gem, RunStatus.failed)
    _run(session, second, gpt, RunStatus.done)
    _run(session, second, gem, RunStatus.running)
    assert (_stage(session, batch).stage, _stage(session, batch).annotated) == (BatchStage.annotating, 1)

    session.execute(
        update(AnnotatorRun)
        .where(col(AnnotatorRun.document_id) == second.id, col(AnnotatorRun.status) == RunStatus.running)
        .values(status=RunStatus.done, finished_at=utcnow())
    )
    session.commit()
    # Every run has finished; cross-validation has not marked the documents yet.
    assert _stage(session, batch) == BatchPipeline(BatchStage.cross_checking, 2, 2, 0, 0, 2)
    first.status = DocumentStatus.annotated
    session.add(first)
    session.commit()
    assert _stage(session, batch) == BatchPipeline(BatchStage.cross_checking, 2, 2, 1, 0, 2)
    second.status = DocumentStatus.annotated
    session.add(second)
    session.commit()
    # The second look is asked of LLM annotators after cross-checking.
    assert _stage(session, batch) == BatchPipeline(BatchStage.augmenting, 2, 2, 2, 0, 2)
    assert _stage(session, batch).polling
    first.meta = {"second_look": "done"}
    second.meta = {"second_look": "gem: timeout", "augmentation": "skipped: 300 candidate pairs exceed the limit"}
    session.add_all([first, second])
    session.commit()
    ready = _stage(session, batch)
    assert ready == BatchPipeline(BatchStage.ready, 2, 2, 2, 2, 2)
    assert (ready.label, ready.polling) == ("ready for review", False)
    assert [ready.step_state(s) for s in (BatchStage.ingesting, BatchStage.augmenting, BatchStage.ready)] == [
        "done",
        "done",
        "current",
    ]


def test_a_stage_that_stopped_moving_is_not_waited_for_forever(session: Session) -> None:
    project = make_project(session)
    batch = _batch(session, project, 1)
    gpt, gem = _pair(session, project)
    (doc,) = _docs(session, batch)
    for annotator in (gpt, gem):
        _run(session, doc, annotator, RunStatus.done)
    assert _stage(session, batch).stage == BatchStage.cross_checking
    assert not _stage(session, batch).stalled
    # Cross-validation failed: no run has finished for eleven minutes.
    session.execute(update(AnnotatorRun).values(finished_at=utcnow() - timedelta(minutes=11)))
    session.commit()
    stalled = _stage(session, batch)
    assert (stalled.stage, stalled.stalled, stalled.polling) == (BatchStage.cross_checking, True, False)


def test_without_a_second_look_to_wait_for_cross_checked_is_ready(session: Session) -> None:
    project = make_project(session)
    batch = _batch(session, project, 1)
    builtin = _pair(session, project, AnnotatorKind.builtin)
    (doc,) = _docs(session, batch)
    for annotator in builtin:
        _run(session, doc, annotator, RunStatus.done)
    doc.status = DocumentStatus.annotated
    session.add(doc)
    session.commit()
    assert _stage(session, batch) == BatchPipeline(BatchStage.ready, 1, 1, 1, 0, 2)
    # Second looks and verification votes are not document runs: one still open does not reopen annotating.
    _run(session, doc, builtin[0], RunStatus.running, version="recheck-v2:x")
    assert _stage(session, batch).stage == BatchStage.ready


def test_an_ingestion_that_kept_nothing_or_failed_ends_there(session: Session) -> None:
    project = make_project(session)
    assert _stage(session, _batch(session, project, 0)).stage == BatchStage.nothing_kept
    failed = _stage(session, _batch(session, project, 0, BatchStatus.failed))
    assert (failed.stage, failed.label, failed.polling) == (BatchStage.failed, "ingestion failed", False)
    assert failed.step_state(BatchStage.ingesting) == "todo"


def test_the_api_and_the_page_show_the_stage_and_annotate_waits_for_annotators(
    session: Session, app_client: TestClient
) -> None:
    user = make_user(session)
    project = make_project(session)
    batch = _batch(session, project, 1)
    login(app_client)
    page = app_client.get(f"/batches/{batch.id}").text
    assert 'data-stage="not_annotated"' in page
    button = page.split('id="annotate"')[1].split(">")[0]
    assert "disabled" in button
    assert f'<a href="/projects/{project.id}#annotators">add them</a>' in page
    _pair(session, project)
    page = app_client.get(f"/batches/{batch.id}").text
    assert "disabled" not in page.split('id="annotate"')[1].split(">")[0]
    assert "no-annotators" not in page

    api = app_client.get(f"/api/v1/batches/{batch.id}", headers=bearer(make_token(session, user))).json()
    assert api["pipeline"] == {
        "stage": "not_annotated",
        "label": "not annotated yet",
        "active": False,
        "stalled": False,
        "documents": 1,
        "annotated": 0,
        "cross_checked": 0,
        "second_looked": 0,
        "annotators": 2,
    }
    assert api["explanation"] == []
    assert api["annotation"] == {
        "annotators": [],
        "agreement": {"entities": {}, "relations": {}},
        "second_look": {"done": 0, "failed": 0, "not_yet": 1, "reasons": []},
    }
