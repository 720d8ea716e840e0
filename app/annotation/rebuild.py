"""A document's items rebuilt from the pair's finished runs (the annotation jobs' shared step)."""

from sqlmodel import Session, select

from app.annotation import consolidate, sides
from app.annotation.contract import AnnotationOutput
from app.annotation.model_annotator import model_side_name
from app.annotation.runner import version_for
from app.annotation.service import pair_of, voter_of
from app.db import require_id
from app.models import Annotator, AnnotatorKind, AnnotatorRun, Decision, Document, Project, RunStatus
from app.project.label_schema import LabelSchema
from app.project.service import label_schema_of, settings_of
from app.webtext.docred import SpannedOutput


def current_run(session: Session, document: Document, annotator: Annotator) -> AnnotatorRun | None:
    """The annotator's run under the current prompt version (an old prompt's results are never reused)."""
    project = session.get(Project, document.project_id)
    assert project is not None
    version = version_for(annotator, label_schema_of(project), project.guidelines)
    return session.exec(
        select(AnnotatorRun).where(
            AnnotatorRun.document_id == document.id,
            AnnotatorRun.annotator_id == annotator.id,
            AnnotatorRun.prompt_version == version,
        )
    ).first()


def _side(session: Session, document: Document, annotator: Annotator | None, schema: LabelSchema) -> sides.Side | None:
    """An annotator's grounded proposals for the document, or None when it has no finished run."""
    if annotator is None:
        return None
    run = current_run(session, document, annotator)
    if run is None or run.status != RunStatus.done or not run.raw_response:
        return None
    if annotator.kind == AnnotatorKind.imported:
        return sides.side_from_spans(SpannedOutput.model_validate_json(run.raw_response), run, annotator.name)
    output = AnnotationOutput.model_validate_json(run.raw_response)
    sentences = [(s, e) for s, e in document.sentences]
    return sides.side_from_output(document.text, sentences, output, run, schema, model_side_name(annotator))


def rebuild_document(
    session: Session, document: Document, second: sides.SecondLooks | None = None
) -> sides.Built | None:
    """Cross-validate the pair's finished runs into the document's items (None when neither has finished), marking
    where the third voter's finished run agrees."""
    project = session.get(Project, document.project_id)
    assert project is not None
    schema, settings = label_schema_of(project), settings_of(project)
    a, b = pair_of(session, project_id=require_id(project))
    side_a, side_b = _side(session, document, a, schema), _side(session, document, b, schema)
    if side_a is None and side_b is None:
        return None
    return consolidate.rebuild(
        session,
        document=document,
        schema=schema,
        settings=settings,
        side_a=side_a or sides.Side(None, model_side_name(a) if a else ""),
        side_b=side_b or sides.Side(None, model_side_name(b) if b else ""),
        second=second,
        voter=_side(session, document, voter_of(session, project_id=require_id(project)), schema),
    )


def review_started(session: Session, document_id: int) -> bool:
    return session.exec(select(Decision.id).where(Decision.document_id == document_id)).first() is not None
