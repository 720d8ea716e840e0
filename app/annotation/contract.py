"""The LLM output contract (v1): what an annotator answers, parsed tolerantly."""

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

CONTRACT_VERSION = "v1"


# A JSON Schema document for an answer, as the model APIs take it (prompts.py builds them from the label schema).
JsonSchema = dict[str, Any]


class EntityOut(BaseModel):
    """One proposed entity: a cluster of surface strings, never offsets."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=32)
    type: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=500)
    mentions: list[str] = Field(default_factory=list, max_length=200)


class RelationOut(BaseModel):
    model_config = ConfigDict(extra="ignore")

    head: str = Field(min_length=1, max_length=32)
    tail: str = Field(min_length=1, max_length=32)
    type: str = Field(min_length=1, max_length=64)
    evidence: list[int] = Field(default_factory=list, max_length=100)


class AnnotationOutput(BaseModel):
    """What an annotator returns for a document (or a window of it)."""

    model_config = ConfigDict(extra="ignore")

    entities: list[EntityOut] = Field(default_factory=list, max_length=2000)
    relations: list[RelationOut] = Field(default_factory=list, max_length=5000)


class PairAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    pair: int
    # A relation code of the schema, or "NA" for no relation.
    type: str = Field(min_length=1, max_length=64)
    evidence: list[int] = Field(default_factory=list, max_length=100)


class AugmentationOutput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    pairs: list[PairAnswer] = Field(default_factory=list, max_length=500)


class RecheckOutput(BaseModel):
    """The blind second opinion (recheck-v2): each listed entity's type code (or NONE) by its label ("E1"), and the
    listed pairs that hold a relation, each one string "E1 <type> E2 <evidence sentence numbers>". Read item by
    item: what does not fit the question is ignored and counted, not a failed answer."""

    model_config = ConfigDict(extra="ignore")

    types: dict[str, str] = Field(default_factory=dict, max_length=2000)
    relations: list[str] = Field(default_factory=list, max_length=1000)


class Vote(BaseModel):
    model_config = ConfigDict(extra="ignore")

    item: int
    verdict: bool


class VerificationOutput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    votes: list[Vote] = Field(default_factory=list, max_length=500)


class OutputError(ValueError):
    """A model answer that is not the JSON the contract asks for."""


T = TypeVar("T", bound=BaseModel)
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def _candidates(text: str) -> list[str]:
    out = [text.strip()]
    out += [m.group(1).strip() for m in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        out.append(text[start : end + 1])
    return out


def parse_model_json(text: str | None, model: type[T]) -> T:
    """The contract object in an answer: plain JSON, JSON in a markdown fence, or JSON after/before prose."""
    if not text or not text.strip():
        raise OutputError("the model returned empty content")
    last: Exception | None = None
    for candidate in _candidates(text):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError as exc:
            last = exc
            continue
        if not isinstance(data, dict):
            last = OutputError("the JSON is not an object")
            continue
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise OutputError(f"the JSON does not follow the contract: {loc}: {first['msg']}") from None
    raise OutputError(f"no JSON object found in the answer ({type(last).__name__ if last else 'empty'})")
