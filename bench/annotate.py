"""LLM annotation throughput, crash safety and second-look cost, each beside a bound measured in the same run.

Generates distinct Chinese news-style documents (a few sentences each, with person, organisation and place names)
on an embedded SQLite database in a temporary data dir, with two LLM annotators, openai (A) and gemini (B), each
with parameters concurrency=N, against fake model servers (one per provider, so that in-flight calls are counted
per provider) that answer contract JSON for the names in the prompt after a fixed latency. Real Celery workers run
as subprocesses (`concord worker`): a thread-pool worker on the llm queue and one prefork process on the concord
queue (cross-validation). Broker and rate limiter: the local Redis, db 13, flushed at start and at the end.

1. throughput (augmentation and recheck off, so only annotate calls are made): calls/s per provider beside the bound
   concurrency / latency and beside raw SDK calls at that concurrency without Concord; target >= 90% of the bound.
   The servers' peak in-flight calls per provider must not exceed the concurrency.
2. crash: the llm worker is SIGKILLed after ~40% of the runs; a new one starts once the jobs it held are older than
   the visibility timeout (JOB_VISIBILITY_TIMEOUT_SECONDS, short here), and the broker delivers them again.
   Every (document, annotator) must have exactly one stored paid call; the servers may have answered more calls
   than are stored only for jobs the killed worker held (answers lost with it), never twice for anything else.
3. second look (augmentation and the blind second opinion on, for a few documents): tokens of purpose="augment" and
   purpose="recheck" calls per document (with recheck on, both annotators are asked, each in one request that mixes
   the augmentation candidates with the other's single-model items) beside the tokens of one full-document annotate
   call of annotator A on the same documents; target <= 75%.

Run: .venv/bin/python bench/annotate.py [--quick] [--docs 500] [--latency 1.5] [--concurrency 8]
(--quick: 80 documents for throughput, 40 for the crash, 8 for the second look, unless given; the crash
recovery waits out the real 30 s lease and visibility timeouts, so even an idle quick run takes over a minute.)
"""

import argparse
import asyncio
import base64
import json
import os
import platform
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Engine
from sqlmodel import Session

from app import migrations
from app.annotation.prompts import annotation_prompt, augmentation_prompt, recheck_prompt
from app.annotation.providers import GeminiProvider, OpenAIProvider, Provider, close_provider
from app.annotation.service import create_annotator, start_annotation
from app.config import get_settings
from app.db import make_engine, session_scope
from app.models import CrawlBatch, Document, Project
from app.models.crawl_batch import BatchStatus
from app.project.label_schema import LabelSchema
from app.project.service import create_project, label_schema_of, resolve_schema
from app.webtext.dedup import text_hash
from app.webtext.sentences import split_sentences

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/ holds the fake model server; it is not an installed package

from tests.fake_llm_server import FakeLLMServer, FakeReply, prompt_text, rough_tokens  # noqa: E402

THROUGHPUT_TARGET = 0.9
SECOND_LOOK_TARGET = 0.75
PROVIDERS = ("openai", "gemini")
POLL = 0.2

# --- Corpus ----------------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡杜叶程苏魏吕沈姚卢"
    "姜崔钟谭陆汪范廖贾夏韦邹孟熊秦邱江尹薛段雷侯龙陶黎贺顾毛郝龚邵严戴莫孔汤"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞刚英玉萍红鹏辉晓婷雪斌宇浩凯健俊帆旭鑫欣琳颖博晨佳慧瑞思"
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
ROLES = _words("工程师 产品经理 研究员 财务总监 技术总监 副总裁 首席科学家 销售经理")
FIELDS = _words("人工智能 新能源 芯片 生物医药 物流 数据服务 智能制造 云计算")
TEMPLATES = (
    "{p1}于{y1}年毕业于{u}，随后加入{c1}担任{role}。",
    "{p2}是{p1}在{c1}的同事，两人目前常驻{l1}。",
    "{y2}年，{p1}与{p3}共同创办了{c2}，总部位于{l2}。",
    "{c1}负责人{p2}表示，公司计划明年在{l1}新增{n1}个{f}岗位。",
    "据{u}统计，{l2}今年吸引了{n2}名{f}专业毕业生。",
    "{p3}的父亲{p4}曾在{u}任教{k}年，退休后定居{l1}。",
)


@dataclass
class Corpus:
    """Generated documents and every name in them with its entity type (what the fake model "recognises")."""

    rng: random.Random
    names: dict[str, str] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.names.update(dict.fromkeys([*UNIVERSITIES, *COMPANIES], "ORG") | dict.fromkeys(PLACES, "LOC"))

    def _people(self, k: int) -> list[str]:
        while True:
            names = [
                self.rng.choice(SURNAMES) + "".join(self.rng.choices(GIVEN, k=self.rng.randint(1, 2))) for _ in range(k)
            ]
            # No name inside another one of the same document: each must be its own span.
            if all(a == b or a not in b for a in names for b in names) and len(set(names)) == k:
                return names

    def documents(self, n: int, tag: str) -> list[tuple[str, str]]:
        """n (title, text) pairs, distinct across the whole run; titles are unique and name the document."""
        out: list[tuple[str, str]] = []
        r = self.rng
        while len(out) < n:
            p = self._people(4)
            c1, c2 = r.sample(COMPANIES, 2)
            l1, l2 = r.sample(PLACES, 2)
            values = {
                "p1": p[0],
                "p2": p[1],
                "p3": p[2],
                "p4": p[3],
                "u": r.choice(UNIVERSITIES),
                "c1": c1,
                "c2": c2,
                "l1": l1,
                "l2": l2,
                "role": r.choice(ROLES),
                "f": r.choice(FIELDS),
                "y1": str(r.randint(1985, 2015)),
                "y2": str(r.randint(2010, 2024)),
                "n1": str(r.randint(20, 900)),
                "n2": str(r.randint(200, 9000)),
                "k": str(r.randint(5, 35)),
            }
            chosen = [TEMPLATES[0], *r.sample(TEMPLATES[1:], r.randint(2, 4))]
            text = "".join(t.format(**values) for t in chosen)
            if text in self.seen:
                continue
            self.seen.add(text)
            self.names.update(dict.fromkeys(p[: 4 if "{p4}" in "".join(chosen) else 3], "PER"))
            out.append((f"{tag}-{len(out) + 1:04d} {c1}简讯", text))
        return out


class Responder:
    """Contract JSON derived from the prompt: the known names in its sentences; B leaves out places."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.pattern = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))

    def __call__(self, provider: str, model: str, request: dict[str, Any]) -> FakeReply:
        prompt = prompt_text(provider, request)
        if "Pairs (head → tails):" in prompt:
            # The blind second opinion (names only, each typed in the answer; pairs grouped by head): every
            # person → organisation pair is 任职于; others are left out.
            listed = prompt.split("Entities:", 1)[1].split("Pairs (head", 1)[0]
            names = dict(re.findall(r"^(E\d+) (.+)$", listed, re.M))
            kinds = {e: self.names.get(name, "NONE") for e, name in names.items()}
            block = prompt.split("Pairs (head → tails):", 1)[1].split("Sentences:", 1)[0]
            pairs = [(h, t) for h, tails in re.findall(r"^(E\d+) → (.+)$", block, re.M) for t in tails.split()]
            found = [f"{h} 任职于 {t} 0" for h, t in pairs if (kinds.get(h), kinds.get(t)) == ("PER", "ORG")]
            return FakeReply(text=json.dumps({"types": kinds, "relations": found}, ensure_ascii=False))
        if "Pairs (head → tail):" in prompt:
            # Augmentation alone (entities shown with their types, numbered pairs): person → organisation is 任职于.
            listed = prompt.split("Entities:", 1)[1].split("Pairs (head", 1)[0]
            kinds = dict(re.findall(r"^(E\d+) .+ \((\w+)\)$", listed, re.M))
            answers = [
                {"pair": int(n), "type": "任职于", "evidence": [0]}
                for n, head, tail in re.findall(r"^(\d+)\. (E\d+) → (E\d+)$", prompt, re.M)
                if (kinds.get(head), kinds.get(tail)) == ("PER", "ORG")
            ]
            return FakeReply(text=json.dumps({"pairs": answers}, ensure_ascii=False))
        sentences = re.findall(r"^\[(\d+)\] (.*)$", prompt.rsplit("Sentences:", 1)[-1], re.M)
        ids: dict[str, str] = {}
        entities: list[dict[str, Any]] = []
        relations: list[dict[str, Any]] = []
        for number, sentence in sentences:
            found = list(dict.fromkeys(self.pattern.findall(sentence)))
            for name in found:
                if name not in ids and not (provider == "gemini" and self.names[name] == "LOC"):
                    ids[name] = f"E{len(ids) + 1}"
                    entities.append({"id": ids[name], "type": self.names[name], "name": name, "mentions": [name]})
            people = [x for x in found if self.names[x] == "PER" and x in ids]
            orgs = [x for x in found if self.names[x] == "ORG" and x in ids]
            if people and orgs and (provider == "openai" or number == "0"):
                relations.append(
                    {"head": ids[people[0]], "tail": ids[orgs[-1]], "type": "任职于", "evidence": [int(number)]}
                )
        return FakeReply(text=json.dumps({"entities": entities, "relations": relations}, ensure_ascii=False))


# --- Processes, database, broker -------------------------------------------------------------------------------


class Worker:
    """`concord worker` as a subprocess, logging to a file."""

    def __init__(self, label: str, *, queues: str, pool: str, concurrency: int, env: dict[str, str], logs: Path):
        self.log = logs / f"worker-{label}.log"
        command = [sys.executable, "-m", "app.cli", "worker", "--queues", queues, "--pool", pool, "--concurrency"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*command, str(concurrency)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b" ready." in self.log.read_bytes():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        tail = self.log.read_text(errors="replace").splitlines()[-15:]
        raise RuntimeError(f"worker {self.log.name} did not start:\n" + "\n".join(tail))

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: only this worker and its children
            self.process.wait()


@dataclass
class Setup:
    project_id: int
    batch_id: int
    a: int
    b: int
    docs: int

    @property
    def annotators(self) -> dict[str, int]:
        return {"openai": self.a, "gemini": self.b}


@dataclass
class Bench:
    args: argparse.Namespace
    engine: Engine
    db: sqlite3.Connection
    broker: redis.Redis
    servers: dict[str, FakeLLMServer]
    env: dict[str, str]
    logs: Path
    workers: list[Worker] = field(default_factory=list)
    killed: Worker | None = None

    def q(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Plain reads: no BEGIN IMMEDIATE, so polling never takes SQLite's write lock from the workers."""
        return self.db.execute(sql, params).fetchall()

    def worker(self, label: str, queues: str, pool: str, concurrency: int) -> Worker:
        w = Worker(label, queues=queues, pool=pool, concurrency=concurrency, env=self.env, logs=self.logs)
        self.workers.append(w)
        w.wait_ready()
        return w

    def calls(self) -> dict[str, int]:
        return {p: s.calls() for p, s in self.servers.items()}

    def project(self, name: str, docs: list[tuple[str, str]], *, augmentation: bool) -> Setup:
        """A project whose second look (augmentation and the blind recheck) is on or off."""
        with Session(self.engine, expire_on_commit=False) as s:
            project = create_project(s, name=name, preset="zh-general")
            project.settings = {**project.settings, "augmentation": augmentation, "recheck": augmentation}
            s.add(project)
            s.flush()
            assert project.id is not None
            batch = CrawlBatch(project_id=project.id, filename=f"{name}.jsonl", status=BatchStatus.done)
            s.add(batch)
            s.flush()
            assert batch.id is not None
            for title, text in docs:
                sentences = [list(x) for x in split_sentences(text)]
                s.add(
                    Document(
                        project_id=project.id,
                        batch_id=batch.id,
                        title=title,
                        text=text,
                        sentences=sentences,
                        text_hash=text_hash(text),
                    )
                )
            params = {"concurrency": self.args.concurrency}
            a = create_annotator(
                s,
                project=project,
                data={"name": "gpt", "provider": "openai", "model": "gpt-bench", "parameters": {"role": "A", **params}},
            )
            b = create_annotator(
                s,
                project=project,
                data={
                    "name": "gem",
                    "provider": "gemini",
                    "model": "gemini-bench",
                    "parameters": {"role": "B", **params},
                },
            )
            s.commit()
            assert a.id is not None and b.id is not None
            return Setup(project.id, batch.id, a.id, b.id, len(docs))

    def enqueue(self, setup: Setup) -> None:
        with session_scope(self.engine) as s:
            project = s.get(Project, setup.project_id)
            assert project is not None
            start_annotation(s, project=project, batch_id=setup.batch_id)  # jobs are sent when this commits

    def finished(self, setup: Setup, kind: str = "annotate") -> dict[int, int]:
        rows = self.q(
            "SELECT annotator_id, COUNT(*) FROM annotator_run WHERE annotator_id IN (?, ?) AND prompt_version LIKE ? "
            "AND status IN ('done', 'failed', 'budget') GROUP BY annotator_id",
            setup.a,
            setup.b,
            f"{kind}%",
        )
        return dict(rows)

    def annotated(self, setup: Setup) -> int:
        sql = "SELECT COUNT(*) FROM document WHERE project_id = ? AND status = 'annotated'"
        return int(self.q(sql, setup.project_id)[0][0])

    def wait(self, what: str, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not done after {timeout:.0f} s (worker logs: {self.logs})")
            if any(w.process.poll() is not None for w in self.workers if w is not self.killed):
                raise RuntimeError(f"a worker exited during {what} (logs: {self.logs})")
            time.sleep(POLL)

    def expected_seconds(self, calls_per_provider: int) -> float:
        return float(calls_per_provider * self.args.latency / self.args.concurrency)


# --- Baseline: the SDKs alone ----------------------------------------------------------------------------------


def sdk_rates(bench: Bench, schema: LabelSchema, guidelines: str, title: str, text: str) -> dict[str, float]:
    """Calls/s of the provider adapters at the annotators' concurrency, no Concord around them (same servers)."""
    sentences = split_sentences(text)
    prompt = annotation_prompt(
        schema, guidelines, title=title, text=text, sentences=sentences, ids=list(range(len(sentences)))
    )
    n = bench.args.concurrency * 6
    providers: dict[str, Provider] = {
        "openai": OpenAIProvider(
            "gpt-bench", api_key=bench.env["OPENAI_API_KEY"], base_url=bench.env["OPENAI_BASE_URL"]
        ),
        "gemini": GeminiProvider(
            "gemini-bench", api_key=bench.env["GEMINI_API_KEY"], base_url=bench.env["GOOGLE_GEMINI_BASE_URL"]
        ),
    }

    async def drive(provider: Provider) -> float:
        gate = asyncio.Semaphore(bench.args.concurrency)

        async def one() -> None:
            async with gate:
                await provider.complete(
                    system=prompt.system,
                    user=prompt.user,
                    json_schema=prompt.json_schema,
                    temperature=0.0,
                    max_output_tokens=4096,
                )

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        elapsed = time.perf_counter() - started
        await close_provider(provider)
        return float(n / elapsed)

    async def both() -> list[float]:
        return list(await asyncio.gather(*(drive(providers[p]) for p in PROVIDERS)))

    return dict(zip(PROVIDERS, asyncio.run(both()), strict=True))


# --- 1. Throughput ---------------------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(bench: Bench, docs: list[tuple[str, str]]) -> dict[str, Any]:
    setup = bench.project("bench-throughput", docs, augmentation=False)
    before = bench.calls()
    pids = {"llm": bench.workers[0].process.pid, "bench": os.getpid()}
    cpu_before = {k: _cpu_seconds(pid) for k, pid in pids.items()}
    started = time.perf_counter()
    bench.enqueue(setup)
    sent = time.perf_counter() - started
    done_at: dict[str, float] = {}
    # Where each provider's capacity goes while it runs: jobs holding a thread, limiter leases, calls at the server.
    busy: dict[str, list[tuple[int, int, int]]] = {p: [] for p in PROVIDERS}
    prefix = get_settings().redis_key_prefix
    deadline = time.monotonic() + 4 * bench.expected_seconds(setup.docs) + 120
    while len(done_at) < len(PROVIDERS):
        counts = bench.finished(setup)
        running = dict(
            bench.q(
                "SELECT annotator_id, COUNT(*) FROM annotator_run WHERE status = 'running' AND annotator_id IN (?, ?) "
                "GROUP BY annotator_id",
                setup.a,
                setup.b,
            )
        )
        now = time.perf_counter() - started
        for provider, aid in setup.annotators.items():
            if provider not in done_at and counts.get(aid, 0) >= setup.docs:
                done_at[provider] = now
            if provider not in done_at:
                leases = int(bench.broker.zcard(f"{prefix}annotator:{aid}:leases"))
                busy[provider].append((running.get(aid, 0), leases, bench.servers[provider].in_flight))
        if time.monotonic() > deadline:
            raise TimeoutError(f"throughput: runs finished {counts} of {setup.docs} each (logs: {bench.logs})")
        time.sleep(POLL)
    last = max(done_at.values())
    cpu = {k: _cpu_seconds(pid) - cpu_before[k] for k, pid in pids.items()}
    bench.wait("cross-validation", lambda: bench.annotated(setup) >= setup.docs, 300)
    crossval_lag = time.perf_counter() - started - last
    after = bench.calls()
    out: dict[str, Any] = {
        "setup": setup,
        "sent_s": sent,
        "wall_s": last,
        "crossval_lag_s": crossval_lag,
        "cpu": cpu,
        "load": _load(),
    }
    for provider, aid in setup.annotators.items():
        job_s, failed, max_job_s = bench.q(
            "SELECT AVG((julianday(finished_at) - julianday(created_at)) * 86400), SUM(status != 'done'), "
            "MAX((julianday(finished_at) - julianday(created_at)) * 86400) "
            "FROM annotator_run WHERE annotator_id = ?",
            aid,
        )[0]
        (call_ms,) = bench.q("SELECT AVG(latency_ms) FROM llm_call WHERE annotator_id = ?", aid)[0]
        calls = after[provider] - before[provider]
        samples = busy[provider] or [(0, 0, 0)]
        out[provider] = {
            "threads": sum(x[0] for x in samples) / len(samples),
            "leases": sum(x[1] for x in samples) / len(samples),
            "in_flight": sum(x[2] for x in samples) / len(samples),
            "calls": calls,
            "seconds": done_at[provider],
            "rate": calls / done_at[provider],
            "failed": int(failed or 0),
            "job_s": float(job_s or 0),
            "max_job_s": float(max_job_s or 0),
            "call_ms": float(call_ms or 0),
        }
    return out


# --- 2. Crash --------------------------------------------------------------------------------------------------


def _held_jobs(broker: redis.Redis, prefix: str) -> list[tuple[dict[str, Any], float]]:
    """Unacknowledged llm-queue jobs (kombu's unacked hash and index): (task kwargs, delivery time)."""
    held = []
    index: list[tuple[bytes | str, float]] = broker.zrange(f"{prefix}unacked_index", 0, -1, withscores=True)  # type: ignore[assignment]
    delivered = dict(index)
    for tag, value in broker.hgetall(f"{prefix}unacked").items():
        payload, _exchange, routing_key = json.loads(value)
        if routing_key == "llm":
            _args, kwargs, _embed = json.loads(base64.b64decode(payload["body"]))
            held.append((kwargs, float(delivered.get(tag, 0.0))))
    return held


def crash(bench: Bench, docs: list[tuple[str, str]], llm: Worker) -> dict[str, Any]:
    setup = bench.project("bench-crash", docs, augmentation=False)
    first_request = {p: len(s.requests) for p, s in bench.servers.items()}
    before = bench.calls()
    total = 2 * setup.docs
    kill_at = int(total * bench.args.crash_at)
    bench.enqueue(setup)
    bench.wait(
        "crash: runs before the kill",
        lambda: sum(bench.finished(setup).values()) >= kill_at,
        2 * bench.expected_seconds(setup.docs) + 120,
    )
    in_flight_at_kill = {p: s.in_flight for p, s in bench.servers.items()}
    bench.killed = llm
    llm.kill()
    killed_at = time.perf_counter()
    done_at_kill = sum(bench.finished(setup).values())
    prefix = get_settings().redis_key_prefix
    held = _held_jobs(bench.broker, prefix)
    held_pairs = {(k["document_id"], k["annotator_id"]) for k, _at in held}
    running = set(
        bench.q(
            "SELECT document_id, annotator_id FROM annotator_run WHERE status = 'running' AND annotator_id IN (?, ?)",
            setup.a,
            setup.b,
        )
    )
    stored_at_kill = {
        tuple(r)
        for r in bench.q(
            "SELECT document_id, annotator_id FROM llm_call WHERE annotator_id IN (?, ?)", setup.a, setup.b
        )
    }
    now_ms = int(bench.broker.time()[0]) * 1000
    leases: dict[str, int] = {}
    stall_ms = 0
    for provider, aid in setup.annotators.items():
        entries = bench.broker.zrange(f"{prefix}annotator:{aid}:leases", 0, -1, withscores=True)
        leases[provider] = len(entries)
        stall_ms = max([stall_ms, *(int(entry[1]) - now_ms for entry in entries)])
    # The abandoned calls still run on the servers for up to one latency; let them end before new ones start.
    bench.wait("abandoned calls", lambda: all(s.in_flight == 0 for s in bench.servers.values()), 30)
    if not bench.args.clear_leases:
        time.sleep(max(0, stall_ms / 1000))
    else:
        for aid in setup.annotators.values():
            bench.broker.delete(f"{prefix}annotator:{aid}:leases")
    # A starting worker's first sweep puts back every unacknowledged job older than the visibility timeout (later
    # sweeps come about every 100 s): start it once the held jobs are that old, as after a real outage.
    newest = max((at for _k, at in held), default=0.0)
    time.sleep(max(0.0, newest + bench.args.visibility_timeout + 1 - time.time()))
    bench.worker("llm-2", "llm", "threads", bench.args.threads)
    bench.wait(
        "crash: runs after the restart",
        lambda: sum(bench.finished(setup).values()) >= total,
        2 * bench.expected_seconds(setup.docs) + 120,
    )
    recovery = time.perf_counter() - killed_at
    still_held = len(_held_jobs(bench.broker, prefix))
    after = bench.calls()
    per_pair = Counter(
        {
            (d, a): n
            for d, a, n in bench.q(
                "SELECT document_id, annotator_id, COUNT(*) FROM llm_call WHERE annotator_id IN (?, ?) "
                "GROUP BY document_id, annotator_id",
                setup.a,
                setup.b,
            )
        }
    )
    titles = dict(bench.q("SELECT title, id FROM document WHERE project_id = ?", setup.project_id))
    asked: Counter[tuple[int, int]] = Counter()
    for provider, server in bench.servers.items():
        for request in server.requests_for(provider)[first_request[provider] :]:
            match = re.search(r"^Document title: (.+)$", prompt_text(provider, request.json or {}), re.M)
            if match and match[1] in titles:
                asked[(titles[match[1]], setup.annotators[provider])] += 1
    failed = bench.q(
        "SELECT COUNT(*) FROM annotator_run WHERE annotator_id IN (?, ?) AND status != 'done'", setup.a, setup.b
    )[0][0]
    return {
        "setup": setup,
        "done_at_kill": done_at_kill,
        "in_flight_at_kill": in_flight_at_kill,
        "held": len(held),
        "held_not_stored": len(held_pairs - stored_at_kill),
        "running_at_kill": len(running),
        "running_not_held": len(running - held_pairs),
        "leases": leases,
        "stall_s": stall_ms / 1000,
        "recovery_s": recovery,
        "still_held": still_held,
        "server_calls": sum(after.values()) - sum(before.values()),
        "stored": sum(per_pair.values()),
        "pairs_not_one": sum(1 for n in per_pair.values() if n != 1) + (total - len(per_pair)),
        "reasked": sum(n - 1 for n in asked.values() if n > 1),
        "reasked_outside_held": sum(n - 1 for pair, n in asked.items() if n > 1 and pair not in held_pairs),
        "failed": int(failed),
    }


# --- 3. Augmentation -------------------------------------------------------------------------------------------


def augmentation(bench: Bench, docs: list[tuple[str, str]]) -> dict[str, Any]:
    setup = bench.project("bench-augment", docs, augmentation=True)
    bench.enqueue(setup)

    def looked() -> bool:
        # The augment job notes its summary on the document when it is done, or why it skipped the document.
        (done,) = bench.q(
            "SELECT COUNT(*) FROM document WHERE project_id = ? AND (json_extract(meta, '$.second_look') IS NOT NULL "
            "OR json_extract(meta, '$.augmentation') LIKE 'skipped: no LLM%')",
            setup.project_id,
        )[0]
        return bool(done >= setup.docs)

    started = time.perf_counter()
    bench.wait("second look", looked, 4 * bench.expected_seconds(5 * setup.docs) + 120)
    seconds = time.perf_counter() - started
    by_purpose = {
        purpose: (int(total or 0), int(calls), int(out or 0))
        for purpose, total, calls, out in bench.q(
            "SELECT purpose, SUM(input_tokens + output_tokens), COUNT(*), SUM(output_tokens) FROM llm_call "
            "WHERE purpose IN ('augment', 'recheck') AND document_id IN (SELECT id FROM document WHERE project_id = ?) "
            "GROUP BY purpose",
            setup.project_id,
        )
    }
    total = sum(t for t, _c, _o in by_purpose.values())
    calls = sum(c for _t, c, _o in by_purpose.values())
    out = sum(o for _t, _c, o in by_purpose.values())
    ann_in, ann_out = bench.q(
        "SELECT AVG(input_tokens), AVG(output_tokens) FROM llm_call WHERE purpose = 'annotate' AND annotator_id = ? "
        "AND document_id IN (SELECT id FROM document WHERE project_id = ?)",
        setup.a,
        setup.project_id,
    )[0]
    (found,) = bench.q(
        "SELECT COUNT(DISTINCT item_id) FROM proposal WHERE item_kind = 'relation' AND augmentation "
        "AND item_id IN (SELECT id FROM relation WHERE document_id IN (SELECT id FROM document WHERE project_id = ?))",
        setup.project_id,
    )[0]
    settled = dict(
        bench.q(
            "SELECT agreement, COUNT(*) FROM (SELECT agreement FROM entity WHERE document_id IN "
            "(SELECT id FROM document WHERE project_id = ?) UNION ALL SELECT agreement FROM relation WHERE document_id "
            "IN (SELECT id FROM document WHERE project_id = ?)) "
            "WHERE agreement IN ('confirmed', 'disputed', 'unconfirmed') GROUP BY agreement",
            setup.project_id,
            setup.project_id,
        )
    )
    with Session(bench.engine) as s:
        project = s.get(Project, setup.project_id)
        assert project is not None
        schema = label_schema_of(project)
    empty = recheck_prompt(schema, text="", sentences=[], ids=[], entities=[], pairs=[], relation_codes=[])
    empty_augment = augmentation_prompt(schema, text="", sentences=[], ids=[], entities=[], pairs=[], relation_codes=[])
    return {
        "setup": setup,
        "seconds": seconds,
        "per_doc": total / setup.docs,
        "augment_per_doc": by_purpose.get("augment", (0, 0, 0))[0] / setup.docs,
        "recheck_per_doc": by_purpose.get("recheck", (0, 0, 0))[0] / setup.docs,
        "calls_per_doc": calls / setup.docs,
        "out_per_call": out / max(calls, 1),
        "annotate": float(ann_in or 0) + float(ann_out or 0),
        "annotate_in": float(ann_in or 0),
        "fixed_per_call": rough_tokens(empty.system + "\n" + empty.user),
        "fixed_augment": rough_tokens(empty_augment.system + "\n" + empty_augment.user),
        "relations": int(found),
        "confirmed": int(settled.get("confirmed", 0)),
        "disputed": int(settled.get("disputed", 0)),
        "unconfirmed": int(settled.get("unconfirmed", 0)),
    }


# --- Report ----------------------------------------------------------------------------------------------------


def _row(name: str, measured: str, bound: str, ratio: str, verdict: str) -> str:
    return f"{name:<44} {measured:>16} {bound:>24} {ratio:>7}  {verdict}"


def _verdict(ok: bool, target: str) -> str:
    return f"{'PASS' if ok else 'FAIL'} ({target})"


def report(
    args: argparse.Namespace,
    sdk: dict[str, float],
    tp: dict[str, Any],
    cr: dict[str, Any],
    au: dict[str, Any],
    peaks: dict[str, int],
) -> Iterator[str]:
    bound = args.concurrency / args.latency
    yield ""
    yield _row("target", "measured", "bound / baseline", "ratio", "result")
    yield "-" * 120
    for provider, label in (("openai", "A"), ("gemini", "B")):
        rate = tp[provider]["rate"]
        yield _row(
            f"throughput {provider} ({label}), calls/s",
            f"{rate:.2f}",
            f"{bound:.2f} (SDK alone {sdk[provider]:.2f})",
            f"{rate / bound:.0%}",
            _verdict(rate >= THROUGHPUT_TARGET * bound, f">= {THROUGHPUT_TARGET:.0%} of bound"),
        )
    peak = " / ".join(str(peaks[p]) for p in PROVIDERS)
    yield _row(
        "peak in-flight calls openai / gemini",
        peak,
        f"<= {args.concurrency}",
        "",
        _verdict(max(peaks.values()) <= args.concurrency, "limiter holds across threads"),
    )
    yield _row(
        "crash: (doc, annotator) without exactly 1 call",
        str(cr["pairs_not_one"]),
        "0",
        "",
        _verdict(cr["pairs_not_one"] == 0, "zero duplicate paid calls"),
    )
    lost = cr["server_calls"] - cr["stored"]
    ok = 0 <= lost <= cr["held_not_stored"] and cr["reasked_outside_held"] == 0
    yield _row(
        "crash: server calls - stored calls",
        str(lost),
        f"<= {cr['held_not_stored']} held by killed wkr",
        "",
        _verdict(ok, "only answers lost at the kill"),
    )
    ratio = au["per_doc"] / au["annotate"] if au["annotate"] else float("inf")
    yield _row(
        "augmentation + recheck tokens per document",
        f"{au['per_doc']:.0f}",
        f"{au['annotate']:.0f} per annotate call",
        f"{ratio:.0%}",
        _verdict(ratio <= SECOND_LOOK_TARGET, f"<= {SECOND_LOOK_TARGET:.0%}"),
    )


def details(args: argparse.Namespace, tp: dict[str, Any], cr: dict[str, Any], au: dict[str, Any]) -> Iterator[str]:
    s = tp["setup"]
    yield (
        f"throughput: {s.docs} documents, {2 * s.docs} jobs sent in {tp['sent_s']:.1f} s, all runs done in "
        f"{tp['wall_s']:.1f} s (ideal {s.docs * args.latency / args.concurrency:.1f} s); cross-validation finished "
        f"{tp['crossval_lag_s']:.1f} s after the last run"
    )
    yield (
        f"  CPU: llm worker {tp['cpu']['llm']:.0f} s ({tp['cpu']['llm'] * 1000 / (2 * s.docs):.0f} ms per job), this "
        f"process (fake servers, polling) {tp['cpu']['bench']:.0f} s, over {tp['wall_s']:.0f} s on {os.cpu_count()} "
        f"CPUs; {tp['load']} at the end"
    )
    for provider in PROVIDERS:
        p = tp[provider]
        yield (
            f"  {provider}: {p['calls']} calls in {p['seconds']:.1f} s, {p['failed']} failed runs, mean job "
            f"{p['job_s']:.2f} s (max {p['max_job_s']:.1f} s, start to finish) for a mean call of "
            f"{p['call_ms'] / 1000:.2f} s; on average "
            f"{p['threads']:.1f} jobs running (threads), {p['leases']:.1f} limiter leases held, {p['in_flight']:.1f} "
            f"calls at the server"
        )
    c = cr["setup"]
    yield (
        f"crash: {c.docs} documents; SIGKILL after {cr['done_at_kill']} of {2 * c.docs} runs with "
        f"{sum(cr['in_flight_at_kill'].values())} calls in flight at the servers "
        f"({' / '.join(str(cr['in_flight_at_kill'][p]) for p in PROVIDERS)}); the killed worker held {cr['held']} jobs "
        f"({cr['held_not_stored']} without a stored call), {cr['running_at_kill']} runs left 'running' "
        f"({cr['running_not_held']} not among the held jobs)"
    )
    yield (
        f"  orphaned limiter leases {' / '.join(str(cr['leases'][p]) for p in PROVIDERS)} would have blocked the new "
        f"worker for {cr['stall_s']:.0f} s: {'cleared by the bench' if args.clear_leases else 'waited'}; the held "
        f"jobs came back through the broker (JOB_VISIBILITY_TIMEOUT_SECONDS={args.visibility_timeout}), "
        f"{cr['still_held']} still unacknowledged at the end"
    )
    yield (
        f"  all runs done {cr['recovery_s']:.1f} s after the kill; servers answered {cr['server_calls']} calls, "
        f"{cr['stored']} stored; {cr['reasked']} requests asked twice ({cr['reasked_outside_held']} outside the held "
        f"jobs); {cr['failed']} runs not done"
    )
    a = au["setup"]
    yield (
        f"second look: {a.docs} documents in {au['seconds']:.1f} s; {au['calls_per_doc']:.1f} augment/recheck calls "
        f"per document (augment {au['augment_per_doc']:.0f} + recheck {au['recheck_per_doc']:.0f} tokens), "
        f"{au['per_doc'] / max(au['calls_per_doc'], 1e-9):.0f} tokens each ({au['out_per_call']:.0f} out), of which "
        f"{au['fixed_per_call']} are the fixed prompt of a recheck call (system + entity and relation types + "
        f"instructions; {au['fixed_augment']} of an augment-only call); annotate call {au['annotate']:.0f} tokens "
        f"({au['annotate_in']:.0f} in); {au['relations']} relations found by the second look, {au['confirmed']} items "
        f"confirmed, {au['disputed']} disputed and {au['unconfirmed']} found but unconfirmed"
    )


def _code_versions() -> dict[Path, int]:
    """Modification times of the code the workers run: a change mid-run mixes prompt versions between processes."""
    return {f: f.stat().st_mtime_ns for d in ("app", "workers") for f in (ROOT / d).rglob("*.py")}


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


# --- Main ------------------------------------------------------------------------------------------------------


def _quiet(_request: Any, _address: Any) -> None:
    return None


def run(args: argparse.Namespace, workdir: Path) -> None:
    corpus = Corpus(random.Random(args.seed))
    sets = {
        "throughput": corpus.documents(args.docs, "T"),
        "crash": corpus.documents(args.crash_docs, "C"),
        "augment": corpus.documents(args.augment_docs, "G"),
    }
    responder = Responder(corpus.names)
    servers = {p: FakeLLMServer(responder, latency=args.latency).start() for p in PROVIDERS}
    for server in servers.values():
        # The killed worker's keep-alive connections are reset; socketserver would print a traceback for each.
        assert server._httpd is not None
        server._httpd.handle_error = _quiet  # type: ignore[method-assign,assignment]
    broker = redis.Redis.from_url(args.redis_url)
    broker.flushdb()
    env = {
        "CONCORD_DATA_DIR": str(workdir / "data"),
        "REDIS_URL": args.redis_url,
        "REDIS_KEY_PREFIX": f"concord-bench-{uuid.uuid4().hex[:8]}:",
        "OPENAI_API_KEY": "sk-bench-not-a-key",
        "OPENAI_BASE_URL": servers["openai"].openai_base_url,
        "GEMINI_API_KEY": "gm-bench-not-a-key",
        "GOOGLE_GEMINI_BASE_URL": servers["gemini"].url,
        "JOB_VISIBILITY_TIMEOUT_SECONDS": str(args.visibility_timeout),
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(env)
    os.environ.pop("DATABASE_URL", None)
    get_settings.cache_clear()
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.sqlalchemy_url)
    engine = make_engine(settings.sqlalchemy_url)
    db = sqlite3.connect(settings.data_dir / "concord.db", isolation_level=None, timeout=30)
    bench = Bench(args, engine, db, broker, servers, {**os.environ}, workdir)
    try:
        print(f"Redis {args.redis_url} (flushed); SQLite {settings.sqlalchemy_url}", flush=True)
        llm = bench.worker("llm", "llm", "threads", args.threads)
        bench.worker("concord", "concord", "prefork", 1)
        schema, guidelines = resolve_schema(preset="zh-general", schema=None, guidelines=None)
        title, text = sets["throughput"][0]
        sdk = sdk_rates(bench, schema, guidelines, title, text)
        print(
            f"baseline: SDK alone at concurrency {args.concurrency}: "
            + ", ".join(f"{p} {r:.2f} calls/s" for p, r in sdk.items()),
            flush=True,
        )
        tp = throughput(bench, sets["throughput"])
        print(f"throughput done in {tp['wall_s']:.1f} s", flush=True)
        cr = crash(bench, sets["crash"], llm)
        print(f"crash done; recovery {cr['recovery_s']:.1f} s", flush=True)
        au = augmentation(bench, sets["augment"])
        peaks = {p: s.max_in_flight for p, s in servers.items()}
        for line in [*details(args, tp, cr, au), *report(args, sdk, tp, cr, au, peaks)]:
            print(line, flush=True)
    finally:
        for w in bench.workers:
            w.stop()
        for server in servers.values():
            server.stop()
        db.close()
        engine.dispose()
        broker.flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small run (80 / 40 / 8 documents unless given)")
    parser.add_argument("--docs", type=int, default=None, help="documents for the throughput run (default 500)")
    parser.add_argument("--latency", type=float, default=1.5, help="seconds per model call (default 1.5)")
    parser.add_argument("--concurrency", type=int, default=8, help="each annotator's concurrency (default 8)")
    parser.add_argument("--threads", type=int, default=24, help="threads of the llm worker (default 24, as serve)")
    parser.add_argument("--crash-docs", type=int, default=None, help="documents for the crash run (default 300)")
    parser.add_argument("--crash-at", type=float, default=0.4, help="share of runs done at the kill (default 0.4)")
    parser.add_argument(
        "--augment-docs", type=int, default=None, help="documents with augmentation and recheck (default 50)"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13", help="a Redis db this bench may flush")
    parser.add_argument(
        "--visibility-timeout", type=int, default=30, help="seconds before a dead worker's jobs return (default 30)"
    )
    parser.add_argument(
        "--clear-leases", action="store_true", help="delete the leases the killed worker left instead of waiting"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the data dir and worker logs")
    args = parser.parse_args()
    sizes = {"docs": (500, 80), "crash_docs": (300, 40), "augment_docs": (50, 8)}
    for name, (full, quick) in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    workdir = Path(tempfile.mkdtemp(prefix="concord-bench-annotate-"))
    started = time.perf_counter()
    print(
        f"Concord annotation benchmark: {args.docs} documents, latency {args.latency} s, concurrency "
        f"{args.concurrency} per annotator, llm worker threads {args.threads}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {_load()}",
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
