"""The encoders: a small transformer trained from scratch over the unit vocabulary, or any Hugging Face encoder
(a local directory, or a hub name where the hub is reachable). Both map token windows to vectors."""

from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from app.modelling.config import BackboneError, TrainConfig

ENCODER_DIR = "encoder"  # a Hugging Face encoder's config and tokenizer inside a model directory


class TokenSource(Protocol):
    pad_id: int
    unk_id: int
    cls_id: int
    sep_id: int

    def ids(self, unit: str) -> list[int]: ...


class ScratchEncoder(nn.Module):
    """Embeddings, learned positions and a few pre-norm transformer layers."""

    def __init__(self, vocab_size: int, config: TrainConfig) -> None:
        super().__init__()
        self.hidden_size = config.hidden_size
        self.embed = nn.Embedding(vocab_size, config.hidden_size, padding_idx=0)
        self.position = nn.Embedding(config.max_window, config.hidden_size)
        layer = nn.TransformerEncoderLayer(
            config.hidden_size,
            config.heads,
            4 * config.hidden_size,
            config.dropout,
            batch_first=True,
            norm_first=True,
            activation="gelu",
        )
        self.layers = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.hidden_size)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.embed(ids) + self.position(positions)[None]
        return self.norm(self.layers(x, src_key_padding_mask=~mask))  # type: ignore[no-any-return]


class PretrainedEncoder(nn.Module):
    """A Hugging Face encoder's last hidden states."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.hidden_size = int(model.config.hidden_size)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        return self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state  # type: ignore[no-any-return]


class PretrainedTokens:
    """A Hugging Face tokenizer, one unit at a time (cached: units repeat)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.unk_id = _first_id(tokenizer, "unk_token_id", default=0)
        self.pad_id = _first_id(tokenizer, "pad_token_id", default=0)
        self.cls_id = _first_id(tokenizer, "cls_token_id", "bos_token_id", default=self.unk_id)
        self.sep_id = _first_id(tokenizer, "sep_token_id", "eos_token_id", default=self.unk_id)
        self._cache: dict[str, list[int]] = {}

    def ids(self, unit: str) -> list[int]:
        found = self._cache.get(unit)
        if found is None:
            found = list(self.tokenizer(unit, add_special_tokens=False)["input_ids"]) or [self.unk_id]
            self._cache[unit] = found
        return found


def _first_id(tokenizer: Any, *names: str, default: int) -> int:
    for name in names:
        value = getattr(tokenizer, name, None)
        if isinstance(value, int):
            return value
    return default


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_backbone(name: str) -> tuple[Any, Any]:
    """(model, tokenizer) of a Hugging Face encoder; BackboneError says why it cannot be used."""
    where = Path(name).expanduser()
    if name.startswith((".", "~", "/")) and not where.is_dir():
        raise BackboneError(f"cannot load backbone {name}: no such directory")
    try:
        import transformers  # the optional extra, only with a backbone
    except ImportError:
        raise BackboneError(f"cannot load backbone {name}: transformers is not installed") from None
    # Untyped (or typed differently) across transformers versions: used through Any.
    auto: Any = transformers
    source = str(where) if where.is_dir() else name
    try:
        config = auto.AutoConfig.from_pretrained(source)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError… for one cause: unusable
        raise BackboneError(f"cannot load backbone {name}: {_reason(exc)}") from None
    _check_encoder(name, config)
    try:
        model = auto.AutoModel.from_pretrained(source)
        tokenizer = auto.AutoTokenizer.from_pretrained(source)
    except Exception as exc:  # as above
        raise BackboneError(f"cannot load backbone {name}: {_reason(exc)}") from None
    return model, tokenizer


def _check_encoder(name: str, config: Any) -> None:
    architectures = getattr(config, "architectures", None) or []
    model_type = getattr(config, "model_type", "?")
    if getattr(config, "is_encoder_decoder", False) or getattr(config, "is_decoder", False):
        raise BackboneError(f"cannot load backbone {name}: {model_type} is not an encoder")
    if _decoder_only(model_type) or any(
        part in a for a in architectures for part in ("CausalLM", "LMHeadModel", "ConditionalGeneration", "Seq2Seq")
    ):
        raise BackboneError(f"cannot load backbone {name}: {model_type} is a generative model, not an encoder")
    if not isinstance(getattr(config, "hidden_size", None), int):
        raise BackboneError(f"cannot load backbone {name}: its config has no hidden_size")


def _decoder_only(model_type: str) -> bool:
    """A family with a causal language model head and no masked one (GPT-2, Llama, Qwen…)."""
    try:
        from transformers.models.auto import modeling_auto  # the optional extra, only with a backbone
    except ImportError:
        return False
    causal = getattr(modeling_auto, "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES", {})
    masked = getattr(modeling_auto, "MODEL_FOR_MASKED_LM_MAPPING_NAMES", {})
    return model_type in causal and model_type not in masked


def window_limit(config: TrainConfig, model: Any) -> int:
    """The window length the encoder can read: max_window, or less when its position table is shorter."""
    positions = getattr(model.config, "max_position_embeddings", None)
    # RoBERTa-like models reserve two positions (padding offset); two fewer is safe for every family.
    return min(config.max_window, positions - 2) if isinstance(positions, int) else config.max_window


def save_pretrained_parts(model: Any, tokenizer: Any, directory: Path) -> None:
    """The encoder's config and tokenizer (the weights go with the whole network's)."""
    model.config.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def pretrained_from_dir(directory: Path) -> tuple[Any, Any]:
    """An untrained encoder of the saved config, and its tokenizer (weights are loaded after)."""
    import transformers  # the optional extra, only with a backbone

    auto: Any = transformers
    config = auto.AutoConfig.from_pretrained(directory)
    return auto.AutoModel.from_config(config), auto.AutoTokenizer.from_pretrained(directory)
