"""A trained model's metrics.json: its shape as written (the TypedDicts), and read back as typed values (what the
training panel and `concord train` show, and what names a model).

The trainer writes metrics.json (and the training run keeps it as its `metrics` JSON column); its shape is this
package's, so this package reads it. A run of an older shape, or one that stopped before testing, reads as None
rather than failing the page that shows it.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

from app.evaluation.metrics import Score


class ScoreJson(TypedDict):
    precision: float
    recall: float
    f1: float
    correct: int
    predicted: int
    gold: int


class ScoresJson(TypedDict):
    """One split's scores (modelling.scoring.score_predictions)."""

    documents: int
    entities: ScoreJson
    relations: ScoreJson
    intra_sentence: ScoreJson
    inter_sentence: ScoreJson
    per_entity_type: dict[str, ScoreJson]
    per_relation_type: dict[str, ScoreJson]


class EpochJson(TypedDict):
    """One epoch's line: mean training loss, dev relation and entity F1, time."""

    epoch: int
    loss: float
    dev_relation_f1: float
    dev_entity_f1: float
    seconds: float


class MetricsJson(TypedDict):
    """metrics.json as the trainer writes it."""

    backbone: str | None
    encoder: str
    seed: int
    device: str
    best_epoch: int
    selected_on: str
    documents: dict[str, int]  # train, dev, test
    epochs: list[EpochJson]
    dev: ScoresJson | None  # the best epoch's
    test: ScoresJson | None  # None without a test split
    seconds: float


def score_json(score: Score) -> ScoreJson:
    return {
        "precision": score.precision,
        "recall": score.recall,
        "f1": score.f1,
        "correct": score.correct,
        "predicted": score.predicted,
        "gold": score.gold,
    }


@dataclass(frozen=True, slots=True)
class ModelScores:
    """Scores on one split, by the code of `concord evaluate`."""

    entities: Score
    relations: Score
    intra_sentence: Score
    inter_sentence: Score
    per_entity_type: dict[str, Score]
    per_relation_type: dict[str, Score]


@dataclass(frozen=True, slots=True)
class ModelReport:
    """A finished run: how it was trained and how its best epoch (picked on dev) scores on test."""

    encoder: str
    backbone: str | None
    seed: int
    device: str
    best_epoch: int
    epochs: int
    selected_on: str
    train_documents: int
    dev_documents: int
    test_documents: int
    seconds: float
    test: ModelScores


def _score(value: object) -> Score:
    if not isinstance(value, Mapping):
        raise ValueError("a score is an object")
    return Score(
        precision=float(value["precision"]),
        recall=float(value["recall"]),
        f1=float(value["f1"]),
        correct=int(value["correct"]),
        predicted=int(value["predicted"]),
        gold=int(value["gold"]),
    )


def _per_type(value: object) -> dict[str, Score]:
    return {str(name): _score(score) for name, score in value.items()} if isinstance(value, Mapping) else {}


def model_scores(value: object) -> ModelScores | None:
    """One split's scores, or None where they are missing or not of this shape."""
    if not isinstance(value, Mapping):
        return None
    try:
        return ModelScores(
            entities=_score(value["entities"]),
            relations=_score(value["relations"]),
            intra_sentence=_score(value["intra_sentence"]),
            inter_sentence=_score(value["inter_sentence"]),
            per_entity_type=_per_type(value.get("per_entity_type")),
            per_relation_type=_per_type(value.get("per_relation_type")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def model_report(metrics: Mapping[str, object]) -> ModelReport | None:
    """The run's report, or None when it has no test scores (not finished, no test split, an older shape)."""
    test = model_scores(metrics.get("test"))
    if test is None:
        return None
    documents = metrics.get("documents")
    counts = documents if isinstance(documents, Mapping) else {}
    epochs = metrics.get("epochs")
    backbone = metrics.get("backbone")
    try:
        return ModelReport(
            encoder=str(metrics.get("encoder") or ""),
            backbone=str(backbone) if backbone else None,
            seed=int(str(metrics.get("seed", 0))),
            device=str(metrics.get("device") or ""),
            best_epoch=int(str(metrics.get("best_epoch", 0))),
            epochs=len(epochs) if isinstance(epochs, list) else 0,
            selected_on=str(metrics.get("selected_on") or ""),
            train_documents=int(counts.get("train", 0)),
            dev_documents=int(counts.get("dev", 0)),
            test_documents=int(counts.get("test", 0)),
            seconds=float(str(metrics.get("seconds", 0))),
            test=test,
        )
    except (TypeError, ValueError):
        return None


def relation_f1(metrics: Mapping[str, object]) -> float | None:
    """The model's relation F1 on test, else on dev (a run without a test split), else None."""
    for split in ("test", "dev"):
        scores = metrics.get(split)
        relations = scores.get("relations") if isinstance(scores, Mapping) else None
        f1 = relations.get("f1") if isinstance(relations, Mapping) else None
        if isinstance(f1, int | float):
            return float(f1)
    return None
