"""The model in the loop: train a joint entity + document-level relation extraction model on a snapshot's splits,
score it with the scorer of `concord evaluate`, and predict with it as an annotator.

Pure: no database, no web, no queue. torch and transformers (the optional `train` extra) are imported only when
a function below is called, so the base install imports the app without them.
"""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from app.modelling.config import (
    BackboneError,
    ModelDirError,
    OutOfMemory,
    TrainConfig,
    TrainingCancelled,
    TrainingError,
    TrainingRefused,
    TrainingUnavailable,
    TrainProgress,
    TrainResult,
)
from app.modelling.data import (
    Doc,
    Entity,
    Mention,
    Relation,
    TrainingData,
    check_trainable,
    load_snapshot,
    load_split,
)
from app.modelling.prediction import PredictedEntity, PredictedRelation, Prediction
from app.modelling.report import ScoresJson
from app.modelling.scoring import score_predictions

if TYPE_CHECKING:
    from app.modelling.predictor import Predictor

__all__ = [
    "INSTALL_HINT",
    "BackboneError",
    "Doc",
    "Entity",
    "Mention",
    "ModelDirError",
    "OutOfMemory",
    "PredictedEntity",
    "PredictedRelation",
    "Prediction",
    "Relation",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "TrainingCancelled",
    "TrainingData",
    "TrainingError",
    "TrainingRefused",
    "TrainingUnavailable",
    "evaluate_model",
    "load_predictor",
    "load_snapshot",
    "load_split",
    "torch_available",
    "train",
]

INSTALL_HINT = "model training needs the optional extra: pip install 'concord[train]'"


def torch_available() -> bool:
    """True when the `train` extra is installed."""
    try:
        import torch  # noqa: F401  # the optional extra: only probed here
    except ImportError:
        return False
    return True


def _require_torch() -> None:
    if not torch_available():
        raise TrainingUnavailable(INSTALL_HINT)


def train(
    train_docs: Sequence[Doc],
    dev_docs: Sequence[Doc],
    config: TrainConfig,
    out_dir: Path,
    *,
    progress: Callable[[TrainProgress], None] = lambda _: None,
    should_stop: Callable[[], bool] = lambda: False,
    test_docs: Sequence[Doc] | None = None,
) -> TrainResult:
    """Train on train_docs, keep the epoch best on dev relation F1, score it on test_docs when given, and write
    the model to out_dir atomically: out_dir appears complete at the end, or not at all."""
    # Bad data and settings are refused in words even where the extra is not installed.
    config.check()
    check_trainable(train_docs, dev_docs)
    _require_torch()
    from app.modelling.trainer import run_training  # torch: imported on use (optional extra)

    return run_training(
        train_docs, dev_docs, config, Path(out_dir), progress=progress, should_stop=should_stop, test_docs=test_docs
    )


def load_predictor(model_dir: Path) -> "Predictor":
    """A trained model, ready to predict; ModelDirError when model_dir is not a complete model."""
    _require_torch()
    from app.modelling.predictor import Predictor  # torch: imported on use (optional extra)

    return Predictor.load(Path(model_dir))


def evaluate_model(model_dir: Path, docs: Sequence[Doc]) -> ScoresJson:
    """The model's predictions on docs scored against them by the code of `concord evaluate`: entity and relation
    P/R/F1, intra- vs inter-sentence relations, per type."""
    predictor = load_predictor(model_dir)
    return score_predictions(docs, predictor.predict_docs(docs))
