"""One record to a document: what cleaning keeps, drops and replaces before the text is stored."""

from app.crawl_batch.formats import RawRecord
from app.crawl_batch.pipeline import IngestPolicy, Processed, process_record

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
