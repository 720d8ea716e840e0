"""A trained model as an annotator: added from a succeeded training run only, run through the real job at no cost,
grounded, cross-validated against a builtin annotator and routed in slices of its own; a model gone missing fails
its runs with the reason."""

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.annotation import jobs as annotation_jobs
from app.annotation import model_annotator
from app.annotation.service import create_annotator
from app.config import get_settings
from app.db import require_id
from app.document.service import document_annotations
from app.errors import Conflict, InvalidInput
from app.modelling import PredictedEntity, PredictedRelation, Prediction, TrainConfig, train
from app.models import (
    Agreement,
    Annotator,
    AnnotatorKind,
    AnnotatorRun,
    BatchStatus,
    CrawlBatch,
    DatasetSnapshot,
    Document,
    Entity,
    LlmCall,
    Mention,
    Project,
    Proposal,
    Relation,
    RoutedItem,
    RunStatus,
    TrainingRun,
    TrainingStatus,
)
from app.project.service import create_project
from app.webtext.dedup import text_hash
from app.webtext.sentences import split_sentences
from tests.factories import bearer, login, make_project, make_token, make_user, page_csrf
from tests.modelling.conftest import require_torch
from tests.modelling.corpus import tiny_doc, tiny_docs

TINY = TrainConfig(
    epochs=10, device="cpu", threads=1, hidden_size=32, layers=1, heads=2, batch_size=2, learning_rate=3e-3,
    max_window=24,
)  # fmt: skip
# A document like the ones the model learned from: 张伟 studied at 清华大学, works at 腾讯公司, in 深圳.
TEXT = "".join(tiny_doc(0).sentences)


def _train_into_data_dir() -> str:
    """A tiny model trained under the data directory's models/; its path relative to the data directory."""
    relative = f"models/test-{uuid.uuid4().hex[:8]}"
    train(tiny_docs(8), tiny_docs(4, 8), TINY, get_settings().data_dir / relative)
    return relative


@pytest.fixture(scope="module")
def model_dir() -> str:
    require_torch()
    return _train_into_data_dir()


def _snapshot(session: Session, project: Project, version: int = 1) -> DatasetSnapshot:
    assert project.id is not None
    snapshot = DatasetSnapshot(project_id=project.id, name=f"gold-{version}", version=version)
    session.add(snapshot)
    session.flush()
    return snapshot


def add_training_run(
    session: Session,
    project: Project,
    model_dir: str | None,
    *,
    status: TrainingStatus = TrainingStatus.succeeded,
    version: int = 1,
) -> TrainingRun:
    """A training run as the training job leaves it (model_dir set only when it succeeded), committed: a refused
    request rolls back what it did, not this."""
    assert project.id is not None
    run = TrainingRun(
        project_id=project.id,
        snapshot_id=_snapshot(session, project, version).id or 0,
        status=status,
        model_dir=model_dir,
        metrics={"test": {"relations": {"f1": 0.75}}},
    )
    session.add(run)
    session.commit()
    return run


@dataclass
class World:
    """A committed project with one document, a model annotator (A) and builtin:patterns (B)."""

    engine: Engine
    project: Project
    document: Document
    training_run: TrainingRun
    model: Annotator
    builtin: Annotator
    lexicon: Annotator | None = None

    def run_all(self) -> None:
        assert self.document.id is not None
        for annotator in (self.model, self.builtin, self.lexicon):
            if annotator is not None:
                annotation_jobs.run_annotator(self.document.id, annotator.id or 0, engine=self.engine)
        annotation_jobs.crossvalidate(self.document.id, engine=self.engine)

    def runs(self) -> dict[int, AnnotatorRun]:
        with Session(self.engine) as s:
            return {
                r.annotator_id: r
                for r in s.exec(select(AnnotatorRun).where(AnnotatorRun.document_id == self.document.id))
            }


def make_world(engine: Engine, model_dir: str, *, voter: bool = False) -> World:
    """The model as A beside builtin:patterns as B; or, as voter, the model as C beside builtin:lexicon (A) and
    builtin:patterns (B)."""
    with Session(engine, expire_on_commit=False) as s:
        project = create_project(s, name=f"model-{uuid.uuid4().hex[:8]}", preset="zh-general")
        project.settings = {**project.settings, "audit_rate": 0.0}
        s.flush()
        assert project.id is not None
        document = Document(
            project_id=project.id,
            text=TEXT,
            title="张伟",
            sentences=[list(x) for x in split_sentences(TEXT)],
            text_hash=text_hash(TEXT),
        )
        s.add(document)
        run = add_training_run(s, project, model_dir)
        parameters = {"role": "C" if voter else "A", "training_run": run.id}
        model = create_annotator(
            s, project=project, data={"name": "tiny", "provider": "model", "parameters": parameters}
        )
        lexicon = None
        if voter:
            data = {"name": "lex", "provider": "builtin:lexicon", "parameters": {"role": "A"}}
            lexicon = create_annotator(s, project=project, data=data)
        builtin = create_annotator(
            s, project=project, data={"name": "rules", "provider": "builtin:patterns", "parameters": {"role": "B"}}
        )
        s.commit()
    return World(engine, project, document, run, model, builtin, lexicon)


def _drop(w: World) -> None:
    with Session(w.engine) as s:
        project = s.get(Project, w.project.id)
        if project is not None:
            s.delete(project)
        s.commit()


@pytest.fixture
def world(engine: Engine, model_dir: str) -> Iterator[World]:
    w = make_world(engine, model_dir)
    yield w
    _drop(w)


@pytest.fixture
def voter_world(engine: Engine, model_dir: str) -> Iterator[World]:
    w = make_world(engine, model_dir, voter=True)
    yield w
    _drop(w)


def test_a_trained_model_annotates_through_the_job_grounded_cross_validated_and_free(world: World) -> None:
    assert world.model.kind == AnnotatorKind.model
    assert world.model.model.startswith(f"run {world.training_run.id}: gold-1 v1, from scratch, relation F1 0.750")
    world.run_all()
    runs = world.runs()
    model_run = runs[world.model.id or 0]
    assert (model_run.status, model_run.error) == (RunStatus.done, None)
    assert model_run.prompt_version == f"model-run-{world.training_run.id}"
    assert (model_run.input_tokens, model_run.output_tokens, float(model_run.cost)) == (0, 0, 0.0)
    with Session(world.engine) as s:
        assert s.exec(select(LlmCall).where(LlmCall.annotator_id == world.model.id)).first() is None
        entities = {e.id: e for e in s.exec(select(Entity).where(Entity.document_id == world.document.id))}
        mentions = list(s.exec(select(Mention).where(Mention.document_id == world.document.id)))
        relations = list(s.exec(select(Relation).where(Relation.document_id == world.document.id)))
        proposals = list(s.exec(select(Proposal).where(Proposal.run_id == model_run.id)))
        routed = list(s.exec(select(RoutedItem).where(RoutedItem.document_id == world.document.id)))
    # The model's proposals are stored with provenance, and every mention sits on its exact text.
    proposed = {p.item_id for p in proposals if p.item_kind == "entity"}
    assert proposed, "the model proposed no entity"
    assert all(entities[i].grounded for i in proposed)
    assert mentions and all(TEXT[m.start : m.end] == m.text for m in mentions)
    by_name = {e.name: e for e in entities.values()}
    # The model learned 张伟 (PER) and so does the lexicon: both proposed it, so it is agreed.
    assert by_name["张伟"].type == "PER" and by_name["张伟"].agreement == Agreement.agreed
    assert (0, 2) in {(m.start, m.end) for m in mentions if m.entity_id == by_name["张伟"].id}
    assert any(p.item_kind == "relation" for p in proposals) or not relations
    # Routing slices name the model with its training run: a retrained model earns its own estimates.
    model_slice = f"tiny@run{world.training_run.id}"
    agreed = next(r for r in routed if r.item_kind == "entity" and r.item_id == by_name["张伟"].id)
    assert agreed.proposers == f"{model_slice}+rules"
    assert agreed.slice == f"entity|agreed|{model_slice}+rules|PER"


def test_a_model_whose_files_vanished_fails_its_runs_with_the_reason_and_the_job_goes_on(
    engine: Engine, model_dir: str
) -> None:
    data = get_settings().data_dir
    copy = f"models/vanishing-{uuid.uuid4().hex[:8]}"
    shutil.copytree(data / model_dir, data / copy)
    world = make_world(engine, copy)
    try:
        shutil.rmtree(data / copy)
        world.run_all()  # the job returns: no exception reaches the worker
        runs = world.runs()
        failed = runs[world.model.id or 0]
        assert failed.status == RunStatus.failed
        assert failed.error == (
            f"the model files of training run {world.training_run.id} are missing (config.json, model.pt not in "
            f"{Path(copy).name})"
        )
        # The other annotator's items still reach review: cross-validation ran with the one finished side.
        assert runs[world.builtin.id or 0].status == RunStatus.done
        with Session(engine) as s:
            assert s.exec(select(Entity).where(Entity.document_id == world.document.id)).first() is not None
    finally:
        with Session(engine) as s:
            s.delete(s.get(Project, world.project.id))
            s.commit()


def test_a_switched_model_annotates_afresh_under_its_own_version(world: World, model_dir: str) -> None:
    world.run_all()
    with Session(world.engine, expire_on_commit=False) as s:
        project = s.get(Project, world.project.id)
        assert project is not None
        later = add_training_run(s, project, model_dir, version=2)
        annotator = s.get(Annotator, world.model.id)
        assert annotator is not None
        model_annotator.switch_model(s, annotator=annotator, training_run=later.id or 0)
        s.commit()
    assert world.document.id is not None
    annotation_jobs.run_annotator(world.document.id, world.model.id or 0, engine=world.engine)
    with Session(world.engine) as s:
        versions = s.exec(
            select(AnnotatorRun.prompt_version, AnnotatorRun.status)
            .where(AnnotatorRun.annotator_id == world.model.id)
            .order_by(col(AnnotatorRun.id))
        ).all()
    assert versions == [
        (f"model-run-{world.training_run.id}", RunStatus.done),
        (f"model-run-{later.id}", RunStatus.done),
    ]
    assert model_annotator.loaded_models() >= 1  # one model directory, loaded once per process


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    return bearer(make_token(session, make_user(session, username="adm")))


def test_only_a_succeeded_run_of_the_project_with_its_files_becomes_an_annotator(
    session: Session, app_client: TestClient, admin: dict[str, str], model_dir: str
) -> None:
    project, other = make_project(session), make_project(session, name="other")
    url = f"/api/v1/projects/{project.id}/annotators"

    def add(run: TrainingRun | None, name: str = "m") -> tuple[int, str]:
        parameters = {"training_run": run.id} if run is not None else {}
        r = app_client.post(url, json={"name": name, "provider": "model", "parameters": parameters}, headers=admin)
        return r.status_code, r.json().get("detail", "") if r.status_code >= 400 else ""

    running = add_training_run(session, project, None, status=TrainingStatus.running)
    assert add(running) == (
        409,
        f"Training run {running.id} has not succeeded (it is running): only a finished model can annotate.",
    )
    gone = add_training_run(session, project, "models/never-written", version=2)
    assert add(gone) == (
        409,
        f"The model files of training run {gone.id} are missing (config.json, model.pt not in never-written).",
    )
    elsewhere = add_training_run(session, other, model_dir)
    assert add(elsewhere) == (422, f"Training run {elsewhere.id} is not one of this project.")
    assert add(None)[0] == 422
    good = add_training_run(session, project, model_dir, version=3)
    made = app_client.post(
        url,
        json={"name": "m", "provider": "model", "price_input_per_m": 5, "parameters": {"training_run": good.id}},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["kind"], body["provider"], body["price_input_per_m"]) == ("model", "model", 0.0)
    assert body["parameters"] == {"training_run": good.id}
    # Switching refuses what adding refuses, and takes a later succeeded run.
    switch = f"/api/v1/annotators/{body['id']}/model"
    assert app_client.put(switch, json={"training_run": running.id}, headers=admin).status_code == 409
    assert app_client.put(switch, json={"training_run": elsewhere.id}, headers=admin).status_code == 422
    later = add_training_run(session, project, model_dir, version=4)
    switched = app_client.put(switch, json={"training_run": later.id}, headers=admin)
    assert switched.status_code == 200, switched.text
    assert switched.json()["parameters"] == {"training_run": later.id}
    assert switched.json()["model"].startswith(f"run {later.id}: gold-4 v4")


def test_the_project_page_offers_the_trained_models_and_adds_and_switches_one(
    session: Session, app_client: TestClient, model_dir: str
) -> None:
    make_user(session)
    project = make_project(session)
    add_training_run(session, project, None, status=TrainingStatus.failed)
    first = add_training_run(session, project, model_dir, version=2)
    later = add_training_run(session, project, model_dir, version=3)
    login(app_client)
    page = app_client.get(f"/projects/{project.id}/annotators-panel").text
    # Only the succeeded runs whose files are whole are offered, newest first, by snapshot, backbone and score.
    offered = [f'<option value="{later.id}">run {later.id}: gold-3 v3', f'<option value="{first.id}">run {first.id}']
    assert offered[0] in page and offered[1] in page and page.index(offered[0]) < page.index(offered[1])
    assert "gold-1 v1" not in page
    csrf = page_csrf(app_client, f"/projects/{project.id}")
    form = {"csrf_token": csrf, "name": "tiny", "provider": "model", "role": "A", "training_run": str(first.id)}
    added = app_client.post(f"/projects/{project.id}/annotators", data=form, follow_redirects=False)
    assert added.status_code == 303, added.text
    annotator = session.exec(select(Annotator).where(Annotator.project_id == project.id)).one()
    assert annotator.parameters == {"role": "A", "training_run": first.id}
    page = app_client.get(f"/projects/{project.id}/annotators-panel").text
    assert "trained model" in page and f'action="/annotators/{annotator.id}/model"' in page
    switched = app_client.post(
        f"/annotators/{annotator.id}/model",
        data={"csrf_token": csrf, "training_run": str(later.id)},
        follow_redirects=False,
    )
    assert switched.status_code == 303
    session.refresh(annotator)
    assert annotator.parameters["training_run"] == later.id


def test_a_refused_model_is_named_when_added_in_the_service(session: Session) -> None:
    project = make_project(session)
    with pytest.raises(InvalidInput, match="training_run applies to the model provider only"):
        create_annotator(
            session,
            project=project,
            data={"name": "x", "provider": "builtin:lexicon", "parameters": {"training_run": 1}},
        )
    failed = add_training_run(session, project, None, status=TrainingStatus.failed)
    with pytest.raises(Conflict, match="has not succeeded"):
        create_annotator(
            session, project=project, data={"name": "x", "provider": "model", "parameters": {"training_run": failed.id}}
        )


def _routed(engine: Engine, document_id: int | None) -> dict[tuple[str, int], RoutedItem]:
    with Session(engine) as s:
        rows = s.exec(select(RoutedItem).where(RoutedItem.document_id == document_id))
        return {(r.item_kind, r.item_id): r for r in rows}


def test_a_model_as_third_voter_gives_the_items_it_agrees_with_slices_of_their_own(voter_world: World) -> None:
    w = voter_world
    assert w.document.id is not None and w.lexicon is not None
    # The pair alone first: the voter has not run, so no item carries its name.
    for annotator in (w.lexicon, w.builtin):
        annotation_jobs.run_annotator(w.document.id, annotator.id or 0, engine=w.engine)
    annotation_jobs.crossvalidate(w.document.id, engine=w.engine)
    assert {r.proposers for r in _routed(w.engine, w.document.id).values() if r.item_kind == "entity"} == {"lex+rules"}
    w.run_all()  # the voter's run finishes; the document is cross-validated again
    routed = _routed(w.engine, w.document.id)
    voter = f"tiny@run{w.training_run.id}"
    with Session(w.engine) as s:
        entities = {e.name: e for e in s.exec(select(Entity).where(Entity.document_id == w.document.id))}
        voter_run = s.exec(select(AnnotatorRun).where(AnnotatorRun.annotator_id == w.model.id)).one()
        votes = list(s.exec(select(Proposal).where(Proposal.run_id == voter_run.id)))
    zhang = entities["张伟"]
    # Both builtins and the model name 张伟 a PER: its slice is the three-way one, its class stays agreed.
    assert zhang.agreement == Agreement.agreed
    assert routed[("entity", zhang.id or 0)].slice == f"entity|agreed|lex+rules+{voter}|PER"
    assert any(
        (p.item_kind, p.item_id, p.proposed_type, p.payload) == ("entity", zhang.id, "PER", {"voter": True})
        for p in votes
    )
    with Session(w.engine) as s:
        document = s.get(Document, w.document.id)
        assert document is not None
        shown = document_annotations(s, document)
    by_id = {e.id: e for e in shown.entities}
    assert {(p.annotator, p.voter) for p in by_id[require_id(zhang)].proposed_by} == {
        ("lex", False),
        ("rules", False),
        ("tiny", True),
    }
    # Every item the voter marked has its proposal, and no item it did not mark names it.
    marked = {key for key, r in routed.items() if r.proposers.endswith(f"+{voter}")}
    assert marked == {(p.item_kind, p.item_id) for p in votes}
    assert all(r.proposers in ("lex+rules", "rules", f"lex+rules+{voter}", f"rules+{voter}") for r in routed.values())
    # The voter adds no item of its own: every item is one the pair proposed.
    assert all(r.proposers.split("+")[0] in ("lex", "rules") for r in routed.values())


def test_annotating_a_batch_queues_the_third_voter_beside_the_pair_and_the_page_shows_its_part(
    session: Session, app_client: TestClient, admin: dict[str, str], model_dir: str
) -> None:
    make_user(session)
    project = make_project(session)
    run = add_training_run(session, project, model_dir)
    batch = CrawlBatch(project_id=project.id or 0, filename="b.jsonl", status=BatchStatus.done)
    session.add(batch)
    session.commit()
    for i in range(2):
        session.add(Document(project_id=project.id or 0, batch_id=batch.id, text=f"文{i}", text_hash=f"v{i}"))
    for name, provider, parameters in (
        ("lex", "builtin:lexicon", {}),
        ("tiny", "model", {"role": "C", "training_run": run.id}),
        ("rules", "builtin:patterns", {}),
    ):
        create_annotator(session, project=project, data={"name": name, "provider": provider, "parameters": parameters})
    session.commit()
    queued = app_client.post(f"/api/v1/projects/{project.id}/annotate", json={"batch_id": batch.id}, headers=admin)
    assert queued.json() == {"documents": 2, "jobs": 6}  # A and B (lex, rules: the voter is never one) and C
    login(app_client)
    page = app_client.get(f"/projects/{project.id}/annotators-panel").text
    rows = page.split('id="annotator-table"')[1].split("</table>")[0].split("<tr>")[2:]
    assert [row.split("<td>")[1].split("</td>")[0] for row in rows] == ["A", "C (voter)", "B"]


def test_the_app_and_its_annotation_jobs_import_without_torch() -> None:
    # A server without the `train` extra runs everything but model annotators: torch comes with the first model.
    code = "import sys, app.main, app.annotation.jobs; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]


def test_a_model_is_loaded_once_per_process_and_again_when_its_files_are_rewritten(model_dir: str) -> None:
    data = get_settings().data_dir
    copy = data / f"models/cached-{uuid.uuid4().hex[:8]}"
    shutil.copytree(data / model_dir, copy)
    first = model_annotator._predictor(copy)
    assert model_annotator._predictor(copy) is first
    weights = copy / "model.pt"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 1_000_000_000))
    assert model_annotator._predictor(copy) is not first
    assert model_annotator.loaded_models() <= model_annotator.CACHED_MODELS


@pytest.mark.parametrize("damage", ["corrupt", "run deleted"])
def test_a_broken_or_deleted_model_fails_its_runs_with_the_reason(engine: Engine, model_dir: str, damage: str) -> None:
    data = get_settings().data_dir
    copy = f"models/broken-{uuid.uuid4().hex[:8]}"
    shutil.copytree(data / model_dir, data / copy)
    world = make_world(engine, copy)
    try:
        if damage == "corrupt":
            (data / copy / "config.json").write_text("{not json", encoding="utf-8")
            expected = f"{Path(copy).name}/config.json is not JSON"
        else:
            with Session(engine) as s:
                s.delete(s.get(TrainingRun, world.training_run.id))
                s.commit()
            expected = f"training run {world.training_run.id} no longer exists"
        world.run_all()
        run = world.runs()[world.model.id or 0]
        assert (run.status, run.error) == (RunStatus.failed, expected)
    finally:
        _drop(world)


def test_a_huge_prediction_is_cut_to_the_contract_limits_instead_of_failing() -> None:
    prediction = Prediction(
        [PredictedEntity(f"E{i}", "PER", "张" * 600, ["张伟"] * 300) for i in range(2100)]
        + [PredictedEntity("E0", "PER", "", [])],
        [PredictedRelation("E1", "E2", "同事", list(range(150)))] * 5100 + [PredictedRelation("E1", "E0", "同事", [])],
    )
    output = model_annotator._contract(prediction)
    assert len(output.entities) == 2000 and len(output.entities[0].name) == 500
    assert len(output.entities[0].mentions) == 200
    assert len(output.relations) == 5000 and len(output.relations[0].evidence) == 100
