"""A trained model as an annotator: sentences in, contract-shaped proposals out."""

from collections.abc import Sequence
from pathlib import Path

import torch

from app.modelling.checkpoint import load_assembly
from app.modelling.data import Doc
from app.modelling.prediction import Prediction, prediction_of

DOCS_PER_PASS = 8


class Predictor:
    """Loaded once (on the CPU unless CUDA is there), then predicts any number of documents."""

    def __init__(self, model_dir: Path, device: torch.device) -> None:
        self.model_dir = model_dir
        self.assembly = load_assembly(model_dir, device)
        self.entity_types = list(self.assembly.labels.entity_types)
        self.relation_types = list(self.assembly.labels.relation_types)

    @classmethod
    def load(cls, model_dir: Path, *, device: str = "cpu") -> "Predictor":
        return cls(model_dir, torch.device(device))

    def predict_docs(self, docs: Sequence[Doc]) -> list[Doc]:
        """Each document with predicted entities (mention spans) and relations; gold in docs is ignored."""
        out: list[Doc] = []
        for at in range(0, len(docs), DOCS_PER_PASS):
            bare = [Doc(d.title, d.sentences) for d in docs[at : at + DOCS_PER_PASS]]
            out.extend(self.assembly.model.predict(self.assembly.encode(bare), self.assembly.tokens))
        return out

    def predict(self, sentences: list[str], title: str = "") -> Prediction:
        """Entities as surface strings and relations with evidence sentence numbers (0-based), in the shape of
        the annotation contract v1."""
        return prediction_of(self.predict_docs([Doc(title, list(sentences))])[0])
