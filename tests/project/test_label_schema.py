"""Label schema validation: every problem named by its field."""

import copy
from typing import Any

import pytest

from app.errors import InvalidInput
from app.project.label_schema import parse_label_schema
from app.project.presets import DOCRED, PERSON_RELATIONS, PRESETS, ZH_GENERAL


def _fields(data: Any) -> list[str]:
    with pytest.raises(InvalidInput) as info:
        parse_label_schema(data)
    assert info.value.status_code == 422
    return [e.field for e in info.value.errors]


def test_every_preset_is_a_valid_schema() -> None:
    for _title, data, guidelines in PRESETS.values():
        assert parse_label_schema(data).entity_types
        assert guidelines.strip()


def test_zh_general_has_the_common_web_types_and_relations() -> None:
    schema = parse_label_schema(ZH_GENERAL)
    assert {"PER", "ORG", "LOC", "TIME"} <= set(schema.entity_codes())
    codes = {r.code for r in schema.relation_types}
    assert {"任职于", "毕业于", "创办", "位于", "出生于", "亲属", "同事", "师生"} <= codes
    works_at = schema.relation("任职于")
    assert works_at is not None
    assert (works_at.head_types, works_at.tail_types) == (["PER"], ["ORG"])


def test_person_relations_is_the_four_class_scheme_over_people() -> None:
    schema = parse_label_schema(PERSON_RELATIONS)
    assert schema.entity_codes() == ["PER"]
    assert [r.code for r in schema.relation_types] == ["亲属", "师生", "同事", "其他"]
    assert all(r.head_types == ["PER"] and r.tail_types == ["PER"] for r in schema.relation_types)


def test_docred_has_six_types_and_96_relations_with_p_codes() -> None:
    schema = parse_label_schema(DOCRED)
    assert schema.entity_codes() == ["PER", "ORG", "LOC", "TIME", "NUM", "MISC"]
    assert len(schema.relation_types) == 96
    assert all(r.code.startswith("P") and r.code[1:].isdigit() for r in schema.relation_types)
    country = schema.relation("P17")
    spouse = schema.relation("P26")
    assert country is not None and country.name == "country" and not country.symmetric
    assert spouse is not None and spouse.symmetric


def test_not_an_object() -> None:
    assert _fields(["PER"]) == ["schema"]
    assert _fields("{}") == ["schema"]


def test_missing_entity_types() -> None:
    assert "schema.entity_types" in _fields({"relation_types": []})


def test_unknown_key_is_named() -> None:
    assert "schema.entity_types[0].colour" in _fields({"entity_types": [{"code": "PER", "name": "P", "colour": "red"}]})


def test_bad_color_is_named() -> None:
    assert _fields({"entity_types": [{"code": "PER", "name": "P", "color": "red;x"}]}) == [
        "schema.entity_types[0].color"
    ]


def test_duplicate_entity_and_relation_codes_are_named() -> None:
    data = copy.deepcopy(PERSON_RELATIONS)
    data["entity_types"].append(dict(data["entity_types"][0]))
    data["relation_types"].append(dict(data["relation_types"][1]))
    fields = _fields(data)
    assert "schema.entity_types[1].code" in fields
    assert "schema.relation_types[4].code" in fields


def test_unknown_types_in_relation_constraints_are_named() -> None:
    data = {
        "entity_types": [{"code": "PER", "name": "人物"}],
        "relation_types": [{"code": "任职于", "name": "任职于", "head_types": ["PER"], "tail_types": ["ORG"]}],
    }
    with pytest.raises(InvalidInput) as info:
        parse_label_schema(data)
    assert [e.field for e in info.value.errors] == ["schema.relation_types[0].tail_types[0]"]
    assert "'ORG'" in info.value.errors[0].message


def test_codes_with_markup_or_spaces_are_refused() -> None:
    assert _fields({"entity_types": [{"code": "<b>", "name": "x"}]}) == ["schema.entity_types[0].code"]
    assert _fields({"entity_types": [{"code": "A B", "name": "x"}]}) == ["schema.entity_types[0].code"]
