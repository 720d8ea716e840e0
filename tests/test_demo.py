"""The demo project a fresh installation starts with."""

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.demo import DEMO_NAME, create_demo_project
from app.models import Agreement, AnnotatorRun, Document, Entity, Project, Relation


def test_demo_project_is_ingested_annotated_and_cross_validated(engine: Engine) -> None:
    project_id = create_demo_project(engine)
    try:
        with Session(engine) as s:
            project = s.get(Project, project_id)
            assert project is not None and project.name == DEMO_NAME
            docs = list(s.exec(select(Document).where(Document.project_id == project_id)))
            assert len(docs) == 8
            assert all(d.status == "annotated" and d.sentences for d in docs)
            ids = [d.id for d in docs]
            runs = list(s.exec(select(AnnotatorRun).where(col(AnnotatorRun.document_id).in_(ids))))
            assert len(runs) == 16 and all(r.status == "done" for r in runs)
            entities = list(s.exec(select(Entity).where(col(Entity.document_id).in_(ids))))
            relations = list(s.exec(select(Relation).where(col(Relation.document_id).in_(ids))))
            # lexicon and patterns find the same entities (agreed); only patterns propose relations (b_only)
            assert sum(e.agreement == Agreement.agreed for e in entities) > 30
            assert relations and all(r.agreement == Agreement.b_only for r in relations)
            names = {e.id: e.name for e in entities}
            assert ("张伟", "创办", "深圳智言科技公司") in {
                (names[r.head_id], r.type, names[r.tail_id]) for r in relations
            }
    finally:
        with Session(engine) as s:
            project = s.get(Project, project_id)
            if project is not None:
                s.delete(project)
            s.commit()
