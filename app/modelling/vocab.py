"""The from-scratch encoder's vocabulary: the units of the train split, plus [PAD] [UNK] [CLS] [SEP]. Pure."""

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from app.modelling.data import Doc
from app.modelling.features import SPECIAL, units

PAD, UNK, CLS, SEP = range(len(SPECIAL))


class UnitVocab:
    """Unit string → id; units never seen in training read as [UNK]."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.pad_id, self.unk_id, self.cls_id, self.sep_id = PAD, UNK, CLS, SEP

    @classmethod
    def build(cls, docs: Sequence[Doc], *, min_count: int = 1) -> "UnitVocab":
        counts: Counter[str] = Counter(s[a:b] for d in docs for s in d.sentences for a, b in units(s))
        # Most frequent first, ties by code point: the same train split always gives the same ids.
        kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        return cls([*SPECIAL, *kept])

    def __len__(self) -> int:
        return len(self.tokens)

    def ids(self, unit: str) -> list[int]:
        return [self.index.get(unit, UNK)]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.tokens, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "UnitVocab":
        tokens = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(tokens, list) or tokens[: len(SPECIAL)] != list(SPECIAL):
            raise ValueError(f"{path.name} is not a unit vocabulary")
        return cls([str(t) for t in tokens])
