from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.annotation.windows import (
    MergedEntities,
    MergedEntity,
    WindowEntity,
    estimate_tokens,
    make_windows,
    merge_entities,
)
from app.webtext.sentences import split_sentences


def window_tokens(text: str, sentences: list[tuple[int, int]], window: list[int]) -> int:
    return estimate_tokens(text[sentences[window[0]][0] : sentences[window[-1]][1]])


def check_windows(text: str, sentences: list[tuple[int, int]], windows: list[list[int]], budget: int) -> None:
    covered: set[int] = set()
    for window in windows:
        assert window
        assert window == list(range(window[0], window[-1] + 1))
        assert len(window) == 1 or window_tokens(text, sentences, window) <= budget
        covered.update(window)
    assert covered == set(range(len(sentences)))
    starts = [w[0] for w in windows]
    assert starts == sorted(set(starts))


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("北京", 2),
        ("abcd", 1),
        ("abcde", 2),
        ("北京abc", 3),
        ("𠮷", 1),
        ("😀", 1),
        ("ＡＢＣ", 3),
        ("，。", 2),
        ("hello world", 3),
    ],
)
def test_estimate_tokens(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_short_document_is_one_window() -> None:
    text = "第一句。第二句。第三句。"
    sentences = split_sentences(text)
    assert make_windows(text, sentences, budget_tokens=1000) == [[0, 1, 2]]


def test_empty_document_has_no_windows() -> None:
    assert make_windows("", [], budget_tokens=100) == []
    assert make_windows("   ", split_sentences("   "), budget_tokens=100) == []


def test_windows_respect_the_budget_and_overlap_by_one() -> None:
    text = "一二三四。" * 10  # every sentence is 5 tokens; two together are 10
    sentences = split_sentences(text)
    windows = make_windows(text, sentences, budget_tokens=15)
    assert windows == [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 8], [8, 9]]
    check_windows(text, sentences, windows, 15)


def test_overlap_of_zero_and_of_two() -> None:
    text = "一二三四。" * 6
    sentences = split_sentences(text)
    assert make_windows(text, sentences, budget_tokens=15, overlap_sentences=0) == [[0, 1, 2], [3, 4, 5]]
    assert make_windows(text, sentences, budget_tokens=15, overlap_sentences=2) == [
        [0, 1, 2],
        [1, 2, 3],
        [2, 3, 4],
        [3, 4, 5],
    ]


def test_overlap_shrinks_rather_than_stalling() -> None:
    text = "一二三四。" * 4
    sentences = split_sentences(text)
    # Only one sentence fits: an overlap of one would leave no room for a new sentence.
    assert make_windows(text, sentences, budget_tokens=5) == [[0], [1], [2], [3]]
    assert make_windows(text, sentences, budget_tokens=10, overlap_sentences=5) == [[0, 1], [1, 2], [2, 3]]


def test_a_single_huge_sentence_is_its_own_window() -> None:
    text = "短句。" + "很" * 300 + "。短句。短句。"
    sentences = split_sentences(text, max_len=1000)
    windows = make_windows(text, sentences, budget_tokens=20)
    assert windows == [[0], [1], [2, 3]]
    check_windows(text, sentences, windows, 20)


def test_gaps_between_sentences_count_towards_the_budget() -> None:
    text = "aaaa.\n\n\n\n\n\n\n\nbbbb."
    sentences = split_sentences(text)
    assert len(sentences) == 2
    assert estimate_tokens(text) == 5
    assert make_windows(text, sentences, budget_tokens=4) == [[0], [1]]
    assert make_windows(text, sentences, budget_tokens=5) == [[0, 1]]


def test_astral_characters_and_emoji_are_counted_by_code_point() -> None:
    text = "𠮷野家😀。" * 5
    sentences = split_sentences(text)
    windows = make_windows(text, sentences, budget_tokens=10)
    assert windows == [[0, 1], [1, 2], [2, 3], [3, 4]]
    check_windows(text, sentences, windows, 10)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="budget"):
        make_windows("a。", [(0, 2)], budget_tokens=0)
    with pytest.raises(ValueError, match="overlap"):
        make_windows("a。", [(0, 2)], budget_tokens=5, overlap_sentences=-1)


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="北京ab 😀𠮷。.!\n", max_size=300),
    st.integers(1, 60),
    st.integers(0, 3),
)
def test_windows_always_cover_every_sentence_within_budget(text: str, budget: int, overlap: int) -> None:
    sentences = split_sentences(text, max_len=40)
    windows = make_windows(text, sentences, budget_tokens=budget, overlap_sentences=overlap)
    check_windows(text, sentences, windows, budget)
    for before, after in pairwise(windows):
        shared = len(set(before) & set(after))
        assert shared <= overlap
        if shared < overlap and len(before) > overlap:
            # The overlap only shrinks when the full overlap plus the next sentence would not fit.
            assert window_tokens(text, sentences, list(range(before[-1] - overlap + 1, before[-1] + 2))) > budget


def test_a_long_document_is_windowed_quickly() -> None:
    text = "这是一个用来测试的很长的句子，里面有English words和数字123。" * 20_000
    sentences = split_sentences(text)
    windows = make_windows(text, sentences, budget_tokens=3000)
    assert len(windows) > 100
    assert windows[-1][-1] == len(sentences) - 1


def test_merge_entities_across_windows() -> None:
    merged = merge_entities(
        [
            [WindowEntity("e1", "ORG", "ＡＢＣ公司", ["ABC"]), WindowEntity("e2", "PER", "张三", ["张三", "他"])],
            [WindowEntity("e1", "PER", "张三", ["张先生"]), WindowEntity("e2", "ORG", "abc 公司", ["ABC", "该公司"])],
            [WindowEntity("x", "LOC", "张三", [])],
        ]
    )
    assert merged == MergedEntities(
        entities=[
            MergedEntity("ORG", "ＡＢＣ公司", ["ABC", "abc 公司", "该公司"], [0, 1]),
            MergedEntity("PER", "张三", ["张三", "他", "张先生"], [0, 1]),
            MergedEntity("LOC", "张三", [], [2]),
        ],
        index={(0, "e1"): 0, (0, "e2"): 1, (1, "e1"): 1, (1, "e2"): 0, (2, "x"): 2},
    )


def test_merge_keeps_astral_and_emoji_names_and_drops_blank_mentions() -> None:
    merged = merge_entities(
        [[WindowEntity("1", "ORG", "𠮷野家😀", ["", "  ", "𠮷野家"])], [WindowEntity("1", "ORG", "𠮷野家😀 ", [])]]
    )
    assert merged.entities == [MergedEntity("ORG", "𠮷野家😀", ["𠮷野家", "𠮷野家😀 "], [0, 1])]
    assert merged.index == {(0, "1"): 0, (1, "1"): 0}


def test_merge_never_joins_blank_names_and_first_duplicate_id_wins() -> None:
    merged = merge_entities(
        [[WindowEntity("a", "PER", " "), WindowEntity("b", "PER", "\u3000"), WindowEntity("a", "PER", "李四")]]
    )
    assert [e.name for e in merged.entities] == [" ", "\u3000", "李四"]
    assert merged.index == {(0, "a"): 0, (0, "b"): 1}


def test_merge_empty() -> None:
    assert merge_entities([]) == MergedEntities([], {})
    assert merge_entities([[], []]) == MergedEntities([], {})
