import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.annotation.grounding import (
    Span,
    consensus_spans,
    ground_entity,
    ground_surface,
    normalize_name,
    outside_others,
)
from app.webtext.sentences import split_sentences


def ground(text: str, surface: str, *, fuzzy: bool = True) -> list[Span]:
    spans = ground_surface(text, split_sentences(text), surface, fuzzy=fuzzy)
    check(text, spans)
    return spans


def check(text: str, spans: list[Span]) -> None:
    """Spans are sorted, non-overlapping, inside the text, and never start or end on whitespace."""
    previous_end = 0
    for span in spans:
        assert previous_end <= span.start < span.end <= len(text)
        piece = text[span.start : span.end]
        assert piece == piece.strip()
        previous_end = span.end


def texts(text: str, spans: list[Span]) -> list[str]:
    return [text[s.start : s.end] for s in spans]


def test_every_exact_cjk_occurrence_is_a_span_with_its_sentence() -> None:
    text = "北京是首都。我爱北京。北京北京！"
    spans = ground(text, "北京")
    assert [(s.start, s.end, s.sentence_id, s.how) for s in spans] == [
        (0, 2, 0, "exact"),
        (8, 10, 1, "exact"),
        (11, 13, 2, "exact"),
        (13, 15, 2, "exact"),
    ]


def test_occurrences_do_not_overlap_left_to_right() -> None:
    assert [(s.start, s.end) for s in ground("哈哈哈哈哈", "哈哈")] == [(0, 2), (2, 4)]


def test_offsets_are_code_points_after_astral_characters_and_emoji() -> None:
    text = "𠮷野家😀👍🏽在东京开店。👨‍👩‍👧𠮷野家很好吃。"
    spans = ground(text, "𠮷野家")
    assert texts(text, spans) == ["𠮷野家", "𠮷野家"]
    assert [(s.start, s.end) for s in spans] == [(0, 3), (17, 20)]
    spans = ground(text, "东京")
    assert [(s.start, s.end, s.sentence_id) for s in spans] == [(7, 9, 0)]


def test_full_width_and_half_width_match_both_ways() -> None:
    text = "ＡＢＣ公司与ABC公司合并。"
    spans = ground(text, "ABC公司")
    assert [(texts(text, [s])[0], s.how) for s in spans] == [("ＡＢＣ公司", "normalized"), ("ABC公司", "exact")]
    assert texts(text, ground(text, "ＡＢＣ公司")) == ["ＡＢＣ公司", "ABC公司"]
    assert texts("版本２０２４发布", ground("版本２０２４发布", "2024")) == ["２０２４"]


def test_traditional_surface_in_simplified_text_and_back() -> None:
    simplified = "台湾位于东亚。国务院发布通知。"
    traditional = "臺灣位於東亞。國務院發佈通知。"
    spans = ground(simplified, "臺灣")
    assert [(texts(simplified, [s])[0], s.how) for s in spans] == [("台湾", "normalized")]
    assert texts(simplified, ground(simplified, "國務院")) == ["国务院"]
    assert texts(traditional, ground(traditional, "台湾")) == ["臺灣"]
    assert texts(traditional, ground(traditional, "国务院")) == ["國務院"]


def test_mixed_scripts_in_one_text_ground_every_occurrence() -> None:
    text = "台湾和臺灣是同一个地方。"
    spans = ground(text, "台湾")
    assert [(s.start, s.end, s.how) for s in spans] == [(0, 2, "exact"), (3, 5, "normalized")]


def test_case_insensitive_english_and_whitespace_insensitive() -> None:
    text = "Apple Inc. 发布了新手机。APPLE INC.的股价上涨。"
    assert texts(text, ground(text, "apple inc.")) == ["Apple Inc.", "APPLE INC."]
    text = "中华 人民\u3000共和国成立了。"
    assert texts(text, ground(text, "中华人民共和国")) == ["中华 人民\u3000共和国"]
    text = "中华人民共和国成立了。"
    assert texts(text, ground(text, "中华 人民 共和国")) == ["中华人民共和国"]


def test_invisible_format_characters_are_ignored() -> None:
    text = "北京\u200b大学和北\u00ad京大学。"
    assert texts(text, ground(text, "北京大学")) == ["北京\u200b大学", "北\u00ad京大学"]
    assert texts("在北京大学。", ground("在北京大学。", "北京\ufeff大学")) == ["北京大学"]


def test_surface_is_stripped_and_whitespace_never_starts_a_span() -> None:
    text = "我 在 北京 工作。"
    spans = ground(text, "  北京  ")
    assert texts(text, spans) == ["北京"]
    assert texts(text, ground(text, "在北京")) == ["在 北京"]


def test_expanding_characters_only_match_whole() -> None:
    # "ß" folds to "ss" and "㈱" to "(株)": a match may not start or end inside such a character.
    text = "Straße und Strasse。㈱丰田。"
    assert texts(text, ground(text, "STRASSE")) == ["Straße", "Strasse"]
    assert ground(text, "s und", fuzzy=False) == []
    assert texts(text, ground(text, "(株)丰田")) == ["㈱丰田"]


def test_decomposed_and_composed_accents_match() -> None:
    text = "Cafe\u0301 de Flore。"
    assert texts(text, ground(text, "Café")) == ["Cafe\u0301"]


def test_exact_occurrences_win_over_overlapping_normalized_ones() -> None:
    text = "Aaa"
    assert [(s.start, s.end, s.how) for s in ground(text, "aa")] == [(1, 3, "exact")]


def test_fuzzy_finds_a_long_name_one_character_off() -> None:
    text = "昨天，中华人民共和国国务院发布通知。随后中華人民共和國國務院召开会议。"
    spans = ground(text, "中华人民共和国国物院")
    assert [(texts(text, [s])[0], s.sentence_id, s.how) for s in spans] == [
        ("中华人民共和国国务院", 0, "fuzzy"),
        ("中華人民共和國國務院", 1, "fuzzy"),
    ]
    assert ground(text, "中华人民共和国国物院", fuzzy=False) == []


def test_fuzzy_finds_a_name_with_a_character_missing_or_extra() -> None:
    text = "他曾就读于北京师范大学附属中学，后来出国。"
    assert texts(text, ground(text, "北京帅范大学附中学")) == []  # two edits in a 9-character name
    assert texts(text, ground(text, "北京师范大学附中学")) == ["北京师范大学附属中学"]
    assert texts(text, ground(text, "北京师范大学附属属中学")) == ["北京师范大学附属中学"]
    assert texts(text, ground(text, "北京师范大学附属学")) == ["北京师范大学附属中学"]


def test_fuzzy_gives_at_most_one_span_per_sentence() -> None:
    text = "国家发展改革委员会与国家发展和改革委员会开会。"
    spans = ground(text, "国家发展与改革委员会")
    assert len(spans) == 1
    assert spans[0].how == "fuzzy"


def test_no_fuzzy_match_for_short_surfaces() -> None:
    assert ground("南京大学很有名。", "北京大学") == []
    assert ground("张三丰是道士。", "张三") == [Span(0, 2, 0, "exact")]
    assert ground("张三丰是道士。", "张四") == []
    assert ground("abcdef", "abcx") == []


def test_fuzzy_respects_the_threshold() -> None:
    text = "欧洲核子研究组织位于日内瓦。"
    assert texts(text, ground(text, "欧洲原子研究组织")) == ["欧洲核子研究组织"]  # 7/8 similar
    assert ground_surface(text, split_sentences(text), "欧洲原子研究组织", min_similarity=0.9) == []
    assert ground(text, "欧洲原子研究中心") == []  # 6/8
    with pytest.raises(ValueError, match="min_similarity"):
        ground_surface(text, split_sentences(text), "欧洲", min_similarity=0)


def test_fuzzy_never_crosses_sentences() -> None:
    text = "他去了中华人民。共和国国务院没有回应。"
    assert ground(text, "中华人民共和国国务院", fuzzy=True) == []


@pytest.mark.parametrize("surface", ["", " ", "\u3000\n\t"])
def test_empty_surfaces_ground_nowhere(surface: str) -> None:
    assert ground("北京是首都。", surface) == []


def test_empty_text_and_surface_longer_than_text() -> None:
    assert ground_surface("", [], "北京") == []
    assert ground("北京", "北京是首都") == []


def test_without_sentences_spans_still_ground() -> None:
    assert ground_surface("北京北京", [], "北京") == [Span(0, 2, -1, "exact"), Span(2, 4, -1, "exact")]


def test_a_span_between_sentences_gets_the_sentence_before() -> None:
    text = "第一句。 第二句。"
    sentences = [(0, 4), (5, 9)]
    assert ground_surface(text, sentences, "。 第")[0].sentence_id == 0


def test_surrogate_like_and_emoji_surfaces() -> None:
    text = "😀😀好😀"
    assert [(s.start, s.end) for s in ground(text, "😀")] == [(0, 1), (1, 2), (3, 4)]
    assert [(s.start, s.end) for s in ground(text, "😀好")] == [(1, 3)]


def test_entity_unions_name_and_mentions_keeping_the_longer_overlap() -> None:
    text = "北京大学成立于1898年。北大位于北京。北京大学很有名。"
    spans = ground_entity(text, split_sentences(text), "北京大学", ["北大", "北京", "北京大学", " "])
    check(text, spans)
    assert [(text[s.start : s.end], s.sentence_id) for s in spans] == [
        ("北京大学", 0),
        ("北大", 1),
        ("北京", 1),
        ("北京大学", 2),
    ]


def test_entity_prefers_exact_when_equal_spans_come_from_several_surfaces() -> None:
    text = "臺灣很美。"
    spans = ground_entity(text, split_sentences(text), "台湾", ["臺灣"])
    assert spans == [Span(0, 2, 0, "exact")]


def test_entity_with_nothing_in_the_text() -> None:
    assert ground_entity("今天天气很好。", [(0, 7)], "上海", ["沪"]) == []
    assert ground_entity("", [], "", []) == []


def test_normalize_name() -> None:
    assert normalize_name(" ＡＢＣ  公司 ") == "abc公司"
    assert normalize_name("Apple\u3000Inc.") == "appleinc."
    assert normalize_name("   ") == ""


def test_large_document_with_hundreds_of_surfaces_completes() -> None:
    rng = random.Random(7)
    alphabet = (
        "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多"
    )
    names = ["".join(rng.choice(alphabet) for _ in range(rng.randint(2, 12))) for _ in range(400)]
    parts: list[str] = []
    while sum(map(len, parts)) < 20_000:
        sentence = "".join(rng.choice(alphabet) for _ in range(rng.randint(20, 120)))
        if rng.random() < 0.5:
            sentence += rng.choice(names)
        parts.append(sentence + rng.choice(["。", "😀。", "𠮷！"]))
    text = "".join(parts)
    sentences = split_sentences(text)
    # Hallucinated near-misses exercise the fuzzy path on every surface.
    near = [name[:-1] + "龘" for name in names if len(name) >= 8]
    total = 0
    for surface in names + near:
        spans = ground_surface(text, sentences, surface)
        check(text, spans)
        total += len(spans)
    assert total > 0


NASTY = "北京臺灣台湾國国ＡＢＣabcAß㈱𠮷😀👍🏽\u200d\u0301 \u3000\n。！"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=NASTY, max_size=60), st.data())
def test_any_piece_of_the_text_grounds_to_well_formed_spans(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    surface = text[start:end]
    spans = ground(text, surface)
    if surface.strip():
        assert spans
        assert surface.strip() in texts(text, spans)
    else:
        assert spans == []
    for span in spans:
        if span.how == "exact":
            assert text[span.start : span.end] == surface.strip()


def test_a_mention_inside_another_entitys_mention_is_dropped_unless_the_entity_is_all_nested() -> None:
    # "北京" (0-2) found inside "北京大学" (0-4) and on its own at 10-12; "大学" (2-4) only inside: kept (nested).
    assert outside_others([[(0, 2), (10, 12)], [(0, 4)], [(2, 4)]]) == [[(10, 12)], [(0, 4)], [(2, 4)]]
    # The same span twice is not "inside".
    assert outside_others([[(0, 4)], [(0, 4)]]) == [[(0, 4)], [(0, 4)]]
    # Boundaries the two models disagree on: the text both include.
    assert consensus_spans([(3, 8), (20, 24)], [(4, 8), (20, 24)]) == [(4, 8), (20, 24)]
    assert consensus_spans([(0, 2)], [(5, 7)]) == [(0, 2), (5, 7)]
