"""Crawl-batch ingestion throughput and peak memory, each beside a baseline measured in the same process.

Generates a seeded batch of Chinese news pages as a Common Crawl style WARC (one gzip member per record; UTF-8
and GBK pages with menus, sidebars, footers and inline assets) and the matching WET, then measures:

- references: raw FastWARC iteration over both files;
- throughput: ingest_batch end to end on an embedded SQLite database, against [a] WET iteration plus
  split_sentences (target: WET ingestion at least 50% of its speed) and [b] decode_html plus resiliparse
  extract_main_text per page (target: WARC ingestion at least 70% of its speed);
- CPU milliseconds per record of each step of process_records, to show where the time goes;
- peak RSS (VmHWM) of ingest_batch in a fresh process, for all and for half of the records (target: at most
  300 MB, flat in batch size).

How the throughput ratio is measured: on a shared VM the same code's CPU time per record drifts by tens of
percent within minutes, so a baseline measured once, minutes away from the ingestion and in another process, makes
the ratio swing. Instead each format gets R runs (--repeats), one at a time so that they do not compete for the
CPUs. Each run is a fresh spawned process with a fresh database that measures the baseline on the same file right
before and right after ingesting it; the run's ratio is ingestion's records per CPU-second over the mean of the two
baselines' (CPU time, so other load skews it less). The median of the R ratios is compared with the target, and
the lowest and highest are shown beside it.

Run: .venv/bin/python bench/ingest.py [--quick] [--records N] [--repeats R] [--seed S] [--keep]
(--quick: 2,000 records and 1 run per format unless given; the same steps, a smaller corpus.)
"""

import argparse
import base64
import gzip
import hashlib
import multiprocessing
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType
from sqlalchemy import Engine
from sqlmodel import Session

from app import jobs, migrations
from app.crawl_batch.jobs import PROCESS_RECORDS, ingest_batch
from app.crawl_batch.service import create_batch
from app.crawl_batch.uploads import StoredUpload
from app.db import make_engine
from app.gc_tuning import tune_gc
from app.models import CrawlBatch
from app.project.service import create_project
from app.webtext import native
from app.webtext.dedup import fingerprint_many
from app.webtext.extraction import cjk_ratio, decode_html, detect_language, detect_script, extract_main_text
from app.webtext.pipeline import IngestPolicy, process_record, process_records
from app.webtext.records import RawRecord
from app.webtext.sentences import split_sentences
from app.webtext.web_archives import iter_warc

WET_TARGET = 0.5
WARC_TARGET = 0.7
RSS_TARGET_MB = 300.0
# Doubling the batch may add this share to peak RSS and still count as flat: the near-duplicate index and the
# stored hashes grow with the documents kept, by design.
RSS_FLAT_SHARE = 0.1
GBK_SHARE = 0.15
EXACT_DUPLICATE_SHARE = 0.03
NEAR_DUPLICATE_SHARE = 0.01
SHORT_PAGE_SHARE = 0.02
BREAKDOWN_SAMPLE = 1000
# --quick: enough records for stable per-record figures, small enough for about a minute on two cores.
QUICK_RECORDS = 2000

# --- Vocabulary (Simplified Chinese, all of it encodable in GBK) -------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚英华玉萍红鹏辉建国文志海宁晓婷雪斌波宇浩凯健俊帆旭鑫欣琳颖博晨阳佳慧瑞思"
)
PLACES = _words(
    "北京 上海 广州 深圳 杭州 南京 成都 重庆 武汉 西安 天津 苏州 长沙 郑州 青岛 沈阳 大连 厦门 宁波 合肥 福州 昆明 "
    "哈尔滨 济南 长春 南昌 贵阳 南宁 太原 石家庄 兰州 呼和浩特 银川 西宁 海口 三亚 珠海 东莞 佛山 无锡 温州 烟台 "
    "广东省 浙江省 江苏省 山东省 河南省 四川省 湖北省 湖南省 福建省 安徽省 河北省 陕西省 云南省 贵州省 江西省"
)
ORGS = _words(
    "国家统计局 中国人民银行 教育部 科技部 商务部 工业和信息化部 生态环境部 交通运输部 国家发展改革委 "
    "清华大学 北京大学 复旦大学 浙江大学 武汉大学 中山大学 中国科学院 中国工程院 华为技术有限公司 阿里巴巴集团 "
    "腾讯公司 百度公司 小米集团 比亚迪股份有限公司 中国移动 国家电网 中国石油 京东集团 宁德时代 中国银行 "
    "市人民政府 市交通运输局 省卫生健康委员会 市教育局 区人民法院 市气象台 市文化和旅游局 省农业农村厅 "
    "市场监督管理局 市住房和城乡建设局 市人力资源和社会保障局 新华社 人民日报社 中央广播电视总台"
)
NOUNS = _words(
    "经济 市场 企业 产业 项目 技术 创新 政策 改革 投资 消费 服务 数据 平台 人工智能 新能源 汽车 电池 芯片 教育 "
    "学生 医疗 医院 患者 农业 农民 乡村 城市 交通 地铁 高铁 机场 旅游 文化 体育 比赛 环境 生态 能源 电力 住房 "
    "房价 就业 工资 社保 养老 人口 家庭 社区 安全 法律 法院 案件 科研 论文 实验 卫星 航天 气候 降雨 气温 台风 "
    "物流 快递 外贸 出口 制造业 供应链 基础设施 公共服务 营商环境 数字经济 绿色发展 乡村振兴 城市更新 "
    "研发投入 人才队伍 产业链 示范区 试验区 博物馆 图书馆 音乐节 马拉松 志愿者 居民 游客 老年人 青少年"
)
VERBS = _words(
    "推动 加快 实施 提高 促进 支持 加强 完善 建设 开展 发布 宣布 启动 完成 实现 签署 召开 举办 参加 提出 "
    "部署 落实 推进 扩大 降低 优化 引进 培养 探索 打造 巩固 提升 保障 改善 规范 整治 升级 拓展 服务 带动"
)
SAYS = _words("表示 认为 指出 强调 介绍 透露 坦言 称 告诉记者")
ADJS = _words(
    "重要 全面 积极 稳定 显著 持续 明显 快速 高质量 优质 便捷 绿色 智能 数字化 安全 可靠 创新型 现代化 "
    "开放 包容 协调 有效 务实 长期 系统 关键 核心 基本 新型 综合 精准 健康 平稳 有力"
)
OPENERS = _words(
    "今年以来 去年 近日 日前 昨天上午 昨天下午 本周 上半年 一季度 近年来 目前 截至目前 此前 随后 同时 此外 "
    "另外 与此同时 据悉 据了解 记者获悉 从发布会上获悉 在此基础上 下一步"
)
LINKERS = _words("但是 因此 同时 而且 此外 然而 不过 所以 其中 另一方面 总体来看 值得注意的是")
UNITS = _words("亿元 万元 万人 万辆 万吨 个百分点 家企业 个项目 所学校 公里")
SECTIONS = _words("首页 新闻 财经 科技 教育 健康 体育 娱乐 房产 汽车 旅游 文化 评论 视频 图片 专题 国际 军事 社会")
SUFFIXES = _words("新闻网 日报 晚报 在线 资讯网 融媒体中心 发布 都市报")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
LIBS = ("jquery.min", "swiper.min", "lazyload", "common", "share", "stat", "ad-loader")


TEMPLATES = (
    "{opener}，{place}{org}{verb}了{adj}的{noun}{noun}方案。",
    "{org}负责人{name}{say}，{noun}{verb}{adj}，{linker}{noun}仍需进一步{verb}。",
    "据{org}统计，{year}年{place}{noun}规模达到{number}，同比增长{pct}。",
    "“{noun}是{noun}的{adj}支撑，我们将{verb}{noun}。”{name}说。",
    "{linker}，{place}共{verb}{noun}{count}个，带动{noun}超过{number}！",
    "《{place}{noun}{adj}发展规划》提出，到{future}年{verb}{adj}的{noun}体系；",
    "{opener}，{noun}、{noun}和{noun}等领域{adj}{verb}，{noun}{adj}向好。",
    "{name}在{place}{verb}了{noun}活动，吸引{count}名{noun}参与？",
)


class _Draw(dict[str, str]):
    """A format_map mapping that draws a fresh word for every placeholder it is asked for."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        r = rng  # short, for the table below
        self.makers: dict[str, Callable[[], str]] = {
            "opener": lambda: r.choice(OPENERS),
            "place": lambda: r.choice(PLACES),
            "org": lambda: r.choice(ORGS),
            "noun": lambda: r.choice(NOUNS),
            "verb": lambda: r.choice(VERBS),
            "adj": lambda: r.choice(ADJS),
            "say": lambda: r.choice(SAYS),
            "linker": lambda: r.choice(LINKERS),
            "name": lambda: r.choice(SURNAMES) + "".join(r.choices(GIVEN, k=r.randint(1, 2))),
            "number": lambda: f"{r.randint(1, 999)}.{r.randint(0, 9)}{r.choice(UNITS)}",
            "pct": lambda: f"{r.randint(1, 40)}.{r.randint(0, 9)}%",
            "count": lambda: str(r.randint(2, 9000)),
            "year": lambda: str(r.randint(2015, 2024)),
            "future": lambda: str(r.randint(2025, 2035)),
        }

    def __missing__(self, key: str) -> str:
        return self.makers[key]()


@dataclass
class Site:
    name: str
    domain: str
    nav: list[str]
    gbk: bool
    header_charset: bool
    # Stands in for the site's analytics key and licence number.
    token: str
    # Channel -> sub-channel names of the mega menu; hot headlines and friend sites change rarely, so per site.
    menu: dict[str, list[str]]
    hot: list[str]
    friends: list[str]
    # Inline CSS and ad-slot JSON: the markup weight of a real portal page, without visible text.
    assets: str


@dataclass
class Page:
    url: str
    title: str
    paragraphs: list[str]
    site: Site
    date: datetime
    related: list[str]


class Corpus:
    """Seeded generator of Chinese news-like pages, with a few exact and near duplicates and short pages."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.draw = _Draw(self.rng)
        self.sites = [self._site() for _ in range(60)]
        self.pages: list[Page] = []

    def _site(self) -> Site:
        rng = self.rng
        domain = "".join(rng.choices(LETTERS, k=rng.randint(4, 9))) + rng.choice([".com", ".cn", ".com.cn", ".net"])
        nav = rng.sample(SECTIONS, 10)
        return Site(
            name=rng.choice(PLACES) + rng.choice(SUFFIXES),
            domain="www." + domain,
            nav=nav,
            gbk=rng.random() < GBK_SHARE,
            header_charset=rng.random() < 0.5,
            token=f"{rng.getrandbits(128):032x}",
            menu={channel: rng.sample(NOUNS, 12) for channel in nav},
            hot=[self._title() for _ in range(10)],
            friends=[rng.choice(PLACES) + rng.choice(SUFFIXES) for _ in range(30)],
            assets=_assets(rng, domain),
        )

    def sentence(self) -> str:
        return self.rng.choice(TEMPLATES).format_map(self.draw)

    def _title(self) -> str:
        return "{place}{verb}{adj}{noun} {noun}{verb}{number}".format_map(self.draw)

    def _paragraphs(self) -> list[str]:
        rng = self.rng
        if rng.random() < SHORT_PAGE_SHARE:
            return [self.sentence()[:30]]
        # 350 to 1,000 characters: 1 to 3 KB of UTF-8.
        target, paragraphs, size = rng.randint(350, 1000), [], 0
        while size < target:
            paragraph = "".join(self.sentence() for _ in range(rng.randint(2, 5)))
            paragraphs.append(paragraph)
            size += len(paragraph)
        return paragraphs

    def page(self, i: int) -> Page:
        rng = self.rng
        date = datetime(2024, 5, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 30 * 86400))
        roll = rng.random()
        if self.pages and roll < EXACT_DUPLICATE_SHARE + NEAR_DUPLICATE_SHARE:
            # A syndicated copy on the same site: the same article, another URL (a near copy is lightly edited).
            source = rng.choice(self.pages[-2000:])
            paragraphs, related = list(source.paragraphs), source.related
            if roll >= EXACT_DUPLICATE_SHARE:
                paragraphs[-1] = paragraphs[-1][:-1] + "（完）"
                related = [self._title() for _ in range(6)]
            site, title, date = source.site, source.title, source.date
        else:
            site, title, paragraphs = rng.choice(self.sites), self._title(), self._paragraphs()
            related = [self._title() for _ in range(6)]
        section = rng.choice(["news", "finance", "tech", "local"])
        url = f"https://{site.domain}/{section}/{date:%Y%m/%d}/t{date:%Y%m%d}_{i}.shtml"
        page = Page(url, title, paragraphs, site, date, related)
        self.pages.append(page)
        if len(self.pages) > 4000:
            del self.pages[:2000]
        return page


def _assets(rng: random.Random, domain: str) -> str:
    css = "".join(
        f".c{rng.getrandbits(24):06x}{{margin:{rng.randint(0, 20)}px;padding:{rng.randint(0, 20)}px "
        f"{rng.randint(0, 30)}px;color:#{rng.getrandbits(24):06x};font-size:{rng.randint(12, 20)}px}}\n"
        for _ in range(80)
    )
    slots = ",".join(
        f'{{"id":"{rng.getrandbits(64):016x}","w":{rng.choice([300, 728, 160])},"h":{rng.choice([90, 250, 600])},'
        f'"src":"https://static.{domain}/ad/{rng.getrandbits(32):08x}.js","lazy":{rng.choice(["true", "false"])}}}'
        for _ in range(80)
    )
    scripts = "".join(f'<script src="https://static.{domain}/js/{name}.js?v=3.2.1"></script>\n' for name in LIBS)
    return f'<style>{css}</style>\n{scripts}<script>window.__AD_CONFIG__={{"slots":[{slots}]}};</script>\n'


def render_html(page: Page) -> tuple[bytes, str]:
    """The page as a server sends it: (body bytes, HTTP Content-Type)."""
    site = page.site
    charset = "gbk" if site.gbk else "utf-8"
    meta = (
        '<meta http-equiv="Content-Type" content="text/html; charset=gb2312">'
        if site.gbk and len(site.domain) % 2
        else f'<meta charset="{charset}">'
    )
    nav = "".join(f'<li><a href="/{i}/">{item}</a></li>' for i, item in enumerate(site.nav))
    menu = "".join(
        f'<dl><dt><a href="/c{i}/">{channel}</a></dt><dd>'
        + "".join(f'<a href="/c{i}/s{j}/" target="_blank">{sub}</a>' for j, sub in enumerate(subs))
        + "</dd></dl>"
        for i, (channel, subs) in enumerate(site.menu.items())
    )
    related = "".join(f'<li><a href="/r/{i}.shtml">{title}</a></li>' for i, title in enumerate(page.related))
    hot = "".join(
        f'<li><span class="n{i}">{i + 1}</span><a href="/h/{i}.shtml">{t}</a></li>' for i, t in enumerate(site.hot)
    )
    friends = " ".join(
        f'<a href="http://www.f{i}.cn/" target="_blank">{name}</a>' for i, name in enumerate(site.friends)
    )
    body = "".join(f"<p>{p}</p>\n" for p in page.paragraphs)
    html = f"""<!DOCTYPE html>
<html lang="zh-CN"><head>{meta}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{page.title}_{site.name}</title>
<meta name="keywords" content="{site.name},{page.title[:8]},{"，".join(site.nav[:4])}">
<link rel="stylesheet" href="/static/css/main.css?v=20240501">
<style>body{{margin:0;font-family:"Microsoft YaHei",sans-serif}}.nav li{{display:inline-block;padding:0 12px}}
.article p{{text-indent:2em;line-height:1.8}}.footer{{color:#999;font-size:12px;text-align:center}}</style>
<script>var _hmt=_hmt||[];(function(){{var hm=document.createElement("script");
hm.src="https://hm.baidu.com/hm.js?{site.token}";
var s=document.getElementsByTagName("script")[0];s.parentNode.insertBefore(hm,s);}})();</script>
{site.assets}</head><body>
<div class="top"><a href="/">登录</a> | <a href="/reg">注册</a> | <a href="/app">手机版</a> | 设为首页</div>
<div class="header"><a href="/" class="logo">{site.name}</a>
<form action="/search"><input name="q" placeholder="请输入关键词"><button>搜索</button></form></div>
<ul class="nav">{nav}</ul>
<div class="menu">{menu}</div>
<div class="crumb">当前位置：<a href="/">首页</a> &gt; <a href="/news/">{site.nav[1]}</a> &gt; 正文</div>
<div class="main"><div class="article">
<h1>{page.title}</h1>
<div class="info">{page.date:%Y-%m-%d %H:%M} 来源：{site.name} 作者：{site.nav[2]}记者
字号：<a>大</a> <a>中</a> <a>小</a></div>
{body}<div class="editor">（责任编辑：{site.nav[3]}）</div>
<div class="share">分享到：<a>微信</a> <a>微博</a> <a>QQ空间</a></div>
</div>
<div class="side"><h3>相关阅读</h3><ul>{related}</ul>
<h3>排行榜</h3><ol>{hot}</ol>
<h3>图片新闻</h3><ul><li><img src="/img/1.jpg" alt="图片"></li></ul></div></div>
<div class="links"><h3>友情链接</h3>{friends}</div>
<div class="footer"><p><a href="/about">关于我们</a> | <a href="/contact">联系我们</a> | <a href="/ad">广告服务</a> |
<a href="/map">网站地图</a> | <a href="/copyright">版权声明</a> | <a href="/disclaimer">免责声明</a></p>
<p>Copyright &copy; 2005-2024 {site.name} 版权所有 未经授权禁止转载</p>
<p>京ICP备{int(site.token[:7], 16):08d}号-1 违法和不良信息举报电话：010-12345678</p>
</div></body></html>
"""
    content_type = f"text/html; charset={charset.upper()}" if site.header_charset else "text/html"
    return html.encode("gbk" if site.gbk else "utf-8"), content_type


def wet_text(page: Page) -> str:
    """What Common Crawl's WET conversion keeps: the title, then every text line, boilerplate included."""
    site = page.site
    lines = [f"{page.title}_{site.name}", "登录 | 注册 | 手机版 | 设为首页", site.name, *site.nav]
    lines += [" ".join([channel, *subs]) for channel, subs in site.menu.items()]
    lines += [f"当前位置：首页 > {site.nav[1]} > 正文", page.title, f"{page.date:%Y-%m-%d %H:%M} 来源：{site.name}"]
    lines += [*page.paragraphs, f"（责任编辑：{site.nav[3]}）", "分享到：微信 微博 QQ空间", "相关阅读", *page.related]
    lines += ["排行榜", *(f"{i + 1} {title}" for i, title in enumerate(site.hot)), "友情链接", " ".join(site.friends)]
    lines += ["关于我们 | 联系我们 | 广告服务 | 网站地图 | 版权声明 | 免责声明", f"Copyright © 2005-2024 {site.name}"]
    return "\n".join(lines)


def _digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode()


def warc_record(headers: list[tuple[str, str]], block: bytes) -> bytes:
    """One WARC/1.0 record, gzipped on its own as Common Crawl writes them."""
    head = "WARC/1.0\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers)
    head += f"WARC-Block-Digest: {_digest(block)}\r\nContent-Length: {len(block)}\r\n\r\n"
    return gzip.compress(head.encode() + block + b"\r\n\r\n", compresslevel=6, mtime=0)


def _warcinfo(rng: random.Random, filename: str) -> bytes:
    fields = f"software: concord-bench\r\nformat: WARC File Format 1.0\r\nfilename: {filename}\r\n"
    headers = [
        ("WARC-Type", "warcinfo"),
        ("WARC-Date", "2024-05-31T00:00:00Z"),
        ("WARC-Filename", filename),
        ("WARC-Record-ID", f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"),
        ("Content-Type", "application/warc-fields"),
    ]
    return warc_record(headers, fields.encode())


@dataclass
class Batch:
    warc: Path
    wet: Path


@dataclass
class Generated:
    batches: dict[int, Batch]
    gbk_pages: int
    median_html_bytes: float
    median_article_bytes: float
    seconds: float


def generate(directory: Path, records: int, seed: int) -> Generated:
    """Write the WARC and WET of `records` pages, and of the first half of them, in one pass."""
    corpus, rng = Corpus(seed), random.Random(seed + 1)
    started = time.perf_counter()
    gbk = 0
    html_sizes: list[int] = []
    article_sizes: list[int] = []
    with ExitStack() as stack:
        batches: dict[int, Batch] = {}
        outputs: dict[int, tuple[BinaryIO, BinaryIO]] = {}
        for size in (records // 2, records):
            batch = Batch(directory / f"bench-{size}.warc.gz", directory / f"bench-{size}.warc.wet.gz")
            batches[size] = batch
            outputs[size] = (stack.enter_context(batch.warc.open("wb")), stack.enter_context(batch.wet.open("wb")))
            outputs[size][0].write(_warcinfo(rng, batch.warc.name))
            outputs[size][1].write(_warcinfo(rng, batch.wet.name))
        for i in range(records):
            page = corpus.page(i)
            gbk += page.site.gbk
            body, content_type = render_html(page)
            html_sizes.append(len(body))
            article_sizes.append(len("".join(page.paragraphs).encode()))
            response, conversion = _page_records(page, body, content_type, rng)
            for size, (warc, wet) in outputs.items():
                if i < size:
                    warc.write(response)
                    wet.write(conversion)
    seconds = time.perf_counter() - started
    return Generated(batches, gbk, statistics.median(html_sizes), statistics.median(article_sizes), seconds)


def _page_records(page: Page, body: bytes, content_type: str, rng: random.Random) -> tuple[bytes, bytes]:
    """The WARC response record of a page and the WET conversion record that refers to it."""
    date = f"{page.date:%Y-%m-%dT%H:%M:%SZ}"
    http = (
        f"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: {page.date:%a, %d %b %Y %H:%M:%S} GMT\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    response_id = f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"
    response = warc_record(
        [
            ("WARC-Type", "response"),
            ("WARC-Date", date),
            ("WARC-Record-ID", response_id),
            ("Content-Type", "application/http; msgtype=response"),
            ("WARC-Target-URI", page.url),
            ("WARC-Payload-Digest", _digest(body)),
            ("WARC-Identified-Payload-Type", "text/html"),
        ],
        http,
    )
    conversion = warc_record(
        [
            ("WARC-Type", "conversion"),
            ("WARC-Target-URI", page.url),
            ("WARC-Date", date),
            ("WARC-Record-ID", f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"),
            ("WARC-Refers-To", response_id),
            ("WARC-Identified-Content-Language", "zho"),
            ("Content-Type", "text/plain"),
        ],
        wet_text(page).encode(),
    )
    return response, conversion


# --- Baselines ------------------------------------------------------------------------------------------


@dataclass
class Rate:
    """Records handled in so many wall-clock and CPU seconds."""

    records: int
    seconds: float
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def per_cpu_second(self) -> float:
        return self.records / self.cpu_seconds if self.cpu_seconds else 0.0


class Stopwatch:
    """Accumulates wall-clock and CPU time over the blocks it times."""

    def __init__(self) -> None:
        self.seconds = self.cpu_seconds = 0.0

    def __enter__(self) -> "Stopwatch":
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._wall
        self.cpu_seconds += time.process_time() - self._cpu


def iterate(path: Path, *, http: bool, work: Callable[[WarcRecord, bytes], None] | None = None) -> Rate:
    """FastWARC over the file as ingestion opens it, reading every payload (and running `work` on it)."""
    wanted = WarcRecordType.response | WarcRecordType.conversion
    count = 0
    with Stopwatch() as watch, path.open("rb") as file:
        for record in ArchiveIterator(file, record_types=wanted, parse_http=http, auto_decode="none"):
            payload = record.reader.read()
            count += 1
            if work is not None:
                work(record, payload)
    return Rate(count, watch.seconds, watch.cpu_seconds)


def wet_baseline(path: Path) -> Rate:
    """[a]: FastWARC over the WET, reading, decoding and sentence-splitting every payload."""

    def split(_record: WarcRecord, payload: bytes) -> None:
        split_sentences(payload.decode("utf-8", "replace"))

    return iterate(path, http=False, work=split)


def extractor_baseline(path: Path) -> Rate:
    """[b]: decode_html + resiliparse main text of every page; only that work is timed, not the reading."""
    watch = Stopwatch()
    pages = 0

    def extract(record: WarcRecord, body: bytes) -> None:
        nonlocal pages
        with watch:
            html, _ = decode_html(body, http_content_type=record.http_headers.get("Content-Type"))
            extract_main_text(html, url=record.headers.get("WARC-Target-URI"), extractor="resiliparse")
        pages += 1

    iterate(path, http=True, work=extract)
    return Rate(pages, watch.seconds, watch.cpu_seconds)


STAGES = (
    "read (iter_warc)",
    "decode_html",
    "extract_main_text",
    "detect_language",
    "cjk_ratio",
    "split_sentences",
    FINGERPRINT_STAGE := f"fingerprint_many, {PROCESS_RECORDS} texts a call",
    "detect_script",
    PROCESS_STAGE := f"process_records, {PROCESS_RECORDS} records a call",
)


def breakdown(path: Path, sample: int) -> dict[str, float]:
    """CPU milliseconds per record of each step ingestion takes, on the first `sample` records of the file."""
    watches = {stage: Stopwatch() for stage in STAGES}
    policy = IngestPolicy()

    def timed(stage: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with watches[stage]:
            return call(*args, **kwargs)

    def whole_chunk(chunk: list[RawRecord], texts: list[str]) -> None:
        # As ingestion does: records are processed, and their texts fingerprinted, a chunk at a time.
        timed(FINGERPRINT_STAGE, fingerprint_many, texts)
        timed(PROCESS_STAGE, process_records, chunk, policy)

    records = iter_warc(path)
    count = 0
    chunk: list[RawRecord] = []
    texts: list[str] = []
    while count < sample:
        raw = timed(STAGES[0], next, records, None)
        if raw is None:
            break
        if not isinstance(raw, RawRecord):
            continue
        count += 1
        chunk.append(raw)
        if raw.kind == "html":
            html, _ = timed("decode_html", decode_html, raw.content_bytes or b"", http_content_type=raw.content_type)
            text = timed("extract_main_text", extract_main_text, html, url=raw.url).text
        else:
            text = unicodedata.normalize("NFC", raw.text or "")
        if raw.language_hint is None:
            timed("detect_language", detect_language, text)
        timed("cjk_ratio", cjk_ratio, text)
        timed("split_sentences", split_sentences, text)
        texts.append(text)
        timed("detect_script", detect_script, text)
        if len(chunk) == PROCESS_RECORDS:
            whole_chunk(chunk, texts)
            chunk, texts = [], []
    if chunk:
        whole_chunk(chunk, texts)
    return {stage: 1000 * watch.cpu_seconds / max(count, 1) for stage, watch in watches.items()}


# --- End to end, in a fresh process ---------------------------------------------------------------------


@dataclass
class Ingested:
    records: int
    kept: int
    seconds: float
    cpu_seconds: float
    warmup_seconds: float
    idle_rss_mb: float
    peak_rss_mb: float
    status: str
    counts: dict[str, int]

    @property
    def rate(self) -> Rate:
        return Rate(self.records, self.seconds, self.cpu_seconds)


def _proc_status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak_rss() -> bool:
    """Restart VmHWM from the current RSS (Linux 4.0+, see proc(5) clear_refs); False where that is refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def warm_up() -> float:
    """Load what a worker loads once (language model, OpenCC tables, Unicode classes) and tune the garbage
    collector as a worker process does when it starts; return the seconds."""
    started = time.perf_counter()
    text = "北京大学于一八九八年创办，是中国近代第一所国立综合性大学，培养了大批人才。" * 3
    html = f"<html><head><title>t</title></head><body><article><p>{text}</p></article></body></html>"
    process_record(RawRecord(kind="text", offset=0, text=text), IngestPolicy())
    process_record(RawRecord(kind="html", offset=0, content_bytes=html.encode()), IngestPolicy())
    tune_gc()
    return time.perf_counter() - started


def _create_batch(engine: Engine, label: str, path: Path) -> int:
    with Session(engine) as session:
        project = create_project(session, name=f"bench {label}", preset="zh-general")
        upload = StoredUpload(path, path.name, path.stat().st_size, "0" * 64)
        batch = create_batch(session, project=project, upload=upload, fmt=None, created_by=None)
        session.commit()
        assert batch.id is not None
        return batch.id


@dataclass
class Prepared:
    """A batch waiting to be ingested, in a process that has loaded what ingestion needs."""

    engine: Engine
    batch_id: int
    records: int
    warmup_seconds: float
    idle_rss_mb: float


def _prepare(url: str, label: str, path: Path, records: int) -> Prepared:
    # The benchmark calls the job function directly, so the "crawl_batch.ingest" job queued on commit is not sent.
    jobs._send = lambda name, ids: None
    engine = make_engine(url)
    batch_id = _create_batch(engine, label, path)
    warmup = warm_up()
    return Prepared(engine, batch_id, records, warmup, _proc_status_mb("VmRSS"))


def _ingest(prepared: Prepared) -> Ingested:
    """Run ingest_batch on the prepared batch, timed; then read its counts and this process's peak RSS."""
    with Stopwatch() as watch:
        ingest_batch(prepared.batch_id, engine=prepared.engine)
    with Session(prepared.engine) as session:
        batch = session.get(CrawlBatch, prepared.batch_id)
        assert batch is not None
        counts, status = dict(batch.counts), str(batch.status)
    prepared.engine.dispose()
    return Ingested(
        records=prepared.records,
        kept=counts.get("kept", 0),
        seconds=watch.seconds,
        cpu_seconds=watch.cpu_seconds,
        warmup_seconds=prepared.warmup_seconds,
        idle_rss_mb=prepared.idle_rss_mb,
        peak_rss_mb=_proc_status_mb("VmHWM"),
        status=status,
        counts=counts,
    )


def run_ingestion(url: str, label: str, path: Path, records: int) -> Ingested:
    """In a spawned child: create a project and batch, run ingest_batch directly, report times and VmHWM."""
    return _ingest(_prepare(url, label, path, records))


# The baseline each format's ingestion is compared with.
BASELINES: dict[str, Callable[[Path], Rate]] = {"WET": wet_baseline, "WARC": extractor_baseline}
BASELINE_NAMES = {"WET": "[a]", "WARC": "[b]"}
TARGETS = {"WET": WET_TARGET, "WARC": WARC_TARGET}


@dataclass
class Repetition:
    """One ingestion, and its format's baseline on the same file right before and right after it."""

    before: Rate
    ingested: Ingested
    after: Rate
    # False where VmHWM could not be reset after the first baseline, so the peak may be the baseline's.
    peak_is_ingestion: bool

    @property
    def baseline_per_cpu_second(self) -> float:
        # The mean of the two cancels a machine whose speed drifted steadily during the repetition.
        return (self.before.per_cpu_second + self.after.per_cpu_second) / 2

    @property
    def baseline_per_second(self) -> float:
        return (self.before.per_second + self.after.per_second) / 2

    @property
    def baseline_seconds(self) -> float:
        return (self.before.seconds + self.after.seconds) / 2

    @property
    def ratio(self) -> float:
        """Ingestion's records per CPU-second over the baseline's."""
        return self.ingested.rate.per_cpu_second / self.baseline_per_cpu_second

    @property
    def drift(self) -> float:
        """How much faster (+) or slower (-) the baseline ran after the ingestion than before it."""
        return self.after.per_cpu_second / self.before.per_cpu_second - 1


def run_repetition(url: str, fmt: str, path: Path, records: int) -> Repetition:
    """In a spawned child: the format's baseline, ingest_batch, and the baseline again, all on `path`."""
    # Prepared first, so ingestion and both baselines run with the language model and OpenCC already loaded.
    prepared = _prepare(url, f"{fmt} {records}", path, records)
    baseline = BASELINES[fmt]
    before = baseline(path)
    # So the peak reported is ingestion's; whatever the baseline leaves resident still counts, which can only
    # overstate it.
    reset = _reset_peak_rss()
    ingested = _ingest(prepared)
    after = baseline(path)
    return Repetition(before, ingested, after, reset)


Result = TypeVar("Result")


def in_fresh_process(function: Callable[..., Result], *args: Any) -> Result:
    """Call `function` in a newly spawned process and wait for it, so that nothing else of the benchmark runs
    meanwhile to compete with it for the CPUs."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def fresh_database(directory: Path, name: str) -> str:
    """The URL of a new, migrated SQLite database, so that no run ingests beside another run's documents."""
    url = f"sqlite:///{directory / name}.db"
    migrations.upgrade(url)
    return url


# --- Report ---------------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 1024**2:.1f} MB"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def _median(values: Iterable[float]) -> float:
    return statistics.median(values)


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def _outcome(run: Ingested) -> str:
    counts = ", ".join(f"{k}={v}" for k, v in sorted(run.counts.items()))
    return f"{run.status}; {counts}"


def _steps(args: argparse.Namespace, workdir: Path) -> Iterator[str]:
    n, half, repeats = args.records, args.records // 2, args.repeats
    _log(f"generating {n:,} records in {workdir} ...")
    generated = generate(workdir, n, args.seed)
    full = generated.batches[n]
    yield (
        f"Generated in {generated.seconds:.1f} s: WARC {_mb(full.warc)} ({n:,} responses, "
        f"{generated.gbk_pages / n:.0%} GBK), WET {_mb(full.wet)} ({n:,} conversions), and the first {half:,} of each"
    )
    yield (
        f"Median page: {generated.median_html_bytes / 1024:.0f} KB of HTML, "
        f"{generated.median_article_bytes / 1024:.1f} KB of article text; "
        f"about {EXACT_DUPLICATE_SHARE:.0%} exact and {NEAR_DUPLICATE_SHARE:.0%} near copies"
    )
    databases = workdir / "data"

    _log("references ...")
    warm_up()
    references = {
        "FastWARC iterate+read WARC (reference)": iterate(full.warc, http=True),
        "FastWARC iterate+read WET (reference)": iterate(full.wet, http=False),
    }
    sample = min(n, BREAKDOWN_SAMPLE)
    _log(f"per-step breakdown on {sample:,} records ...")
    steps = {"WET": breakdown(full.wet, sample), "WARC": breakdown(full.warc, sample)}

    small, large = generated.batches[half], generated.batches[n]
    halves: dict[str, Ingested] = {}
    # The half-size runs only measure memory; they too run one at a time, so as not to disturb each other.
    for fmt, path in (("WET", small.wet), ("WARC", small.warc)):
        _log(f"ingest_batch {fmt} {half:,} records in a fresh process ...")
        url = fresh_database(databases, f"{fmt.lower()}-{half}")
        halves[fmt] = in_fresh_process(run_ingestion, url, f"{fmt} {half}", path, half)
    runs: dict[str, list[Repetition]] = {"WET": [], "WARC": []}
    # Alternating the formats spreads each one's repetitions over the whole benchmark, not one stretch of it.
    for i in range(1, repeats + 1):
        for fmt, path in (("WET", large.wet), ("WARC", large.warc)):
            _log(f"run {i}/{repeats}: {fmt} baseline, ingest_batch {n:,} records, baseline, in a fresh process ...")
            url = fresh_database(databases, f"{fmt.lower()}-{n}-{i}")
            runs[fmt].append(in_fresh_process(run_repetition, url, fmt, path, n))

    yield ""
    yield from _throughput(references, runs, n, repeats)
    yield ""
    yield from _ratios(runs, repeats)
    yield ""
    yield from _each_run(runs)
    yield ""
    yield f"{f'CPU ms per record (first {sample:,} records)':<42}{'WET':>8}{'WARC':>8}"
    for stage in STAGES:
        yield f"{stage:<42}{steps['WET'][stage]:>8.3f}{steps['WARC'][stage]:>8.3f}"
    totals = {fmt: 1000 * _median(run.ingested.cpu_seconds for run in runs[fmt]) / n for fmt in runs}
    yield f"{f'ingest_batch end to end ({n:,}, median)':<42}{totals['WET']:>8.3f}{totals['WARC']:>8.3f}"
    # What end to end adds to reading and processing (deduplication, storing) is not printed as a difference:
    # the steps are timed once in this process and end to end in the children, minutes apart, and a shared
    # machine's drift between the two can exceed it.
    yield "(steps: timed once, in this process; end to end: the median run, timed in its own process)"
    yield ""
    yield from _memory(halves, runs, n, repeats)
    yield ""
    yield from _outcomes(halves, runs, n)


def _throughput(references: dict[str, Rate], runs: dict[str, list[Repetition]], n: int, repeats: int) -> Iterator[str]:
    yield f"{f'Throughput, {n:,} records':<42}{'rec/s':>8}{'rec/cpu-s':>10}{'docs/s':>8}{'wall s':>8}"
    for name, rate in references.items():
        yield f"{name:<42}{rate.per_second:>8,.0f}{rate.per_cpu_second:>10,.0f}{'':>8}{rate.seconds:>8.1f}"
    for name, fmt in (
        ("[a] WET iterate+read+split_sentences", "WET"),
        ("[b] decode_html+resiliparse per page", "WARC"),
    ):
        yield (
            f"{name:<42}{_median(run.baseline_per_second for run in runs[fmt]):>8,.0f}"
            f"{_median(run.baseline_per_cpu_second for run in runs[fmt]):>10,.0f}{'':>8}"
            f"{_median(run.baseline_seconds for run in runs[fmt]):>8.1f}"
        )
    for fmt in ("WET", "WARC"):
        ingested = [run.ingested for run in runs[fmt]]
        yield (
            f"{f'ingest_batch {fmt} end to end':<42}{_median(one.rate.per_second for one in ingested):>8,.0f}"
            f"{_median(one.rate.per_cpu_second for one in ingested):>10,.0f}"
            f"{_median(one.kept / one.seconds for one in ingested):>8,.0f}"
            f"{_median(one.seconds for one in ingested):>8.1f}"
        )
    yield f"(references: measured once; the rest: medians over {_runs(repeats)}, each baseline the mean of two)"


def _ratios(runs: dict[str, list[Repetition]], repeats: int) -> Iterator[str]:
    yield f"{f'Ratio over {_runs(repeats)}':<42}{'median':>8}{'min':>8}{'max':>8}  target"
    for fmt in ("WET", "WARC"):
        ratios = [run.ratio for run in runs[fmt]]
        ratio, target = _median(ratios), TARGETS[fmt]
        yield (
            f"{f'ingest_batch {fmt} vs {BASELINE_NAMES[fmt]}':<42}{ratio:>8.2f}{min(ratios):>8.2f}{max(ratios):>8.2f}"
            f"  >= {target:.2f} {_verdict(ratio >= target)}"
        )
    yield "(ratio: ingestion's records per CPU-second over the baseline's. Each run is a fresh process that measures"
    yield " the baseline on the same file right before and right after ingesting it and takes the mean of the two, so"
    yield " a steady drift in the shared machine's speed cancels out; the median is compared with the target)"


def _each_run(runs: dict[str, list[Repetition]]) -> Iterator[str]:
    head = f"{'Each run, records per CPU-second':<34}{'baseline':>10}{'ingest':>10}{'baseline':>10}{'drift':>8}"
    yield f"{head}{'ratio':>8}{'peak RSS':>10}"
    yield f"{'':<34}{'before':>10}{'':>10}{'after':>10}"
    for fmt in ("WET", "WARC"):
        for i, run in enumerate(runs[fmt], 1):
            yield (
                f"{f'{fmt} run {i}, vs {BASELINE_NAMES[fmt]}':<34}{run.before.per_cpu_second:>10,.0f}"
                f"{run.ingested.rate.per_cpu_second:>10,.0f}{run.after.per_cpu_second:>10,.0f}{run.drift:>+8.0%}"
                f"{run.ratio:>8.2f}{run.ingested.peak_rss_mb:>8.0f}MB"
            )
    yield "(drift: how much faster the baseline ran after the ingestion than before it, in the same process)"


def _memory(halves: dict[str, Ingested], runs: dict[str, list[Repetition]], n: int, repeats: int) -> Iterator[str]:
    half = n // 2
    head = f"{'Peak RSS, fresh process (VmHWM)':<34}{'idle':>8}{f'{half:,} rec':>12}{f'{n:,} rec':>12}{'growth':>8}"
    yield head + "  target"
    for fmt in ("WET", "WARC"):
        before = halves[fmt]
        # Peak RSS hardly varies from run to run; the highest is the one to hold against the target.
        after = max((run.ingested for run in runs[fmt]), key=lambda ingested: ingested.peak_rss_mb)
        growth = after.peak_rss_mb - before.peak_rss_mb
        flat = growth <= RSS_FLAT_SHARE * before.peak_rss_mb
        per_doc = 1024 * growth / max(after.kept - before.kept, 1)
        yield (
            f"{'ingest_batch ' + fmt:<34}{after.idle_rss_mb:>6.0f}MB{before.peak_rss_mb:>10.0f}MB"
            f"{after.peak_rss_mb:>10.0f}MB{growth:>+6.0f}MB  <= {RSS_TARGET_MB:.0f} MB "
            f"{_verdict(after.peak_rss_mb <= RSS_TARGET_MB)}, flat {_verdict(flat)}; {per_doc:.1f} KB per kept doc"
        )
    yield "(idle: after imports and the warm-up that loads the language model and OpenCC, before ingesting;"
    yield f" {n:,} rec: the highest of {_runs(repeats)}, counted from the end of the first baseline;"
    yield f" flat: doubling the batch adds at most {RSS_FLAT_SHARE:.0%})"
    if not all(run.peak_is_ingestion for fmt in runs for run in runs[fmt]):
        yield f"(VmHWM could not be reset on this system: the {n:,} rec peaks may be the first baseline's)"


def _outcomes(halves: dict[str, Ingested], runs: dict[str, list[Repetition]], n: int) -> Iterator[str]:
    for fmt, ingested in halves.items():
        yield f"{fmt} {n // 2:,}: {_outcome(ingested)}; warm-up {ingested.warmup_seconds:.1f} s (untimed)"
    for fmt in ("WET", "WARC"):
        each = [run.ingested for run in runs[fmt]]
        warmups = [ingested.warmup_seconds for ingested in each]
        if len({_outcome(ingested) for ingested in each}) == 1:
            yield (
                f"{fmt} {n:,}, {'all ' if len(each) > 1 else ''}{_runs(len(each))}: {_outcome(each[0])}; "
                f"warm-up {min(warmups):.1f}-{max(warmups):.1f} s (untimed)"
            )
        else:
            for i, ingested in enumerate(each, 1):
                yield f"{fmt} {n:,}, run {i}: {_outcome(ingested)}; warm-up {ingested.warmup_seconds:.1f} s (untimed)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small run (2,000 records, 1 run unless given)")
    parser.add_argument("--records", type=int, default=None, help="records per batch (default 20,000; quick 2,000)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="runs per format whose median ratio is compared with the target (default 3; quick 1)",
    )
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files and databases")
    args = parser.parse_args()
    if args.records is None:
        args.records = QUICK_RECORDS if args.quick else 20_000
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.records < 2:
        parser.error("--records must be at least 2")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    workdir = Path(tempfile.mkdtemp(prefix="concord-bench-"))
    # Settings are read lazily: point this process's data dir, and its children's, at the temp dir.
    os.environ["CONCORD_DATA_DIR"] = str(workdir / "data")
    os.environ.pop("DATABASE_URL", None)
    (workdir / "data").mkdir()
    started = time.perf_counter()
    print(
        f"Concord ingestion benchmark: {args.records:,} records, {_runs(args.repeats)} each, seed {args.seed}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {_load()}, "
        f"compiled text steps (_native.c): {'in use' if native.compiled else 'NOT built, Python in use'}",
        flush=True,
    )
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    if load > cpus * 0.75:
        print(
            f"Warning: the machine is busy ({_load()} on {cpus} CPUs): "
            "wall-clock figures are inflated, CPU-time ones less so"
        )
    try:
        for line in _steps(args, workdir):
            print(line, flush=True)
    finally:
        if args.keep:
            _log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"Total {time.perf_counter() - started:.0f} s, {_load()}")


if __name__ == "__main__":
    main()
