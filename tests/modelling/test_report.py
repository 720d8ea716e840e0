"""metrics.json read back as typed values: a finished run's report, and what an older or broken file reads as."""

from dataclasses import asdict
from typing import Any

from app.evaluation.metrics import Score, prf
from app.modelling.report import model_report, relation_f1


def _score(correct: int, predicted: int, gold: int) -> dict[str, Any]:
    return asdict(prf(correct, predicted, gold))  # as the trainer writes it (score_predictions)


def _metrics() -> dict[str, Any]:
    test = {
        "documents": 12,
        "entities": _score(8, 10, 12),
        "relations": _score(3, 6, 9),
        "intra_sentence": _score(3, 5, 7),
        "inter_sentence": _score(0, 1, 2),
        "per_entity_type": {"PER": _score(4, 5, 6)},
        "per_relation_type": {"任职于": _score(2, 3, 4)},
    }
    return {
        "backbone": None,
        "encoder": "scratch",
        "seed": 13,
        "device": "cpu",
        "best_epoch": 2,
        "selected_on": "dev relation F1, then dev entity F1",
        "documents": {"train": 36, "dev": 12, "test": 12},
        "epochs": [{"epoch": 1}, {"epoch": 2}, {"epoch": 3}],
        "dev": {**test, "relations": _score(2, 2, 2)},
        "test": test,
        "seconds": 12.5,
    }


def test_a_finished_run_reads_as_its_report() -> None:
    report = model_report(_metrics())
    assert report is not None
    assert (report.encoder, report.backbone, report.seed, report.best_epoch, report.epochs) == (
        "scratch",
        None,
        13,
        2,
        3,
    )
    assert (report.train_documents, report.dev_documents, report.test_documents) == (36, 12, 12)
    assert report.test.relations == Score(0.5, 1 / 3, 0.4, 3, 6, 9)
    assert report.test.per_relation_type["任职于"].correct == 2
    assert relation_f1(_metrics()) == 0.4  # test first


def test_a_run_without_test_scores_or_of_another_shape_has_no_report() -> None:
    no_test = {**_metrics(), "test": None}
    assert model_report(no_test) is None
    assert relation_f1(no_test) == 1.0  # then dev's relation F1
    assert model_report({}) is None and relation_f1({}) is None
    broken = _metrics()
    broken["test"]["relations"] = {"f1": "high"}
    assert model_report(broken) is None
    assert model_report({**_metrics(), "seed": "thirteen"}) is None
