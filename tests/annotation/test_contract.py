"""The output contract is parsed tolerantly, and refused with a clear reason."""

import pytest

from app.annotation.contract import AnnotationOutput, AugmentationOutput, OutputError, parse_model_json

GOOD = '{"entities": [{"id": "E1", "type": "PER", "name": "张三", "mentions": ["张三"]}], "relations": []}'


@pytest.mark.parametrize(
    "answer",
    [
        GOOD,
        f"```json\n{GOOD}\n```",
        f"好的，以下是标注结果：\n```\n{GOOD}\n```\n希望有帮助。",
        f"Here is the JSON: {GOOD} Done.",
    ],
)
def test_plain_fenced_and_wrapped_json_parse(answer: str) -> None:
    out = parse_model_json(answer, AnnotationOutput)
    assert out.entities[0].name == "张三"


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ("", "empty content"),
        (None, "empty content"),
        ("I cannot help with that.", "no JSON object"),
        ('{"entities": [{"id": "E1"}]}', "entities.0.type"),
        ("[1, 2]", "no JSON object"),
        ('{"entities": [{"id": "E1", "type": "PER", "name": "张', "no JSON object"),
    ],
)
def test_bad_answers_are_refused_with_the_reason(answer: str | None, says: str) -> None:
    with pytest.raises(OutputError, match=says):
        parse_model_json(answer, AnnotationOutput)


def test_augmentation_answers() -> None:
    out = parse_model_json(
        '{"pairs": [{"pair": 1, "type": "NA"}, {"pair": 2, "type": "亲属", "evidence": [0]}]}', AugmentationOutput
    )
    assert [(p.pair, p.type) for p in out.pairs] == [(1, "NA"), (2, "亲属")]
