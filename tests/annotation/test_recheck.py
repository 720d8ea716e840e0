"""The blind second opinion's pure core: what is asked (blended, nearest first), how answers are read, and what
they make of single-model items and of pairs both models missed."""

from app.annotation.contract import AugmentationOutput, PairAnswer, RecheckOutput
from app.annotation.recheck import (
    KnownEntity,
    Look,
    Opinion,
    Request,
    entity_opinion,
    found_pairs,
    plan,
    read_answer,
    read_augmentation,
    relation_opinion,
    span_key,
)
from app.project.label_schema import LabelSchema
from app.project.presets import PRESETS

SCHEMA = LabelSchema.model_validate(PRESETS["zh-general"][1])
ZHANG = KnownEntity("0-2", "张伟", "PER", (0,))
PKU = KnownEntity("9-13", "北京大学", "ORG", (0,))
HUAWEI = KnownEntity("20-24", "华为公司", "ORG", (0,))
LINA = KnownEntity("40-42", "李娜", "PER", (3,))
SHANGHAI = KnownEntity("45-47", "上海", "LOC", (3,))
ENTITIES = {e.key: e for e in (ZHANG, PKU, HUAWEI, LINA, SHANGHAI)}


def test_span_keys_are_sorted_and_stable() -> None:
    assert span_key([(20, 24), (3, 5)]) == "3-5,20-24"
    assert span_key([]) == ""


def test_disputed_pairs_and_candidates_are_asked_alike_nearest_first() -> None:
    disputed = [(LINA.key, SHANGHAI.key)]
    candidates = [(ZHANG.key, HUAWEI.key), (LINA.key, HUAWEI.key)]
    (request,) = plan(ENTITIES, pairs=[*candidates, *disputed], to_type=[HUAWEI.key], n_sentences=5)
    # The entities the request needs, in text order, with no type: each is typed alike.
    assert request.entities == (ZHANG.key, HUAWEI.key, LINA.key, SHANGHAI.key)
    asked = [(request.entities[h], request.entities[t]) for h, t in request.pairs]
    # Ordered by sentence distance (same-sentence pairs first), whatever their origin.
    assert asked == [(ZHANG.key, HUAWEI.key), (LINA.key, SHANGHAI.key), (LINA.key, HUAWEI.key)]
    assert request.sentence_ids == (0, 1, 2, 3, 4)  # the sentences holding them, and one on each side


def test_many_pairs_take_several_requests_and_the_entities_to_type_ride_in_the_first() -> None:
    pairs = [(ZHANG.key, HUAWEI.key), (ZHANG.key, PKU.key), (LINA.key, SHANGHAI.key)]
    requests = plan(ENTITIES, pairs=pairs, to_type=[SHANGHAI.key], n_sentences=5, per_request=2)
    assert [len(r.pairs) for r in requests] == [2, 1]
    assert [r.entities for r in requests] == [
        (ZHANG.key, PKU.key, HUAWEI.key, SHANGHAI.key),
        (LINA.key, SHANGHAI.key),
    ]
    # Nothing to ask, nothing to send; a pair naming an unknown entity is dropped.
    assert plan(ENTITIES, pairs=[("9-9", ZHANG.key)], to_type=[], n_sentences=5) == []


def _request() -> Request:
    (request,) = plan(ENTITIES, pairs=[(ZHANG.key, HUAWEI.key), (LINA.key, SHANGHAI.key)], to_type=[], n_sentences=5)
    return request


def test_answers_are_read_and_anything_off_the_question_is_ignored_and_counted() -> None:
    request = _request()  # E1 张伟, E2 华为公司, E3 李娜, E4 上海; pairs E1 → E2 and E3 → E4
    look = Look()
    answer = RecheckOutput(
        types={"E2": "ORG", "E3": "NONE", "E9": "PER", "E1": "ROBOT", "张伟": "PER"},
        relations=[
            "E1 任职于 E2 0, 99",  # evidence outside the document is dropped
            "E3 NA E4",  # no relation: simply not recorded
            "E4 任职于 E1",  # a pair not asked
            "E1 出生于 E2 0",  # the schema forbids PER 出生于 ORG
            "张伟 任职于 华为公司",  # not a relation string
            "E1 任职于 E2 " + "0 " * 400,  # far too long
        ],
    )
    read_answer(look, request, answer, ENTITIES, SCHEMA, n_sentences=5)
    assert look.entity_types == {HUAWEI.key: "ORG", LINA.key: "NONE"}
    assert look.pairs == {(ZHANG.key, HUAWEI.key): {"任职于": [0]}}
    assert look.asked_pairs == {(ZHANG.key, HUAWEI.key), (LINA.key, SHANGHAI.key)}
    assert look.asked_entities == set(request.entities)
    assert look.ignored == 7
    assert Look.from_json(look.to_json()) == look


def test_a_symmetric_relation_given_the_other_way_round_is_read_as_the_pair_asked() -> None:
    (request,) = plan(ENTITIES, pairs=[(ZHANG.key, LINA.key)], to_type=[], n_sentences=5)
    look = Look()
    read_answer(look, request, RecheckOutput(relations=["E2 亲属 E1 0 3", "E2 师生 E1 3"]), ENTITIES, SCHEMA, 5)
    assert look.pairs == {(ZHANG.key, LINA.key): {"亲属": [0, 3]}}
    assert look.ignored == 1  # a directed type the other way round answers a pair nobody asked


def test_the_augmentation_answer_numbers_its_pairs() -> None:
    request = _request()
    look = Look()
    output = AugmentationOutput(
        pairs=[
            PairAnswer(pair=1, type="任职于", evidence=[0]),
            PairAnswer(pair=2, type="NA"),
            PairAnswer(pair=7, type="任职于"),
        ]
    )
    read_augmentation(look, request, output, ENTITIES, SCHEMA, n_sentences=5)
    assert look.pairs == {(ZHANG.key, HUAWEI.key): {"任职于": [0]}}
    assert look.asked_entities == set()  # types were shown, not asked
    assert look.ignored == 1


def test_what_the_other_models_blind_answer_makes_of_a_single_model_item() -> None:
    look = Look(
        asked_entities={HUAWEI.key, LINA.key, PKU.key},
        entity_types={HUAWEI.key: "ORG", LINA.key: "NONE", PKU.key: "LOC"},
        asked_pairs={(ZHANG.key, HUAWEI.key), (LINA.key, SHANGHAI.key), (ZHANG.key, LINA.key)},
        pairs={(ZHANG.key, HUAWEI.key): {"任职于": [0], "创办": [0]}, (LINA.key, ZHANG.key): {"亲属": [3]}},
    )
    assert entity_opinion("a_only", "ORG", HUAWEI.key, look) == Opinion("confirmed", "ORG")
    assert entity_opinion("a_only", "PER", LINA.key, look) == Opinion("disputed")
    assert entity_opinion("b_only", "ORG", PKU.key, look) == Opinion("type_conflict", "LOC")
    assert entity_opinion("a_only", "LOC", SHANGHAI.key, look) == Opinion("a_only")  # not asked
    assert entity_opinion("a_only", "LOC", SHANGHAI.key, None) == Opinion("a_only")  # the call failed
    pair = (ZHANG.key, HUAWEI.key)
    sym = {"亲属"}
    # A pair may hold several types: each one given confirms the relation of that type.
    assert relation_opinion("a_only", "任职于", pair, look, symmetric=sym) == Opinion("confirmed", "任职于")
    assert relation_opinion("a_only", "创办", pair, look, symmetric=sym) == Opinion("confirmed", "创办")
    assert relation_opinion("a_only", "毕业于", pair, look, symmetric=sym) == Opinion("type_conflict", "任职于")
    # Asked and left out: no relation.
    born = relation_opinion("b_only", "出生于", (LINA.key, SHANGHAI.key), look, symmetric=sym)
    assert born == Opinion("disputed")
    # A symmetric type answered in the other direction still confirms; a directed one would not.
    kin = relation_opinion("a_only", "亲属", (ZHANG.key, LINA.key), look, symmetric=sym)
    assert kin == Opinion("confirmed", "亲属")
    assert relation_opinion("a_only", "亲属", (ZHANG.key, LINA.key), look, symmetric=set()) == Opinion("disputed")
    assert relation_opinion("a_only", "任职于", (PKU.key, HUAWEI.key), look, symmetric=sym) == Opinion("a_only")


def test_pairs_both_missed_are_classed_by_the_two_blind_answers() -> None:
    both = {(ZHANG.key, HUAWEI.key), (ZHANG.key, PKU.key), (LINA.key, SHANGHAI.key), (LINA.key, HUAWEI.key)}
    a = Look(
        asked_pairs=set(both),
        pairs={
            (ZHANG.key, HUAWEI.key): {"任职于": [0]},
            (ZHANG.key, PKU.key): {"毕业于": [0]},
            (LINA.key, SHANGHAI.key): {"出生于": [3]},
            (LINA.key, HUAWEI.key): {"任职于": [3]},
        },
    )
    b = Look(
        asked_pairs=set(both) - {(LINA.key, HUAWEI.key)},
        pairs={(ZHANG.key, HUAWEI.key): {"任职于": [1]}, (ZHANG.key, PKU.key): {"任职于": [0]}},
    )
    found = {(f.head, f.tail, f.type): f for f in found_pairs({"a": a, "b": b}, related={(SHANGHAI.key, LINA.key)})}
    assert found[(ZHANG.key, HUAWEI.key, "任职于")].agreement == "confirmed"
    assert found[(ZHANG.key, HUAWEI.key, "任职于")].evidence == [0, 1]
    # Each related the pair as something else: one item per type, each a type conflict naming the other's type.
    assert found[(ZHANG.key, PKU.key, "毕业于")].agreement == "type_conflict"
    assert found[(ZHANG.key, PKU.key, "毕业于")].answers == (("a", "毕业于"), ("b", "任职于"))
    assert found[(ZHANG.key, PKU.key, "任职于")].answers == (("b", "任职于"), ("a", "毕业于"))
    assert not any(k[:2] == (LINA.key, SHANGHAI.key) for k in found)  # already related (the other direction)
    # One model alone: unconfirmed when the other was asked the same pair, augmented when it was not.
    by_pair = {(f.head, f.tail): f.agreement for f in found_pairs({"a": a, "b": b}, related=set())}
    assert by_pair[(LINA.key, SHANGHAI.key)] == "unconfirmed"
    assert by_pair[(LINA.key, HUAWEI.key)] == "augmented"
    assert found_pairs({"a": a}, related=set())[0].agreement == "augmented"


def test_the_proposers_own_blind_answer_refines_the_others() -> None:
    other = Look(
        asked_entities={HUAWEI.key, LINA.key},
        entity_types={HUAWEI.key: "ORG", LINA.key: "NONE"},
        asked_pairs={(ZHANG.key, HUAWEI.key), (LINA.key, SHANGHAI.key)},
        pairs={(ZHANG.key, HUAWEI.key): {"任职于": [0]}},
    )
    holds = Look(
        asked_entities={HUAWEI.key, LINA.key},
        entity_types={HUAWEI.key: "ORG", LINA.key: "PER"},
        asked_pairs={(ZHANG.key, HUAWEI.key), (LINA.key, SHANGHAI.key)},
        pairs={(ZHANG.key, HUAWEI.key): {"任职于": [0]}, (LINA.key, SHANGHAI.key): {"出生于": [3]}},
    )
    withdraws = Look(
        asked_entities={HUAWEI.key, LINA.key},
        entity_types={HUAWEI.key: "NONE", LINA.key: "NONE"},
        asked_pairs={(ZHANG.key, HUAWEI.key), (LINA.key, SHANGHAI.key)},
    )
    sym: set[str] = set()
    # The other confirms: confirmed while the proposer holds it, disputed when it withdraws it.
    assert entity_opinion("a_only", "ORG", HUAWEI.key, other, own=holds).agreement == "confirmed"
    assert entity_opinion("a_only", "ORG", HUAWEI.key, other, own=withdraws).agreement == "disputed"
    pair = (ZHANG.key, HUAWEI.key)
    assert relation_opinion("a_only", "任职于", pair, other, symmetric=sym, own=holds).agreement == "confirmed"
    assert relation_opinion("a_only", "任职于", pair, other, symmetric=sym, own=withdraws).agreement == "disputed"
    # The other says no: disputed while the proposer holds it, retracted when neither gives it.
    assert entity_opinion("a_only", "PER", LINA.key, other, own=holds).agreement == "disputed"
    assert entity_opinion("a_only", "PER", LINA.key, other, own=withdraws).agreement == "retracted"
    born = (LINA.key, SHANGHAI.key)
    assert relation_opinion("a_only", "出生于", born, other, symmetric=sym, own=holds).agreement == "disputed"
    assert relation_opinion("a_only", "出生于", born, other, symmetric=sym, own=withdraws).agreement == "retracted"
    # No answer of its own (its call failed): the other's answer alone decides.
    assert relation_opinion("a_only", "出生于", born, other, symmetric=sym, own=None).agreement == "disputed"
