"""Documents as the model sees them: sentences, entities with mention spans, relations. Read from a snapshot's
DocRED split files (`docred/train.json`, `dev.json`, `test.json`) through the DocRED reader of app.webtext. Pure."""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.modelling.config import TrainingRefused
from app.webtext.docred import DocredError, parse_docred


@dataclass(frozen=True, slots=True)
class Mention:
    """Code points [start, end) of sentence `sentence` (0-based)."""

    sentence: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Entity:
    type: str
    mentions: list[Mention]


@dataclass(frozen=True, slots=True)
class Relation:
    head: int  # position in Doc.entities
    tail: int
    type: str
    evidence: list[int] = field(default_factory=list)  # sentence numbers, 0-based


@dataclass(frozen=True, slots=True)
class Doc:
    title: str
    sentences: list[str]
    entities: list[Entity] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)

    def mention_text(self, mention: Mention) -> str:
        return self.sentences[mention.sentence][mention.start : mention.end]


@dataclass(frozen=True, slots=True)
class TrainingData:
    """A snapshot's three splits."""

    train: list[Doc]
    dev: list[Doc]
    test: list[Doc]


def doc_from_docred(record: dict[str, Any]) -> Doc:
    """One DocRED document (title, sents, vertexSet, labels) as a Doc; raises DocredError when it does not hold."""
    parsed = parse_docred(record)
    sentences = [parsed.text[start:end] for start, end in parsed.sentences]
    entities = [
        Entity(
            e.type,
            [
                Mention(m.sent_id, m.start - parsed.sentences[m.sent_id][0], m.end - parsed.sentences[m.sent_id][0])
                for m in e.mentions
            ],
        )
        for e in parsed.entities
    ]
    relations = [Relation(r.head, r.tail, r.type, list(r.evidence)) for r in parsed.relations]
    return Doc(parsed.title, sentences, entities, relations)


def load_split(path: Path) -> list[Doc]:
    """The documents of a DocRED JSON file (a JSON array); TrainingRefused names the file and the bad document."""
    try:
        records = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingRefused(f"{Path(path).name}: no such split file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainingRefused(f"{Path(path).name}: not a DocRED JSON file ({exc})") from None
    if not isinstance(records, list):
        raise TrainingRefused(f"{Path(path).name}: a DocRED file is a JSON array of documents")
    docs: list[Doc] = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise TrainingRefused(f"{Path(path).name}: document {i} is not an object")
        try:
            docs.append(doc_from_docred(record))
        except DocredError as exc:
            raise TrainingRefused(f"{Path(path).name}: document {i}: {exc}") from None
    return docs


def load_snapshot(directory: Path) -> TrainingData:
    """The train, dev and test splits of a snapshot directory (its `docred/<split>.json` files)."""
    return TrainingData(
        *(load_split(Path(directory) / "docred" / f"{split}.json") for split in ("train", "dev", "test"))
    )


def check_trainable(train: Sequence[Doc], dev: Sequence[Doc]) -> None:
    """Refuse, before any work, data no model can be trained on."""
    if not train:
        raise TrainingRefused("the train split has no documents")
    if not dev:
        raise TrainingRefused("the dev split has no documents (the best epoch is chosen on it)")
    if not any(doc.relations for doc in train):
        raise TrainingRefused("the train split has no relations")
    if not any(doc.entities for doc in train):
        raise TrainingRefused("the train split has no entities")
