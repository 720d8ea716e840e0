"""Charset decoding, main-text extraction, language and Chinese-script detection for crawled pages.

Language ID uses py3langid: its model ships inside the wheel, it needs no download, and unlike resiliparse's
fast detector it labels Traditional as well as Simplified Chinese "zh".
"""

import codecs
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
import opencc
from numpy.typing import NDArray
from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import detect_encoding
from resiliparse.parse.html import HTMLTree

logger = logging.getLogger(__name__)

Extractor = Literal["resiliparse", "trafilatura"]
Script = Literal["hans", "hant", "mixed", "none"]

META_SCAN_BYTES = 4096
DETECT_SAMPLE_BYTES = 64 * 1024
LANGUAGE_SAMPLE_CHARS = 4000
# A script must cover this share of the script-specific characters; below it a text is "mixed". The slack
# absorbs the odd character OpenCC converts although writers of the other script use it too.
SCRIPT_DOMINANCE = 0.9
_FAST_SCRIPT_DOMINANCE = 0.98
_FAST_SCRIPT_MIN = 20
_KANA_HANGUL_RANGES = ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xAC00, 0xD7AF), (0x1100, 0x11FF))
_SCRIPT_CONFIGS = ("t2s", "s2tw", "s2hk")

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: their BOMs share a prefix
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Decoding with the superset never hurts and saves pages that declare gb2312 but use GBK characters (镕).
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "big5": "big5hkscs",
    "cp950": "big5hkscs",
    # WHATWG: labels for Latin-1 and ASCII mean windows-1252.
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
}
_ALIASES = {
    "x-gbk": "gbk",
    "x-euc-cn": "gb2312",
    "gb_2312-80": "gb2312",
    "x-big5": "big5",
    "x-sjis": "shift_jis",
}
# What Latin-1, ASCII and windows-1252 labels normalize to; servers send them by default.
_WEAK_HEADER_CHARSETS = frozenset({"cp1252"})
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""\A\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
# Codecs whose decoders never yield lone surrogates. Text from any other codec is checked for them: a page may
# declare UTF-7, say, whose "+2AA-" decodes to U+D800.
_SURROGATE_FREE = frozenset(
    {
        "utf-8",
        "utf-16-le",
        "utf-16-be",
        "utf-32-le",
        "utf-32-be",
        "gb18030",
        "big5hkscs",
        "cp1252",
        "shift_jis",
        "cp932",
        "euc_jp",
        "euc_kr",
        "cp949",
        "cp1251",
        "koi8-r",
    }
)
_LONE_SURROGATES = re.compile("[\ud800-\udfff]")
# When detection fails, the likeliest legacy charset of a Chinese crawl.
_CHINESE_DEFAULT = "gb18030"
# Runs of spaces, tabs and no-break spaces collapse to one space; ideographic spaces are content and stay.
_INLINE_SPACE = re.compile(r"[ \t\u00a0]+")
# CJK Unified Ideographs with extensions A to H and the compatibility blocks.
_CJK_IDEOGRAPH_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x323AF))
_CJK_IDEOGRAPH = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _CJK_IDEOGRAPH_RANGES) + "]")
# Character classes, as bit flags so one table lookup per character serves language, CJK-share and script
# detection; a character may carry several.
_FLAGS = (_SPACE, _HAN, _TRADITIONAL, _SIMPLIFIED, _KANA_HANGUL) = (1, 2, 4, 8, 16)
# Column i counts the characters carrying flag 2**i, when multiplied by a bincount of flag combinations.
_CARRIES = np.array([[bool(combination & flag) for flag in _FLAGS] for combination in range(32)], dtype=np.intp)
# py3langid labels without an ISO 639-1 code that belong to the "zh" macrolanguage.
_CHINESE_LABELS = frozenset({"yue", "wuu", "cmn", "nan", "hak", "gan", "hsn", "cdo", "cjy"})
_NO_LANGUAGE = ("und", 0.0)


@dataclass(frozen=True, slots=True)
class Extracted:
    """Main text of a page: paragraphs joined by "\\n", title from <title>."""

    title: str | None
    text: str
    extractor: str


def normalize_charset(label: str | None) -> str | None:
    """Python codec name for a declared or detected charset label, with CJK supersets applied."""
    if not label:
        return None
    name = _ALIASES.get(label.strip().strip("\"'").lower(), label.strip().strip("\"'").lower())
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    # codecs.lookup also knows bytes-to-bytes codecs such as "zlib" and "base64".
    if not getattr(info, "_is_text_encoding", True):
        return None
    return _SUPERSETS.get(info.name, info.name)


def decode_html(body: bytes, *, http_content_type: str | None) -> tuple[str, str]:
    """Decode a page to NFC text via BOM, HTTP charset, meta charset, then detection; return (text, codec)."""
    if not body:
        return "", "utf-8"
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return _decoded(body[len(bom) :].decode(encoding, "replace"), encoding), encoding
    header = _charset_from_header(http_content_type)
    meta = _charset_from_meta(body[:META_SCAN_BYTES])
    # A Latin-1 header is usually a server default, not the author's choice: it ranks below the page's
    # own meta, UTF-8 validity and detection, and is kept only as the last resort.
    weak_header = header if header in _WEAK_HEADER_CHARSETS else None
    declared = [enc for enc in (None if weak_header else header, meta) if enc]
    for encoding in dict.fromkeys(declared):
        text = _decode_strict(body, encoding)
        if text is not None:
            return _decoded(text, encoding), encoding
    # Nothing declared, or the declaration is wrong: valid UTF-8 is almost never an accident.
    text = _decode_strict(body, "utf-8")
    if text is not None:
        return _decoded(text, "utf-8"), "utf-8"
    # uchardet (bundled with resiliparse) beat charset-normalizer on short Big5, KOI8-R and Latin-1 samples.
    detected = normalize_charset(detect_encoding(body, max_len=DETECT_SAMPLE_BYTES, html5_compatible=False))
    for encoding in dict.fromkeys([detected or _CHINESE_DEFAULT, _CHINESE_DEFAULT]):
        text = _decode_strict(body, encoding)
        if text is not None:
            return _decoded(text, encoding), encoding
    fallback = (declared[0] if declared else None) or weak_header or detected or "utf-8"
    return _decoded(body.decode(fallback, "replace"), fallback), fallback


def extract_main_text(html: str, *, url: str | None, extractor: Extractor = "resiliparse") -> Extracted:
    """Return the title and boilerplate-free main text of a page; hostile markup yields empty text."""
    if extractor not in ("resiliparse", "trafilatura"):
        raise ValueError(f"unknown extractor {extractor!r}")
    if not html.strip():
        return Extracted(title=None, text="", extractor=extractor)
    # lxml and lexbor reject NUL characters outright; they are never content.
    html = html.replace("\x00", "")
    try:
        tree = HTMLTree.parse(html)
        title = _clean_line(tree.title or "") or None
        if extractor == "resiliparse":
            raw = extract_plain_text(
                tree, preserve_formatting=True, main_content=True, list_bullets=False, alt_texts=False
            )
        else:
            raw = _trafilatura_text(html, url)
    except Exception:  # parsers raise arbitrary types on hostile markup; one bad page must not stop a batch
        logger.warning("main-text extraction failed for %s", url, exc_info=True)
        return Extracted(title=None, text="", extractor=extractor)
    return Extracted(title=title, text=_paragraphs(raw), extractor=extractor)


class CharClasses:
    """The characters of a text classified once, for language, CJK-share and script detection alike."""

    __slots__ = ("_counts", "_flags")

    def __init__(self, text: str) -> None:
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        self._flags = _char_flags().take(codes)
        self._counts: dict[int | None, list[int]] = {}

    @classmethod
    def of_each(cls, texts: Sequence[str]) -> list["CharClasses"]:
        """CharClasses of each text, classified and counted together: a few NumPy calls for all of them."""
        lengths = [len(text) for text in texts]
        codes = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype="<u4")
        flags = _char_flags().take(codes)
        # One histogram of (text, flag combination) pairs gives every text's counts.
        combinations = len(_CARRIES)
        pairs = np.repeat(np.arange(len(texts), dtype=np.intp) * combinations, lengths)
        pairs += flags
        counts = (np.bincount(pairs, minlength=len(texts) * combinations).reshape(-1, combinations) @ _CARRIES).tolist()
        each = []
        start = 0
        for length, text_counts in zip(lengths, counts, strict=True):
            classes = cls.__new__(cls)
            classes._flags = flags[start : start + length]
            classes._counts = {None: text_counts}
            each.append(classes)
            start += length
        return each

    def count(self, flag: int, *, limit: int | None = None) -> int:
        """How many of the first `limit` characters (all by default) carry the flag."""
        return self._counts_of(limit)[flag.bit_length() - 1]

    def cjk_ratio(self, *, limit: int | None = None) -> float:
        """Share of CJK ideographs among the non-whitespace characters (0.0 for none)."""
        size = self._flags.size if limit is None else min(limit, self._flags.size)
        total = size - self.count(_SPACE, limit=limit)
        return self.count(_HAN, limit=limit) / total if total else 0.0

    def _counts_of(self, limit: int | None) -> list[int]:
        """Characters carrying each flag, in the order of _FLAGS."""
        if limit is not None and limit >= self._flags.size:
            limit = None
        counts = self._counts.get(limit)
        if counts is None:
            combinations = np.bincount(self._flags[:limit], minlength=len(_CARRIES))
            counts = self._counts[limit] = (combinations @ _CARRIES).tolist()
        return counts


def detect_language(text: str, *, classes: CharClasses | None = None) -> tuple[str, float]:
    """Return (ISO 639-1 code or "und", probability) for text, offline; `classes` are the text's, if at hand."""
    sample = text[:LANGUAGE_SAMPLE_CHARS]
    classes = classes or CharClasses(sample)
    # Text that is mostly Han characters with no kana or hangul is Chinese; the statistical model is for the rest.
    limit = LANGUAGE_SAMPLE_CHARS
    if classes.cjk_ratio(limit=limit) >= 0.5 and not classes.count(_KANA_HANGUL, limit=limit):
        return "zh", 1.0
    if not any(ch.isalpha() for ch in sample):
        return _NO_LANGUAGE
    label, probability = _language_identifier().classify(sample)
    if label in _CHINESE_LABELS:
        label = "zh"
    elif label == "zxx":
        return "und", float(probability)
    return str(label), float(probability)


def detect_script(text: str, *, classes: CharClasses | None = None) -> Script:
    """Classify Chinese text as "hans", "hant", "mixed", or "none" when it has no CJK ideographs."""
    classes = classes or CharClasses(text)
    traditional, simplified = classes.count(_TRADITIONAL), classes.count(_SIMPLIFIED)
    # Clear cases (nearly all pages) are settled by character tables; borderline ones by OpenCC's phrase tables.
    if traditional + simplified >= _FAST_SCRIPT_MIN:
        if simplified >= _FAST_SCRIPT_DOMINANCE * (traditional + simplified):
            return "hans"
        if traditional >= _FAST_SCRIPT_DOMINANCE * (traditional + simplified):
            return "hant"
    return _detect_script_by_phrases(text)


@cache
def _char_flags() -> NDArray[np.uint8]:
    """The class flags of every code point, built once per process (1.1 MB)."""
    flags = np.zeros(0x110000, dtype=np.uint8)
    flags[[c for c in range(0x3001) if chr(c).isspace()]] |= _SPACE
    for lo, hi in _CJK_IDEOGRAPH_RANGES:
        flags[lo : hi + 1] |= _HAN
    for lo, hi in _KANA_HANGUL_RANGES:
        flags[lo : hi + 1] |= _KANA_HANGUL
    # Characters only Traditional text uses, and characters every Traditional standard replaces.
    codes = range(0x3400, 0xA000)
    chars = "".join(map(chr, codes))
    to_simplified, taiwan, hongkong = (_convert_chars(c, chars) for c in _SCRIPT_CONFIGS)
    for code, ch, simplified, tw, hk in zip(codes, chars, to_simplified, taiwan, hongkong, strict=True):
        if simplified != ch:
            flags[code] |= _TRADITIONAL
        if tw != ch and hk != ch:
            flags[code] |= _SIMPLIFIED
    flags.flags.writeable = False
    return flags


def _detect_script_by_phrases(text: str) -> Script:
    positions = [match.start() for match in _CJK_IDEOGRAPH.finditer(text)]
    if not positions:
        return "none"
    # Whole-text conversion lets OpenCC's phrase tables keep 公里, 皇后 and 乾隆 as they are.
    original, simplified, taiwan, hongkong = text, *(_converter(c).convert(text) for c in _SCRIPT_CONFIGS)
    if not len(original) == len(simplified) == len(taiwan) == len(hongkong):
        # A phrase changed length: compare character by character instead.
        original = "".join(text[i] for i in positions)
        simplified, taiwan, hongkong = (_convert_chars(c, original) for c in _SCRIPT_CONFIGS)
        positions = list(range(len(original)))
        if not len(original) == len(simplified) == len(taiwan) == len(hongkong):
            return "mixed"
    traditional_count = simplified_count = 0
    for i in positions:
        ch = original[i]
        if simplified[i] != ch:
            traditional_count += 1
        # 台 and 里 are also Traditional in Taiwan or Hong Kong usage; only characters every
        # Traditional standard replaces mark Simplified text.
        elif taiwan[i] != ch and hongkong[i] != ch:
            simplified_count += 1
    specific = traditional_count + simplified_count
    # Text made only of characters shared by both scripts is valid Simplified as written.
    if specific == 0 or simplified_count >= SCRIPT_DOMINANCE * specific:
        return "hans"
    if traditional_count >= SCRIPT_DOMINANCE * specific:
        return "hant"
    return "mixed"


def cjk_ratio(text: str) -> float:
    """Share of CJK ideographs among the non-whitespace characters of text (0.0 for none)."""
    return CharClasses(text).cjk_ratio()


def _decoded(text: str, encoding: str) -> str:
    """Decoded text in NFC, with any lone surrogate replaced by U+FFFD (HTML parsers and databases reject them)."""
    text = unicodedata.normalize("NFC", text)
    if encoding not in _SURROGATE_FREE:
        text = _LONE_SURROGATES.sub("\ufffd", text)
    return text


def _charset_from_header(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _HEADER_CHARSET.search(content_type)
    return normalize_charset(match.group(1)) if match else None


def _charset_from_meta(head: bytes) -> str | None:
    match = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    if not match:
        return None
    encoding = normalize_charset(match.group(1).decode("ascii"))
    # HTML5: a meta declaration of UTF-16/32 was necessarily read as ASCII, so it means UTF-8.
    if encoding and encoding.startswith(("utf-16", "utf-32")):
        return "utf-8"
    return encoding


def _decode_strict(body: bytes, encoding: str) -> str | None:
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        # Crawlers cut long pages mid-character; an error only in the last bytes is that, not a wrong codec.
        if exc.start >= len(body) - 4:
            return body.decode(encoding, "replace")
        return None
    except LookupError:
        return None


def _trafilatura_text(html: str, url: str | None) -> str:
    import trafilatura  # deferred: it imports a large dependency tree that most workers never use

    # Passing str, never bytes: trafilatura ignores <meta charset> when it decodes bytes itself. Tables are
    # left out because their cells come back as "| a | b |" rows that read as noise in prose datasets.
    text = trafilatura.extract(
        html, url=url, include_comments=False, include_tables=False, deduplicate=False, output_format="txt"
    )
    return text or ""


def _clean_line(line: str) -> str:
    return _INLINE_SPACE.sub(" ", line).strip()


def _paragraphs(raw: str) -> str:
    lines = (_clean_line(line) for line in raw.splitlines())
    return "\n".join(line for line in lines if line)


@cache
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def _convert_chars(config: str, chars: str) -> str:
    # "\n" separators keep OpenCC's phrase matching inside single characters.
    return "".join(_converter(config).convert("\n".join(chars)).split("\n"))


@cache
def _language_identifier() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
