"""The highlighted text: escaped pieces, exact offsets, nested and overlapping mentions, nothing dropped."""

import re

from app.review.highlight import Span, render_sentences, render_text


def _pieces(html: str) -> list[tuple[int, str, str]]:
    """(data-s, classes, text) of every piece, text unescaped."""
    import html as h

    out = []
    for m in re.finditer(r'<span class="([^"]*)" data-s="(\d+)"[^>]*>([^<]*)</span>', html):
        out.append((int(m.group(2)), m.group(1), h.unescape(m.group(3))))
    return out


def test_pieces_cover_the_text_exactly_with_code_point_offsets() -> None:
    text = "𠮷野家在东京。😀李娜来了！\n第二段<b>粗</b>"
    sentences = [[0, 7], [7, 13], [14, 25]]
    spans = [Span(1, 10, 0, 3, 0, "accepted", "agreed"), Span(2, 11, 8, 10, 1, "proposed", "a_only")]
    html = str(render_text(text, sentences, spans))
    pieces = _pieces(html)
    assert "".join(p[2] for p in pieces) == text.replace("\n", "")
    for start, _cls, body in pieces:
        assert text[start : start + len(body)] == body
    assert (0, "m etype-0 st-accepted ag-agreed mb me", "𠮷野家") in pieces
    assert (8, "m etype-1 st-proposed ag-a_only mb me", "李娜") in pieces
    assert "<b>" not in html and "&lt;b&gt;粗&lt;/b&gt;" in html
    assert '<span class="pb"></span>' in html  # the paragraph break survives


def test_nested_and_overlapping_mentions_split_into_pieces() -> None:
    text = "北京大学医学部很大。"
    spans = [
        Span(1, 1, 0, 4, 0, "proposed", "agreed"),  # 北京大学
        Span(2, 2, 0, 2, 1, "proposed", "agreed"),  # 北京, nested
        Span(3, 3, 2, 7, 2, "proposed", "b_only"),  # 大学医学部, overlapping
    ]
    html = str(render_text(text, [[0, 10]], spans))
    pieces = _pieces(html)
    assert [p[2] for p in pieces] == ["北京", "大学", "医学部", "很大。"]
    assert 'data-e="1 2" data-p="2"' in html  # the innermost mention colours the piece
    assert 'data-s="2" data-e="1 3"' in html
    assert "nest" in pieces[0][1] and "nest" in pieces[1][1] and "nest" not in pieces[2][1]


def test_partial_render_marks_sentences_for_out_of_band_swap() -> None:
    text = "甲。乙。丙。"
    parts = render_sentences(text, [[0, 2], [2, 4], [4, 6]], [Span(1, 1, 2, 3, 0, "accepted", "agreed")], {1})
    assert list(parts) == [1]
    assert str(parts[1]).startswith('<span class="sent" id="s1" data-n="1" hx-swap-oob="true">')
