"""Curation: the human review work Concord's routing saves and the quality of what it curates, beside today's policy.

A simulator end to end, at function level (no Celery workers: the job functions are called directly, as the tests
do), on an embedded SQLite database and an embedded Redis in a temporary data dir:

- Documents with gold: Re-DocRED dev documents from ../shared/fixtures/docred (text joined from tokens, sentences
  and mentions as code-point offsets, by the product's own parse_docred; project preset `docred`) and generated
  Chinese news-style documents (project preset `zh-general`) whose entities and relations are known by
  construction (every occurrence of a name is a gold mention; the generator refuses names inside other names).
  Symmetric relations count once per unordered pair. Gold lives only in this file: the product never reads it.
- Two fake models (openai as A, gemini as B) behind the fake model server of tests/, answering from gold with seeded
  noise (profiles below; --profile). A request's document is found from its numbered sentences. Every decision is
  a hash of (seed, model, document, item), never of the request, so both policies and re-runs see the same model
  behaviour, and a pair asked in the augmentation prompt gets the same answer as in the blind second opinion.
  Annotate: each gold entity is found with entity_recall, mistyped with type_confusion, and its first mention given
  a wrong boundary (one token or character more) with boundary_error; hallucinated names (60% strings of the text
  that are no entity, else invented names the text lacks) bring entity precision (names only) to
  entity_precision. Each gold relation whose two entities the model found is given with relation_recall,
  mistyped (a schema-allowed wrong type) with relation_type_confusion; invented relations between found entities
  bring relation precision to relation_precision. Second look (recheck or old augmentation prompt): each listed
  pair is classified against gold, a gold type given with pair_accuracy (else half a wrong type, half left out),
  an unrelated pair given a type with false_positive; each listed name typed correctly with entity_accuracy (else
  70% a wrong type, 30% NONE), a name that is no gold entity answered NONE with entity_accuracy. Errors of the
  first pass and of the second look are independent, which flatters the second look somewhat.
- A simulated reviewer that follows the workbench and decides only items still `proposed` (auto-accepted ones are
  not seen), against gold, through app.review.service.decide (each in a savepoint, as a request would roll back a
  refused action) and submit: (1) entities: reject those that match no gold entity (or are ungrounded), merge
  duplicates of the same gold entity into one, retype mistyped ones, adjust a mention span that overlaps a gold
  mention of its entity without matching it (delete one that belongs to another gold entity); (2) relations:
  accept correct ones, retype one whose gold pair holds another type, swap a reversed one, reject the rest
  (accepting a relation accepts its head and tail); (3) accept the remaining (correct) proposed entities; (4)
  create half (by hash, the same half in every policy) of the gold entities and relations still missing, with the
  entities such a relation needs; then submit. Every decision counts (not the submit); an action the product
  refuses (a 4xx, rolled back to its savepoint) is not counted but listed apart.
- Review-everything: the same reviewer, on the same document just before its review, with every machine item set
  back to proposed, inside a transaction that is rolled back afterwards. It is exact for the same item set and the
  product's own decision semantics (implied accepts, cascades, conflicts), and costs no extra model calls; a third
  project per policy with `auto_accept: false` on the same model outputs needed, document by document, the same
  number of decisions (checked while building this bench).
- Policies, in the same run on the same documents and models, each with its own projects: today (`recheck: false,
  min_evidence: 100000`: only agreed items are auto-accepted, augmentation by the first annotator) and learning
  (defaults: blind second opinion, calibrated routing). Annotator model names differ per policy so that no call is
  served from another policy's cache. Batches accumulate: each batch is annotated, cross-validated and given its
  second look, then reviewed and submitted, before the next batch is annotated, so batch k is routed with what the
  reviewer decided in batches < k.

Curated quality: an accepted entity is correct when its mentions map (by span overlap, exact mentions first) to a
gold entity of the same type and none of its spans overlaps a gold mention without being one of that entity's (so a
wrong boundary, or a name found inside another entity's name, makes it wrong; occurrences of its names that gold
leaves unannotated are allowed); a gold entity counts once. An accepted relation is correct when its head and tail
map to the gold entities of a gold relation of that type (either direction for symmetric types); a gold fact counts
once. Auto-accepted precision judges the same way the items accepted before review that review left as they were
(the target's figure); all items accepted before review are shown beside it (review changes a few anyway: rejecting
an argument rejects its relations, a merge moves mentions into the entity kept).

Printed: per policy (and per dataset) decisions, review-everything, saved share, curated F1/P/R, auto-accepted
precision; auto-accepted items per agreement class; machine items per agreement class and route with the precision
people found in the judged ones (the product's routed_item outcomes); what is wrong with wrong items (--explain N
lists examples); decisions per batch (the learning curve); tokens per document by purpose (llm_call) and the second
look's share of one full-document annotate call; the targets, learning beside today.

Run: .venv/bin/python bench/curation.py [--quick] [--profile typical|strong|weak] [--seed 1] [--explain N]
(full: 60 Re-DocRED + 240 Chinese documents in 8 batches, ~7 minutes on 2 cores; --quick: 6 + 16 in 4, ~50 CPU-seconds)
"""

import argparse
import hashlib
import json
import os
import platform
import random
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, update
from sqlalchemy import select as columns
from sqlmodel import Session, col, select

from app import migrations
from app.annotation import jobs as annotation_jobs
from app.annotation.augmentation import allowed_types
from app.annotation.service import create_annotator
from app.auth.service import create_user
from app.config import get_settings
from app.db import make_engine
from app.embedded_broker import EmbeddedRedis
from app.errors import AppError
from app.models import (
    CrawlBatch,
    Document,
    Entity,
    ItemStatus,
    LlmCall,
    Mention,
    Project,
    Relation,
    Role,
    RoutedItem,
    User,
)
from app.models.crawl_batch import BatchStatus
from app.project.label_schema import LabelSchema
from app.project.service import create_project, label_schema_of
from app.review.commands import parse_command
from app.review.service import decide, submit
from app.webtext.dedup import text_hash
from app.webtext.docred import parse_docred
from app.webtext.sentences import split_sentences

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/ holds the fake model server; it is not an installed package

from tests.fake_llm_server import FakeLLMServer, FakeReply, prompt_text  # noqa: E402

DOCRED_PATH = ROOT.parent / "shared" / "fixtures" / "docred" / "redocred_dev.json"
SAVED_TARGET = 0.5
F1_TARGET = 0.95
AUTO_PRECISION_TARGET = 0.97
# Augmentation + recheck tokens per document, as a share of one full-document annotate call.
SECOND_LOOK_TARGET = 0.75
Span = tuple[int, int]

# --- Gold --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoldEntity:
    type: str
    # Code-point spans, sorted; the names are the distinct mention strings, the first mention's first.
    mentions: tuple[Span, ...]
    names: tuple[str, ...]


@dataclass(frozen=True)
class GoldRelation:
    head: int
    tail: int
    type: str
    evidence: tuple[int, ...]


@dataclass
class GoldDoc:
    """One document with its gold, and the lookups the models and the reviewer need."""

    key: str
    dataset: str
    title: str
    text: str
    sentences: list[Span]
    entities: list[GoldEntity]
    relations: list[GoldRelation]
    symmetric: frozenset[str]
    _mentions: list[tuple[int, int, int]] = field(default_factory=list, repr=False)
    _types: dict[tuple[int, int], set[str]] = field(default_factory=dict, repr=False)
    _by_name: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._mentions = sorted((s, e, g) for g, ent in enumerate(self.entities) for s, e in ent.mentions)
        for r in self.relations:
            self._types.setdefault((r.head, r.tail), set()).add(r.type)
            if r.type in self.symmetric:
                self._types.setdefault((r.tail, r.head), set()).add(r.type)
        for g, ent in enumerate(self.entities):
            for name in ent.names:
                self._by_name.setdefault(name, g)

    def sentence_of(self, offset: int) -> int:
        for i, (s, e) in enumerate(self.sentences):
            if s <= offset < e:
                return i
        return max([i for i, (s, _e) in enumerate(self.sentences) if s <= offset] or [0])

    def owner(self, span: Span) -> int | None:
        """The gold entity whose mention overlaps the span most (an exact mention first), or None."""
        best: tuple[int, int, int] | None = None
        for s, e, g in self._mentions:
            if s >= span[1]:
                break
            overlap = min(e, span[1]) - max(s, span[0])
            if overlap > 0:
                candidate = (int((s, e) == span), overlap, -g)
                best = candidate if best is None or candidate > best else best
        return None if best is None else -best[2]

    def entity_of(self, spans: Sequence[Span]) -> int | None:
        """The gold entity most of the spans are mentions of (exactly, then by overlap; lowest index on a tie)."""
        votes: Counter[int] = Counter()
        exact: Counter[int] = Counter()
        for sp in spans:
            g = self.owner(sp)
            if g is not None:
                votes[g] += 1
                exact[g] += int(sp in self.entities[g].mentions)
        if not votes:
            return None
        return min(votes, key=lambda g: (-exact[g], -votes[g], g))

    def gold_span(self, g: int, span: Span) -> Span | None:
        """The mention of entity g that overlaps the span most, or None."""
        scored = [(min(e, span[1]) - max(s, span[0]), -s, (s, e)) for s, e in self.entities[g].mentions]
        scored = [x for x in scored if x[0] > 0]
        return max(scored)[2] if scored else None

    def bad_spans(self, g: int, spans: Sequence[Span]) -> list[Span]:
        """Spans that overlap a gold mention without being a mention of g (another entity's, or a wrong boundary)."""
        exact = set(self.entities[g].mentions)
        return [sp for sp in spans if self.owner(sp) is not None and sp not in exact]

    def entity_correct(self, etype: str, spans: Sequence[Span]) -> int | None:
        """The gold entity an item with these type and spans correctly stands for, or None."""
        g = self.entity_of(spans)
        if g is None or self.entities[g].type != etype or self.bad_spans(g, spans):
            return None
        return g

    def relation_types(self, head: int, tail: int) -> set[str]:
        """Gold relation types from head to tail (symmetric ones either way)."""
        return self._types.get((head, tail), set())

    def fact(self, head: int, tail: int, rtype: str) -> tuple[int, int, str] | None:
        """The gold fact this relation states, canonical for symmetric types, or None."""
        if rtype not in self.relation_types(head, tail):
            return None
        return (min(head, tail), max(head, tail), rtype) if rtype in self.symmetric else (head, tail, rtype)

    def facts(self) -> set[tuple[int, int, str]]:
        out = set()
        for r in self.relations:
            fact = self.fact(r.head, r.tail, r.type)
            assert fact is not None
            out.add(fact)
        return out

    def named(self, name: str) -> int | None:
        """The gold entity a model would take a listed name for: one of its names, else where the name occurs."""
        if name in self._by_name:
            return self._by_name[name]
        spans = []
        start = self.text.find(name) if name else -1
        while start >= 0:
            spans.append((start, start + len(name)))
            start = self.text.find(name, start + len(name))
        return self.entity_of(spans)

    def boundary_variant(self, g: int) -> str | None:
        """The entity's first mention with one more token (or character) on one side, touching no other mention."""
        s, e = self.entities[g].mentions[0]
        sentence = self.sentences[self.sentence_of(s)]
        for start, end in (_widen_right(self.text, s, e, sentence[1]), _widen_left(self.text, s, e, sentence[0])):
            if (start, end) == (s, e):
                continue
            outside = [self.owner(sp) for sp in ((start, s), (e, end)) if sp[1] > sp[0]]
            if all(o is None or o == g for o in outside):
                return self.text[start:end].strip() or None
        return None

    def non_entities(self) -> list[str]:
        """Strings of the text that no gold mention overlaps anywhere (what a model may take for a name)."""
        if self.dataset == "zh":
            words = [*ZH_NON_ENTITIES, *ROLES, *FIELDS]
        else:
            words = re.findall(r"(?<=[a-z,] )[A-Z][a-z]{2,}(?: [A-Z][a-z]{2,})?", self.text)
        out = []
        for word in dict.fromkeys(words):
            spans, start = [], self.text.find(word)
            while start >= 0:
                spans.append((start, start + len(word)))
                start = self.text.find(word, start + len(word))
            if spans and all(self.owner(sp) is None for sp in spans):
                out.append(word)
        return out


def _widen_right(text: str, s: int, e: int, limit: int) -> Span:
    if e >= limit:
        return (s, e)
    if text[e] == " ":
        end = e + 1
        while end < limit and text[end].isalnum():
            end += 1
        return (s, end if end > e + 1 else e)
    return (s, e + 1) if text[e].isalnum() else (s, e)


def _widen_left(text: str, s: int, e: int, limit: int) -> Span:
    if s <= limit:
        return (s, e)
    if text[s - 1] == " ":
        start = s - 1
        while start > limit and text[start - 1].isalnum():
            start -= 1
        return (start if start < s - 1 else s, e)
    return (s - 1, e) if text[s - 1].isalnum() else (s, e)


def docred_documents(n: int, seed: int, symmetric: frozenset[str]) -> list[GoldDoc]:
    """n Re-DocRED dev documents, a seeded sample, in their file order."""
    raw = json.loads(DOCRED_PATH.read_text())
    picked = sorted(random.Random(seed).sample(range(len(raw)), min(n, len(raw))))
    out = []
    for index in picked:
        parsed = parse_docred(raw[index])
        entities = [
            GoldEntity(
                type=e.type,
                mentions=tuple(sorted({(m.start, m.end) for m in e.mentions})),
                names=tuple(dict.fromkeys(parsed.text[m.start : m.end] for m in e.mentions)),
            )
            for e in parsed.entities
        ]
        relations: dict[tuple[int, int, str], GoldRelation] = {}
        for r in parsed.relations:
            if r.head == r.tail:
                continue
            key = (
                (min(r.head, r.tail), max(r.head, r.tail), r.type) if r.type in symmetric else (r.head, r.tail, r.type)
            )
            if key not in relations:
                relations[key] = GoldRelation(r.head, r.tail, r.type, tuple(r.evidence))
        out.append(
            GoldDoc(
                key=f"docred:{index}",
                dataset="docred",
                title=parsed.title,
                text=parsed.text,
                sentences=list(parsed.sentences),
                entities=entities,
                relations=list(relations.values()),
                symmetric=symmetric,
            )
        )
    return out


def _words(text: str) -> list[str]:
    return text.split()


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡杜叶程苏魏吕沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛超秀霞刚英玉萍红鹏辉晓婷雪斌宇浩凯健俊帆旭鑫欣琳颖博晨佳慧瑞思"
UNIVERSITIES = _words(
    "清华大学 北京大学 复旦大学 浙江大学 武汉大学 中山大学 南京大学 四川大学 厦门大学 同济大学 南开大学 "
    "山东大学 吉林大学 湖南大学 重庆大学 兰州大学 东南大学 天津大学 西安交通大学 哈尔滨工业大学"
)
COMPANIES = _words(
    "华为技术有限公司 阿里巴巴集团 腾讯公司 百度公司 小米集团 比亚迪股份有限公司 京东集团 宁德时代 "
    "中国移动 国家电网 中国银行 美团公司 网易公司 联想集团 海尔集团 格力电器 中兴通讯 顺丰速运 "
    "深圳智言科技公司 杭州云帆数据公司 成都星河医药公司 苏州青禾新材料公司 武汉光谷芯片公司 南京长江物流公司"
)
PLACES = _words(
    "北京 上海 广州 深圳 杭州 南京 成都 重庆 武汉 西安 天津 苏州 长沙 郑州 青岛 厦门 宁波 合肥 福州 昆明 "
    "哈尔滨 济南 南昌 贵阳 南宁 太原 兰州 海口 珠海 东莞"
)
PRODUCTS = _words("麒麟芯片 星辰手机 云帆数据库 青禾电池 智言助手 光谷传感器 鸿图操作系统 长风无人机")
EVENTS = _words("世界人工智能大会 中国国际进口博览会 全国科技创新大赛 亚洲数据峰会 国际新能源论坛 数字中国建设峰会")
ROLES = _words("工程师 产品经理 研究员 财务总监 技术总监 副总裁 首席科学家 销售经理")
FIELDS = _words("人工智能 新能源 芯片 生物医药 物流 数据服务 智能制造 云计算")
ZH_NON_ENTITIES = _words("负责人 毕业生 子公司 新产品 导师 岗位 父亲 同事 研究生")
INVENTED_EN = [
    f"{a} {b}"
    for a in ("Mara", "Tobias", "Elin", "Corwin", "Ilse", "Dorian")
    for b in ("Quillon", "Ashdown", "Mertens", "Halloway", "Oduya", "Fenwick")
]
SLOT_TYPES = {"p": "PER", "u": "ORG", "c": "ORG", "l": "LOC", "y": "TIME", "d": "PRODUCT", "e": "EVENT"}
# Sentence templates and the relations each states, (head slot, type, tail slot).
ZH_TEMPLATES: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    ("{p1}于{y1}毕业于{u1}，随后加入{c1}担任{role}。", (("p1", "毕业于", "u1"), ("p1", "任职于", "c1"))),
    ("{p2}是{p1}在{c1}的同事，两人目前常驻{l1}。", (("p2", "同事", "p1"), ("p2", "任职于", "c1"))),
    (
        "{y2}，{p1}与{p3}共同创办了{c2}，总部位于{l2}。",
        (("p1", "创办", "c2"), ("p3", "创办", "c2"), ("c2", "位于", "l2")),
    ),
    ("{c1}负责人{p2}表示，公司计划明年在{l1}新增{n1}个{f}岗位。", (("p2", "任职于", "c1"),)),
    ("据{u1}统计，{l2}今年吸引了{n2}名{f}专业毕业生。", ()),
    ("{p3}的父亲{p4}曾在{u1}任教{k}年，退休后定居{l1}。", (("p4", "亲属", "p3"), ("p4", "任职于", "u1"))),
    ("{p1}出生于{l3}，中学时便对{f}产生了兴趣。", (("p1", "出生于", "l3"),)),
    ("{c1}是{c3}旗下的子公司，主要负责{f}业务。", (("c1", "隶属于", "c3"),)),
    ("{c2}今年推出了新产品{d1}，由{c3}代工生产。", (("c2", "生产", "d1"), ("c3", "生产", "d1"))),
    ("{p2}参加了在{l2}举行的{e1}，并在会上发言。", (("p2", "参与", "e1"), ("e1", "发生于", "l2"))),
    ("{p4}是{p2}读研究生时的导师。", (("p4", "师生", "p2"),)),
    ("{c3}的总部设在{l3}。", (("c3", "位于", "l3"),)),
)


def zh_documents(n: int, seed: int, symmetric: frozenset[str]) -> list[GoldDoc]:
    """n generated Chinese documents: the first template and 3-7 others; gold is every slot's every occurrence."""
    rng = random.Random(seed * 7919 + 1)
    out: list[GoldDoc] = []
    seen: set[str] = set()
    while len(out) < n:
        people: list[str] = []
        while len(people) < 4:
            name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2)))
            if name not in people:
                people.append(name)
        values = {f"p{i + 1}": p for i, p in enumerate(people)}
        values |= dict(zip(("c1", "c2", "c3"), rng.sample(COMPANIES, 3), strict=True))
        values |= dict(zip(("l1", "l2", "l3"), rng.sample(PLACES, 3), strict=True))
        values |= {"u1": rng.choice(UNIVERSITIES), "d1": rng.choice(PRODUCTS), "e1": rng.choice(EVENTS)}
        values |= {"y1": f"{rng.randint(1985, 2015)}年", "y2": f"{rng.randint(2010, 2024)}年"}
        filler = {
            "role": rng.choice(ROLES),
            "f": rng.choice(FIELDS),
            "n1": str(rng.randint(20, 900)),
            "n2": str(rng.randint(200, 9000)),
            "k": str(rng.randint(5, 35)),
        }
        chosen = [ZH_TEMPLATES[0], *rng.sample(ZH_TEMPLATES[1:], rng.randint(3, 7))]
        pieces = [t.format(**values, **filler) for t, _r in chosen]
        text = "".join(pieces)
        used = [s for s in values if any("{" + s + "}" in t for t, _r in chosen)]
        names = [values[s] for s in used]
        # Each name is its own span: none inside another, none met by accident in the surrounding words.
        placed = Counter(s for t, _r in chosen for s in re.findall(r"\{(\w+)\}", t) if s in values)
        if text in seen or any(a != b and a in b for a in names for b in names):
            continue
        if any(text.count(values[s]) != placed[s] for s in used):
            continue
        seen.add(text)
        sentences = [(s, e) for s, e in split_sentences(text)]
        index = {s: i for i, s in enumerate(used)}
        entities = []
        for s in used:
            spans, start = [], text.find(values[s])
            while start >= 0:
                spans.append((start, start + len(values[s])))
                start = text.find(values[s], start + len(values[s]))
            entities.append(GoldEntity(SLOT_TYPES[s[0]], tuple(spans), (values[s],)))
        relations: dict[tuple[int, int, str], set[int]] = {}
        offset = 0
        for (template, stated), piece in zip(chosen, pieces, strict=True):
            sentence = next(i for i, (s, e) in enumerate(sentences) if s <= offset < e)
            offset += len(piece)
            for head, rtype, tail in stated:
                h, t = index[head], index[tail]
                key = (min(h, t), max(h, t), rtype) if rtype in symmetric else (h, t, rtype)
                relations.setdefault(key, set()).add(sentence)
            assert template
        gold_relations = [GoldRelation(h, t, r, tuple(sorted(ev))) for (h, t, r), ev in relations.items()]
        out.append(
            GoldDoc(
                key=f"zh:{len(out)}",
                dataset="zh",
                title=f"Z-{len(out) + 1:04d} {values['c1']}简讯",
                text=text,
                sentences=sentences,
                entities=entities,
                relations=gold_relations,
                symmetric=symmetric,
            )
        )
    return out


# --- The fake models ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelProfile:
    entity_recall: float
    entity_precision: float
    type_confusion: float
    boundary_error: float
    relation_recall: float
    relation_precision: float
    relation_type_confusion: float
    pair_accuracy: float
    entity_accuracy: float
    false_positive: float

    def describe(self) -> str:
        return (
            f"entities recall {self.entity_recall:.2f} precision {self.entity_precision:.2f} type confusion "
            f"{self.type_confusion:.2f} boundary errors {self.boundary_error:.2f}; relations recall "
            f"{self.relation_recall:.2f} precision {self.relation_precision:.2f} type confusion "
            f"{self.relation_type_confusion:.2f}; second look pair accuracy {self.pair_accuracy:.2f} entity accuracy "
            f"{self.entity_accuracy:.2f} false positives {self.false_positive:.2f}"
        )


PROFILES: dict[str, dict[str, ModelProfile]] = {
    "typical": {
        "A": ModelProfile(0.93, 0.90, 0.07, 0.05, 0.80, 0.85, 0.08, 0.88, 0.92, 0.04),
        "B": ModelProfile(0.86, 0.80, 0.13, 0.08, 0.62, 0.72, 0.14, 0.74, 0.82, 0.08),
    },
    "strong": {
        "A": ModelProfile(0.96, 0.94, 0.05, 0.03, 0.85, 0.90, 0.05, 0.90, 0.95, 0.03),
        "B": ModelProfile(0.90, 0.85, 0.10, 0.05, 0.70, 0.80, 0.10, 0.80, 0.88, 0.05),
    },
    "weak": {
        "A": ModelProfile(0.88, 0.85, 0.10, 0.06, 0.72, 0.78, 0.10, 0.80, 0.86, 0.06),
        "B": ModelProfile(0.80, 0.75, 0.15, 0.10, 0.60, 0.70, 0.15, 0.70, 0.78, 0.10),
    },
}
ROLE_OF_PROVIDER = {"openai": "A", "gemini": "B"}


def chance(*parts: object) -> float:
    """A number in [0, 1) fixed by the parts: the same decision on every run and in every policy."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def pick(options: Sequence[str], *parts: object) -> str:
    return options[int(chance(*parts) * len(options))]


_SENTENCE_LINE = re.compile(r"^\[(\d+)\] (.*)$", re.M)
_PAIR_LINE = re.compile(r"^(\d+)\. E(\d+) → E(\d+)$", re.M)
_HEAD_LINE = re.compile(r"^E(\d+) → ((?:E\d+ ?)+)$", re.M)
_TYPED_ENTITY = re.compile(r"^E(\d+) (.+) \(([^()\s]+)\)$")
_ENTITY_LINE = re.compile(r"^E(\d+) (.+)$")


class SimulatedModels:
    """The responder of the fake model server: gold with per-model noise, decided by hashes."""

    def __init__(
        self, docs: list[GoldDoc], profiles: dict[str, ModelProfile], schemas: dict[str, LabelSchema], seed: int
    ) -> None:
        self.profiles, self.schemas, self.seed = profiles, schemas, seed
        self.by_sentence: dict[tuple[int, str], set[str]] = defaultdict(set)
        self.docs = {d.key: d for d in docs}
        for d in docs:
            for i, (s, e) in enumerate(d.sentences):
                self.by_sentence[(i, d.text[s:e])].add(d.key)
        frequent: dict[str, Counter[str]] = defaultdict(Counter)
        for d in docs:
            frequent[d.dataset].update(r.type for r in d.relations)
        # Wrong relation types come from the types a dataset uses most, as a model's confusions do.
        self.plausible = {k: [t for t, _n in c.most_common(20)] for k, c in frequent.items()}
        self.non_entities = {d.key: d.non_entities() for d in docs}
        self.requests: Counter[str] = Counter()
        self.unknown = 0

    def __call__(self, provider: str, model: str, request: dict[str, Any]) -> FakeReply:
        prompt = prompt_text(provider, request)
        role = ROLE_OF_PROVIDER[provider]
        body = prompt.rsplit("Sentences:", 1)[-1]
        shown = {int(i): s for i, s in _SENTENCE_LINE.findall(body)}
        doc = self._document(shown)
        if "Pairs (head → tails):" in prompt:
            kind = "recheck"
        elif "Pairs (head → tail):" in prompt:
            kind = "augment"
        elif "Statements:" in prompt:
            kind = "verify"
        else:
            kind = "annotate"
        self.requests[kind] += 1
        if doc is None:
            self.unknown += 1
            empty: dict[str, dict[str, Any]] = {
                "annotate": {"entities": [], "relations": []},
                "verify": {"votes": []},
            }
            empty["recheck"] = {"types": {}, "relations": []}
            return FakeReply(text=json.dumps(empty.get(kind, {"pairs": []})))
        if kind == "annotate":
            answer = self.annotate(doc, role, set(shown))
        elif kind == "verify":
            answer = {"votes": []}
        else:
            answer = self.second_look(doc, role, prompt, typed=kind == "augment")
        return FakeReply(text=json.dumps(answer, ensure_ascii=False))

    def _document(self, shown: dict[int, str]) -> GoldDoc | None:
        keys: set[str] | None = None
        for item in shown.items():
            found = self.by_sentence.get(item, set())
            keys = set(found) if keys is None else keys & found
        return self.docs[min(keys)] if keys else None

    def _wrong_types(self, doc: GoldDoc, head_type: str, tail_type: str, exclude: set[str]) -> list[str]:
        schema = self.schemas[doc.dataset]
        allowed = allowed_types(schema, head_type, tail_type)
        if len(allowed) == len(schema.relation_types):  # no constraints (DocRED): the dataset's usual types
            allowed = [t for t in self.plausible[doc.dataset] if t in allowed]
        return [t for t in allowed if t not in exclude]

    def annotate(self, doc: GoldDoc, role: str, shown: set[int]) -> dict[str, Any]:
        p, seed, d = self.profiles[role], self.seed, doc.key
        codes = self.schemas[doc.dataset].entity_codes()
        kept: dict[int, str] = {}
        types: dict[int, str] = {}
        entities: list[dict[str, Any]] = []
        for g, ent in enumerate(doc.entities):
            here = [sp for sp in ent.mentions if doc.sentence_of(sp[0]) in shown]
            if not here or chance(seed, role, d, "entity", g) >= p.entity_recall:
                continue
            etype = ent.type
            if chance(seed, role, d, "entity-type", g) < p.type_confusion:
                etype = pick([c for c in codes if c != ent.type], seed, role, d, "wrong-entity-type", g)
            names = list(dict.fromkeys(doc.text[s:e] for s, e in here))
            if chance(seed, role, d, "boundary", g) < p.boundary_error:
                variant = doc.boundary_variant(g)
                if variant is not None and here[0] == ent.mentions[0]:
                    names = [variant, *names[1:]]
            kept[g] = f"E{len(entities) + 1}"
            types[g] = etype
            entities.append({"id": kept[g], "type": etype, "name": names[0], "mentions": names})
        expected = len(kept) * (1 - p.entity_precision) / p.entity_precision
        n_fake = int(expected + chance(seed, role, d, "hallucinations"))
        occurring = [w for w in self.non_entities[d] if doc.sentence_of(doc.text.find(w)) in shown]
        for h in range(n_fake):
            if occurring and chance(seed, role, d, "hallucination-kind", h) < 0.6:
                name = pick(occurring, seed, role, d, "hallucination", h)
            else:
                pool = (
                    INVENTED_EN if doc.dataset == "docred" else [f"{s}{g}" for s in SURNAMES[:12] for g in GIVEN[:12]]
                )
                name = pick([x for x in pool if x not in doc.text], seed, role, d, "invented", h)
            if any(e["name"] == name for e in entities):
                continue
            etype = pick(codes, seed, role, d, "hallucination-type", h)
            entities.append({"id": f"H{h + 1}", "type": etype, "name": name, "mentions": [name]})
        relations: list[dict[str, Any]] = []
        confused = 0
        for j, r in enumerate(doc.relations):
            if r.head not in kept or r.tail not in kept or chance(seed, role, d, "relation", j) >= p.relation_recall:
                continue
            rtype = r.type
            if chance(seed, role, d, "relation-type", j) < p.relation_type_confusion:
                head_type, tail_type = doc.entities[r.head].type, doc.entities[r.tail].type
                wrong = self._wrong_types(doc, head_type, tail_type, doc.relation_types(r.head, r.tail))
                if wrong:
                    rtype = pick(wrong, seed, role, d, "wrong-relation-type", j)
                    confused += 1
            evidence = [i for i in r.evidence if i in shown] or sorted(shown)[:1]
            relations.append({"head": kept[r.head], "tail": kept[r.tail], "type": rtype, "evidence": evidence})
        expected = (len(relations) * (1 - p.relation_precision) / p.relation_precision) - confused
        n_wrong = int(max(0.0, expected) + chance(seed, role, d, "invented-relations"))
        candidates = sorted(
            (
                (chance(seed, role, d, "invented-pair", a, b), a, b)
                for a in kept
                for b in kept
                if a != b and not doc.relation_types(a, b) and not doc.relation_types(b, a)
            ),
        )
        for _u, a, b in candidates:
            if n_wrong <= 0:
                break
            wrong = self._wrong_types(doc, types[a], types[b], set())
            if not wrong:
                continue
            rtype = pick(wrong, seed, role, d, "invented-type", a, b)
            evidence = sorted({doc.sentence_of(doc.entities[x].mentions[0][0]) for x in (a, b)} & shown)
            relations.append({"head": kept[a], "tail": kept[b], "type": rtype, "evidence": evidence})
            n_wrong -= 1
        return {"entities": entities, "relations": relations}

    def second_look(self, doc: GoldDoc, role: str, prompt: str, *, typed: bool) -> dict[str, Any]:
        p, seed, d = self.profiles[role], self.seed, doc.key
        schema = self.schemas[doc.dataset]
        codes = schema.entity_codes()
        block = prompt.split("Entities:\n", 1)[1].split("\nPairs (head → tail", 1)[0]
        listed: dict[int, str] = {}
        for line in block.splitlines():
            match = (_TYPED_ENTITY if typed else _ENTITY_LINE).match(line)
            if match:
                listed[int(match[1])] = match[2]
        relation_block = re.split(r"Relation types[^\n]*:\n", prompt, maxsplit=1)[1].split("\nEntities:", 1)[0]
        offered = set(re.findall(r"^(?:- )?([^\s:]+)", relation_block, re.M))
        gold = {i: doc.named(name) for i, name in listed.items()}
        answer_entities = []
        if not typed:
            for i, name in listed.items():
                g = gold[i]
                right = chance(seed, role, d, "type-name", g if g is not None else name) < p.entity_accuracy
                if g is not None:
                    true_type = doc.entities[g].type
                    if right:
                        given = true_type
                    elif chance(seed, role, d, "type-miss", g) < 0.3:
                        given = "NONE"
                    else:
                        given = pick([c for c in codes if c != true_type], seed, role, d, "type-wrong", g)
                else:
                    given = "NONE" if right else pick(codes, seed, role, d, "type-wrong", name)
                answer_entities.append({"entity": i, "type": given})
        pairs: list[dict[str, Any]] = []
        pair_block = re.split(r"Pairs \(head → tails?\):\n", prompt, maxsplit=1)[1].split("\nSentences:", 1)[0]
        if typed:
            asked = [(int(n), int(h), int(t)) for n, h, t in _PAIR_LINE.findall(pair_block)]
        else:  # grouped by head: "E1 → E3 E5"
            lines = _HEAD_LINE.findall(pair_block)
            asked = [(0, int(h), int(t)) for h, tails in lines for t in re.findall(r"E(\d+)", tails)]
        for n, h, t in asked:
            where = {"pair": n, "head": h, "tail": t}
            gh, gt = gold.get(int(h)), gold.get(int(t))
            ident = (gh if gh is not None else listed.get(int(h)), gt if gt is not None else listed.get(int(t)))
            head_type = doc.entities[gh].type if gh is not None else ""
            tail_type = doc.entities[gt].type if gt is not None else ""
            true_types = sorted(doc.relation_types(gh, gt)) if gh is not None and gt is not None else []
            evidence = sorted({i for r in doc.relations if {r.head, r.tail} == {gh, gt} for i in r.evidence}) or [0]
            for rtype in true_types:
                if chance(seed, role, d, "pair", *ident, rtype) < p.pair_accuracy:
                    pairs.append({**where, "type": rtype, "evidence": evidence})
                elif chance(seed, role, d, "pair-miss", *ident, rtype) < 0.5:
                    wrong = [x for x in self._wrong_types(doc, head_type, tail_type, set(true_types)) if x in offered]
                    if wrong:
                        pairs.append({**where, "type": pick(wrong, seed, role, d, "pair-wrong", *ident, rtype)})
            if not true_types and chance(seed, role, d, "pair-fp", *ident) < p.false_positive:
                options = (
                    self._wrong_types(doc, head_type, tail_type, set())
                    if gh is not None and gt is not None
                    else sorted(offered)
                )
                options = [x for x in options if x in offered]
                if options:
                    pairs.append({**where, "type": pick(options, seed, role, d, "pair-fp-type", *ident)})
        for item in pairs:
            item.setdefault("evidence", [0])
        if typed:  # the augmentation prompt's answer: numbered pairs
            return {"pairs": [{k: v for k, v in item.items() if k not in ("head", "tail")} for item in pairs]}
        return {  # the blind second opinion's compact answer
            "types": {f"E{e['entity']}": e["type"] for e in answer_entities},
            "relations": [
                f"E{p['head']} {p['type']} E{p['tail']} " + " ".join(str(i) for i in p["evidence"]) for p in pairs
            ],
        }


# --- The reviewer ------------------------------------------------------------------------------------------------


@dataclass
class Item:
    id: int
    type: str
    status: str
    agreement: str = ""
    name: str = ""
    grounded: bool = True
    spans: list[Span] = field(default_factory=list)
    mention_ids: dict[Span, int] = field(default_factory=dict)
    head: int = 0
    tail: int = 0


@dataclass
class State:
    entities: dict[int, Item]
    relations: dict[int, Item]


def load_state(session: Session, document_id: int) -> State:
    entities = {
        e.id or 0: Item(e.id or 0, e.type, str(e.status), str(e.agreement), e.name, e.grounded)
        for e in session.exec(select(Entity).where(Entity.document_id == document_id))
    }
    for m in session.exec(select(Mention).where(Mention.document_id == document_id).order_by(col(Mention.start))):
        if m.status != ItemStatus.rejected and m.entity_id in entities:
            entities[m.entity_id].spans.append((m.start, m.end))
            entities[m.entity_id].mention_ids[(m.start, m.end)] = m.id or 0
    relations = {
        r.id or 0: Item(r.id or 0, r.type, str(r.status), str(r.agreement), head=r.head_id, tail=r.tail_id)
        for r in session.exec(select(Relation).where(Relation.document_id == document_id))
    }
    return State(entities, relations)


class Reviewer:
    """The simulated reviewer: decides what is still proposed against gold, through the product's decisions."""

    def __init__(self, session: Session, document: Document, gold: GoldDoc, user: User) -> None:
        self.session, self.document, self.gold, self.user = session, document, gold, user
        self.decisions: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def act(self, item: str, item_id: int | None, action: str, **params: Any) -> bool:
        try:
            with self.session.begin_nested():
                decide(
                    self.session,
                    document=self.document,
                    user=self.user,
                    command=parse_command(
                        {"item": item, "id": item_id, "action": action, "version": self.document.version, **params}
                    ),
                )
        except AppError:
            self.session.refresh(self.document)
            self.refused[f"{item}.{action}"] += 1
            return False
        self.decisions[f"{item}.{action}"] += 1
        return True

    def review(self) -> Counter[str]:
        """The whole pass, without the submit."""
        self.fix_entities()
        self.decide_relations()
        state = load_state(self.session, self.document.id or 0)
        for e in sorted(state.entities.values(), key=lambda x: x.id):
            if e.status == ItemStatus.proposed:
                self.act("entity", e.id, "accept")
        self.create_missing()
        return self.decisions

    def fix_entities(self) -> None:
        gold = self.gold
        state = load_state(self.session, self.document.id or 0)
        live = [e for e in state.entities.values() if e.status != ItemStatus.rejected]
        mapped = {e.id: gold.entity_of(e.spans) if e.grounded else None for e in live}
        groups: dict[int, list[Item]] = defaultdict(list)
        for e in live:
            g = mapped[e.id]
            if g is not None:
                groups[g].append(e)
        for e in sorted(live, key=lambda x: x.id):
            if e.status == ItemStatus.proposed and mapped[e.id] is None:
                self.act("entity", e.id, "reject")
        for g, members in sorted(groups.items()):
            # The one to keep: an accepted one (the reviewer does not touch those), else the closest to gold.
            def closeness(e: Item, g: int = g) -> tuple[int, int, int, int]:
                right = gold.entities[g].type == e.type
                return (int(e.status != ItemStatus.proposed), int(right), -len(gold.bad_spans(g, e.spans)), -e.id)

            keep = max(members, key=closeness)
            if keep.status == ItemStatus.proposed:
                self.fix_entity(keep.id, g, retype=True)
            for other in sorted(members, key=lambda x: x.id):
                # Merging moves the duplicate's mentions to the one kept: their spans are checked there.
                merge = other.id != keep.id and other.status == ItemStatus.proposed
                if merge and self.act("entity", other.id, "merge", into=keep.id):
                    self.fix_entity(keep.id, g, retype=False)

    def fix_entity(self, entity_id: int, g: int, *, retype: bool) -> None:
        """Retype one entity standing for gold entity g, and fix its spans that are not g's mentions."""
        gold = self.gold
        entity = load_state(self.session, self.document.id or 0).entities[entity_id]
        if retype and entity.type != gold.entities[g].type:
            self.act("entity", entity_id, "retype", type=gold.entities[g].type)
        for span in gold.bad_spans(g, entity.spans):
            current = load_state(self.session, self.document.id or 0)
            spans = current.entities[entity_id].spans
            mention_id = current.entities[entity_id].mention_ids.get(span)
            if mention_id is None:
                continue
            target = gold.gold_span(g, span) if gold.owner(span) == g else None
            taken = {sp for e in current.entities.values() if e.status != ItemStatus.rejected for sp in e.spans}
            if target is not None and target not in taken:
                self.act("mention", mention_id, "adjust", start=target[0], end=target[1])
            elif len(spans) > 1:
                self.act("mention", mention_id, "delete")

    def decide_relations(self) -> None:
        gold = self.gold
        state = load_state(self.session, self.document.id or 0)
        mapped = {e.id: gold.entity_of(e.spans) for e in state.entities.values() if e.status != ItemStatus.rejected}
        live = [r for r in state.relations.values() if r.status != ItemStatus.rejected]
        # Gold facts already stated by a relation that stays (accepted, or proposed with a gold type).
        covered: Counter[tuple[int, int, str]] = Counter()
        for r in live:
            gh, gt = mapped.get(r.head), mapped.get(r.tail)
            fact = gold.fact(gh, gt, r.type) if gh is not None and gt is not None else None
            if fact is not None:
                covered[fact] += 1
        for r in sorted(live, key=lambda x: x.id):
            if r.status != ItemStatus.proposed:
                continue
            gh, gt = mapped.get(r.head), mapped.get(r.tail)
            if gh is None or gt is None:
                self.act("relation", r.id, "reject")
                continue
            fact = gold.fact(gh, gt, r.type)
            if fact is not None:
                if covered[fact] > 1:  # a duplicate of a fact another relation states
                    covered[fact] -= 1
                    self.act("relation", r.id, "reject")
                else:
                    self.act("relation", r.id, "accept")
                continue
            open_facts = sorted(
                f for f in (gold.fact(gh, gt, t) for t in gold.relation_types(gh, gt)) if f and not covered[f]
            )
            reverse = gold.fact(gt, gh, r.type)
            if open_facts and self.act("relation", r.id, "retype", type=open_facts[0][2]):
                covered[open_facts[0]] += 1
            elif reverse is not None and not covered[reverse] and self.act("relation", r.id, "swap"):
                covered[reverse] += 1
            else:
                self.act("relation", r.id, "reject")

    def create_missing(self) -> None:
        gold, d = self.gold, self.gold.key
        state = load_state(self.session, self.document.id or 0)
        accepted = [e for e in state.entities.values() if e.status == ItemStatus.accepted]
        present: dict[int, int] = {}
        for e in sorted(accepted, key=lambda x: x.id):
            g = gold.entity_of(e.spans)
            if g is not None:
                present.setdefault(g, e.id)
        stated = set()
        for r in state.relations.values():
            if r.status == ItemStatus.accepted and r.head in state.entities and r.tail in state.entities:
                gh, gt = gold.entity_of(state.entities[r.head].spans), gold.entity_of(state.entities[r.tail].spans)
                fact = gold.fact(gh, gt, r.type) if gh is not None and gt is not None else None
                if fact is not None:
                    stated.add(fact)
        wanted_relations = [
            r
            for j, r in enumerate(gold.relations)
            if gold.fact(r.head, r.tail, r.type) not in stated and chance("create", d, "relation", j) < 0.5
        ]
        wanted_entities = {
            g for g in range(len(gold.entities)) if g not in present and chance("create", d, "entity", g) < 0.5
        }
        wanted_entities |= {x for r in wanted_relations for x in (r.head, r.tail) if x not in present}
        taken = {sp for e in state.entities.values() if e.status != ItemStatus.rejected for sp in e.spans}
        for g in sorted(wanted_entities):
            ent = gold.entities[g]
            for span in ent.mentions:
                if span in taken:
                    continue
                if self.act("entity", None, "create", start=span[0], end=span[1], type=ent.type):
                    created = self.session.exec(
                        select(Mention.entity_id).where(
                            Mention.document_id == self.document.id,
                            Mention.start == span[0],
                            Mention.end == span[1],
                            Mention.status == ItemStatus.accepted,
                        )
                    ).first()
                    if created is not None:
                        present[g] = created
                    taken.add(span)
                break
        for wanted in wanted_relations:
            if wanted.head in present and wanted.tail in present:
                self.act(
                    "relation",
                    None,
                    "create",
                    head=present[wanted.head],
                    tail=present[wanted.tail],
                    type=wanted.type,
                    evidence=list(wanted.evidence),
                )


# --- Measuring one document ----------------------------------------------------------------------------------------


@dataclass
class Score:
    correct: int = 0
    predicted: int = 0
    gold: int = 0

    def add(self, other: "Score") -> None:
        self.correct += other.correct
        self.predicted += other.predicted
        self.gold += other.gold

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.gold if self.gold else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Judged:
    """Scores of the items with one status, their correctness per class, and what is wrong with the wrong ones."""

    entities: Score
    relations: Score
    by_class: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)


def judge(state: State, gold: GoldDoc, *, status: str = ItemStatus.accepted) -> Judged:
    """The items with this status against gold (each gold entity and fact counted once)."""
    out = Judged(Score(gold=len(gold.entities)), Score(gold=len(gold.facts())))
    found: set[int] = set()
    for e in sorted(state.entities.values(), key=lambda x: x.id):
        if e.status != status:
            continue
        out.entities.predicted += 1
        g = gold.entity_correct(e.type, e.spans)
        ok = g is not None and g not in found
        if g is not None and ok:
            found.add(g)
            out.entities.correct += 1
        out.by_class[f"entity|{e.agreement}|{'correct' if ok else 'wrong'}"] += 1
        if not ok:
            out.wrong.append(f"{gold.key} entity {e.agreement} {e.name!r} {e.type} | {_entity_fault(gold, e, found)}")
    stated: set[tuple[int, int, str]] = set()
    for r in sorted(state.relations.values(), key=lambda x: x.id):
        if r.status != status:
            continue
        out.relations.predicted += 1
        head, tail = state.entities.get(r.head), state.entities.get(r.tail)
        gh = gold.entity_of(head.spans) if head else None
        gt = gold.entity_of(tail.spans) if tail else None
        fact = gold.fact(gh, gt, r.type) if gh is not None and gt is not None else None
        ok = fact is not None and fact not in stated
        if fact is not None and ok:
            stated.add(fact)
            out.relations.correct += 1
        out.by_class[f"relation|{r.agreement}|{'correct' if ok else 'wrong'}"] += 1
        if not ok:
            names = f"{head.name if head else '?'} -{r.type}-> {tail.name if tail else '?'}"
            if gh is None or gt is None:
                fault = "an argument is no gold entity"
            elif fact is not None:
                fault = "duplicate of a fact already stated"
            else:
                kinds = sorted(gold.relation_types(gh, gt)) or ["none"]
                reverse = sorted(gold.relation_types(gt, gh))
                fault = f"gold types {','.join(kinds)}" + (f" (reverse: {','.join(reverse)})" if reverse else "")
            out.wrong.append(f"{gold.key} relation {r.agreement} {names} | {fault}")
    return out


def _fault_kind(description: str) -> str:
    """The kind of fault of a wrong item's description (see judge)."""
    kind, fault = description.split(" ", 2)[1], description.rsplit(" | ", 1)[-1]
    if fault.startswith("gold types none"):
        fault = "no gold relation for the pair" + (" (reverse exists)" if "reverse" in fault else "")
    elif fault.startswith("gold types"):
        fault = "another gold type for the pair"
    elif fault.startswith("gold type"):
        fault = "wrong type"
    elif fault.startswith("spans"):
        fault = "spans not its mentions"
    return f"{kind}: {fault}"


def _entity_fault(gold: GoldDoc, e: Item, found: set[int]) -> str:
    if not e.grounded or not e.spans:
        return "not grounded"
    g = gold.entity_of(e.spans)
    if g is None:
        return "no gold entity"
    if gold.entities[g].type != e.type:
        return f"gold type {gold.entities[g].type}"
    bad = gold.bad_spans(g, e.spans)
    if bad:
        return (
            "spans "
            + ", ".join(f"{gold.text[a:b]!r}@{a}" for a, b in bad)
            + f" are not mentions of {gold.entities[g].names[0]!r}"
        )
    return "duplicate of a gold entity already counted" if g in found else "?"


@dataclass
class DocResult:
    batch: int
    decisions: Counter[str]
    everything: Counter[str]
    refused: Counter[str]
    curated_entities: Score
    curated_relations: Score
    auto_entities: Score
    auto_relations: Score
    auto_classes: Counter[str]
    unchanged_entities: Score
    unchanged_relations: Score
    auto_wrong: list[str]
    curated_wrong: list[str]
    seconds_review: float


def review_document(engine: Engine, document_id: int, gold: GoldDoc, user: User, batch: int) -> DocResult:
    """Review-everything (rolled back), then the real review and submit; both against gold."""
    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as s:
        before = load_state(s, document_id)
        auto = judge(before, gold)
        for model in (Entity, Mention, Relation):
            s.exec(
                update(model)
                .where(col(model.document_id) == document_id, col(model.status) == ItemStatus.accepted)
                .values(status=ItemStatus.proposed)
                .execution_options(synchronize_session=False)
            )
        s.expire_all()
        document = s.get(Document, document_id)
        assert document is not None
        shadow = Reviewer(s, document, gold, user)
        everything = shadow.review()
        s.rollback()
    with Session(engine, expire_on_commit=False) as s:
        document = s.get(Document, document_id)
        assert document is not None
        reviewer = Reviewer(s, document, gold, user)
        decisions = reviewer.review()
        submit(s, document=document, user=user, version=document.version)
        s.commit()
        after = load_state(s, document_id)
        curated = judge(after, gold)
    # The auto-accepted items review left as they were (a rejected argument rejects its relations; a merge moves
    # mentions into the entity kept): the others are marked, so that judge skips them but still maps by them.
    changed = "changed by review"
    for e in before.entities.values():
        now = after.entities.get(e.id)
        if e.status == ItemStatus.accepted and (
            now is None or (now.status, now.type, now.spans) != (e.status, e.type, e.spans)
        ):
            e.status = changed
    for r in before.relations.values():
        rel = after.relations.get(r.id)
        if r.status == ItemStatus.accepted and (
            rel is None or (rel.status, rel.type, rel.head, rel.tail) != (r.status, r.type, r.head, r.tail)
        ):
            r.status = changed
    unchanged = judge(before, gold)
    return DocResult(
        batch=batch,
        decisions=decisions,
        everything=everything,
        refused=reviewer.refused + Counter({f"{k} (review-everything)": v for k, v in shadow.refused.items()}),
        curated_entities=curated.entities,
        curated_relations=curated.relations,
        auto_entities=auto.entities,
        auto_relations=auto.relations,
        auto_classes=auto.by_class,
        unchanged_entities=unchanged.entities,
        unchanged_relations=unchanged.relations,
        auto_wrong=auto.wrong,
        curated_wrong=curated.wrong,
        seconds_review=time.perf_counter() - started,
    )


# --- Policies, projects, batches ---------------------------------------------------------------------------------

POLICIES: dict[str, dict[str, Any]] = {
    "today": {"recheck": False, "min_evidence": 100_000},
    "learning": {},
}
PRESETS = {"docred": "docred", "zh": "zh-general"}


@dataclass
class Arm:
    """One policy on one dataset: a project with its two annotators, and what happened to its documents."""

    policy: str
    dataset: str
    project_id: int
    a: int
    b: int
    results: list[DocResult] = field(default_factory=list)
    document_ids: list[int] = field(default_factory=list)
    seconds_pipeline: float = 0.0


def create_arm(engine: Engine, policy: str, dataset: str) -> Arm:
    with Session(engine, expire_on_commit=False) as s:
        project = create_project(s, name=f"curation-{policy}-{dataset}", preset=PRESETS[dataset])
        project.settings = {**project.settings, "languages": [], **POLICIES[policy]}
        s.add(project)
        s.flush()
        annotators = []
        for name, provider, role in (("gpt", "openai", "A"), ("gem", "gemini", "B")):
            # A model name per policy: no policy is served answers from another's call cache.
            data = {"name": name, "provider": provider, "model": f"sim-{role}-{policy}", "parameters": {"role": role}}
            annotators.append(create_annotator(s, project=project, data=data))
        s.commit()
        assert project.id is not None and annotators[0].id is not None and annotators[1].id is not None
        return Arm(policy, dataset, project.id, annotators[0].id, annotators[1].id)


def store_batch(engine: Engine, arm: Arm, docs: list[GoldDoc], number: int) -> list[int]:
    with Session(engine, expire_on_commit=False) as s:
        batch = CrawlBatch(project_id=arm.project_id, filename=f"batch-{number}.jsonl", status=BatchStatus.done)
        s.add(batch)
        s.flush()
        stored = []
        for gold in docs:
            document = Document(
                project_id=arm.project_id,
                batch_id=batch.id,
                title=gold.title,
                text=gold.text,
                sentences=[list(x) for x in gold.sentences],
                text_hash=text_hash(gold.text),
                language="en" if gold.dataset == "docred" else "zh",
            )
            s.add(document)
            stored.append(document)
        s.commit()
        return [d.id or 0 for d in stored]


def annotate_document(engine: Engine, arm: Arm, document_id: int) -> None:
    """The annotation jobs of one document in the order the broker would run them."""
    annotation_jobs.run_annotator(document_id, arm.a, engine=engine)
    annotation_jobs.run_annotator(document_id, arm.b, engine=engine)
    annotation_jobs.crossvalidate(document_id, engine=engine)
    annotation_jobs.augment(document_id, engine=engine)


def tokens(engine: Engine, project_ids: list[int]) -> dict[str, tuple[int, int]]:
    """(tokens in + out, calls) per purpose over these projects' documents."""
    with Session(engine) as s:
        rows = s.execute(
            columns(col(LlmCall.purpose), func.sum(LlmCall.input_tokens + LlmCall.output_tokens), func.count())
            .join(Document, col(Document.id) == LlmCall.document_id)
            .where(col(Document.project_id).in_(project_ids))
            .group_by(col(LlmCall.purpose))
        )
        return {purpose: (int(total or 0), int(n)) for purpose, total, n in rows}


def agreements(engine: Engine, project_ids: list[int]) -> dict[str, Counter[str]]:
    """Machine items per kind, agreement class and status at the end (after review: reviewed ones are decided)."""
    out: dict[str, Counter[str]] = {"entity": Counter(), "relation": Counter()}
    with Session(engine) as s:
        for kind, model in (("entity", Entity), ("relation", Relation)):
            rows = s.execute(
                columns(col(model.agreement), func.count())
                .join(Document, col(Document.id) == model.document_id)
                .where(col(Document.project_id).in_(project_ids))
                .group_by(col(model.agreement))
            )
            out[kind].update({str(agreement): int(n) for agreement, n in rows})
    return out


def routes(engine: Engine, project_ids: list[int]) -> Counter[str]:
    """Machine items by kind, agreement class, route and recorded outcome (the product's routed_item rows)."""
    with Session(engine) as s:
        rows = s.execute(
            columns(
                col(RoutedItem.item_kind),
                col(RoutedItem.agreement),
                col(RoutedItem.route),
                col(RoutedItem.outcome),
                func.count(),
            )
            .where(col(RoutedItem.project_id).in_(project_ids))
            .group_by(
                col(RoutedItem.item_kind), col(RoutedItem.agreement), col(RoutedItem.route), col(RoutedItem.outcome)
            )
        )
        return Counter({f"{kind}|{agreement}|{route}|{outcome}": int(n) for kind, agreement, route, outcome, n in rows})


# --- Report ------------------------------------------------------------------------------------------------------


REJECTS = frozenset({"entity.reject", "relation.reject", "mention.delete"})


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _sum_scores(results: list[DocResult], name: str) -> Score:
    total = Score()
    for r in results:
        total.add(getattr(r, name))
    return total


@dataclass
class PolicyFigures:
    docs: int
    decisions: int
    everything: int
    refused: Counter[str]
    relations: Score
    entities: Score
    auto_relations: Score
    auto_entities: Score
    unchanged_relations: Score
    unchanged_entities: Score
    actions: Counter[str]
    tokens: dict[str, tuple[int, int]]
    # Explicit rejections (entity/relation reject, mention delete) among the decisions and review-everything's.
    rejects: tuple[int, int]

    @property
    def saved(self) -> float:
        return 1 - self.decisions / self.everything if self.everything else 0.0

    @property
    def auto(self) -> Score:
        total = Score()
        total.add(self.auto_relations)
        total.add(self.auto_entities)
        return total

    @property
    def unchanged(self) -> Score:
        """The auto-accepted items that review left as they were."""
        total = Score()
        total.add(self.unchanged_relations)
        total.add(self.unchanged_entities)
        return total

    def per_doc(self, purpose: str) -> float:
        return self.tokens.get(purpose, (0, 0))[0] / self.docs if self.docs else 0.0

    @property
    def annotate_call(self) -> float:
        """Tokens of one full-document annotate call (all windows of one annotator on one document)."""
        return self.per_doc("annotate") / 2

    @property
    def second_look_share(self) -> float:
        extra = self.per_doc("augment") + self.per_doc("recheck")
        return extra / self.annotate_call if self.annotate_call else 0.0


def figures(engine: Engine, arms: list[Arm]) -> PolicyFigures:
    results = [r for arm in arms for r in arm.results]
    actions: Counter[str] = Counter()
    for r in results:
        actions.update(r.decisions)
    return PolicyFigures(
        docs=len(results),
        decisions=sum(sum(r.decisions.values()) for r in results),
        everything=sum(sum(r.everything.values()) for r in results),
        refused=sum((r.refused for r in results), Counter()),
        relations=_sum_scores(results, "curated_relations"),
        entities=_sum_scores(results, "curated_entities"),
        auto_relations=_sum_scores(results, "auto_relations"),
        auto_entities=_sum_scores(results, "auto_entities"),
        unchanged_relations=_sum_scores(results, "unchanged_relations"),
        unchanged_entities=_sum_scores(results, "unchanged_entities"),
        actions=actions,
        tokens=tokens(engine, [arm.project_id for arm in arms]),
        rejects=(
            sum(n for r in results for k, n in r.decisions.items() if k in REJECTS),
            sum(n for r in results for k, n in r.everything.items() if k in REJECTS),
        ),
    )


def _line(name: str, *cells: str) -> str:
    return f"{name:<46}" + "".join(f"{c:>22}" for c in cells)


def report(engine: Engine, arms: list[Arm], n_batches: int, explain: int) -> Iterator[str]:
    by_policy = {p: [a for a in arms if a.policy == p] for p in POLICIES}
    totals = {p: figures(engine, a) for p, a in by_policy.items()}
    today, learning = totals["today"], totals["learning"]
    yield ""
    yield _line("", "today (baseline)", "learning")
    yield "-" * 90
    for label, dataset in (("all documents", None), *((f"  {d}", d) for d in PRESETS)):
        sub = totals
        if dataset is not None:
            sub = {p: figures(engine, [a for a in by_policy[p] if a.dataset == dataset]) for p in POLICIES}
            yield label
        else:
            yield f"{label}: {today.docs} per policy"
        yield _line("  human decisions", *(str(sub[p].decisions) for p in POLICIES))
        yield _line("  review-everything decisions", *(str(sub[p].everything) for p in POLICIES))
        yield _line("  saved (1 - decisions / review-everything)", *(_pct(sub[p].saved) for p in POLICIES))
        yield _line(
            "  of which rejects (decisions / everything)",
            *(f"{sub[p].rejects[0]} / {sub[p].rejects[1]}" for p in POLICIES),
        )
        yield _line(
            "  curated relations F1 (P / R)",
            *(
                f"{sub[p].relations.f1:.3f} ({sub[p].relations.precision:.3f}/{sub[p].relations.recall:.3f})"
                for p in POLICIES
            ),
        )
        yield _line(
            "  curated entities F1 (P / R)",
            *(
                f"{sub[p].entities.f1:.3f} ({sub[p].entities.precision:.3f}/{sub[p].entities.recall:.3f})"
                for p in POLICIES
            ),
        )
        yield _line(
            "  auto-accepted, not changed by review: P (n)",
            *(f"{sub[p].unchanged.precision:.3f} ({sub[p].unchanged.predicted})" for p in POLICIES),
        )
        yield _line(
            "  all auto-accepted: precision (n)",
            *(f"{sub[p].auto.precision:.3f} ({sub[p].auto.predicted})" for p in POLICIES),
        )
        yield _line(
            "    entities / relations",
            *(
                f"{sub[p].auto_entities.precision:.3f}/{sub[p].auto_relations.precision:.3f} "
                f"({sub[p].auto_entities.predicted}/{sub[p].auto_relations.predicted})"
                for p in POLICIES
            ),
        )
    yield ""
    yield "auto-accepted items by class: correct / accepted before review (precision):"
    for p in POLICIES:
        tally: Counter[str] = Counter()
        for arm in by_policy[p]:
            for r in arm.results:
                tally.update(r.auto_classes)
        keys = sorted({x.rsplit("|", 1)[0] for x in tally})
        cells = []
        for key in keys:
            ok, n = tally[f"{key}|correct"], tally[f"{key}|correct"] + tally[f"{key}|wrong"]
            cells.append(f"{key.replace('|', ' ')} {ok}/{n} ({ok / n:.3f})")
        yield f"  {p}: " + "; ".join(cells)
    for p in POLICIES:
        for what in ("auto_wrong", "curated_wrong"):
            faults = Counter(_fault_kind(x) for arm in by_policy[p] for r in arm.results for x in getattr(r, what))
            label = "auto-accepted" if what == "auto_wrong" else "curated"
            yield f"  {p}, wrong {label} items: " + (", ".join(f"{k} {v}" for k, v in faults.most_common()) or "none")
    if explain:
        for p in POLICIES:
            for what in ("auto_wrong", "curated_wrong"):
                examples = [x for arm in by_policy[p] for r in arm.results for x in getattr(r, what)][:explain]
                yield f"  {p}, {what.replace('_', ' ')} (first {len(examples)}):"
                yield from (f"    {x}" for x in examples)
    yield ""
    yield "decisions by action (all documents):"
    for p in POLICIES:
        actions = ", ".join(f"{k} {v}" for k, v in sorted(totals[p].actions.items(), key=lambda kv: -kv[1]))
        refused = ", ".join(f"{k} {v}" for k, v in sorted(totals[p].refused.items())) or "none"
        yield f"  {p}: {actions}; refused by the product: {refused}"
    yield ""
    yield "machine items by agreement class (after review):"
    for p in POLICIES:
        classes = agreements(engine, [a.project_id for a in by_policy[p]])
        for kind in ("entity", "relation"):
            yield f"  {p} {kind}: " + ", ".join(f"{k} {v}" for k, v in classes[kind].most_common())
    yield ""
    yield "machine items by route (auto / review / audit), and the precision people found in the judged ones:"
    for p in POLICIES:
        routed = routes(engine, [a.project_id for a in by_policy[p]])
        groups = sorted({k.rsplit("|", 2)[0] for k in routed})
        for group in groups:
            cells = []
            for destination in ("auto", "review", "audit"):
                n = sum(v for k, v in routed.items() if k.startswith(f"{group}|{destination}|"))
                correct = routed.get(f"{group}|{destination}|correct", 0)
                judged = correct + routed.get(f"{group}|{destination}|wrong", 0)
                if n:
                    cells.append(f"{destination} {n}" + (f" ({correct / judged:.2f} of {judged})" if judged else ""))
            yield f"  {p} {group.replace('|', ' ')}: " + ", ".join(cells)
    yield ""
    yield "per document by batch (learning curve): decisions [review-everything] saved | auto-accepted (precision)"
    yield "  batch  docs" + "".join(f"{p:>44}" for p in POLICIES)
    for k in range(n_batches):
        cells = []
        n = 0
        for p in POLICIES:
            rs = [r for a in by_policy[p] for r in a.results if r.batch == k]
            n = len(rs)
            done = sum(sum(r.decisions.values()) for r in rs)
            every = sum(sum(r.everything.values()) for r in rs)
            saved = 1 - done / every if every else 0.0
            auto = Score()
            for r in rs:
                auto.add(r.auto_entities)
                auto.add(r.auto_relations)
            cells.append(
                f"{done / max(n, 1):6.1f} [{every / max(n, 1):5.1f}] {_pct(saved):>6} | "
                f"{auto.predicted / max(n, 1):5.1f} ({auto.precision:.3f})"
            )
        yield f"  {k + 1:>5} {n:>5}" + "".join(f"{c:>44}" for c in cells)
    yield ""
    yield "tokens per document by purpose (input + output, both annotators; calls in brackets):"
    purposes = list(
        dict.fromkeys(
            ["annotate", "augment", "recheck", "repair", *sorted(k for f in totals.values() for k in f.tokens)]
        )
    )
    for label, dataset in (("all", None), *((d, d) for d in PRESETS)):
        for p in POLICIES:
            f = totals[p] if dataset is None else figures(engine, [a for a in by_policy[p] if a.dataset == dataset])
            parts = ", ".join(f"{k} {f.per_doc(k):.0f} ({f.tokens.get(k, (0, 0))[1] / f.docs:.2f})" for k in purposes)
            yield f"  {label} {p}: {parts}"
            yield (
                f"    augmentation + recheck {f.per_doc('augment') + f.per_doc('recheck'):.0f} per document = "
                f"{_pct(f.second_look_share)} of one full-document annotate call ({f.annotate_call:.0f})"
            )
    yield ""
    yield _line("target (learning policy)", "learning", "today", "result")
    yield "-" * 112
    checks = (
        ("saved >= 50% of review-everything", learning.saved, today.saved, learning.saved >= SAVED_TARGET, _pct),
        (
            "curated relation F1 >= 0.95",
            learning.relations.f1,
            today.relations.f1,
            learning.relations.f1 >= F1_TARGET,
            lambda x: f"{x:.3f}",
        ),
        (
            "auto-accepted precision >= 0.97",
            learning.unchanged.precision,
            today.unchanged.precision,
            learning.unchanged.precision >= AUTO_PRECISION_TARGET,
            lambda x: f"{x:.3f}",
        ),
        (
            "second look <= 75% of one annotate call",
            learning.second_look_share,
            today.second_look_share,
            learning.second_look_share <= SECOND_LOOK_TARGET,
            _pct,
        ),
    )
    for name, mine, base, ok, fmt in checks:
        yield _line(name, fmt(mine), fmt(base), "PASS" if ok else "FAIL")


# --- Main --------------------------------------------------------------------------------------------------------


def _chunks(docs: list[GoldDoc], n: int) -> list[list[GoldDoc]]:
    size, extra = divmod(len(docs), n)
    out, start = [], 0
    for k in range(n):
        end = start + size + (1 if k < extra else 0)
        out.append(docs[start:end])
        start = end
    return out


def run(args: argparse.Namespace, workdir: Path) -> None:
    os.environ.update(
        {
            "CONCORD_DATA_DIR": str(workdir / "data"),
            "REDIS_KEY_PREFIX": "concord-bench-curation:",
            "LOG_LEVEL": "warning",
        }
    )
    for var in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(var, None)
    get_settings.cache_clear()
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    schemas: dict[str, LabelSchema] = {}
    migrations.upgrade(settings.sqlalchemy_url)
    engine = make_engine(settings.sqlalchemy_url)
    broker = EmbeddedRedis(settings)  # rate limits and call locks use Redis; jobs sent there are never consumed
    broker.start()
    server: FakeLLMServer | None = None
    try:
        arms: list[Arm] = []
        for policy in POLICIES:
            for dataset in PRESETS:
                arms.append(create_arm(engine, policy, dataset))
        with Session(engine) as s:
            for dataset in PRESETS:
                project = s.get(Project, next(a.project_id for a in arms if a.dataset == dataset))
                assert project is not None
                schemas[dataset] = label_schema_of(project)
        symmetric = {d: frozenset(r.code for r in schemas[d].relation_types if r.symmetric) for d in PRESETS}
        docs = {
            "docred": docred_documents(args.docred, args.seed, symmetric["docred"]),
            "zh": zh_documents(args.zh, args.seed, symmetric["zh"]),
        }
        models = SimulatedModels([d for ds in docs.values() for d in ds], PROFILES[args.profile], schemas, args.seed)
        server = FakeLLMServer(models).start()
        os.environ.update(
            {
                "OPENAI_API_KEY": "sk-bench-not-a-key",
                "OPENAI_BASE_URL": server.openai_base_url,
                "GEMINI_API_KEY": "gm-bench-not-a-key",
                "GOOGLE_GEMINI_BASE_URL": server.url,
            }
        )
        get_settings.cache_clear()
        with Session(engine, expire_on_commit=False) as s:
            user = create_user(s, username="simulated-reviewer", role=Role.reviewer, password=secrets.token_urlsafe(16))
            s.commit()
        for dataset, ds in docs.items():
            n_rel = sum(len(d.relations) for d in ds)
            n_ent = sum(len(d.entities) for d in ds)
            print(
                f"{dataset}: {len(ds)} documents, {n_ent / len(ds):.1f} gold entities and {n_rel / len(ds):.1f} gold "
                f"relations per document",
                flush=True,
            )
        batches = {dataset: _chunks(ds, args.batches) for dataset, ds in docs.items()}
        golds: dict[int, GoldDoc] = {}
        for k in range(args.batches):
            started = time.perf_counter()
            for arm in arms:
                ids = store_batch(engine, arm, batches[arm.dataset][k], k + 1)
                golds.update(zip(ids, batches[arm.dataset][k], strict=True))
                arm.document_ids += ids
                t0 = time.perf_counter()
                for document_id in ids:
                    annotate_document(engine, arm, document_id)
                arm.seconds_pipeline += time.perf_counter() - t0
                for document_id in ids:
                    arm.results.append(review_document(engine, document_id, golds[document_id], user, k))
            progress = []
            for policy in POLICIES:
                rs = [r for a in arms if a.policy == policy for r in a.results if r.batch == k]
                done, every = sum(sum(r.decisions.values()) for r in rs), sum(sum(r.everything.values()) for r in rs)
                progress.append(f"{policy} {done}/{every} decisions ({_pct(1 - done / every if every else 0)} saved)")
            print(
                f"batch {k + 1}/{args.batches} in {time.perf_counter() - started:.0f} s: " + "; ".join(progress),
                flush=True,
            )
        if models.unknown:
            print(f"WARNING: {models.unknown} model requests named no known document")
        print(f"model requests: {dict(models.requests)}")
        for line in report(engine, arms, args.batches, args.explain):
            print(line, flush=True)
        pipeline = sum(a.seconds_pipeline for a in arms)
        review = sum(r.seconds_review for a in arms for r in a.results)
        print(f"\nannotation jobs {pipeline:.0f} s, reviews (with review-everything) {review:.0f} s")
    finally:
        if server is not None:
            server.stop()
        engine.dispose()
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small run: 6 DocRED + 16 Chinese documents, 4 batches")
    parser.add_argument("--docred", type=int, default=None, help="Re-DocRED dev documents (default 60; quick 6)")
    parser.add_argument("--zh", type=int, default=None, help="generated Chinese documents (default 240; quick 16)")
    parser.add_argument("--batches", type=int, default=None, help="batches (default 8; quick 4)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="typical", help="model noise (default typical)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    parser.add_argument("--explain", type=int, default=0, help="print this many wrong items of each kind per policy")
    args = parser.parse_args()
    defaults = (6, 16, 4) if args.quick else (60, 240, 8)
    for name, value in zip(("docred", "zh", "batches"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    workdir = Path(tempfile.mkdtemp(prefix="concord-bench-curation-"))
    started = time.perf_counter()
    print(
        f"Concord curation benchmark: {args.docred} Re-DocRED dev + {args.zh} generated Chinese documents in "
        f"{args.batches} batches per policy, profile {args.profile}, seed {args.seed}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        flush=True,
    )
    for role, provider in (("A", "openai"), ("B", "gemini")):
        print(f"model {role} ({provider}): {PROFILES[args.profile][role].describe()}", flush=True)
    try:
        run(args, workdir)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"Total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
