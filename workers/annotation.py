"""Jobs "annotation.run", "annotation.crossvalidate", "annotation.augment" and "annotation.verify"."""

from app.annotation import jobs
from workers.celery_app import celery_app


@celery_app.task(name="annotation.run")
def run(document_id: int, annotator_id: int) -> None:
    """One annotator over one document; cached calls make a re-delivery free."""
    jobs.run_annotator(document_id, annotator_id)


@celery_app.task(name="annotation.crossvalidate")
def crossvalidate(document_id: int) -> None:
    """Align the pair's proposals and classify every item."""
    jobs.crossvalidate(document_id)


@celery_app.task(name="annotation.augment")
def augment(document_id: int) -> None:
    """Ask about entity pairs both annotators left unrelated."""
    jobs.augment(document_id)


@celery_app.task(name="annotation.verify")
def verify(document_id: int) -> None:
    """The other model votes on relations only one annotator proposed."""
    jobs.verify(document_id)
