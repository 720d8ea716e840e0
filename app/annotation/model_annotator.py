"""A trained model as an annotator (provider `model`): the training run it serves, checked whole, and its answers
in the annotation contract, which then go through grounding, cross-validation and routing like any annotator's.

Only a succeeded training run whose model directory is complete ever annotates: a run still training, failed or
cancelled, of another project, or whose files are gone, is refused when the annotator is added or switched, and
fails the annotator's runs with the reason if its files go missing later. The predictor is loaded once per worker
process and model (keyed by directory and file times); torch is imported only then, by app.modelling.
"""

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.annotation.contract import AnnotationOutput, EntityOut, RelationOut
from app.config import get_settings
from app.db import require_id
from app.errors import Conflict, InvalidInput
from app.modelling import ModelDirError, Prediction, TrainingUnavailable, load_predictor
from app.modelling.report import relation_f1
from app.models import Annotator, AnnotatorKind, DatasetSnapshot, TrainingRun, TrainingStatus

MODEL_PROVIDER = "model"
# The files every model directory holds (app/modelling/checkpoint.py writes them; read here without torch).
MODEL_FILES = ("config.json", "model.pt")
# Predictors kept per worker process: a project switching models keeps the new one and the one before.
CACHED_MODELS = 2
# The contract's limits (app/annotation/contract.py): mentions per entity, entities and relations per answer.
MAX_MENTIONS, MAX_ENTITIES, MAX_RELATIONS = 200, 2000, 5000


class ModelUnavailable(Exception):
    """The annotator's model cannot be used now; the reason is shown on each of its runs."""


def training_run_id(annotator: Annotator) -> int | None:
    value = annotator.parameters.get("training_run")
    return value if isinstance(value, int) else None


def model_path(run: TrainingRun) -> Path | None:
    """Where the run's model lives (model_dir is relative to the data directory), or None before it succeeded."""
    if run.status != TrainingStatus.succeeded or not run.model_dir:
        return None
    return get_settings().data_dir / run.model_dir


def model_problem(run: TrainingRun) -> str | None:
    """Why the run's model cannot annotate, or None when it is a succeeded run with its whole model directory."""
    if run.status != TrainingStatus.succeeded:
        return f"training run {run.id} has not succeeded (it is {run.status}): only a finished model can annotate"
    path = model_path(run)
    if path is None:
        return f"training run {run.id} has no model directory"
    missing = [name for name in MODEL_FILES if not (path / name).is_file()]
    if missing:
        return f"the model files of training run {run.id} are missing ({', '.join(missing)} not in {path.name})"
    return None


def usable_run(session: Session, *, project_id: int, training_run: int | None) -> TrainingRun:
    """The project's succeeded training run with its whole model; 422 when it is not the project's, 409 when it
    cannot serve (yet or any more)."""
    if training_run is None:
        raise InvalidInput.for_field("parameters", "A model annotator needs a training run (parameters.training_run).")
    run = session.get(TrainingRun, training_run)
    if run is None or run.project_id != project_id:
        raise InvalidInput.for_field("parameters", f"Training run {training_run} is not one of this project.")
    problem = model_problem(run)
    if problem is not None:
        raise Conflict(problem[0].upper() + problem[1:] + ".")
    return run


def model_for(session: Session, *, project_id: int, provider: str, training_run: int | None) -> str | None:
    """For a new annotator: the label of the model it serves (None when it is not a model annotator); a run that
    cannot serve is refused as usable_run refuses it."""
    if provider != MODEL_PROVIDER:
        if training_run is not None:
            raise InvalidInput.for_field("parameters", "training_run applies to the model provider only.")
        return None
    return model_label(session, usable_run(session, project_id=project_id, training_run=training_run))


def model_label(session: Session, run: TrainingRun) -> str:
    """How a model is named in lists: its snapshot, backbone and relation F1 on the snapshot's test split."""
    snapshot = session.get(DatasetSnapshot, run.snapshot_id)
    where = f"{snapshot.name} v{snapshot.version}" if snapshot is not None else f"snapshot {run.snapshot_id}"
    f1 = relation_f1(run.metrics)
    score = f", relation F1 {f1:.3f}" if f1 is not None else ""
    return f"run {run.id}: {where}, {run.backbone or 'from scratch'}{score}"[:200]


def model_choices(session: Session, *, project_id: int) -> list[tuple[int, str]]:
    """The project's training runs that can annotate now, newest first, with their labels."""
    runs = session.exec(
        select(TrainingRun)
        .where(TrainingRun.project_id == project_id, TrainingRun.status == TrainingStatus.succeeded)
        .order_by(col(TrainingRun.id).desc())
    )
    return [(require_id(run), model_label(session, run)) for run in runs if model_problem(run) is None]


def switch_model(session: Session, *, annotator: Annotator, training_run: int) -> Annotator:
    """Point a model annotator at another of the project's trained models (a retrained one): documents it
    annotates from now on use it; its earlier runs stay as they were."""
    if annotator.kind != AnnotatorKind.model:
        raise InvalidInput.for_field("training_run", f"Annotator {annotator.name!r} is not a model annotator.")
    run = usable_run(session, project_id=annotator.project_id, training_run=training_run)
    annotator.parameters = {**annotator.parameters, "training_run": run.id}
    annotator.model = model_label(session, run)
    session.add(annotator)
    session.flush()
    return annotator


def model_side_name(annotator: Annotator) -> str:
    """The annotator as a proposer in routing slices: a model's slices are its own, so a retrained model switched
    in under the same annotator earns its precision estimates afresh."""
    run = training_run_id(annotator)
    return f"{annotator.name}@run{run}" if run is not None else annotator.name


def annotate_with_model(
    engine: Engine, annotator: Annotator, *, title: str, text: str, sentences: list[tuple[int, int]]
) -> AnnotationOutput:
    """The model's proposals for a document as the contract; ModelUnavailable when its model cannot be used."""
    with Session(engine) as session:
        run_id = training_run_id(annotator)
        run = session.get(TrainingRun, run_id) if run_id is not None else None
        if run is None or run.project_id != annotator.project_id:
            raise ModelUnavailable(f"training run {run_id} no longer exists")
        problem = model_problem(run)
        path = model_path(run)
    if problem is not None or path is None:
        raise ModelUnavailable(problem or "no model")
    predictor = _predictor(path)
    with predictor.lock:
        prediction = predictor.model.predict([text[s:e] for s, e in sentences], title)
    return _contract(prediction)


def _contract(prediction: Prediction) -> AnnotationOutput:
    """The prediction as the contract; entities with no surface string (nothing to ground) are left out, and a
    huge document's answer is cut to the contract's limits instead of failing (what an LLM could not send either)."""
    entities = [
        EntityOut(id=e.id, type=e.type, name=e.name[:500], mentions=list(e.mentions)[:MAX_MENTIONS])
        for e in prediction.entities
        if e.name
    ][:MAX_ENTITIES]
    ids = {e.id for e in entities}
    relations = [
        RelationOut(head=r.head, tail=r.tail, type=r.type, evidence=list(r.evidence)[:100])
        for r in prediction.relations
        if r.head in ids and r.tail in ids
    ][:MAX_RELATIONS]
    return AnnotationOutput(entities=entities, relations=relations)


class _Loaded:
    def __init__(self, model: Any) -> None:
        self.model = model
        # One prediction at a time per model: the worker's threads share it.
        self.lock = threading.Lock()


_loaded: OrderedDict[tuple[str, int, int], _Loaded] = OrderedDict()
_loading = threading.Lock()


def _predictor(path: Path) -> _Loaded:
    """The model of this directory, loaded once per process; files rewritten in place load afresh."""
    try:
        config, weights = ((path / name).stat().st_mtime_ns for name in MODEL_FILES)
        key = (str(path.resolve()), config, weights)
    except OSError:
        raise ModelUnavailable(f"the model files in {path.name} are missing") from None
    with _loading:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
        try:
            loaded = _Loaded(load_predictor(path))
        except (ModelDirError, TrainingUnavailable) as exc:
            raise ModelUnavailable(str(exc)) from None
        _loaded[key] = loaded
        while len(_loaded) > CACHED_MODELS:
            _loaded.popitem(last=False)
        return loaded


def loaded_models() -> int:
    """How many models this process holds (the cache is per worker process)."""
    return len(_loaded)
