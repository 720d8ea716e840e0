"""Export throughput and peak memory on SQLite and Postgres, beside a plain SELECT of the same rows.

Generates N curated documents (Chinese text of ~8 sentences, 3 entities with 1-2 mentions, 2 relations, two
annotator runs and their proposals per document), then, each in a fresh spawned process that reports its
RSS before and its peak (VmHWM) after:

- baseline: a plain SELECT of the same rows (documents, entities, mentions, relations, proposals with their
  annotators), streamed and discarded;
- the service's streaming export (app.dataset.service.documents_for → exporters) as JSONL and as DocRED, and the
  generative formats seq2seq and chat (their output is smaller or larger per document than JSONL's, so they are
  held to the JSONL export's documents per second in the same run rather than to MB/s);
- once per backend, the HTTP endpoint served by uvicorn, downloaded by a streaming client (server RSS).

Targets: export ≥ 20 MB/s (JSONL, DocRED, HTTP), seq2seq and chat ≥ half the JSONL export's documents/s, and
peak RSS growth ≤ 150 MB for all.
Run: .venv/bin/python bench/export.py [--quick] [--docs N] [--backend sqlite|postgres|both] [--keep]
(--quick: 3,000 documents unless given; the same paths, a smaller set.)
"""

import argparse
import hashlib
import multiprocessing
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024
THROUGHPUT_TARGET = 20.0
RSS_TARGET_MB = 150.0
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
POSTGRES_BENCH = "postgresql+psycopg://postgres@127.0.0.1:5432/concord_bench_export"
CHUNK = 2000

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
PLACES = ["北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆"]
ORGS = ["星河科技", "华夏银行", "东方电子", "长江实业", "北方重工", "南海航运", "天成集团", "远景能源"]
FILLER = "据报道该项目进展顺利相关部门表示将继续推进合作并加强监管以促进行业健康发展同时关注市场变化和社会反响"


def _status_kb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return 0.0


def _pid_status_kb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (the server's, for the HTTP run)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sentence(rng: random.Random, *names: str) -> tuple[str, list[tuple[str, int]]]:
    """A sentence holding the names; returns it and each name's offset in it."""
    parts: list[str] = []
    offsets: list[tuple[str, int]] = []
    for name in names:
        parts.append(FILLER[: rng.randint(4, 12)])
        offsets.append((name, sum(map(len, parts))))
        parts.append(name)
    parts.append(FILLER[rng.randint(0, 20) :][: rng.randint(10, 30)] + "。")
    return "".join(parts), offsets


def _document_rows(i: int, project_id: int, runs: tuple[int, int]) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(i)
    person = rng.choice(SURNAMES) + rng.choice(GIVEN)
    org, place = rng.choice(ORGS), rng.choice(PLACES)
    plan = [(person, org), (), (org, place), (), (person,), (), (place,), ()]
    text = ""
    sentences: list[list[int]] = []
    spans: dict[str, list[tuple[int, int, int]]] = {person: [], org: [], place: []}
    for sid, names in enumerate(plan):
        sentence, offsets = _sentence(rng, *names)
        for name, at in offsets:
            spans[name].append((len(text) + at, len(text) + at + len(name), sid))
        sentences.append([len(text), len(text) + len(sentence)])
        text += sentence
    doc_id = i + 1
    base = i * 3
    out: dict[str, list[dict[str, Any]]] = {"document": [], "entity": [], "mention": [], "relation": [], "proposal": []}
    out["document"].append(
        {
            "id": doc_id,
            "project_id": project_id,
            "title": f"新闻 {doc_id}：{person}与{org}",
            "url": f"https://news.example.cn/{doc_id}.html",
            "language": "zh",
            "script": "hans",
            "text": text,
            "sentences": sentences,
            "text_hash": hashlib.sha256(text.encode() + str(doc_id).encode()).hexdigest(),
            "duplicate_urls": [],
            "status": "curated",
            "version": 3,
            "meta": {},
        }
    )
    types = {person: "PER", org: "ORG", place: "LOC"}
    for k, name in enumerate((person, org, place)):
        entity_id = base + k + 1
        out["entity"].append(
            {"id": entity_id, "document_id": doc_id, "type": types[name], "name": name, "status": "accepted",
             "agreement": "agreed", "grounded": True}
        )  # fmt: skip
        for start, end, sid in spans[name]:
            out["mention"].append(
                {"entity_id": entity_id, "document_id": doc_id, "start": start, "end": end, "text": name,
                 "sentence_id": sid, "status": "accepted"}
            )  # fmt: skip
        for run in runs:
            out["proposal"].append(
                {"run_id": run * 10**7 + doc_id, "item_kind": "entity", "item_id": entity_id,
                 "proposed_type": types[name], "augmentation": False, "payload": {}}
            )  # fmt: skip
    for k, (h, t, r, evidence) in enumerate(((0, 1, "任职于", [0]), (1, 2, "位于", [2]))):
        relation_id = i * 2 + k + 1
        out["relation"].append(
            {"id": relation_id, "document_id": doc_id, "head_id": base + h + 1, "tail_id": base + t + 1, "type": r,
             "evidence": evidence, "status": "accepted", "agreement": "agreed"}
        )  # fmt: skip
        out["proposal"].append(
            {"run_id": runs[k % 2] * 10**7 + doc_id, "item_kind": "relation", "item_id": relation_id,
             "proposed_type": r, "augmentation": False, "payload": {}}
        )  # fmt: skip
    return out


def generate(url: str, docs: int) -> tuple[int, float]:
    """Fill a migrated database with `docs` curated documents; returns the project id and seconds taken."""
    from sqlalchemy import insert
    from sqlmodel import Session

    from app.db import make_engine
    from app.models import Annotator, AnnotatorRun, Document, Entity, Mention, Project, Proposal, Relation
    from app.project.presets import ZH_GENERAL

    started = time.perf_counter()
    engine = make_engine(url)
    with Session(engine) as s:
        # The zh-general preset: chat states the project's schema in every record.
        project = Project(name="bench-export", label_schema=ZH_GENERAL)
        s.add(project)
        s.flush()
        annotators = [Annotator(project_id=project.id or 0, name=n, provider="builtin") for n in ("model-a", "model-b")]
        s.add_all(annotators)
        s.commit()
        project_id = project.id or 0
        annotator_ids = (annotators[0].id or 0, annotators[1].id or 0)
    tables = {"document": Document, "entity": Entity, "mention": Mention, "relation": Relation, "proposal": Proposal}
    with engine.begin() as conn:
        for start in range(0, docs, CHUNK):
            rows: dict[str, list[dict[str, Any]]] = {k: [] for k in tables}
            runs_rows = []
            for i in range(start, min(start + CHUNK, docs)):
                for k, v in _document_rows(i, project_id, (1, 2)).items():
                    rows[k].extend(v)
                for role, annotator_id in enumerate(annotator_ids, start=1):
                    runs_rows.append(
                        {"id": role * 10**7 + i + 1, "document_id": i + 1, "annotator_id": annotator_id,
                         "prompt_version": "v3", "status": "done", "cost": 0.0012}
                    )  # fmt: skip
            conn.execute(insert(Document.__table__), rows["document"])  # type: ignore[attr-defined]
            conn.execute(insert(AnnotatorRun.__table__), runs_rows)  # type: ignore[attr-defined]
            for name in ("entity", "mention", "relation", "proposal"):
                conn.execute(insert(tables[name].__table__), rows[name])  # type: ignore[attr-defined]
            if start and start % 20000 == 0:
                print(f"  generated {start} documents ({time.perf_counter() - started:.0f} s)", flush=True)
        if url.startswith("postgresql"):
            # Explicit ids were given: move the sequences past them, and refresh the planner's statistics.
            for table in ("document", "entity", "relation", "annotator_run"):
                sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
                conn.exec_driver_sql(sql)
    if url.startswith("postgresql"):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return project_id, time.perf_counter() - started


def _plain_select(url: str, project_id: int) -> dict[str, float]:
    """The same rows the export reads, streamed and discarded."""
    from sqlalchemy import select
    from sqlmodel import col

    from app.db import make_engine
    from app.models import Annotator, AnnotatorRun, Document, Entity, Mention, Proposal, Relation

    engine = make_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
        rss = _status_kb("VmRSS")
        cpu = time.process_time()
        started = time.perf_counter()
        rows = 0
        size = 0
        docs = select(col(Document.id)).where(col(Document.project_id) == project_id)
        queries = [
            select(Document.id, Document.title, Document.text, Document.sentences, Document.url, Document.meta)  # type: ignore[call-overload]
            .where(col(Document.project_id) == project_id)
            .order_by(col(Document.id)),
            select(Entity.id, Entity.document_id, Entity.type, Entity.name, Entity.status).where(  # type: ignore[call-overload]
                col(Entity.document_id).in_(docs)
            ),
            select(Mention.entity_id, Mention.start, Mention.end, Mention.text, Mention.sentence_id).where(  # type: ignore[call-overload]
                col(Mention.document_id).in_(docs)
            ),
            select(Relation.id, Relation.head_id, Relation.tail_id, Relation.type, Relation.evidence).where(  # type: ignore[call-overload]
                col(Relation.document_id).in_(docs)
            ),
            select(Proposal.item_kind, Proposal.item_id, Proposal.proposed_type, Annotator.name)  # type: ignore[call-overload]
            .join(AnnotatorRun, col(AnnotatorRun.id) == col(Proposal.run_id))
            .join(Annotator, col(Annotator.id) == col(AnnotatorRun.annotator_id))
            .where(col(AnnotatorRun.document_id).in_(docs)),
        ]
        for query in queries:
            for row in conn.execution_options(stream_results=True, yield_per=2000).execute(query):
                rows += 1
                if len(row) > 2 and isinstance(row[2], str):
                    size += len(row[2])
        seconds = time.perf_counter() - started
    engine.dispose()
    cpu = time.process_time() - cpu
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": rows, "rss_growth_mb": (_status_kb("VmHWM") - rss) / 1024}


def _export(url: str, project_id: int, fmt: str) -> dict[str, float]:
    from sqlmodel import Session

    from app.dataset.document_rows import Selection
    from app.dataset.service import documents_for, writer_for
    from app.db import make_engine
    from app.models import Project

    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as s:
        project = s.get(Project, project_id)
        assert project is not None
        writer = writer_for(fmt, project)
    rss = _status_kb("VmRSS")
    cpu = time.process_time()
    started = time.perf_counter()
    size = 0
    docs = 0
    digest = hashlib.sha256()
    for chunk in writer(documents_for(fmt, engine, Selection(project_id=project_id))):
        size += len(chunk)
        docs += 1  # every writer yields one chunk per document (DocRED: and one before and after)
        digest.update(chunk)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    engine.dispose()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "bytes": size,
        "docs": docs,
        "docs_per_s": docs / seconds,
        "mb_per_s": size / MB / seconds,
        "rss_growth_mb": (_status_kb("VmHWM") - rss) / 1024,
    }


def _in_child(name: str, *args: Any) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        result: dict[str, float] = pool.apply(globals()[name], args)
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _http(url: str, project_id: int, data_dir: Path) -> dict[str, float]:
    """The endpoint under uvicorn, downloaded by a streaming client; memory is the server's."""
    import httpx
    from sqlmodel import Session

    from app.auth import service as auth_service
    from app.db import make_engine
    from app.models import Role

    engine = make_engine(url)
    with Session(engine) as s:
        user = auth_service.create_user(
            s, username=f"bench{time.time_ns()}", role=Role.admin, password=secrets.token_urlsafe(16)
        )
        _, secret = auth_service.create_api_token(s, user=user)
        s.commit()
    engine.dispose()
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "CONCORD_DATA_DIR": str(data_dir), "LOG_LEVEL": "warning"}
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--port", str(port), "--log-level",
         "warning"],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code < 600:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {secret}"}
        httpx.get(f"{base}/api/v1/projects/{project_id}/export?format=jsonl&batch=0", headers=headers)  # warm up
        rss = _pid_status_kb(server.pid, "VmRSS")
        cpu = _cpu_seconds(server.pid)
        started = time.perf_counter()
        size = 0
        with httpx.stream(
            "GET", f"{base}/api/v1/projects/{project_id}/export?format=jsonl", headers=headers, timeout=600
        ) as response:
            response.raise_for_status()
            for chunk in response.iter_raw():
                size += len(chunk)
        seconds = time.perf_counter() - started
        peak = _pid_status_kb(server.pid, "VmHWM")
        cpu = _cpu_seconds(server.pid) - cpu
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "bytes": size,
        "mb_per_s": size / MB / seconds,
        "rss_growth_mb": (peak - rss) / 1024,
    }


def _postgres(create: bool) -> None:
    from sqlalchemy import text

    from app.db import make_engine

    admin = make_engine(POSTGRES_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "concord_bench_export" WITH (FORCE)'))
        if create:
            conn.execute(text('CREATE DATABASE "concord_bench_export"'))
    admin.dispose()


def _backends(choice: str, tmp: Path) -> Iterator[tuple[str, str]]:
    if choice in ("sqlite", "both"):
        yield "SQLite", f"sqlite:///{tmp / 'bench.db'}"
    if choice in ("postgres", "both"):
        yield "Postgres", POSTGRES_BENCH


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small run (3,000 documents unless given)")
    parser.add_argument("--docs", type=int, default=None, help="documents (default 100,000; quick 3,000)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--no-http", action="store_true", help="skip the uvicorn endpoint run")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file and the Postgres database")
    args = parser.parse_args()
    if args.docs is None:
        args.docs = 3_000 if args.quick else 100_000
    print(f"targets: export ≥ {THROUGHPUT_TARGET:.0f} MB/s, peak RSS growth ≤ {RSS_TARGET_MB:.0f} MB", flush=True)

    from app import migrations

    tmp = Path(tempfile.mkdtemp(prefix="concord-bench-export-"))
    ok = True
    try:
        for label, url in _backends(args.backend, tmp):
            if url.startswith("postgresql"):
                _postgres(create=True)
            migrations.upgrade(url)
            project_id, generated = generate(url, args.docs)
            print(f"\n{label}: {args.docs} documents generated in {generated:.1f} s", flush=True)
            plain = _in_child("_plain_select", url, project_id)
            print(
                f"  plain SELECT of the same rows: {plain['rows']:.0f} rows in {plain['seconds']:.2f} s "
                f"({plain['rows'] / plain['seconds']:.0f} rows/s; {plain['cpu_seconds']:.2f} CPU-s; "
                f"RSS +{plain['rss_growth_mb']:.0f} MB)",
                flush=True,
            )
            runs = [(f"service {fmt}", _in_child("_export", url, project_id, fmt)) for fmt in ("jsonl", "docred")]
            if not args.no_http:
                runs.append(("HTTP jsonl", _in_child("_http", url, project_id, tmp / "data")))
            for name, r in runs:
                good = r["mb_per_s"] >= THROUGHPUT_TARGET and r["rss_growth_mb"] <= RSS_TARGET_MB
                ok &= good
                baseline = r["bytes"] / MB / plain["seconds"]
                print(
                    f"  {name:<14} {r['bytes'] / MB:8.1f} MB in {r['seconds']:6.2f} s = {r['mb_per_s']:6.1f} MB/s "
                    f"(plain SELECT of its rows: {plain['seconds']:.2f} s, i.e. {baseline:.1f} MB/s of this output; "
                    f"export/SELECT time {r['seconds'] / plain['seconds']:.1f}x; "
                    f"{r['bytes'] / MB / max(r['cpu_seconds'], 1e-9):.1f} MB per CPU-s); "
                    f"peak RSS +{r['rss_growth_mb']:.0f} MB  [{'ok' if good else 'MISSED'}]",
                    flush=True,
                )
            jsonl_docs_per_s = runs[0][1]["docs_per_s"]
            for fmt in ("seq2seq", "chat"):
                r = _in_child("_export", url, project_id, fmt)
                good = r["docs_per_s"] >= jsonl_docs_per_s / 2 and r["rss_growth_mb"] <= RSS_TARGET_MB
                ok &= good
                print(
                    f"  service {fmt:<7}{r['bytes'] / MB:8.1f} MB in {r['seconds']:6.2f} s = "
                    f"{r['docs_per_s']:7.0f} documents/s (service jsonl in the same run: {jsonl_docs_per_s:.0f} "
                    f"documents/s, i.e. {r['docs_per_s'] / jsonl_docs_per_s:.2f}x); {r['mb_per_s']:.1f} MB/s; "
                    f"peak RSS +{r['rss_growth_mb']:.0f} MB  [{'ok' if good else 'MISSED'}]",
                    flush=True,
                )
            if url.startswith("postgresql") and not args.keep:
                _postgres(create=False)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")
    verdict = "met" if ok else "MISSED"
    print(f"\ntargets: ≥ {THROUGHPUT_TARGET:.0f} MB/s, peak RSS growth ≤ {RSS_TARGET_MB:.0f} MB: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
