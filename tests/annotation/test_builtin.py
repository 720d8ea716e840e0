"""The offline annotators find real (if few) entities and relations."""

from app.annotation.builtin import annotate_builtin, lexicon_mentions
from app.webtext.sentences import split_sentences

TEXT = (
    "张伟于2008年毕业于北京大学，随后加入华为技术有限公司担任工程师。他的妻子李娜出生于上海。"
    "2015年，张伟创办了深圳智言科技公司，总部位于深圳市南山区。张伟的妻子李娜是一名医生。"
)


def test_lexicon_finds_people_places_organisations_and_dates_with_exact_offsets() -> None:
    found = {(m.text, m.type) for m in lexicon_mentions(TEXT)}
    assert {
        ("张伟", "PER"),
        ("李娜", "PER"),
        ("北京大学", "ORG"),
        ("深圳智言科技公司", "ORG"),
        ("上海", "LOC"),
        ("2008年", "TIME"),
    } <= found
    for m in lexicon_mentions(TEXT):
        assert TEXT[m.start : m.end] == m.text


def test_offsets_stay_exact_after_astral_characters() -> None:
    text = "𠮷😀 张伟毕业于北京大学。"
    for m in lexicon_mentions(text):
        assert text[m.start : m.end] == m.text


def test_patterns_find_trigger_relations() -> None:
    out = annotate_builtin("builtin:patterns", TEXT, split_sentences(TEXT))
    names = {e.id: e.name for e in out.entities}
    triples = {(names[r.head], r.type, names[r.tail]) for r in out.relations}
    assert ("张伟", "毕业于", "北京大学") in triples
    assert ("张伟", "创办", "深圳智言科技公司") in triples
    assert ("深圳智言科技公司", "位于", "深圳市南山区") in triples
    assert ("张伟", "亲属", "李娜") in triples
    assert all(r.evidence for r in out.relations)


def test_lexicon_proposes_no_relations_and_empty_text_is_fine() -> None:
    assert annotate_builtin("builtin:lexicon", TEXT, split_sentences(TEXT)).relations == []
    assert annotate_builtin("builtin:patterns", "", []).entities == []
