import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.webtext.sentences import split_sentences

LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def check_spans(text: str, spans: list[tuple[int, int]], max_len: int = 500) -> None:
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        sentence = text[start:end]
        assert sentence == sentence.strip()
        assert len(sentence) <= max_len
        assert not any(ch in LINE_BREAKS for ch in sentence)
        # Only whitespace may fall between sentences.
        assert not text[previous_end:start].strip()
        previous_end = end
    assert not text[previous_end:].strip()


def sentences(text: str, max_len: int = 500) -> list[str]:
    spans = split_sentences(text, max_len=max_len)
    check_spans(text, spans, max_len)
    return [text[start:end] for start, end in spans]


@pytest.mark.parametrize("text", ["", " ", "   \t  ", "\n\n\r\n", "\u3000\u00a0\u2028"])
def test_empty_and_whitespace_give_no_sentences(text: str) -> None:
    assert split_sentences(text) == []


def test_text_without_terminal_punctuation_is_one_sentence() -> None:
    assert sentences("没有标点的句子") == ["没有标点的句子"]
    assert sentences("  no punctuation here  ") == ["no punctuation here"]
    assert split_sentences("  no punctuation here  ") == [(2, 21)]


def test_last_sentence_without_terminator_is_kept() -> None:
    assert sentences("第一句。第二句没有结尾") == ["第一句。", "第二句没有结尾"]


def test_chinese_terminators() -> None:
    text = "我爱北京！你呢？好的；再见。"
    assert sentences(text) == ["我爱北京！", "你呢？", "好的；", "再见。"]


def test_halfwidth_ideographic_full_stop() -> None:
    assert sentences("你好｡再见") == ["你好｡", "再见"]


def test_chinese_ellipses_end_sentences() -> None:
    assert sentences("我想……算了。然后…他走了") == ["我想……", "算了。", "然后…", "他走了"]


def test_runs_of_terminators_stay_together() -> None:
    assert sentences("真的吗？！是的！！！好。。。") == ["真的吗？！", "是的！！！", "好。。。"]
    assert sentences("Really?! Yes!!! OK.") == ["Really?!", "Yes!!!", "OK."]


def test_closing_quotes_and_brackets_belong_to_the_sentence() -> None:
    text = "「他说：“你好。”」然后…"
    assert sentences(text) == ["「他说：“你好。”」", "然后…"]
    assert split_sentences(text) == [(0, 10), (10, 13)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("『好的。』下一句", ["『好的。』", "下一句"]),
        ("（注意！）下一句", ["（注意！）", "下一句"]),
        ("【公告。】下一句", ["【公告。】", "下一句"]),
        ("《书名？》下一句", ["《书名？》", "下一句"]),
        ("他说：‘好。’下一句", ["他说：‘好。’", "下一句"]),
        ("(see above.) Next one.", ["(see above.)", "Next one."]),
        ("“你好！”。他说", ["“你好！”。", "他说"]),
    ],
)
def test_closers_after_terminator(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_ascii_double_quotes_close_or_open_by_parity() -> None:
    assert sentences('He said "Hi." Then he left.') == ['He said "Hi."', "Then he left."]
    assert sentences('他说"你好。"我说"再见。"') == ['他说"你好。"', '我说"再见。"']
    assert sentences('你好。"新的一句"') == ["你好。", '"新的一句"']


def test_ascii_single_quotes_ignore_apostrophes() -> None:
    text = "He said 'don't go.' Then he went."
    assert sentences(text) == ["He said 'don't go.'", "Then he went."]


def test_decimals_do_not_split() -> None:
    assert sentences("价格是3.14元。涨了0.5%。") == ["价格是3.14元。", "涨了0.5%。"]
    assert sentences("Pi is 3.14159. It is irrational.") == ["Pi is 3.14159.", "It is irrational."]
    assert sentences("版本2.0.1发布了") == ["版本2.0.1发布了"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Smith went home. He slept.", ["Mr. Smith went home.", "He slept."]),
        ("Dr. Wang and Mrs. Li met.", ["Dr. Wang and Mrs. Li met."]),
        ("Use tools, e.g. Python or Go.", ["Use tools, e.g. Python or Go."]),
        ("That is, i.e. the rest.", ["That is, i.e. the rest."]),
        ("The U.S. Army is big. It is old.", ["The U.S. Army is big.", "It is old."]),
        ("J. K. Rowling wrote it.", ["J. K. Rowling wrote it."]),
        ("Apples, pears, etc. and more. Next.", ["Apples, pears, etc. and more.", "Next."]),
        ("I bought apples, pears, etc. Then I left.", ["I bought apples, pears, etc.", "Then I left."]),
        ("See Fig. 3 for details. I said no. Then I left.", ["See Fig. 3 for details.", "I said no.", "Then I left."]),
        ("Meet at 5 p.m. on Friday.", ["Meet at 5 p.m. on Friday."]),
    ],
)
def test_english_abbreviations(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_english_ellipsis() -> None:
    assert sentences("Wait... what? I said... Nothing.") == ["Wait... what?", "I said...", "Nothing."]


def test_lowercase_continuation_does_not_split() -> None:
    assert sentences('"Wow!" she said. Then.') == ['"Wow!" she said.', "Then."]


def test_urls_and_emails_do_not_split() -> None:
    text = "Visit https://example.com/a.b?c=d. Then email john.doe@example.com. OK"
    assert sentences(text) == [
        "Visit https://example.com/a.b?c=d.",
        "Then email john.doe@example.com.",
        "OK",
    ]
    assert sentences("详见https://example.com/a.b?c=d&e=f。谢谢") == [
        "详见https://example.com/a.b?c=d&e=f。",
        "谢谢",
    ]
    assert sentences("See https://example.com/?q=Hello.World! Bye") == [
        "See https://example.com/?q=Hello.World!",
        "Bye",
    ]
    assert sentences("网址是www.example.com。再见") == ["网址是www.example.com。", "再见"]
    assert sentences("邮箱a.b@c.com.cn，欢迎来信。") == ["邮箱a.b@c.com.cn，欢迎来信。"]


def test_numbered_list_items_keep_their_number() -> None:
    text = "1. First item\n2. Second item.\r\n\r\n10. Tenth item"
    assert sentences(text) == ["1. First item", "2. Second item.", "10. Tenth item"]
    assert sentences("1.苹果 2.香蕉") == ["1.苹果 2.香蕉"]
    assert sentences("In 2019. Then") == ["In 2019.", "Then"]


def test_line_breaks_end_sentences() -> None:
    text = "第一段没有句号\n第二段\r\n\r\n第三段。\u2028第四段"
    assert sentences(text) == ["第一段没有句号", "第二段", "第三段。", "第四段"]
    assert sentences("Mr.\nSmith") == ["Mr.", "Smith"]
    assert sentences("a\rb\x0cc") == ["a", "b", "c"]


def test_mixed_chinese_and_english() -> None:
    text = "Hello world.你好世界。This is Concord!我们走吧?好"
    assert sentences(text) == ["Hello world.", "你好世界。", "This is Concord!", "我们走吧?", "好"]


def test_ascii_punctuation_in_chinese_text() -> None:
    assert sentences("你好!我是小明?是的") == ["你好!", "我是小明?", "是的"]


def test_full_width_punctuation() -> None:
    assert sentences("ＡＢＣ！ＤＥＦ？ＧＨＩ．") == ["ＡＢＣ！", "ＤＥＦ？", "ＧＨＩ．"]


def test_astral_characters_use_code_point_offsets() -> None:
    text = "𠮷野家很好吃。我去了。"
    assert split_sentences(text) == [(0, 7), (7, 11)]
    assert [text[s:e] for s, e in split_sentences(text)] == ["𠮷野家很好吃。", "我去了。"]


def test_emoji_offsets_and_trailing_emoji() -> None:
    text = "👨\u200d👩\u200d👧家庭很好。 👍🏽好！太好了！👍"
    assert sentences(text) == ["👨\u200d👩\u200d👧家庭很好。", "👍🏽好！", "太好了！👍"]
    assert split_sentences(text) == [(0, 10), (11, 15), (15, 20)]


def test_force_split_long_sentence_without_punctuation() -> None:
    text = "我" * 1200
    assert [len(s) for s in sentences(text)] == [500, 500, 200]
    assert [len(s) for s in sentences(text, max_len=100)] == [100] * 12


def test_force_split_prefers_commas_and_spaces() -> None:
    clause = "我" * 299 + "，"
    text = clause * 4
    assert sentences(text) == [clause] * 4
    words = " ".join(["word"] * 300)
    pieces = sentences(words)
    assert all(piece.endswith("word") and piece.startswith("word") for piece in pieces)
    assert " ".join(pieces) == words


def test_force_split_does_not_cut_grapheme_clusters() -> None:
    text = "a" * 499 + "👍🏽" + "b" * 600
    pieces = sentences(text)
    assert pieces[0] == "a" * 499
    assert pieces[1].startswith("👍🏽")
    family = "👨\u200d👩\u200d👧"
    text = "x" + family * 200
    assert all(not piece.startswith("\u200d") for piece in sentences(text, max_len=53))
    flags = "🇨🇳" * 300
    assert all(len(piece) % 2 == 0 for piece in sentences(flags, max_len=51))


def test_max_len_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_len"):
        split_sentences("abc", max_len=0)


def test_max_len_one() -> None:
    assert sentences("ab c。", max_len=1) == ["a", "b", "c", "。"]


def test_huge_input_completes() -> None:
    paragraph = (
        "中华人民共和国成立于1949年，首都是北京。他说：“今天天气很好！”价格是3.14元；"
        "详见https://example.com/a.b?c=d。Mr. Smith went to the U.S. in 2019. 然后……我们走了\n"
    )
    text = paragraph * (200_000 // len(paragraph) + 1)
    spans = split_sentences(text)
    check_spans(text, spans)
    assert len(spans) > 10_000


@pytest.mark.parametrize(
    "text",
    [
        "." * 200_000,
        "。" * 200_000,
        "\n" * 200_000,
        "我" * 200_000,
        '"Mr." Smith ' * 20_000,
        "'Mr.' Smith " * 20_000,
        "https://" + "a." * 100_000,
        "www." * 50_000,
        "!a " * 70_000,
        "🇨🇳" * 100_000,
    ],
    ids=["dots", "full-stops", "newlines", "no-punct", "dquotes", "squotes", "url", "www", "bangs", "flags"],
)
def test_pathological_inputs_complete(text: str) -> None:
    check_spans(text, split_sentences(text))


NASTY = [
    *"。！？；…．.!?\"'”」』）)👍🏽\u200d𠮷 \n\r\t\u3000aA1，、:https/www@例",
    *("Mr.", "e.g.", "3.14", "https://x.com/a.b", "🇨🇳", "e\u0301"),
]


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.lists(st.sampled_from(NASTY) | st.text(max_size=3), max_size=60).map("".join),
    st.integers(min_value=1, max_value=40),
)
def test_spans_are_ordered_stripped_and_cover_all_content(text: str, max_len: int) -> None:
    check_spans(text, split_sentences(text, max_len=max_len), max_len)


@settings(max_examples=200, deadline=None, database=None)
@given(st.text())
def test_arbitrary_text_invariants(text: str) -> None:
    check_spans(text, split_sentences(text))
