"""Sample answers: a model annotator that replays answers recorded for the demo's sample batch.

It lets a fresh installation show the whole loop (two models, the blind second look, costs) without a key and
without a network: each request is looked up by what would be sent to a model (the model name, the system and the
user prompt) in `app/demo/sample_answers.json`, recorded once by `tests/demo_answers.py`. A request the file does
not hold (another document, an edited schema or guidelines) fails the run with a message saying so.
"""

import hashlib
import json
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.annotation.contract import JsonSchema
from app.annotation.providers import Completion, ProviderError

SAMPLE_PROVIDER = "sample"
# Demo data, beside the sample batch it belongs to (read here, never imported).
ANSWERS = Path(__file__).resolve().parents[1] / "demo" / "sample_answers.json"


def answer_key(model: str, system: str, user: str) -> str:
    return hashlib.sha256(json.dumps([model, system, user], ensure_ascii=False).encode()).hexdigest()


@lru_cache(maxsize=1)
def recorded_answers() -> dict[str, dict[str, Any]]:
    if not ANSWERS.is_file():
        return {}
    answers: dict[str, dict[str, Any]] = json.loads(ANSWERS.read_text(encoding="utf-8"))
    return answers


class SampleProvider:
    """Replays recorded answers; never calls anything."""

    name = SAMPLE_PROVIDER

    def __init__(self, model: str) -> None:
        self.model = model

    def __repr__(self) -> str:
        return f"SampleProvider({self.model!r})"

    async def complete(
        self, *, system: str, user: str, json_schema: JsonSchema | None, temperature: float, max_output_tokens: int
    ) -> Completion:
        started = time.monotonic()
        entry = recorded_answers().get(answer_key(self.model, system, user))
        if entry is None:
            raise ProviderError(
                "no sample answer for this request: sample annotators replay answers recorded for the demo's "
                "sample batch only (with its schema and guidelines unchanged); add a real model annotator",
                retryable=False,
            )
        return Completion(
            text=str(entry["text"]),
            input_tokens=int(entry["input_tokens"]),
            output_tokens=int(entry["output_tokens"]),
            finish="stop",
            latency_ms=int(entry.get("latency_ms") or (time.monotonic() - started) * 1000),
        )
