"""An imported dataset's annotations, stored as the run of a named import annotator (e.g. import:redocred_dev)."""

from sqlmodel import Session, select

from app.models import (
    Agreement,
    Annotator,
    AnnotatorKind,
    AnnotatorRun,
    Document,
    Entity,
    Mention,
    Proposal,
    Relation,
    RunStatus,
)
from app.models.types import utcnow
from app.webtext.docred import DocredDocument, spanned

IMPORT_PROMPT_VERSION = "import"


def import_annotator(session: Session, *, project_id: int, name: str) -> Annotator:
    """The project's annotator standing for an imported dataset, created on first use."""
    cache: dict[tuple[int, str], int] = session.info.setdefault("concord_import_annotators", {})
    cached = cache.get((project_id, name))
    if cached is not None:
        annotator = session.get(Annotator, cached)
        if annotator is not None:
            return annotator
    annotator = session.exec(
        select(Annotator).where(Annotator.project_id == project_id, Annotator.name == name)
    ).first()
    if annotator is None:
        annotator = Annotator(project_id=project_id, name=name, kind=AnnotatorKind.imported, provider="import")
        session.add(annotator)
        session.flush()
    assert annotator.id is not None
    cache[(project_id, name)] = annotator.id
    return annotator


def store_docred_annotations(
    session: Session, *, project_id: int, document: Document, parsed: DocredDocument, annotator_name: str
) -> AnnotatorRun:
    """Entities, mentions and relations of one imported document, each with its provenance."""
    assert document.id is not None
    annotator = import_annotator(session, project_id=project_id, name=annotator_name)
    assert annotator.id is not None
    run = AnnotatorRun(
        document_id=document.id,
        annotator_id=annotator.id,
        prompt_version=IMPORT_PROMPT_VERSION,
        status=RunStatus.done,
        finished_at=utcnow(),
        raw_response=spanned(parsed).model_dump_json(),
    )
    session.add(run)
    entities = [
        Entity(document_id=document.id, type=e.type, name=e.name, agreement=Agreement.imported) for e in parsed.entities
    ]
    session.add_all(entities)
    session.flush()
    assert run.id is not None
    _store_mentions(session, run_id=run.id, document_id=document.id, parsed=parsed, entities=entities)
    _store_relations(session, run_id=run.id, document_id=document.id, parsed=parsed, entities=entities)
    return run


def _store_mentions(
    session: Session, *, run_id: int, document_id: int, parsed: DocredDocument, entities: list[Entity]
) -> None:
    """Each stored entity's mentions, and the run's proposal of the entity."""
    for parsed_entity, entity in zip(parsed.entities, entities, strict=True):
        assert entity.id is not None
        session.add_all(
            Mention(
                entity_id=entity.id,
                document_id=document_id,
                start=m.start,
                end=m.end,
                text=m.name,
                sentence_id=m.sent_id,
            )
            for m in parsed_entity.mentions
        )
        session.add(Proposal(run_id=run_id, item_kind="entity", item_id=entity.id, proposed_type=entity.type))


def _store_relations(
    session: Session, *, run_id: int, document_id: int, parsed: DocredDocument, entities: list[Entity]
) -> None:
    """The relations between the stored entities, and the run's proposal of each."""
    entity_ids = [e.id for e in entities if e.id is not None]
    relations = [
        Relation(
            document_id=document_id,
            head_id=entity_ids[r.head],
            tail_id=entity_ids[r.tail],
            type=r.type,
            evidence=r.evidence,
            agreement=Agreement.imported,
        )
        for r in parsed.relations
    ]
    session.add_all(relations)
    session.flush()
    session.add_all(
        Proposal(run_id=run_id, item_kind="relation", item_id=rel.id, proposed_type=rel.type)
        for rel in relations
        if rel.id is not None
    )
    session.flush()
