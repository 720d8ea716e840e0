"""Training a tiny model end to end on CPU (seconds): its files, its metrics, its predictions, its failures."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.annotation.contract import AnnotationOutput
from app.evaluation.scores import evaluate
from app.modelling import (
    BackboneError,
    Doc,
    ModelDirError,
    OutOfMemory,
    TrainConfig,
    TrainingCancelled,
    TrainingRefused,
    TrainProgress,
    TrainResult,
    evaluate_model,
    load_predictor,
    train,
)
from app.modelling.scoring import export_document
from tests.modelling.conftest import require_torch
from tests.modelling.corpus import tiny_doc, tiny_docs

# Small enough to train in seconds, big enough to learn the tiny corpus; a 24-token window splits every
# training document into several windows.
TINY = TrainConfig(
    epochs=10, device="cpu", threads=1, hidden_size=32, layers=1, heads=2, batch_size=2, learning_rate=3e-3,
    max_window=24,
)  # fmt: skip
TRAIN, DEV, TEST = tiny_docs(8), tiny_docs(4, 8), tiny_docs(4, 12)


@dataclass
class Trained:
    model_dir: Path
    result: TrainResult
    progress: list[TrainProgress]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    require_torch()
    seen: list[TrainProgress] = []
    model_dir = tmp_path_factory.mktemp("trained") / "model"
    result = train(TRAIN, DEV, TINY, model_dir, progress=seen.append, test_docs=TEST)
    return Trained(model_dir, result, seen)


def test_training_writes_a_whole_model_and_its_metrics(trained: Trained) -> None:
    files = {p.name for p in trained.model_dir.iterdir()}
    assert files == {"config.json", "model.pt", "vocab.json", "metrics.json"}
    assert [p.name for p in trained.model_dir.parent.iterdir()] == ["model"]  # no partial directory left
    config = json.loads((trained.model_dir / "config.json").read_text(encoding="utf-8"))
    assert config["format"] == "concord-model/1"
    assert config["backbone"] is None and config["encoder"] == "scratch"
    assert config["entity_types"] == ["LOC", "ORG", "PER"]
    assert config["relation_types"] == ["任职于", "位于", "毕业于"]
    assert config["seed"] == TINY.seed
    assert {"concord", "torch"} <= set(config["versions"])
    metrics = json.loads((trained.model_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics == trained.result.metrics
    assert metrics["documents"] == {"train": 8, "dev": 4, "test": 4}
    assert [e["epoch"] for e in metrics["epochs"]] == list(range(1, 11))
    assert metrics["best_epoch"] == trained.result.best_epoch
    best = metrics["epochs"][metrics["best_epoch"] - 1]
    assert best["dev_relation_f1"] == max(e["dev_relation_f1"] for e in metrics["epochs"])
    for split in ("dev", "test"):
        scores = metrics[split]
        assert set(scores) == {
            "documents", "entities", "relations", "intra_sentence", "inter_sentence", "per_entity_type",
            "per_relation_type",
        }  # fmt: skip
        assert scores["entities"]["gold"] == 4 * 6  # six mentions a document
        assert scores["relations"]["gold"] == 4 * 3
        assert set(scores["entities"]) == {"precision", "recall", "f1", "correct", "predicted", "gold"}
    # The tiny corpus is learnable: the figures say the model learned, not only that it ran.
    assert metrics["test"]["entities"]["f1"] > 0.5
    assert metrics["test"]["relations"]["f1"] > 0


def test_progress_reports_every_step_and_dev_f1_after_each_epoch(trained: Trained) -> None:
    steps = [p for p in trained.progress if p.dev_f1 is None]
    epochs = [p for p in trained.progress if p.dev_f1 is not None]
    assert [p.step for p in steps] == list(range(1, 41))  # 8 documents, 2 a step, 10 epochs
    assert all(p.steps == 40 and p.epochs == 10 for p in trained.progress)
    assert [p.epoch for p in epochs] == list(range(1, 11))
    assert epochs[-1].seconds_left == 0
    assert all(p.seconds_left is not None and p.seconds_left >= 0 for p in trained.progress)


def test_evaluate_model_scores_with_the_code_of_concord_evaluate(trained: Trained) -> None:
    scores = evaluate_model(trained.model_dir, TEST)
    assert scores == trained.result.metrics["test"]
    predicted = load_predictor(trained.model_dir).predict_docs(TEST)
    report = evaluate(
        [export_document(d, str(i)) for i, d in enumerate(TEST)],
        [export_document(d, str(i)) for i, d in enumerate(predicted)],
    )
    assert scores["entities"]["f1"] == report.ner.f1
    assert scores["relations"]["f1"] == report.relations.f1
    assert set(scores["per_relation_type"]) >= {"任职于", "位于", "毕业于"}
    assert scores["intra_sentence"]["gold"] + scores["inter_sentence"]["gold"] == scores["relations"]["gold"]


def test_predictions_parse_as_contract_v1_and_name_strings_of_the_text(trained: Trained) -> None:
    predictor = load_predictor(trained.model_dir)
    sentences = tiny_doc(20).sentences
    output = AnnotationOutput.model_validate(predictor.predict(sentences).as_contract())
    assert output.entities, "the trained model finds entities in a document like its training ones"
    text = "".join(sentences)
    ids = {e.id for e in output.entities}
    for entity in output.entities:
        assert entity.type in {"PER", "ORG", "LOC"}
        assert entity.mentions and all(m in text for m in entity.mentions)
    for relation in output.relations:
        assert {relation.head, relation.tail} <= ids
        assert all(0 <= s < len(sentences) for s in relation.evidence)


def test_a_document_longer_than_one_window_gets_predictions_in_its_last_window(trained: Trained) -> None:
    sentences = [s for i in range(30, 36) for s in tiny_doc(i).sentences]
    assert sum(len(s) for s in sentences) > 4 * TINY.max_window
    doc = load_predictor(trained.model_dir).predict_docs([Doc("long", sentences)])[0]
    last = len(sentences) - 1
    assert any(m.sentence == last for e in doc.entities for m in e.mentions)


def test_cancel_leaves_no_model(tmp_path: Path) -> None:
    require_torch()
    calls = []

    def stop_at_third_step() -> bool:
        calls.append(1)
        return len(calls) >= 3

    with pytest.raises(TrainingCancelled):
        train(TRAIN, DEV, TINY, tmp_path / "model", should_stop=stop_at_third_step)
    assert list(tmp_path.iterdir()) == []


def test_out_of_memory_ends_the_run_with_that_reason_and_no_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_torch()
    from app.modelling.network import JointModel

    def exhausted(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(JointModel, "loss", exhausted)
    with pytest.raises(OutOfMemory, match="out of memory on cpu"):
        train(TRAIN, DEV, TINY, tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_model_is_never_overwritten(trained: Trained) -> None:
    with pytest.raises(TrainingRefused, match="already exists"):
        train(TRAIN, DEV, TINY, trained.model_dir)
    assert (trained.model_dir / "model.pt").is_file()


@pytest.mark.parametrize("backbone", ["/nonexistent/encoder", "./no-such-encoder"])
def test_a_missing_backbone_path_is_refused_by_name(tmp_path: Path, backbone: str) -> None:
    require_torch()
    with pytest.raises(BackboneError, match=f"cannot load backbone {backbone}: no such directory"):
        train(TRAIN, DEV, TrainConfig(backbone=backbone, epochs=1), tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"model_type": "no-such-architecture"}, "does not recognize this architecture"),
        ({"model_type": "gpt2", "n_embd": 32, "n_layer": 1, "n_head": 2}, "gpt2 is a generative model, not an encoder"),
        ({"model_type": "t5", "d_model": 32, "num_layers": 1, "num_heads": 2}, "t5 is not an encoder"),
        ({"model_type": "bert", "hidden_size": 32, "num_attention_heads": 2}, ""),  # no weights
    ],
)
def test_a_directory_that_holds_no_usable_encoder_is_refused(
    tmp_path: Path, config: dict[str, object], message: str
) -> None:
    require_torch()
    backbone = tmp_path / "encoder"
    backbone.mkdir()
    (backbone / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(BackboneError, match=f"cannot load backbone {backbone}: .*{message}"):
        train(TRAIN, DEV, TrainConfig(backbone=str(backbone), epochs=1), tmp_path / "model")
    assert [p.name for p in tmp_path.iterdir()] == ["encoder"]


def test_a_directory_that_is_no_model_is_refused_by_the_predictor(tmp_path: Path) -> None:
    require_torch()
    with pytest.raises(ModelDirError, match="is not a trained model"):
        load_predictor(tmp_path)
    (tmp_path / "config.json").write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(ModelDirError, match="is not a concord-model/1 model"):
        load_predictor(tmp_path)


def tiny_bert(directory: Path, docs: list[Doc]) -> Path:
    """A one-layer BERT with random weights and a character vocabulary, saved as a Hugging Face model."""
    import transformers

    hf: Any = transformers  # typed differently across transformers versions
    chars = sorted({ch for d in docs for s in d.sentences for ch in s})
    directory.mkdir()
    (directory / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]) + "\n")
    config = hf.BertConfig(
        vocab_size=5 + len(chars), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64,
    )  # fmt: skip
    hf.BertModel(config).save_pretrained(directory)
    hf.BertTokenizerFast(vocab_file=str(directory / "vocab.txt")).save_pretrained(directory)
    return directory


def test_a_local_hugging_face_encoder_trains_and_its_model_stands_alone(tmp_path: Path) -> None:
    require_torch()
    backbone = tiny_bert(tmp_path / "tiny-bert", [*TRAIN, *DEV, *TEST])
    config = TrainConfig(
        backbone=str(backbone), epochs=2, device="cpu", threads=1, batch_size=4, learning_rate=3e-3,
        backbone_learning_rate=1e-3, max_window=200,
    )  # fmt: skip
    result = train(TRAIN, DEV, config, tmp_path / "model", test_docs=TEST)
    model_dir = result.out_dir
    settings = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    assert settings["encoder"] == "pretrained" and settings["backbone"] == str(backbone)
    assert settings["window"] == 62  # the encoder's 64 positions bound the window, not max_window
    assert "transformers" in settings["versions"]
    assert (model_dir / "encoder" / "config.json").is_file()
    test = result.metrics["test"]
    assert test is not None
    assert test["entities"]["gold"] == 24
    # The model directory holds everything: the backbone can go.
    for path in backbone.iterdir():
        path.unlink()
    backbone.rmdir()
    output = load_predictor(model_dir).predict(tiny_doc(20).sentences)
    AnnotationOutput.model_validate(output.as_contract())
