"""Offline builtin annotators: real but weak, so the whole loop runs with no key and no network.

builtin:lexicon  — jieba part-of-speech tags (nr/ns/nt) plus suffix and date rules → PER, LOC, ORG, TIME mentions.
builtin:patterns — the lexicon's entities plus trigger patterns between two mentions in one sentence
                   ("X毕业于Y", "X创办了Y", "X的妻子Y", …) → relations of the zh-general preset.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from app.annotation.contract import AnnotationOutput, EntityOut, RelationOut

BUILTIN_PROVIDERS = ("builtin:lexicon", "builtin:patterns")
_ORG_SUFFIXES = (
    "公司",
    "集团",
    "大学",
    "学院",
    "中学",
    "小学",
    "银行",
    "医院",
    "研究所",
    "研究院",
    "委员会",
    "协会",
    "基金会",
    "俱乐部",
    "出版社",
    "报社",
    "电视台",
    "法院",
    "政府",
    "部",
    "局",
    "厅",
    "队",
)
_TIME = re.compile(
    r"(?:\d{4}|[一二三四五六七八九〇零]{4})年(?:\d{1,2}|[一二三四五六七八九十]{1,3})月(?:(?:\d{1,2}|[一二三四五六七八九十]{1,3})[日号])?"
    r"|(?:\d{4}|[一二三四五六七八九〇零]{4})年(?!代)"
    r"|\d{1,2}月\d{1,2}[日号]"
)
_KIN = "父亲|母亲|儿子|女儿|妻子|丈夫|哥哥|姐姐|弟弟|妹妹|爷爷|奶奶|外公|外婆|孙子|孙女|叔叔|舅舅"
# (trigger regex between head and tail, relation code); the text between two mentions must match fully.
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?:于\S{0,12}年)?毕业于$|^(?:.{0,12})?毕业于$"), "毕业于"),
    (re.compile(r"^.{0,10}(?:任职于|就职于|供职于|加入|加盟|入职)了?$"), "任职于"),
    (re.compile(r"^.{0,10}(?:创办|创立|创建|创始)了?$"), "创办"),
    (re.compile(r"^.{0,6}(?:总部)?(?:位于|坐落于|地处)$"), "位于"),
    (re.compile(r"^.{0,10}(?:出生于|生于|出生在)$"), "出生于"),
    (re.compile(rf"^的(?:{_KIN})(?:是)?$"), "亲属"),
    (re.compile(r"^(?:和|与|跟)$"), "同事"),
    (re.compile(r"^的(?:学生|弟子|门生)(?:是)?$"), "师生"),
]
# A head-tail pair that only co-occurs with "和/与" is a colleague only if the sentence says so.
_COLLEAGUE_CONTEXT = re.compile(r"同事|共事|搭档")


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    text: str
    type: str


@lru_cache(maxsize=1)
def _posseg() -> Any:
    import jieba
    import jieba.posseg

    jieba.setLogLevel(60)
    return jieba.posseg


def lexicon_mentions(text: str) -> list[_Mention]:
    """PER/LOC/ORG/TIME mentions from part-of-speech tags and simple rules, with code-point offsets."""
    tokens: list[tuple[int, int, str, str]] = []
    pos = 0
    for pair in _posseg().cut(text):
        tokens.append((pos, pos + len(pair.word), pair.word, pair.flag))
        pos += len(pair.word)
    found: list[_Mention] = []
    i = 0
    while i < len(tokens):
        start, end, word, flag = tokens[i]
        # ORG: up to three preceding place/noun tokens and an organisation suffix ("深圳 智言 科技 公司").
        if flag.startswith(("ns", "n", "nz")) and not flag.startswith("nr"):
            j = i
            while j < len(tokens) and j - i < 4 and tokens[j][3].startswith(("ns", "n", "nz", "nt")):
                if tokens[j][2].endswith(_ORG_SUFFIXES) and j > i:
                    found.append(_Mention(start, tokens[j][1], text[start : tokens[j][1]], "ORG"))
                    break
                j += 1
            else:
                j = -1
            if j >= 0 and j < len(tokens) and found and found[-1].start == start:
                i = j + 1
                continue
        if flag == "nr" and len(word) >= 2:
            found.append(_Mention(start, end, word, "PER"))
        elif flag == "nt":
            found.append(_Mention(start, end, word, "ORG"))
        elif flag == "ns":
            # Adjacent places form one ("深圳市 南山区").
            j = i
            while j + 1 < len(tokens) and tokens[j + 1][3] == "ns":
                j += 1
            found.append(_Mention(start, tokens[j][1], text[start : tokens[j][1]], "LOC"))
            i = j
        i += 1
    for match in _TIME.finditer(text):
        found.append(_Mention(match.start(), match.end(), match.group(), "TIME"))
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[_Mention] = []
    for m in found:
        if not kept or m.start >= kept[-1].end:
            kept.append(m)
    return kept


def _entities(mentions: list[_Mention]) -> tuple[list[EntityOut], dict[tuple[str, str], str]]:
    ids: dict[tuple[str, str], str] = {}
    surfaces: dict[str, list[str]] = {}
    out: list[EntityOut] = []
    for m in mentions:
        key = (m.text, m.type)
        if key not in ids:
            ids[key] = f"E{len(ids) + 1}"
            surfaces[ids[key]] = [m.text]
            out.append(EntityOut(id=ids[key], type=m.type, name=m.text, mentions=surfaces[ids[key]]))
    return out, ids


def annotate_lexicon(text: str, sentences: list[tuple[int, int]]) -> AnnotationOutput:
    """builtin:lexicon: entities only."""
    entities, _ = _entities(lexicon_mentions(text))
    return AnnotationOutput(entities=entities, relations=[])


def annotate_patterns(text: str, sentences: list[tuple[int, int]]) -> AnnotationOutput:
    """builtin:patterns: lexicon entities plus trigger-pattern relations within a sentence."""
    mentions = lexicon_mentions(text)
    entities, ids = _entities(mentions)
    relations: dict[tuple[str, str, str], RelationOut] = {}
    for sid, (s_start, s_end) in enumerate(sentences):
        inside = [m for m in mentions if s_start <= m.start and m.end <= s_end]
        sentence = text[s_start:s_end]
        for a, head in enumerate(inside):
            for tail in inside[a + 1 : a + 3]:
                between = text[head.end : tail.start]
                code = _relation_between(between, sentence, head.type, tail.type)
                if code is None:
                    continue
                h, t = ids[(head.text, head.type)], ids[(tail.text, tail.type)]
                if h != t:
                    relations.setdefault((h, t, code), RelationOut(head=h, tail=t, type=code, evidence=[sid]))
    return AnnotationOutput(entities=entities, relations=list(relations.values()))


_TYPE_RULES: dict[str, tuple[set[str], set[str]]] = {
    "毕业于": ({"PER"}, {"ORG"}),
    "任职于": ({"PER"}, {"ORG"}),
    "创办": ({"PER", "ORG"}, {"ORG"}),
    "位于": ({"ORG", "LOC"}, {"LOC"}),
    "出生于": ({"PER"}, {"LOC", "TIME"}),
    "亲属": ({"PER"}, {"PER"}),
    "同事": ({"PER"}, {"PER"}),
    "师生": ({"PER"}, {"PER"}),
}


def _relation_between(between: str, sentence: str, head_type: str, tail_type: str) -> str | None:
    if len(between) > 16 or any(p in between for p in "。！？；"):
        return None
    for pattern, code in _PATTERNS:
        heads, tails = _TYPE_RULES[code]
        if head_type in heads and tail_type in tails and pattern.match(between):
            if code == "同事" and not _COLLEAGUE_CONTEXT.search(sentence):
                continue
            return code
    return None


def annotate_builtin(provider: str, text: str, sentences: list[tuple[int, int]]) -> AnnotationOutput:
    """Run a builtin annotator by its provider name."""
    if provider == "builtin:lexicon":
        return annotate_lexicon(text, sentences)
    if provider == "builtin:patterns":
        return annotate_patterns(text, sentences)
    raise ValueError(f"unknown builtin annotator {provider!r}")
