"""One record to a document: what cleaning keeps, drops and replaces before the text is stored."""

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.webtext.extraction import _paragraphs
from app.webtext.pipeline import IngestPolicy, Processed, clean_text_in_python, process_record
from app.webtext.records import RawRecord
from tests.conftest import require_compiled_module

SENTENCE = "北京大学于一八九八年创办，是中国近代第一所国立综合性大学。"
ANY_LANGUAGE = IngestPolicy(languages=frozenset(), min_chars=1, min_cjk_ratio=0.0)


def _text(text: str) -> str:
    result = process_record(RawRecord(kind="text", offset=0, text=text), ANY_LANGUAGE)
    assert isinstance(result, Processed), result
    return result.text


def test_control_characters_go_and_tabs_and_newlines_stay() -> None:
    assert _text(f"{SENTENCE}\x00\x07\x1b[0m\x7f\n\t{SENTENCE}") == f"{SENTENCE}[0m\n\t{SENTENCE}"


def test_lone_surrogates_become_replacement_characters() -> None:
    assert _text(f"\ud800{SENTENCE}\udfff\x00") == f"\ufffd{SENTENCE}\ufffd"


def test_line_ends_are_unified_trailing_space_goes_and_blank_runs_collapse() -> None:
    raw = f"\n \r\n{SENTENCE} \u3000\r\n\r\n\r\n \t\n{SENTENCE}\r\r{SENTENCE}\u2028\n\n"
    assert _text(raw) == f"{SENTENCE}\n\n{SENTENCE}\n\n{SENTENCE}"


def test_a_page_whose_codec_yields_lone_surrogates_is_stored_with_replacement_characters() -> None:
    # UTF-7 is a codec a page may declare; "+2AA-" in it decodes to the lone surrogate U+D800.
    head = "<html><head><meta charset=utf-7><title>t</title></head><body><p>"
    page = (head + SENTENCE).encode("utf-7") + b"+2AA-" + (SENTENCE + "</p></body></html>").encode("utf-7")
    record = RawRecord(kind="html", offset=0, content_bytes=page, http_status=200)
    result = process_record(record, ANY_LANGUAGE)
    assert isinstance(result, Processed), result
    assert "\ufffd" in result.text and SENTENCE in result.text
    assert not any("\ud800" <= char <= "\udfff" for char in result.text)
    result.text.encode("utf-8")


# Characters that exercise cleaning: line ends and breaks, inline and ideographic spaces, controls, a lone
# surrogate, and text.
_CLEANING_ALPHABET = st.sampled_from(
    [
        *("a", "中", "。", " ", "\t", "\u3000", "\xa0"),
        *("\n", "\r", "\r\n", "\u2028", "\x85", "\x0b", "\x0c"),
        *("\x00", "\x1c", "\x1f", "\x7f", "\ud800"),
    ]
)


def _clean_line_by_line(text: str) -> str:
    """What cleaning means, written plainly: the definition _clean_text must keep."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text if not _unstorable_control(ch))
    out: list[str] = []
    for line in (line.rstrip() for line in text.split("\n")):
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def _unstorable_control(ch: str) -> bool:
    return (ch < " " and ch not in "\t\n") or ch == "\x7f"


def _compiled_clean_text() -> Callable[[str], str]:
    clean: Callable[[str], str] = require_compiled_module().clean_text
    return clean


@pytest.fixture(scope="module", params=["python", "compiled"])
def clean_text(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Each implementation of cleaning: the Python definition and the compiled module ingestion prefers."""
    return clean_text_in_python if request.param == "python" else _compiled_clean_text()


@settings(max_examples=1000, deadline=None)
@given(text=st.lists(_CLEANING_ALPHABET, max_size=40).map("".join))
def test_cleaning_strips_lines_and_collapses_blank_runs_as_defined(clean_text: Callable[[str], str], text: str) -> None:
    assert clean_text(text) == _clean_line_by_line(text)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_cleaning_any_text_matches_its_definition(clean_text: Callable[[str], str], text: str) -> None:
    # Any code point, astral ones and every Unicode space and line break among them.
    assert clean_text(text) == _clean_line_by_line(text)


def test_cleaning_keeps_the_width_of_its_characters() -> None:
    # Latin-1, BMP and astral texts are stored in three widths inside Python; each must come back as it was.
    for text in ("plain ascii", "caf\xe9 \xa0", "北京。\u3000", "𠮷野家 😀\r\n\r\n\r\nok", "", " \n\t "):
        assert _compiled_clean_text()(text) == _clean_line_by_line(text)


def test_text_needing_no_cleaning_is_returned_as_it_is() -> None:
    text = f"{SENTENCE}\n\n{SENTENCE}"
    assert _compiled_clean_text()(text) is text


@settings(max_examples=500, deadline=None)
@given(st.lists(_CLEANING_ALPHABET, max_size=40).map("".join))
def test_extracted_text_takes_the_short_cleaning_path_to_the_same_result(raw: str) -> None:
    # extract_main_text's own line handling, applied to raw extractor output of any shape.
    extracted = _paragraphs(raw)
    assert clean_text_in_python(extracted, lines_clean=True) == clean_text_in_python(extracted)
