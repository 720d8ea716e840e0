import gzip
from pathlib import Path

import pytest

from app.webtext.extraction import (
    CharClasses,
    Extractor,
    cjk_ratio,
    decode_html,
    detect_language,
    detect_script,
    extract_main_text,
    normalize_charset,
)

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"

SIMPLIFIED = "国务院总理朱镕基今天在北京会见了来访的外国客人，双方就经济合作问题交换了意见。"
TRADITIONAL = "臺灣的學者們在這次會議上討論了關於語言學習與教育發展的許多問題，並發表了重要的報告。"

NEWS_PAGE = """<!DOCTYPE html><html><head>{meta}<title>国务院召开常务会议 - 新华网</title></head>
<body><div class="nav"><a href="/">首页</a> | <a href="/news">新闻</a> | <a href="/sports">体育</a></div>
<div class="article"><h1>国务院召开常务会议</h1>
<p>国务院总理主持召开国务院常务会议，听取关于推动经济高质量发展的汇报，部署进一步优化营商环境的措施。</p>
<p>会议强调，各地区各部门要认真落实决策部署，加大宏观政策实施力度，着力扩大国内需求，推动经济实现质的提升。</p>
<p>会议还研究了其他事项。与会人员表示，将以更加务实的作风抓好各项工作落实，为经济社会发展作出新的贡献。</p>
</div>
<div class="footer">版权所有 © 新华网 京ICP备12345678号 联系我们 广告服务</div></body></html>"""


def _page(body_text: str, meta: str = "") -> str:
    title = body_text[:4]
    return f"<html><head>{meta}<title>{title}</title></head><body><p>{body_text}</p><p>{body_text}</p></body></html>"


def _whirlwind_html() -> str:
    data = gzip.decompress((FIXTURES / "warc" / "whirlwind.warc.gz").read_bytes())
    start = data.index(b"<!DOCTYPE html>")
    end = data.index(b"</html>", start) + len(b"</html>")
    return data[start:end].decode("utf-8")


# decode_html


def test_decode_uses_http_charset() -> None:
    body = _page(SIMPLIFIED).encode("gb18030")
    text, encoding = decode_html(body, http_content_type="text/html; charset=GBK")
    assert SIMPLIFIED in text
    assert encoding == "gb18030"


def test_page_declaring_gb2312_with_gbk_only_character_decodes() -> None:
    # 镕 is not in GB2312; a strict gb2312 codec would fail on it.
    meta = '<meta http-equiv="Content-Type" content="text/html; charset=gb2312">'
    body = _page(SIMPLIFIED, meta).encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        body.decode("gb2312")
    text, encoding = decode_html(body, http_content_type=None)
    assert "朱镕基" in text
    assert "\ufffd" not in text
    assert encoding == "gb18030"


def test_http_gb2312_header_with_gbk_only_character() -> None:
    body = _page(SIMPLIFIED).encode("gbk")
    text, _ = decode_html(body, http_content_type="text/html;charset=gb2312")
    assert "朱镕基" in text


def test_big5_page_uses_meta_charset() -> None:
    body = _page(TRADITIONAL, '<meta charset="big5">').encode("big5")
    text, encoding = decode_html(body, http_content_type="text/html")
    assert TRADITIONAL in text
    assert encoding == "big5hkscs"


def test_big5_declared_page_with_hkscs_character() -> None:
    sentence = "香港的𨋢好快。" + TRADITIONAL
    body = _page(sentence, '<meta charset="big5">').encode("big5hkscs")
    text, _ = decode_html(body, http_content_type=None)
    assert sentence in text


def test_undeclared_gbk_page_is_detected() -> None:
    body = _page(SIMPLIFIED * 3).encode("gb18030")
    text, encoding = decode_html(body, http_content_type=None)
    assert SIMPLIFIED in text
    assert encoding == "gb18030"


def test_undeclared_big5_text_is_detected() -> None:
    text, encoding = decode_html(TRADITIONAL.encode("big5"), http_content_type=None)
    assert text == TRADITIONAL
    assert encoding == "big5hkscs"


def test_wrong_utf8_header_falls_back_to_detection() -> None:
    body = _page(SIMPLIFIED * 3).encode("gb18030")
    text, encoding = decode_html(body, http_content_type="text/html; charset=utf-8")
    assert SIMPLIFIED in text
    assert encoding == "gb18030"


def test_meta_beats_a_server_default_latin1_header() -> None:
    body = _page(SIMPLIFIED, '<meta charset="gbk">').encode("gbk")
    text, encoding = decode_html(body, http_content_type="text/html; charset=ISO-8859-1")
    assert SIMPLIFIED in text
    assert encoding == "gb18030"


def test_latin1_header_on_a_gbk_page_yields_to_detection() -> None:
    body = _page(SIMPLIFIED).encode("gbk")
    text, encoding = decode_html(body, http_content_type="text/html; charset=ISO-8859-1")
    assert SIMPLIFIED in text
    assert encoding == "gb18030"


@pytest.mark.parametrize("header", ["text/html; charset=ISO-8859-1", None])
def test_latin1_page(header: str | None) -> None:
    french = "Le café était fermé, mais la rédaction a publié un résumé très détaillé de la réunion."
    text, encoding = decode_html(_page(french).encode("latin-1"), http_content_type=header)
    assert french in text
    assert encoding == "cp1252"


def test_bom_overrides_declarations() -> None:
    body = b"\xef\xbb\xbf" + _page(SIMPLIFIED, '<meta charset="big5">').encode("utf-8")
    text, encoding = decode_html(body, http_content_type="text/html; charset=big5")
    assert SIMPLIFIED in text
    assert encoding == "utf-8"
    assert not text.startswith("\ufeff")


def test_utf16_bom() -> None:
    body = "\ufeff".encode("utf-16-le") + _page(TRADITIONAL).encode("utf-16-le")
    text, encoding = decode_html(body, http_content_type=None)
    assert TRADITIONAL in text
    assert encoding == "utf-16-le"


def test_truncated_utf8_tail_keeps_utf8() -> None:
    body = _page(SIMPLIFIED).encode("utf-8") + "中".encode()[:2]
    text, encoding = decode_html(body, http_content_type="text/html; charset=utf-8")
    assert encoding == "utf-8"
    assert SIMPLIFIED in text
    assert text.endswith("\ufffd")


def test_output_is_nfc() -> None:
    text, _ = decode_html("<p>cafe\u0301 한국</p>".encode(), http_content_type=None)
    assert "caf\u00e9" in text


def test_empty_and_binary_bodies_do_not_raise() -> None:
    assert decode_html(b"", http_content_type=None) == ("", "utf-8")
    text, _ = decode_html(bytes(range(256)) * 10, http_content_type="text/html; charset=nonsense")
    assert isinstance(text, str)


def test_bytes_codec_in_meta_is_ignored() -> None:
    body = b'<meta charset="zlib"><p>hello</p>'
    assert decode_html(body, http_content_type=None) == (body.decode(), "utf-8")


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("GB2312", "gb18030"),
        ("gbk", "gb18030"),
        ("x-gbk", "gb18030"),
        ("GB18030", "gb18030"),
        ("Big5", "big5hkscs"),
        ("cp950", "big5hkscs"),
        ("UTF8", "utf-8"),
        ("iso-8859-1", "cp1252"),
        ('"utf-8"', "utf-8"),
        ("base64", None),
        ("no-such-charset", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_charset(label: str | None, expected: str | None) -> None:
    assert normalize_charset(label) == expected


# extract_main_text


@pytest.mark.parametrize("extractor", ["resiliparse", "trafilatura"])
def test_extract_chinese_news_page(extractor: Extractor) -> None:
    extracted = extract_main_text(
        NEWS_PAGE.format(meta='<meta charset="utf-8">'),
        url="http://news.example.cn/a",
        extractor=extractor,
    )
    assert extracted.title == "国务院召开常务会议 - 新华网"
    assert extracted.extractor == extractor
    assert "推动经济实现质的提升" in extracted.text
    assert "版权所有" not in extracted.text
    paragraphs = extracted.text.split("\n")
    assert any(p.startswith("会议强调") for p in paragraphs)
    assert all(p == p.strip() and p for p in paragraphs)


@pytest.mark.parametrize("extractor", ["resiliparse", "trafilatura"])
def test_extract_whirlwind_page(extractor: Extractor) -> None:
    extracted = extract_main_text(
        _whirlwind_html(),
        url="https://an.wikipedia.org/wiki/Escopete",
        extractor=extractor,
    )
    assert extracted.title == "Escopete - Biquipedia, a enciclopedia libre"
    assert "Escopete ye un municipio" in extracted.text
    assert "\n\n" not in extracted.text


def test_extract_from_gbk_bytes_via_decode() -> None:
    body = NEWS_PAGE.format(meta='<meta charset="gb2312">').replace("国务院总理", "朱镕基总理").encode("gb18030")
    html, _ = decode_html(body, http_content_type=None)
    extracted = extract_main_text(html, url=None, extractor="trafilatura")
    assert "朱镕基总理" in extracted.text


@pytest.mark.parametrize("extractor", ["resiliparse", "trafilatura"])
@pytest.mark.parametrize(
    "html",
    [
        "",
        "   ",
        "<<<>>><//>",
        "<html><body><p>未闭合的段落<div><span>",
        "\x00\x01<p>nul</p>",
        '<?xml version="1.0" encoding="gb2312"?><html><body><p>声明</p></body></html>',
        "<div>" * 5000 + "深" + "</div>" * 10,
        "<p>" + "字" * 200_000 + "</p>",
        "plain text without any tags 没有标签",
        "<script>var a = '<p>';</script><style>p{}</style>",
    ],
)
def test_broken_html_never_raises(extractor: Extractor, html: str) -> None:
    extracted = extract_main_text(html, url=None, extractor=extractor)
    assert isinstance(extracted.text, str)


def test_unknown_extractor_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown extractor"):
        extract_main_text("<p>x</p>", url=None, extractor="boilerpipe")  # type: ignore[arg-type]


# detect_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SIMPLIFIED, "zh"),
        (TRADITIONAL, "zh"),
        ("香港特別行政區政府今日宣佈，將會喺下個月推出新嘅房屋政策。", "zh"),
        ("你好", "zh"),
        ("The quick brown fox jumps over the lazy dog near the river bank.", "en"),
        ("東京都は今日、新しい交通政策を発表しました。これは大きな変化です。", "ja"),
        ("서울특별시는 오늘 새로운 교통 정책을 발표했습니다.", "ko"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    language, probability = detect_language(text)
    assert language == expected
    assert 0.0 < probability <= 1.0


@pytest.mark.parametrize("text", ["", "   \n", "12345 !!! 2024-05-20"])
def test_detect_language_without_letters(text: str) -> None:
    assert detect_language(text) == ("und", 0.0)


# detect_script


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SIMPLIFIED, "hans"),
        (TRADITIONAL, "hant"),
        ("台北的學生們說這裡的後台很大。", "hant"),
        (SIMPLIFIED + TRADITIONAL, "mixed"),
        ("中国人民", "hans"),
        ("English only, no ideographs.", "none"),
        ("", "none"),
        ("𠮷野家的牛肉饭", "hans"),
    ],
)
def test_detect_script(text: str, expected: str) -> None:
    assert detect_script(text) == expected


# cjk_ratio


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好世界", 1.0),
        ("你好。", 2 / 3),
        ("𠮷 a", 0.5),
        ("中 文\n\t 字", 1.0),
        ("abc 👍", 0.0),
        ("", 0.0),
        ("   ", 0.0),
    ],
)
def test_cjk_ratio(text: str, expected: float) -> None:
    assert cjk_ratio(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    [
        SIMPLIFIED,
        TRADITIONAL,
        SIMPLIFIED + TRADITIONAL,
        SIMPLIFIED * 100 + "東京都は今日、新しい交通政策を発表しました。" * 200,  # kana only past the language sample
        "東京都は今日、新しい交通政策を発表しました。",
        "The quick brown fox 𠮷 \u3000",
        "",
    ],
)
def test_char_classes_answer_as_each_detector_alone(text: str) -> None:
    classes = CharClasses(text)
    assert detect_language(text, classes=classes) == detect_language(text)
    assert detect_script(text, classes=classes) == detect_script(text)
    assert classes.cjk_ratio() == cjk_ratio(text)


def test_a_codec_that_yields_lone_surrogates_gives_replacement_characters() -> None:
    page = b"<meta charset=utf-7><p>+UxdOrA-+2AA-</p>"
    html, encoding = decode_html(page, http_content_type=None)
    assert encoding == "utf-7"
    assert "北京\ufffd" in html
    html.encode("utf-8")


def test_classifying_texts_together_counts_each_as_alone() -> None:
    texts = [
        "北京大学于一八九八年创办。 Peking University",
        "",
        "臺灣大學位於臺北市\u3000ひらがな한국어 𠮷",
        "   \t\n",
    ]
    together = CharClasses.of_each([*texts, "lone \ud800 surrogate 于"])
    assert together[-1].cjk_ratio() == CharClasses("lone \ud800 surrogate 于").cjk_ratio() == 1 / 15
    for text, classes in zip(texts, together[:-1], strict=True):
        alone = CharClasses(text)
        for limit in (None, 0, 3, 12, 1000):
            assert classes.cjk_ratio(limit=limit) == alone.cjk_ratio(limit=limit)
        assert detect_script(text, classes=classes) == detect_script(text, classes=alone)
        assert detect_language(text, classes=classes) == detect_language(text, classes=alone)
    assert CharClasses.of_each([]) == []
