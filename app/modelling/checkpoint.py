"""A model directory: how a network is assembled for training, written, and read back for prediction.

Files: config.json (format, backbone, label codes, seed, sizes, versions), model.pt (the whole network's weights,
read back with weights_only), vocab.json (the from-scratch encoder's units) or encoder/ (a Hugging Face encoder's
config and tokenizer), metrics.json (written by the trainer).
"""

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from app.modelling.config import ModelDirError, TrainConfig
from app.modelling.data import Doc
from app.modelling.encoder import (
    ENCODER_DIR,
    PretrainedEncoder,
    PretrainedTokens,
    ScratchEncoder,
    TokenSource,
    load_backbone,
    pretrained_from_dir,
    save_pretrained_parts,
    window_limit,
)
from app.modelling.features import EncodedDoc, LabelSpace, encode_doc, units
from app.modelling.network import JointModel
from app.modelling.vocab import UnitVocab

FORMAT = "concord-model/1"
CONFIG, WEIGHTS, VOCAB, METRICS = "config.json", "model.pt", "vocab.json", "metrics.json"
UNIT_DROPOUT = 0.05


@dataclass(slots=True)
class Assembly:
    """A network with what it needs to read documents."""

    model: JointModel
    tokens: TokenSource
    labels: LabelSpace
    window: int
    max_width: int
    settings: dict[str, Any]  # config.json
    pretrained: Any = None  # (model, tokenizer) of a Hugging Face backbone, kept to save its config
    vocab: UnitVocab | None = None

    def encode(self, docs: Sequence[Doc]) -> list[EncodedDoc]:
        return [encode_doc(d, self.tokens.ids, self.labels, window=self.window, max_width=self.max_width) for d in docs]


def _versions(backbone: bool) -> dict[str, str]:
    names = ["concord", "torch", *(["transformers"] if backbone else [])]
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def longest_mention(docs: Sequence[Doc]) -> int:
    """The longest mention of the documents, in units."""
    return max((len(units(d.mention_text(m))) for d in docs for e in d.entities for m in e.mentions), default=1)


def assemble_for_training(config: TrainConfig, train_docs: Sequence[Doc]) -> Assembly:
    """A fresh network for the train split: its labels, its vocabulary or the backbone's, its sizes."""
    labels = LabelSpace.of(train_docs)
    max_width = max(1, min(config.max_span_width, longest_mention(train_docs)))
    settings: dict[str, Any] = {
        "format": FORMAT,
        "backbone": config.backbone,
        "encoder": "pretrained" if config.backbone else "scratch",
        "entity_types": labels.entity_types,
        "relation_types": labels.relation_types,
        "type_pairs": [list(p) for p in labels.type_pairs],
        "max_span_width": max_width,
        "seed": config.seed,
        "train_config": asdict(config),
        "versions": _versions(bool(config.backbone)),
    }
    if config.backbone:
        hf_model, tokenizer = load_backbone(config.backbone)
        encoder: torch.nn.Module = PretrainedEncoder(hf_model)
        tokens: TokenSource = PretrainedTokens(tokenizer)
        window, hidden, vocab, unit_dropout = (
            window_limit(config, hf_model),
            int(hf_model.config.hidden_size),
            None,
            0.0,
        )
        pretrained = (hf_model, tokenizer)
    else:
        vocab = UnitVocab.build(train_docs)
        encoder, tokens, window, hidden = (
            ScratchEncoder(len(vocab), config),
            vocab,
            config.max_window,
            config.hidden_size,
        )
        unit_dropout, pretrained = UNIT_DROPOUT, None
    settings |= {"window": window, "hidden_size": hidden}
    model = JointModel(encoder, hidden, labels, max_width, config.dropout, unit_dropout=unit_dropout)
    return Assembly(model, tokens, labels, window, max_width, settings, pretrained, vocab)


def write_model_files(assembly: Assembly, directory: Path) -> None:
    """config.json and the vocabulary or encoder files (the weights are written by save_weights)."""
    (directory / CONFIG).write_text(json.dumps(assembly.settings, ensure_ascii=False, indent=2), encoding="utf-8")
    if assembly.vocab is not None:
        assembly.vocab.save(directory / VOCAB)
    if assembly.pretrained is not None:
        encoder, tokenizer = assembly.pretrained
        save_pretrained_parts(encoder, tokenizer, directory / ENCODER_DIR)


def save_weights(model: JointModel, directory: Path) -> None:
    torch.save(model.state_dict(), directory / WEIGHTS)


def load_assembly(directory: Path, device: torch.device) -> Assembly:
    """The trained network of a model directory; ModelDirError when it is not one."""
    try:
        settings = json.loads((directory / CONFIG).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelDirError(f"{directory.name} is not a trained model (no {CONFIG})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelDirError(f"{directory.name}/{CONFIG} is not JSON") from None
    if not isinstance(settings, dict) or settings.get("format") != FORMAT:
        raise ModelDirError(f"{directory.name}/{CONFIG} is not a {FORMAT} model")
    if not (directory / WEIGHTS).is_file():
        raise ModelDirError(f"{directory.name} has no {WEIGHTS}")
    try:
        config = TrainConfig(**settings["train_config"])
        labels = LabelSpace(
            list(settings["entity_types"]),
            list(settings["relation_types"]),
            [(str(h), str(t), str(r)) for h, t, r in settings["type_pairs"]],
        )
        max_width, window, hidden = (
            int(settings["max_span_width"]),
            int(settings["window"]),
            int(settings["hidden_size"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelDirError(f"{directory.name}/{CONFIG} is incomplete ({exc})") from None
    vocab: UnitVocab | None = None
    try:
        if settings.get("encoder") == "pretrained":
            hf_model, tokenizer = pretrained_from_dir(directory / ENCODER_DIR)
            encoder: torch.nn.Module = PretrainedEncoder(hf_model)
            tokens: TokenSource = PretrainedTokens(tokenizer)
        else:
            vocab = UnitVocab.load(directory / VOCAB)
            encoder, tokens = ScratchEncoder(len(vocab), config), vocab
        model = JointModel(encoder, hidden, labels, max_width, config.dropout)
        model.load_state_dict(torch.load(directory / WEIGHTS, map_location="cpu", weights_only=True))
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelDirError(
            f"{directory.name} cannot be loaded: {str(exc).splitlines()[0] if str(exc) else exc!r}"
        ) from None
    model.to(device).eval()
    return Assembly(model, tokens, labels, window, max_width, settings, vocab=vocab)
