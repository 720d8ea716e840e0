"""Review workbench speed on a long document, each figure beside a plain page of the same text from the same run.

Generates a seeded ~20,000-character Chinese document (sentences from split_sentences, paragraph breaks, some 𠮷 and
emoji) with 400 entities of the zh-general preset, 3 mentions each (1,200 mentions, grounded inside single
sentences; a few nested or crossing), and 800 relations of schema-allowed types, with mixed agreement classes and
statuses and annotators A and B (runs and proposals, some verifier votes). Three identical copies are stored in an
embedded SQLite database in a temporary data dir: one for the HTTP figures, one for the browser, one for --profile.

The server is a real uvicorn (one worker, the app of `concord serve`, uvloop/httptools as installed) in a child
process pinned to one core with os.sched_setaffinity; this process and Chromium run on the other cores. A reviewer
signs in through /login over HTTP keep-alive (httpx), then:

1. render: GET /documents/{id}/review, N times after a warm-up, interleaved with two baselines of the same text:
   [plain] a minimal page this bench adds to the app (same auth, session and base.html; the escaped text only),
   [doc] the existing read-only document page GET /documents/{id} (sentences plus annotation tables);
   target: review page p95 <= 80 ms.
2. decide: POST /documents/{id}/decide as htmx sends it (HX-Request, X-CSRF-Token), each with the version the
   previous answer left in #wb-state, cycling accept relation / accept entity / reject relation / reject entity;
   target: p95 <= 30 ms. Each answer is checked: 200, fragments only, the row in its new state.
   Times are client wall clock for the whole response; "server" is the app's own time (a Server-Timing header
   this bench adds), the rest is HTTP and loopback.
3. browser (--browser, on when /usr/bin/chromium exists): headless Chromium via Playwright signs in, loads the
   review page several times: navigation start until #workbench has data-ready="true" (set by review.js on
   DOMContentLoaded), seen by a MutationObserver installed before the page's scripts; target <= 1 s. Then
   decisions from the keyboard: Escape then j focuses the first item to review (a relation), or a click focuses a
   proposed entity; a or x decides; the time from the keydown event to the DOM update (the row swapped in with
   st-accepted / st-rejected, seen by a MutationObserver); target <= 100 ms.

--profile runs the render and decision paths in this process (TestClient) under cProfile and prints the top
functions, plus a breakdown of the review page: workbench.load, the highlighted text, the item panel.

Run: .venv/bin/python bench/review.py [--quick] [--n 50] [--decisions 100] [--no-browser] [--profile]
(--quick: the same document and steps with fewer repetitions: 10 renders, 20 decisions, 2 warm-ups, 3 browser
loads, 6 browser decisions, unless given.)
"""

import argparse
import contextlib
import cProfile
import io
import os
import platform
import pstats
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, select
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import migrations, templating
from app.auth.csrf import CSRF_FIELD, csrf_token
from app.auth.deps import CurrentUser, Viewer
from app.auth.service import create_user
from app.config import get_settings
from app.db import SessionDep, make_engine, session_scope
from app.document.service import get_document
from app.embedded_broker import EmbeddedRedis
from app.main import create_app
from app.models import (
    Agreement,
    Annotator,
    AnnotatorRun,
    Document,
    DocumentStatus,
    Entity,
    ItemStatus,
    Mention,
    Project,
    Proposal,
    Relation,
    Role,
    RunStatus,
    User,
)
from app.project.presets import ZH_GENERAL
from app.project.service import create_project, label_schema_of
from app.review import pages as review_pages
from app.review import service, workbench
from app.review.commands import parse_command
from app.webtext.dedup import text_hash
from app.webtext.sentences import split_sentences

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/ holds the live-server helpers; it is not an installed package

from tests.live_server import concord_env, free_port  # noqa: E402

RENDER_TARGET_MS = 80.0
DECIDE_TARGET_MS = 30.0
READY_TARGET_MS = 1000.0
UPDATE_TARGET_MS = 100.0
# Repetitions (full run, --quick): the document and every step stay the same, only the samples get fewer.
QUICK_SIZES = {"n": (50, 10), "decisions": (100, 20), "warmup": (5, 2), "loads": (10, 3), "browser_decisions": (20, 6)}
TEXT_LENGTH = 20_000
ENTITIES = 400
MENTIONS_PER_ENTITY = 3
RELATIONS = 800
NESTED = 8  # LOC entities whose mentions sit inside ORG mentions ("绵阳" in "绵阳芯片研究院")
CROSSING = 2  # MISC entities whose mentions cross the end of another mention
REVIEWER = "reviewer"
PASSWORD = "bench review password"  # noqa: S105 - a throwaway database
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PLAIN_TEMPLATE = """{% extends "base.html" %}{% block title %}{{ document.title }}{% endblock %}
{% block content %}<h1>{{ document.title }}</h1><div class="plain-text">{{ document.text }}</div>{% endblock %}"""

# --- The document (pure) ----------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡杜叶程苏魏吕沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞刚英玉萍红鹏辉晓婷雪斌宇浩凯健俊帆旭鑫欣琳颖博晨佳慧瑞思"
CITIES = _words(
    "北京 上海 广州 深圳 杭州 南京 成都 重庆 武汉 西安 天津 苏州 长沙 郑州 青岛 厦门 宁波 合肥 福州 昆明 "
    "哈尔滨 济南 南昌 贵阳 南宁 太原 兰州 海口 珠海 东莞 佛山 无锡 常州 温州 绍兴 嘉兴 台州 金华 泉州 漳州 "
    "烟台 威海 潍坊 临沂 洛阳 开封 襄阳 宜昌 岳阳 株洲 湘潭 桂林 柳州 北海 三亚 遵义 大理 丽江 拉萨 西宁 "
    "银川 呼和浩特 包头 大连 沈阳 长春 吉林 齐齐哈尔 大庆 秦皇岛 保定 邯郸 唐山 石家庄 扬州 镇江 南通 徐州"
)
NESTED_CITIES = _words("绵阳 宜宾 德阳 自贡 泸州 乐山 南充 达州")
ORG_PREFIX = _words("星河 云帆 智言 青禾 光谷 长江 海川 东方 华夏 天际 远山 明德 恒信 鼎新 博远 启明 瑞丰 同创")
INDUSTRY = _words("科技 数据 医药 新材料 芯片 物流 能源 传媒")
ORG_FORM = _words("公司 集团 研究院 有限公司")
EVENTS = _words("人工智能大会 马拉松 博览会 音乐节 论坛 围棋赛 电影节 创业大赛 科技周 读书节")
PRODUCTS = _words("手机 平板 耳机 手表 汽车 机器人 云盘 输入法 键盘 相机")
WORKS = _words("长河落日 春江夜话 山海之间 星光之下 北方的河 远行 风起之时 小城故事 雪落无声 归途")
AWARDS = _words("金鸡奖 茅盾文学奖 鲁迅文学奖 金马奖 飞天奖 华表奖 百花奖 金钟奖 星火奖 青年科学家奖")
FIELDS = _words("人工智能 新能源 芯片 生物医药 物流 数据服务 智能制造 云计算 文化传媒 金融科技")
NUMERALS = "一二三四五六七八九十"
# Surface entities per type (the nested LOC and crossing MISC entities come on top, to 400 in all).
TYPE_COUNTS = {"PER": 130, "ORG": 105, "LOC": 65, "TIME": 30, "EVENT": 20, "PRODUCT": 20, "WORK": 10, "MISC": 10}
TEMPLATES = (
    "{PER}于{TIME}加入{ORG}，负责{field}业务。",
    "{ORG}总部位于{LOC}，近年来在{field}领域发展迅速。",
    "{PER}与{PER}曾是{ORG}的同事。",
    "{PER}出生于{LOC}，后来毕业于{ORG}。",
    "{ORG}在{EVENT}上发布了新产品{PRODUCT}。",
    "{PER}的作品{WORK}获得了{MISC}。",
    "{EVENT}于{TIME}在{LOC}举行，吸引了众多观众。",
    "据{ORG}介绍，{PRODUCT}已在{LOC}上市。",
    "{PER}表示，{ORG}将继续加大在{field}方面的投入。",
    "{LOC}的{ORG}与{ORG}签署了合作协议。",
    "{PER}是{PER}的老师，两人常在{LOC}见面。",
    "记者从{ORG}获悉，{PER}已出任技术负责人。",
    "{PER}参加了{EVENT}，并作了主题发言。",
    "在{LOC}，{PER}创办了{ORG}。",
    "{TIME}，{ORG}宣布收购{ORG}。",
    "{ORG}生产的{PRODUCT}销量持续增长。",
)
SINGLE = "关于{X}的讨论仍在继续。"
FILLERS = (
    "业内人士认为，这一趋势还将持续一段时间。",
    "不少网友在评论区留言点赞👍，话题热度居高不下。",
    "这家𠮷祥小店的招牌菜很受欢迎😀，周末常常排起长队。",
    "专家提醒，相关数据仍需进一步核实。",
    "报道发出后，读者反响热烈🎉。",
    "当地气温回升，街头游客明显增多。",
    "有关部门表示将加强监管，保障市场秩序。",
    "据统计，今年前三季度该行业营收同比增长百分之十二。",
    "记者在现场看到，工作人员正在有序引导人流。",
    "分析人士指出，技术创新仍是行业发展的关键。",
    "𠮷野家风格的快餐店也在附近开了分店。",
    "活动期间，主办方准备了丰富的互动环节👨‍👩‍👧。",
)


@dataclass
class GenEntity:
    type: str
    name: str
    spans: list[tuple[int, int]]
    agreement: str = "agreed"
    status: str = "proposed"


@dataclass
class GenRelation:
    head: int
    tail: int
    type: str
    evidence: list[int]
    agreement: str = "agreed"
    status: str = "proposed"


@dataclass
class Generated:
    text: str
    sentences: list[tuple[int, int]]
    entities: list[GenEntity]
    relations: list[GenRelation]

    def sentence_of(self, offset: int) -> int:
        return next(i for i, (s, e) in enumerate(self.sentences) if s <= offset < e)


def _names(rng: random.Random) -> dict[str, list[str]]:
    """Distinct names per type; a few with 𠮷 or emoji (astral code points: one code point, two UTF-16 units)."""
    taken: set[str] = set(NESTED_CITIES)

    def distinct(n: int, *parts: Callable[[], str]) -> list[str]:
        out: list[str] = []
        while len(out) < n:
            name = "".join(part() for part in parts)
            if name not in taken:
                taken.add(name)
                out.append(name)
        return out

    def pick(words: str | list[str]) -> Callable[[], str]:
        return lambda: rng.choice(words)

    def given() -> str:
        return "".join(rng.choices(GIVEN, k=rng.randint(1, 2)))

    hosts = [c + rng.choice(INDUSTRY) + rng.choice(ORG_FORM) for c in NESTED_CITIES]  # carry the nested LOCs
    n = TYPE_COUNTS
    return {
        "PER": ["𠮷田花子", "𠮷川明", *distinct(n["PER"] - 2, pick(SURNAMES), given)],
        "ORG": hosts + distinct(n["ORG"] - NESTED, pick(ORG_PREFIX), pick(INDUSTRY), pick(ORG_FORM)),
        "LOC": rng.sample(CITIES, n["LOC"]),
        "TIME": distinct(n["TIME"], lambda: f"{rng.randint(1990, 2025)}年{rng.randint(1, 12)}月"),
        "EVENT": distinct(n["EVENT"], lambda: "第", pick(NUMERALS), lambda: "届", pick(CITIES), pick(EVENTS)),
        "PRODUCT": [
            "😀表情键盘",
            "星河🚀火箭模型",
            *distinct(n["PRODUCT"] - 2, pick(ORG_PREFIX), pick("XYZ"), lambda: str(rng.randint(1, 99)), pick(PRODUCTS)),
        ],
        "WORK": list(WORKS[: n["WORK"]]),
        "MISC": list(AWARDS[: n["MISC"]]),
    }


def _slots(template: str) -> list[str]:
    return [s for s in re.findall(r"\{(\w+)\}", template) if s != "field"]


def generate(seed: int) -> Generated:
    """The benchmark document: text, sentences, 400 entities with 3 mentions each, 800 relations."""
    rng = random.Random(seed)
    names = _names(rng)
    entities = [GenEntity(t, name, []) for t, ns in names.items() for name in ns]
    pools: dict[str, list[int]] = {t: [] for t in TYPE_COUNTS}
    for i, e in enumerate(entities):
        pools[e.type].extend([i] * MENTIONS_PER_ENTITY)
    for pool in pools.values():
        rng.shuffle(pool)

    # Sentences with mentions: templates whose slots the pools can still fill; the fullest type goes first.
    pieces: list[tuple[str, list[tuple[int, int, int]]]] = []  # (sentence, [(entity, local start, local end)])
    while any(pools.values()):
        need_type = max(pools, key=lambda t: len(pools[t]))
        fitting = [
            t
            for t in TEMPLATES
            if need_type in _slots(t) and all(len(pools[k]) >= n for k, n in Counter(_slots(t)).items())
        ]
        template = rng.choice(fitting) if fitting else SINGLE.replace("X", need_type)
        sentence, spans, used = "", [], set()
        for literal, slot in re.findall(r"([^{]*)(?:\{(\w+)\})?", template):
            sentence += literal
            if not slot:
                continue
            if slot == "field":
                sentence += rng.choice(FIELDS)
                continue
            pool = pools[slot]
            pick = next((k for k in range(len(pool) - 1, -1, -1) if pool[k] not in used), len(pool) - 1)
            entity = pool.pop(pick)
            used.add(entity)
            spans.append((entity, len(sentence), len(sentence) + len(entities[entity].name)))
            sentence += entities[entity].name
        pieces.append((sentence, spans))

    # Filler sentences (no mentions) up to the length, and paragraph breaks every few sentences.
    length = sum(len(s) for s, _ in pieces)
    while length < TEXT_LENGTH - 20:
        filler = rng.choice(FILLERS)
        pieces.insert(rng.randint(0, len(pieces)), (filler, []))
        length += len(filler)
    text_parts: list[str] = []
    cursor = 0
    for k, (sentence, spans) in enumerate(pieces):
        if k and rng.random() < 0.12:
            text_parts.append("\n")
            cursor += 1
        for entity, s, e in spans:
            entities[entity].spans.append((cursor + s, cursor + e))
        text_parts.append(sentence)
        cursor += len(sentence)
    text = "".join(text_parts)
    doc = Generated(text, split_sentences(text), entities, [])

    # Nested: each of the first NESTED ORGs carries a LOC at the start of its mentions; crossing: a MISC over the
    # last character of a mention and the next one.
    for k, city in enumerate(NESTED_CITIES[:NESTED]):
        host = entities[len(names["PER"]) + k]
        assert host.name.startswith(city)
        entities.append(GenEntity("LOC", city, [(s, s + len(city)) for s, _ in host.spans]))
    for k in range(CROSSING):
        host = entities[k * 7]
        spans = [(e - 1, e + 1) for _, e in host.spans]
        entities.append(GenEntity("MISC", text[spans[0][0] : spans[0][1]], spans))
    assert len(entities) == ENTITIES, len(entities)
    for e in entities:
        for s, end in e.spans:
            i = doc.sentence_of(s)
            assert end <= doc.sentences[i][1], f"mention {e.name} at {s} crosses a sentence end"
            assert text[s:end] == e.name or e.type == "MISC", (e.name, text[s:end])

    # Agreement and status: entities first; a relation touching a rejected entity is rejected too.
    for e in entities:
        e.agreement = rng.choices(["agreed", "a_only", "b_only", "type_conflict"], [55, 18, 18, 9])[0]
        e.status = rng.choices(["proposed", "accepted", "rejected"], [70, 20, 10])[0]
    doc.relations = _relations(rng, doc)
    return doc


def _relations(rng: random.Random, doc: Generated) -> list[GenRelation]:
    by_type: dict[str, list[int]] = {}
    for i, e in enumerate(doc.entities):
        by_type.setdefault(e.type, []).append(i)
    kinds = [
        (rt["code"], [i for t in rt["head_types"] for i in by_type.get(t, [])], rt["tail_types"])
        for rt in ZH_GENERAL["relation_types"]
    ]
    kinds = [(code, heads, [i for t in tails for i in by_type.get(t, [])]) for code, heads, tails in kinds]
    kinds = [k for k in kinds if k[1] and k[2]]
    weights = [min(len(h) * len(t), 4000) for _, h, t in kinds]
    seen: set[tuple[int, int, str]] = set()
    out: list[GenRelation] = []
    while len(out) < RELATIONS:
        code, heads, tails = rng.choices(kinds, weights)[0]
        h, t = rng.choice(heads), rng.choice(tails)
        if h == t or (h, t, code) in seen:
            continue
        seen.add((h, t, code))
        head, tail = doc.entities[h], doc.entities[t]
        hs = doc.sentence_of(rng.choice(head.spans)[0])
        ts = min((doc.sentence_of(s) for s, _ in tail.spans), key=lambda x: abs(x - hs))
        agreement = rng.choices(["agreed", "a_only", "b_only", "augmented"], [40, 20, 20, 20])[0]
        status = rng.choices(["proposed", "accepted", "rejected"], [70, 20, 10])[0]
        if "rejected" in (head.status, tail.status):
            status = "rejected"
        out.append(GenRelation(h, t, code, sorted({hs, ts}), agreement, status))
    return out


# --- Database -----------------------------------------------------------------------------------------------------


@dataclass
class Stored:
    document_id: int
    proposed_entities: list[int]
    proposed_relations: list[int]


def store(session: Session, *, project: Project, annotators: dict[str, int], doc: Generated, title: str) -> Stored:
    """One copy of the document with its items, annotator runs and proposals; committed."""
    document = Document(
        project_id=project.id or 0,
        title=title,
        url="https://news.example.cn/2026/review-bench.html",
        language="zh",
        script="hans",
        text=doc.text,
        sentences=[list(s) for s in doc.sentences],
        text_hash=text_hash(doc.text + title),
        status=DocumentStatus.annotated,
    )
    session.add(document)
    session.flush()
    doc_id = document.id or 0
    runs = {
        role: AnnotatorRun(document_id=doc_id, annotator_id=aid, prompt_version="v1", status=RunStatus.done)
        for role, aid in annotators.items()
    }
    session.add_all(runs.values())
    entities = [
        Entity(
            document_id=doc_id,
            type=e.type,
            name=e.name,
            agreement=Agreement(e.agreement),
            status=ItemStatus(e.status),
            grounded=True,
        )
        for e in doc.entities
    ]
    session.add_all(entities)
    session.flush()
    session.add_all(
        [
            Mention(
                entity_id=row.id or 0,
                document_id=doc_id,
                start=s,
                end=end,
                text=doc.text[s:end],
                sentence_id=doc.sentence_of(s),
                status=ItemStatus(e.status),
            )
            for e, row in zip(doc.entities, entities, strict=True)
            for s, end in e.spans
        ]
    )
    relations = [
        Relation(
            document_id=doc_id,
            head_id=entities[r.head].id or 0,
            tail_id=entities[r.tail].id or 0,
            type=r.type,
            evidence=r.evidence,
            agreement=Agreement(r.agreement),
            status=ItemStatus(r.status),
        )
        for r in doc.relations
    ]
    session.add_all(relations)
    session.flush()
    other_type = {"PER": "ORG", "ORG": "LOC", "LOC": "ORG"}
    who = {"agreed": "AB", "type_conflict": "AB", "a_only": "A", "b_only": "B", "augmented": "A"}
    proposals = []
    items: list[tuple[str, GenEntity | GenRelation, Entity | Relation]] = [
        *(("entity", g, row) for g, row in zip(doc.entities, entities, strict=True)),
        *(("relation", g, row) for g, row in zip(doc.relations, relations, strict=True)),
    ]
    for kind, g, row in items:
        for role in who[g.agreement]:
            proposed = other_type.get(g.type, "MISC") if g.agreement == "type_conflict" and role == "B" else g.type
            proposals.append(
                Proposal(
                    run_id=runs[role].id or 0,
                    item_kind=kind,
                    item_id=row.id or 0,
                    proposed_type=proposed,
                    augmentation=g.agreement == "augmented",
                )
            )
        if g.agreement == "augmented" and (row.id or 0) % 2:  # B verified half of A's augmented relations
            proposals.append(
                Proposal(run_id=runs["B"].id or 0, item_kind=kind, item_id=row.id or 0, payload={"vote": True})
            )
    session.add_all(proposals)
    session.commit()
    return Stored(
        doc_id,
        [row.id or 0 for g, row in zip(doc.entities, entities, strict=True) if g.status == "proposed"],
        [row.id or 0 for g, row in zip(doc.relations, relations, strict=True) if g.status == "proposed"],
    )


def setup_database(doc: Generated, copies: list[str]) -> dict[str, Stored]:
    """Migrate; the project, the reviewer, annotators A and B, and one stored document per copy."""
    settings = get_settings()
    migrations.upgrade(settings.sqlalchemy_url)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            project = create_project(s, name="评审基准 review bench", preset="zh-general")
            create_user(s, username=REVIEWER, role=Role.reviewer, password=PASSWORD)
            annotators = {
                role: Annotator(
                    project_id=project.id or 0, name=name, provider="builtin:lexicon", parameters={"role": role}
                )
                for role, name in (("A", "model-a"), ("B", "model-b"))
            }
            s.add_all(annotators.values())
            s.commit()
            ids = {role: a.id or 0 for role, a in annotators.items()}
            return {
                copy: store(s, project=project, annotators=ids, doc=doc, title=f"长文评审基准（{copy}）𠮷😀")
                for copy in copies
            }
    finally:
        engine.dispose()


# --- The server (child process) -------------------------------------------------------------------------------


class ServerTiming:
    """The app's own time per request (ASGI call to response start, after the session commit), as Server-Timing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - started) * 1000
                MutableHeaders(scope=message).append("server-timing", f"app;dur={ms:.2f}")
            await send(message)

        await self.app(scope, receive, timed)


def bench_app() -> FastAPI:
    """The app `concord serve` runs, plus the plain baseline page and the Server-Timing header."""
    app = create_app()
    plain = templating.env.from_string(PLAIN_TEMPLATE)

    @app.get("/bench/plain/{document_id}", response_class=HTMLResponse, include_in_schema=False)
    def plain_page(request: Request, document_id: int, session: SessionDep, _user: CurrentUser) -> Response:
        document = get_document(session, document_id)
        html = plain.render(
            request=request,
            user=getattr(request.state, "user", None),
            csrf_token=csrf_token(request),
            csrf_field=CSRF_FIELD,
            flash=None,
            document=document,
        )
        return HTMLResponse(html)

    app.add_middleware(ServerTiming)
    return app


def serve(port: int, core: int | None) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})
    uvicorn.run(bench_app(), host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


class Server:
    """This script with --serve in a child process: uvicorn, one worker, pinned to one core."""

    def __init__(self, env: dict[str, str], core: int | None, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [sys.executable, __file__, "--serve", str(self.port)]
        if core is not None:
            command += ["--core", str(core)]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{log.read_text(errors='replace')}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start:\n{log.read_text(errors='replace')}")

    def cpu_ns(self) -> int:
        """CPU time of all the server's threads so far (schedstat: nanoseconds, not clock ticks)."""
        total = 0
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread that just ended
                total += int((task / "schedstat").read_text().split()[0])
        return total

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: only this server
            self.process.wait()


# --- HTTP measurements (this process, keep-alive) ---------------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
VERSION_RE = re.compile(r'id="wb-state"[^>]*\bdata-version="(\d+)"')
TIMING_RE = re.compile(r"app;dur=([0-9.]+)")
# One decision per step, cycling: accepting a relation accepts its arguments, rejecting an entity its relations.
PLAN = (("relation", "accept"), ("entity", "accept"), ("relation", "reject"), ("entity", "reject"))


@dataclass
class Timings:
    wall: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)
    size: list[int] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, started: float, response: httpx.Response, kind: str = "", cpu_ns: int = 0) -> None:
        self.wall.append((time.perf_counter() - started) * 1000)
        self.cpu.append(cpu_ns / 1e6)
        match = TIMING_RE.search(response.headers.get("server-timing", ""))
        self.server.append(float(match.group(1)) if match else float("nan"))
        self.size.append(len(response.content))
        self.kind.append(kind)


def pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    if not match:
        raise RuntimeError("page has no CSRF field")
    return match.group(1)


def sign_in(client: Any) -> None:
    """Through the form, like a browser: the login page sets the CSRF cookie, the post the session cookie."""
    page = client.get("/login")
    data = {"username": REVIEWER, "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "/projects"}
    r = client.post("/login", data=data, follow_redirects=False)
    if r.status_code != 303 or "/login" in r.headers.get("location", ""):
        raise RuntimeError(f"sign-in failed: {r.status_code} {r.text[:300]}")


def measure_render(
    client: httpx.Client, doc_id: int, n: int, warmup: int, cpu: Callable[[], int]
) -> dict[str, Timings]:
    """The review page and both baselines, interleaved (rotating order) so that they share the machine's state."""
    paths = {"review": f"/documents/{doc_id}/review", "plain": f"/bench/plain/{doc_id}", "doc": f"/documents/{doc_id}"}
    first = client.get(paths["review"])
    if first.status_code != 200 or 'id="workbench"' not in first.text:
        raise RuntimeError(f"review page: {first.status_code} {first.text[:300]}")
    rows = len(re.findall(r'<div class="item (?:ent|rel) ', first.text))
    if rows != ENTITIES + RELATIONS:
        raise RuntimeError(f"review page shows {rows} rows, expected {ENTITIES + RELATIONS}")
    for _ in range(warmup):
        for path in paths.values():
            client.get(path)
    out = {k: Timings() for k in paths}
    names = list(paths)
    for i in range(n):
        for k in names[i % 3 :] + names[: i % 3]:
            before = cpu()
            started = time.perf_counter()
            r = client.get(paths[k])
            out[k].add(started, r, cpu_ns=cpu() - before)
            if r.status_code != 200:
                raise RuntimeError(f"{paths[k]}: {r.status_code}")
    return out


def measure_decisions(client: httpx.Client, stored: Stored, n: int, warmup: int, cpu: Callable[[], int]) -> Timings:
    """Decisions as htmx posts them, each on the version the previous answer carried; every answer checked."""
    doc_id = stored.document_id
    html = client.get(f"/documents/{doc_id}/review").text
    headers = {
        "HX-Request": "true",
        "HX-Target": "wb-state",
        "HX-Current-URL": f"{client.base_url}documents/{doc_id}/review",
        "X-CSRF-Token": csrf_of(html),
    }
    match = VERSION_RE.search(html)
    assert match, "no data-version on #wb-state"
    version = int(match.group(1))
    queues = {"relation": iter(stored.proposed_relations), "entity": iter(stored.proposed_entities)}
    out = Timings()
    for i in range(warmup + n):
        item, action = PLAN[i % len(PLAN)]
        item_id = next(queues[item])
        data = {"item": item, "id": str(item_id), "action": action, "version": str(version)}
        before = cpu()
        started = time.perf_counter()
        r = client.post(f"/documents/{doc_id}/decide", data=data, headers=headers)
        if i >= warmup:
            out.add(started, r, f"{action} {item}", cpu() - before)
        if r.status_code != 200:
            raise RuntimeError(f"decision {data}: {r.status_code} {r.text[:500]}")
        row = rf'class="item {item[:3]} st-{action}ed[^"]*" id="{item[0]}-{item_id}"'
        if "<html" in r.text or 'id="wb-main"' in r.text or not re.search(row, r.text):
            raise RuntimeError(f"decision {data}: not the expected fragments:\n{r.text[:800]}")
        match = VERSION_RE.search(r.text)
        assert match, "no data-version in the answer"
        version = int(match.group(1))
    return out


# --- Browser ------------------------------------------------------------------------------------------------------

# Installed before any script of each page: when review.js marks #workbench ready, note the time, and the time
# the first frame after it was painted (a task queued from requestAnimationFrame runs after that frame).
INIT_SCRIPT = """
(() => {
  const after_paint = (done) => requestAnimationFrame(() => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => done(performance.now());
    ch.port2.postMessage(null);
  });
  const observer = new MutationObserver(() => {
    const wb = document.getElementById("workbench");
    if (wb && wb.dataset.ready === "true" && window.__readyAt === undefined) {
      window.__readyAt = performance.now();
      observer.disconnect();
      after_paint((t) => { window.__paintedAt = t; });
    }
  });
  observer.observe(document, { subtree: true, attributes: true, attributeFilter: ["data-ready"] });
})();
"""
LOAD_METRICS = """() => {
  const n = performance.getEntriesByType("navigation")[0];
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  return { ready: window.__readyAt, painted: window.__paintedAt, ttfb: n.responseStart, response: n.responseEnd,
           dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd, fcp: fcp ? fcp.startTime : null,
           bytes: n.decodedBodySize, nodes: document.getElementsByTagName("*").length };
}"""
# Before a key press: the keydown's own timestamp, the moment the focused row is swapped in with its new state
# (MutationObserver), htmx's settle, and the paint after the swap.
ARM_DECISION = """([id, cls]) => {
  performance.clearResourceTimings();
  const d = (window.__d = { t0: null, t1: null, settled: null, painted: null });
  window.addEventListener("keydown", (e) => { if (d.t0 === null) d.t0 = e.timeStamp; }, { capture: true, once: true });
  const observer = new MutationObserver(() => {
    const el = document.getElementById(id);
    if (d.t1 === null && el && el.classList.contains(cls)) {
      d.t1 = performance.now();
      observer.disconnect();
      requestAnimationFrame(() => {
        const ch = new MessageChannel();
        ch.port1.onmessage = () => { d.painted = performance.now(); };
        ch.port2.postMessage(null);
      });
    }
  });
  observer.observe(document.getElementById("wb-main"), { subtree: true, childList: true, attributes: true,
                                                        attributeFilter: ["class"] });
  document.body.addEventListener("htmx:afterSettle", () => { if (d.settled === null) d.settled = performance.now(); },
                                 { once: true });
}"""
# The decision's request as Resource Timing saw it, with the Server-Timing the bench server adds.
REQUEST_TIMING = """() => {
  const r = performance.getEntriesByType("resource").filter((e) => e.name.includes("/decide")).pop();
  return r ? { start: r.startTime, end: r.responseEnd,
               server: r.serverTiming.length ? r.serverTiming[0].duration : null } : null;
}"""
FOCUSED = "() => { const el = document.querySelector('#wb-panel .item.focused'); return el ? el.id : null; }"
IDLE = "() => !document.querySelector('.htmx-request') && window.__d && window.__d.painted !== null"


@dataclass
class BrowserResult:
    cold: dict[str, float]
    loads: list[dict[str, float]]
    decisions: list[dict[str, Any]]
    errors: list[str]


def browser_phase(base_url: str, stored: Stored, loads: int, decisions: int) -> BrowserResult:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800}, locale="zh-CN")
            ctx.set_default_timeout(30_000)
            ctx.add_init_script(INIT_SCRIPT)
            page = ctx.new_page()
            page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.goto("/login")
            page.get_by_label("Username").fill(REVIEWER)
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/projects")
            path = f"/documents/{stored.document_id}/review"
            measured = []
            for _ in range(loads + 1):  # the first load is the cold one (no cached scripts or stylesheets)
                page.goto(path, wait_until="load")
                page.wait_for_function("window.__paintedAt !== undefined")
                measured.append(page.evaluate(LOAD_METRICS))
            timed = _browser_decisions(page, stored, decisions)
        finally:
            browser.close()
    return BrowserResult(measured[0], measured[1:], timed, errors)


def _browser_decisions(page: Any, stored: Stored, n: int) -> list[dict[str, Any]]:
    """Keyboard decisions: Escape, j (first item to review: a relation), a/x; or a click on an entity, a/x."""
    entities = iter(stored.proposed_entities)
    out = []
    for i in range(n):
        item, action = PLAN[i % len(PLAN)]
        if item == "relation":
            page.keyboard.press("Escape")
            page.keyboard.press("j")
        else:
            eid = next(
                e
                for e in entities
                if page.evaluate(f"document.getElementById('e-{e}').classList.contains('st-proposed')")
            )
            page.click(f"#e-{eid} .chip")
        row = page.evaluate(FOCUSED)
        if not row or row[0] != item[0]:
            raise RuntimeError(f"decision {i}: focused {row!r}, expected a {item}")
        page.evaluate(ARM_DECISION, [row, f"st-{action}ed"])
        page.keyboard.press("a" if action == "accept" else "x")
        page.wait_for_function(IDLE)
        d = page.evaluate("window.__d")
        req = page.evaluate(REQUEST_TIMING) or {"start": d["t0"], "end": d["t0"], "server": None}
        out.append(
            {
                "kind": f"{action} {item}",
                "update": d["t1"] - d["t0"],
                "painted": d["painted"] - d["t0"],
                "before_send": req["start"] - d["t0"],
                "request": req["end"] - req["start"],
                "server": req["server"] or 0.0,
                "after_response": d["t1"] - req["end"],
            }
        )
        page.wait_for_timeout(30)  # let review.js move the focus on
    return out


# --- Profile (in process) ---------------------------------------------------------------------------------------


def _top(profile: cProfile.Profile, sort: str, limit: int) -> Iterator[str]:
    buffer = io.StringIO()
    pstats.Stats(profile, stream=buffer).sort_stats(sort).print_stats(limit)
    lines = buffer.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    site = str(Path(httpx.__file__).parents[1]) + "/"
    for line in lines[start:]:
        if line.strip():
            yield line.replace(site, "").replace(str(ROOT) + "/", "").replace(sys.base_prefix + "/lib/", "")


def _ms(fn: Callable[[], object], repeat: int = 10) -> float:
    """CPU milliseconds of this thread (the best of `repeat`): steadier than wall time on a busy machine."""
    times = []
    for _ in range(repeat):
        started = time.thread_time()
        fn()
        times.append((time.thread_time() - started) * 1000)
    return min(times)


def _request(path: str, method: str = "GET") -> Request:
    """A request as the routes see it after the auth dependency; the CSRF cookie is fixed."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(b"cookie", b"concord_csrf=" + b"n" * 43), (b"hx-request", b"true")],
        "state": {},
    }
    return Request(scope)


def profile(stored: Stored, n: int) -> Iterator[str]:
    """The review page and decisions called directly in this thread (the route bodies, one session each, as a
    request has) under cProfile; a breakdown of the page and of a decision."""
    doc_id = stored.document_id
    engine = make_engine(get_settings().sqlalchemy_url)
    with Session(engine) as s:
        document = s.get(Document, doc_id)
        assert document is not None
        project = s.get(Project, document.project_id)
        assert project is not None
        schema = label_schema_of(project)
        items = templating.env.get_template("review/_items.html").module
        wb = workbench.load(s, document=document, schema=schema)
        page_ctx = {
            "project": project,
            "schema": schema,
            "wb": wb,
            "document": document,
            "holder": None,
            "can_act": True,
            "annotators": [],
        }
        parts = {
            "workbench.load (queries, views)": _ms(lambda: workbench.load(s, document=document, schema=schema)),
            "wb.text_html() (highlighted text)": _ms(wb.text_html),
            "panel macro (1,200 rows)": _ms(lambda: items.panel(wb, True)),  # type: ignore[attr-defined]
            "  relation rows (rows.py)": _ms(wb.relation_rows),
            "  entity rows (rows.py)": _ms(lambda: wb.entity_rows(wb.ordered_entities())),
            "whole page template": _ms(
                lambda: templating.env.get_template("review/workbench.html").render(
                    {
                        **page_ctx,
                        "request": _request(f"/documents/{doc_id}/review"),
                        "user": None,
                        "csrf_token": "x",
                        "csrf_field": "csrf_token",
                        "flash": None,
                    }
                )
            ),
            "  relation_key, all rows": _ms(lambda: [wb.relation_key(r) for r in wb.relations]),
            "  entity_key, all rows": _ms(lambda: [wb.entity_key(e) for e in wb.entities.values()]),
            "  allowed_types, all rows": _ms(lambda: [wb.allowed_types(r) for r in wb.relations]),
            "  distance, all rows": _ms(lambda: [r.distance for r in wb.relations]),
        }
        user = s.exec(select(User).where(User.username == REVIEWER)).one()
        user_id = user.id
    yield "breakdown of the review page, in process (best of 10, CPU ms):"
    for name, ms in parts.items():
        yield f"  {name:<40} {ms:7.1f}"

    path = f"/documents/{doc_id}/review"
    request = _request(path)

    def page() -> None:
        with session_scope(engine) as s:
            viewer = s.get(User, user_id)
            assert viewer is not None
            request.state.user = Viewer.of(viewer)
            review_pages.review_document(request, doc_id, s, viewer)

    for _ in range(2):
        page()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        page()
    prof.disable()
    yield f"cProfile: review_document (GET {path}) x {n}, by own time"
    yield from _top(prof, "tottime", 25)
    yield f"cProfile: review_document (GET {path}) x {n}, by cumulative time"
    yield from _top(prof, "cumulative", 45)

    queues = {"relation": iter(stored.proposed_relations), "entity": iter(stored.proposed_entities)}
    post = _request(f"/documents/{doc_id}/decide", "POST")
    split: dict[str, list[float]] = {"service.decide": [], "_update (context + fragments)": [], "commit": []}
    prof = cProfile.Profile()
    for i in range(2 * n + 2):
        item, action = PLAN[i % len(PLAN)]
        item_id = next(queues[item])
        with Session(engine, expire_on_commit=False) as s:
            if i >= 2:
                prof.enable()
            t0 = time.perf_counter()
            viewer = s.get(User, user_id)
            document = get_document(s, doc_id)
            assert viewer is not None
            post.state.user = Viewer.of(viewer)
            outcome = service.decide(
                s,
                document=document,
                user=viewer,
                command=parse_command({"item": item, "id": item_id, "action": action, "version": document.version}),
            )
            t1 = time.perf_counter()
            review_pages._update(post, s, outcome.document, viewer, outcome, action)
            t2 = time.perf_counter()
            s.commit()
            t3 = time.perf_counter()
            prof.disable()
            if i >= 2:
                for key, ms in zip(split, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                    split[key].append(ms * 1000)
    engine.dispose()
    yield f"decision, in process (p50 of {2 * n}, ms): " + ", ".join(
        f"{k} {statistics.median(v):.1f}" for k, v in split.items()
    )
    yield f"cProfile: decisions (service.decide, pages._update, commit) x {2 * n}, by own time"
    yield from _top(prof, "tottime", 25)
    yield f"cProfile: decisions x {2 * n}, by cumulative time"
    yield from _top(prof, "cumulative", 45)


# --- Report -------------------------------------------------------------------------------------------------------


def _row(name: str, p50: str, p95: str, baseline: str, target: str, verdict: str) -> str:
    return f"{name:<42} {p50:>8} {p95:>8}  {baseline:<34} {target:>9}  {verdict}"


def _f(x: float) -> str:
    return f"{x:.1f}"


def report(render: dict[str, Timings], decide: Timings, br: BrowserResult | None) -> Iterator[str]:
    review, plain, docpage = render["review"], render["plain"], render["doc"]
    base = f"plain {_f(pct(plain.wall, 50))}/{_f(pct(plain.wall, 95))}, "
    base += f"doc {_f(pct(docpage.wall, 50))}/{_f(pct(docpage.wall, 95))}"
    yield ""
    yield (
        "details, ms p50 / p95 (max): wall = client round trip; app = the app's own time (Server-Timing); "
        "CPU = the server process's CPU time (all threads) during the request; size of the answer"
    )
    for name, t in (("review page", review), ("plain page", plain), ("document page", docpage), ("decision", decide)):
        yield (
            f"  {name:<16} wall {_f(pct(t.wall, 50))} / {_f(pct(t.wall, 95))} ({_f(max(t.wall))}); app "
            f"{_f(pct(t.server, 50))} / {_f(pct(t.server, 95))}; CPU {_f(pct(t.cpu, 50))} / {_f(pct(t.cpu, 95))}; "
            f"{statistics.median(t.size) / 1024:.1f} KiB"
        )
    for kind in dict.fromkeys(decide.kind):
        mine = [k == kind for k in decide.kind]
        wall = [w for w, m in zip(decide.wall, mine, strict=True) if m]
        cpu = [c for c, m in zip(decide.cpu, mine, strict=True) if m]
        size = [s for s, m in zip(decide.size, mine, strict=True) if m]
        yield (
            f"    {kind:<16} wall {_f(pct(wall, 50))} / {_f(pct(wall, 95))}; CPU {_f(pct(cpu, 50))} / "
            f"{_f(pct(cpu, 95))}; {statistics.median(size) / 1024:.1f} KiB"
        )
    if br is not None:
        keys = ("ttfb", "response", "dcl", "ready", "painted", "load", "fcp")
        yield "  browser load, cold: " + ", ".join(f"{k} {br.cold[k]:.0f}" for k in keys if br.cold.get(k) is not None)
        for k in keys:
            values = [m[k] for m in br.loads if m.get(k) is not None]
            if values:
                yield f"    {k:<9} p50 {pct(values, 50):6.0f}  p95 {pct(values, 95):6.0f}  (navigation start → {k})"
        yield f"    page: {br.cold['bytes'] / 1024:.0f} KiB of HTML, {br.cold['nodes']} elements"
        yield (
            "  browser decisions, p50: key → update = before send + request (app inside it) + after response "
            "(htmx swap, 20 ms settle, review.js); → painted"
        )
        for kind in dict.fromkeys(d["kind"] for d in br.decisions):
            rows = [d for d in br.decisions if d["kind"] == kind]

            def p50(key: str, rows: list[dict[str, Any]] = rows) -> str:
                return f"{pct([d[key] for d in rows], 50):.0f}"

            yield (
                f"    {kind:<16} key → update {p50('update')} = {p50('before_send')} + {p50('request')} "
                f"(app {p50('server')}) + {p50('after_response')}; → painted {p50('painted')}"
            )
        yield f"    script errors: {len(br.errors)}" + (f" ({br.errors[:3]})" if br.errors else "")
    yield ""
    yield _row("measure (ms)", "p50", "p95", "baseline p50/p95 (same run)", "target", "result")
    yield "-" * 122
    p95 = pct(review.wall, 95)
    yield _row(
        "review page render (HTTP, 1 core)",
        _f(pct(review.wall, 50)),
        _f(p95),
        base,
        f"p95≤{RENDER_TARGET_MS:.0f}",
        "PASS" if p95 <= RENDER_TARGET_MS else "FAIL",
    )
    yield _row(
        "  its server CPU time (no run-queue wait)",
        _f(pct(review.cpu, 50)),
        _f(pct(review.cpu, 95)),
        f"plain {_f(pct(plain.cpu, 50))}/{_f(pct(plain.cpu, 95))}, doc {_f(pct(docpage.cpu, 50))}/"
        f"{_f(pct(docpage.cpu, 95))}",
        f"p95≤{RENDER_TARGET_MS:.0f}",
        "(info) " + ("PASS" if pct(review.cpu, 95) <= RENDER_TARGET_MS else "FAIL"),
    )
    p95 = pct(decide.wall, 95)
    yield _row(
        "decision round trip (HTTP, 1 core)",
        _f(pct(decide.wall, 50)),
        _f(p95),
        f"plain page {_f(pct(plain.wall, 50))}/{_f(pct(plain.wall, 95))}",
        f"p95≤{DECIDE_TARGET_MS:.0f}",
        "PASS" if p95 <= DECIDE_TARGET_MS else "FAIL",
    )
    yield _row(
        "  its server CPU time (no run-queue wait)",
        _f(pct(decide.cpu, 50)),
        _f(pct(decide.cpu, 95)),
        f"plain page {_f(pct(plain.cpu, 50))}/{_f(pct(plain.cpu, 95))}",
        f"p95≤{DECIDE_TARGET_MS:.0f}",
        "(info) " + ("PASS" if pct(decide.cpu, 95) <= DECIDE_TARGET_MS else "FAIL"),
    )
    if br is not None:
        ready = [m["ready"] for m in br.loads]
        yield _row(
            "browser: navigation → workbench ready",
            f"{pct(ready, 50):.0f}",
            f"{pct(ready, 95):.0f}",
            f"cold {br.cold['ready']:.0f}; painted p50 {pct([m['painted'] for m in br.loads], 50):.0f}",
            f"≤{READY_TARGET_MS:.0f}",
            "PASS" if pct(ready, 95) <= READY_TARGET_MS else "FAIL",
        )
        update = [d["update"] for d in br.decisions]
        painted = [d["painted"] for d in br.decisions]
        yield _row(
            "browser: keypress → view updated",
            f"{pct(update, 50):.0f}",
            f"{pct(update, 95):.0f}",
            f"to paint p50/p95 {pct(painted, 50):.0f}/{pct(painted, 95):.0f}",
            f"≤{UPDATE_TARGET_MS:.0f}",
            "PASS" if pct(update, 95) <= UPDATE_TARGET_MS else "FAIL",
        )


# --- Main ---------------------------------------------------------------------------------------------------------


def _code_versions() -> dict[Path, int]:
    """Modification times of the code the server runs: others may be editing it during the run."""
    return {
        f: f.stat().st_mtime_ns
        for d in ("app", "templates", "static/js")
        for f in (ROOT / d).rglob("*")
        if f.is_file() and f.suffix in {".py", ".html", ".js"}
    }


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def describe(doc: Generated) -> str:
    mentions = sum(len(e.spans) for e in doc.entities)
    astral = sum(1 for c in doc.text if ord(c) > 0xFFFF)
    agreements = Counter(r.agreement for r in doc.relations)
    statuses = Counter(e.status for e in doc.entities) + Counter(r.status for r in doc.relations)
    return (
        f"document: {len(doc.text)} characters ({astral} astral: 𠮷, emoji), {len(doc.sentences)} sentences, "
        f"{doc.text.count(chr(10)) + 1} paragraphs; {len(doc.entities)} entities ({NESTED} nested, {CROSSING} "
        f"crossing), {mentions} mentions, {len(doc.relations)} relations "
        f"({', '.join(f'{k} {v}' for k, v in agreements.most_common())}); items "
        f"{', '.join(f'{k} {v}' for k, v in statuses.most_common())}"
    )


def run(args: argparse.Namespace, workdir: Path) -> None:
    cores = sorted(os.sched_getaffinity(0))
    server_core = cores[-1]
    os.sched_setaffinity(0, set(cores[:-1] or cores))  # this process, Redis and Chromium: the other cores
    env = concord_env(workdir / "data", LOG_LEVEL="warning")
    os.environ.clear()
    os.environ.update(env)
    get_settings.cache_clear()
    settings = get_settings()
    settings.data_dir.mkdir(parents=True)
    started = time.perf_counter()
    doc = generate(args.seed)
    copies = setup_database(doc, ["http", "browser", "profile"])
    print(describe(doc))
    print(f"stored 3 copies in {time.perf_counter() - started:.1f} s; SQLite {settings.sqlalchemy_url}", flush=True)
    if args.profile_only:
        for line in profile(copies["profile"], args.profile_n):
            print(line, flush=True)
        return
    broker = EmbeddedRedis(settings)  # sign-in throttling needs Redis, as under `concord serve`
    broker.start()
    server = None
    try:
        server = Server(env, server_core, workdir / "server.log")
        print(
            f"server: uvicorn, 1 worker, pid {server.process.pid} pinned to CPU {server_core}; client and "
            f"browser on CPU {','.join(map(str, cores[:-1] or cores))}",
            flush=True,
        )
        with httpx.Client(base_url=server.url, timeout=60) as client:
            sign_in(client)
            render = measure_render(client, copies["http"].document_id, args.n, args.warmup, server.cpu_ns)
            print(f"render: {args.n} x 3 pages measured", flush=True)
            decide = measure_decisions(client, copies["http"], args.decisions, args.warmup, server.cpu_ns)
            print(f"decisions: {args.decisions} measured", flush=True)
        br = None
        if args.browser:
            br = browser_phase(server.url, copies["browser"], args.loads, args.browser_decisions)
            print(f"browser: {args.loads} loads, {args.browser_decisions} decisions measured", flush=True)
        for line in report(render, decide, br):
            print(line, flush=True)
        if args.profile:
            print()
            for line in profile(copies["profile"], args.profile_n):
                print(line, flush=True)
    finally:
        if server is not None:
            server.stop()
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions of every step (see above)")
    parser.add_argument("--n", type=int, default=None, help="page renders per page (default 50; quick 10)")
    parser.add_argument("--decisions", type=int, default=None, help="decision round trips (default 100; quick 20)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed requests of each kind (default 5; quick 2)")
    parser.add_argument(
        "--browser",
        action=argparse.BooleanOptionalAction,
        default=Path(CHROMIUM).is_file(),
        help=f"headless Chromium part (default: on when {CHROMIUM} exists)",
    )
    parser.add_argument("--loads", type=int, default=None, help="page loads after a cold one (default 10; quick 3)")
    parser.add_argument("--browser-decisions", type=int, default=None, help="browser decisions (default 20; quick 6)")
    parser.add_argument("--profile", action="store_true", help="cProfile the render and decision paths in process")
    parser.add_argument("--profile-only", action="store_true", help="only the profile: no server, no browser")
    parser.add_argument("--profile-n", type=int, default=10, help="profiled page renders; twice as many decisions")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the data dir and server log")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--core", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name, (full, quick) in QUICK_SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.serve:
        serve(args.serve, args.core)
        return
    workdir = Path(tempfile.mkdtemp(prefix="concord-bench-review-"))
    started = time.perf_counter()
    print(
        f"Concord review benchmark: {TEXT_LENGTH} characters, {ENTITIES} entities x {MENTIONS_PER_ENTITY} mentions, "
        f"{RELATIONS} relations; {os.cpu_count()} CPUs, Python {platform.python_version()}, {_load()}",
        flush=True,
    )
    code = _code_versions()
    try:
        run(args, workdir)
    finally:
        changed = sorted(str(f.relative_to(ROOT)) for f, m in _code_versions().items() if code.get(f) != m)
        if changed:
            print(f"WARNING: code changed during the run, figures may mix versions: {', '.join(changed)}")
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"Total {time.perf_counter() - started:.0f} s, {_load()}")


if __name__ == "__main__":
    main()
