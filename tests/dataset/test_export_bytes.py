"""Export bytes pinned: a fixed project (explicit ids and times) exports to exactly the files in golden/.

The files were written by the exporter before its speed-ups (JSONL since rewritten compact, on purpose, parsing to
the same objects); any change to them is a change of the format. Regenerate (only on purpose) with
CONCORD_WRITE_GOLDEN=1.
"""

import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from app.dataset.document_rows import Selection, loads
from app.dataset.loaders import iter_documents
from app.dataset.service import bind_of, plan_export
from app.models import (
    Agreement,
    Annotator,
    AnnotatorRun,
    CrawlBatch,
    Decision,
    Document,
    DocumentStatus,
    Entity,
    ItemStatus,
    Mention,
    Project,
    Proposal,
    Relation,
    ReviewAssignment,
    Role,
    RunStatus,
    User,
)

GOLDEN = Path(__file__).parent / "golden"
BASE = 880_000
T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)

ZH_TEXT = "张伟在北京大学任职。他出生于上海。  \n张伟后来创办了星河科技。"
EN_TOKENS = [["Alice", "met", "Bob", "in", "Paris", "."], ["They", "did", "n't", "stay", "."]]
EN_TEXT = "Alice met Bob in Paris . They did n't stay ."
WORDS_TEXT = "Dr. O'Neil paid $3.14 to U.S.-based\nAcme Corp. on 2024-01-02!\tThen he left."
BARE_TEXT = "王芳在深圳工作。"
PENDING_TEXT = "赵六在成都。"


def _sentences(text: str, *ends: str) -> list[list[int]]:
    out, start = [], 0
    for end in ends:
        stop = text.index(end, start) + len(end)
        out.append([start, stop])
        start = stop
        while start < len(text) and text[start] in " \n":
            start += 1
    return out


def _at(text: str, surface: str, nth: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(nth + 1):
        start = text.index(surface, start + 1)
    return start, start + len(surface)


def _build(session: Session) -> Project:
    users = [
        User(id=BASE + i, username=name, password_hash="x", role=Role.reviewer)
        for i, name in enumerate(("rita", "bob", "carol"), start=1)
    ]
    project = Project(id=BASE, name="golden", label_schema={"entity_types": [{"code": "PER"}], "relation_types": []})
    session.add_all([*users, project])
    session.flush()
    batch = CrawlBatch(id=BASE, project_id=BASE, filename="crawl 2026.warc.gz")
    annotators = [
        Annotator(id=BASE + 1, project_id=BASE, name="model-b", provider="builtin"),
        Annotator(id=BASE + 2, project_id=BASE, name="model-a", provider="builtin"),
    ]
    session.add_all([batch, *annotators])
    session.flush()
    title = "新闻：张伟 & <星河>"
    docs = [
        Document(
            id=BASE + 1, project_id=BASE, batch_id=BASE, url="https://news.example.cn/1", title=title,
            warc_record_id="<urn:uuid:1>", crawl_date=T0, language="zh", text=ZH_TEXT,
            sentences=_sentences(ZH_TEXT, "任职。", "上海。", "科技。"), text_hash="h1", status=DocumentStatus.curated,
            curated_at=T0, meta={"source": "ignored: the batch names the source", "other": 1},
        ),
        Document(
            id=BASE + 2, project_id=BASE, title=title, language="en", text=EN_TEXT,
            sentences=_sentences(EN_TEXT, "Paris .", "stay ."), text_hash="h2", status=DocumentStatus.curated,
            meta={"source": "import:redocred", "docred_sents": EN_TOKENS},
        ),
        Document(
            id=BASE + 3, project_id=BASE, title="  ", language="en", text=WORDS_TEXT,
            sentences=_sentences(WORDS_TEXT, "02!", "left."), text_hash="h3", status=DocumentStatus.curated,
            curated_at=T0,
        ),
        Document(id=BASE + 4, project_id=BASE, title="bare", text=BARE_TEXT, sentences=[], text_hash="h4",
                 status=DocumentStatus.curated, language=None, url=None),
        Document(id=BASE + 5, project_id=BASE, title="pending", language="zh", text=PENDING_TEXT,
                 sentences=_sentences(PENDING_TEXT, "。"), text_hash="h5", status=DocumentStatus.annotated),
    ]  # fmt: skip
    session.add_all(docs)
    session.flush()
    runs = [
        AnnotatorRun(id=BASE + 10 * d + a, document_id=BASE + d, annotator_id=BASE + a, prompt_version=f"v{a}",
                     status=RunStatus.done, cost=0.0012 * a + d / 1000)
        for d in (1, 2, 3, 5) for a in (1, 2)
    ]  # fmt: skip
    session.add_all(runs)
    session.flush()
    # (doc, key, type, name, status, agreement, grounded, mentions as (start, end, status))
    entity_rows = [
        (1, 1, "PER", "张伟", "accepted", "agreed", True, [(*_at(ZH_TEXT, "张伟", 1), "accepted"),
                                                          (*_at(ZH_TEXT, "张伟"), "proposed"),
                                                          (*_at(ZH_TEXT, "他"), "rejected")]),
        (1, 2, "ORG", "北京大学", "accepted", "type_conflict", True, [(*_at(ZH_TEXT, "北京大学"), "accepted")]),
        (1, 3, "LOC", "上海", "rejected", "a_only", True, [(*_at(ZH_TEXT, "上海"), "proposed")]),
        (1, 4, "ORG", "星河 科技", "accepted", "augmented", True, [(*_at(ZH_TEXT, "星河科技"), "accepted")]),
        (1, 5, "PER", "李娜", "accepted", "manual", False, []),
        (1, 6, "MISC", "blank", "accepted", "manual", True, [(*_at(ZH_TEXT, "  "), "accepted")]),
        (1, 7, "LOC", "北京", "accepted", "b_only", True, [(*_at(ZH_TEXT, "北京"), "accepted")]),
        (2, 1, "PER", "Alice", "accepted", "imported", True, [(*_at(EN_TEXT, "Alice"), "accepted")]),
        (2, 2, "PER", "Bob", "accepted", "imported", True, [(*_at(EN_TEXT, "Bob"), "accepted"),
                                                           (*_at(EN_TEXT, "They"), "accepted")]),
        (2, 3, "LOC", "Paris", "accepted", "imported", True, [(*_at(EN_TEXT, "aris"), "accepted")]),
        (3, 1, "PER", "O'Neil", "accepted", "agreed", True, [(*_at(WORDS_TEXT, "Dr. O'Neil"), "accepted"),
                                                            (*_at(WORDS_TEXT, " he "), "accepted")]),
        (3, 2, "ORG", "Acme", "accepted", "agreed", True, [(*_at(WORDS_TEXT, "U.S.-based\nAcme Corp"), "accepted")]),
        (3, 3, "MONEY", "$3.14", "accepted", "a_only", True, [(*_at(WORDS_TEXT, "3.1"), "accepted")]),
        (3, 4, "DATE", "2024", "accepted", "b_only", True, [(*_at(WORDS_TEXT, "2024-01-02!\tThen"), "accepted")]),
        (4, 1, "LOC", "深圳", "accepted", "agreed", True, [(*_at(BARE_TEXT, "深圳"), "accepted")]),
        (5, 1, "PER", "赵六", "proposed", "agreed", True, [(*_at(PENDING_TEXT, "赵六"), "proposed")]),
        (5, 2, "LOC", "成都", "rejected", "b_only", True, [(*_at(PENDING_TEXT, "成都"), "proposed")]),
    ]  # fmt: skip
    mention_id = BASE
    for d, k, etype, name, status, agreement, grounded, mentions in entity_rows:
        # Ids out of text order, so the loader's ordering is pinned too.
        entity_id = BASE + 100 * d + (10 - k)
        session.add(Entity(id=entity_id, document_id=BASE + d, type=etype, name=name, status=ItemStatus(status),
                           agreement=Agreement(agreement), grounded=grounded))  # fmt: skip
        session.flush()
        text = docs[d - 1].text
        sents = docs[d - 1].sentences or [[0, len(text)]]
        for start, end, m_status in mentions:
            mention_id += 1
            sid = max((i for i, (a, _) in enumerate(sents) if a <= start), default=0)
            session.add(Mention(id=mention_id, entity_id=entity_id, document_id=BASE + d, start=start, end=end,
                                text=text[start:end], sentence_id=sid, status=ItemStatus(m_status)))  # fmt: skip
    session.flush()

    def ent(d: int, k: int) -> int:
        return BASE + 100 * d + (10 - k)

    # (doc, key, head, tail, type, evidence, status, agreement)
    relation_rows = [
        (1, 1, 1, 2, "任职于", [0, 0], "accepted", "agreed"),
        (1, 2, 1, 3, "出生于", [1], "accepted", "a_only"),
        (1, 3, 1, 4, "创办", [2, 0], "accepted", "augmented"),
        (1, 4, 1, 6, "blank", [], "accepted", "manual"),
        (1, 5, 4, 2, "合作", [2], "rejected", "b_only"),
        (1, 6, 5, 1, "同事", [], "accepted", "manual"),
        (2, 1, 1, 2, "P26", [0, 1], "accepted", "imported"),
        (2, 2, 2, 3, "P131", [], "accepted", "imported"),
        (3, 1, 1, 2, "pays", [0], "accepted", "agreed"),
        (5, 1, 1, 2, "位于", [0], "proposed", "a_only"),
    ]
    for d, k, h, t, rtype, evidence, status, agreement in relation_rows:
        session.add(Relation(id=BASE + 100 * d + (10 - k), document_id=BASE + d, head_id=ent(d, h), tail_id=ent(d, t),
                             type=rtype, evidence=evidence, status=ItemStatus(status),
                             agreement=Agreement(agreement)))  # fmt: skip
    session.flush()
    proposals: list[tuple[int, int, str, int, str | None, bool, dict[str, Any]]] = [
        (1, 1, "entity", ent(1, 1), "PER", False, {"votes": [1, 2]}),
        (1, 2, "entity", ent(1, 1), "PER", False, {"audit": True}),
        (1, 1, "entity", ent(1, 2), "ORG", False, {}),
        (1, 2, "entity", ent(1, 2), "LOC", False, {"audit": False}),
        (1, 1, "entity", ent(1, 4), None, True, {}),
        (1, 2, "entity", ent(1, 7), "LOC", False, {"note": '"audit": true'}),
        (1, 1, "mention", BASE + 1, "PER", False, {"audit": True}),
        (1, 1, "relation", BASE + 109, "任职于", False, {"audit" : True}),
        (1, 2, "relation", BASE + 109, "任职于", False, {}),
        (1, 2, "relation", BASE + 107, "创办", True, {}),
        (3, 1, "entity", ent(3, 1), "PER", False, {}),
        (3, 2, "entity", ent(3, 1), "PER", False, {}),
        (5, 1, "entity", ent(5, 1), "PER", False, {}),
        (5, 2, "entity", ent(5, 1), "ORG", False, {}),
        (5, 1, "relation", BASE + 509, "位于", False, {}),
    ]  # fmt: skip
    for n, (d, a, kind, item_id, ptype, aug, payload) in enumerate(proposals, start=1):
        session.add(Proposal(id=BASE + n, run_id=BASE + 10 * d + a, item_kind=kind, item_id=item_id,
                             proposed_type=ptype, augmentation=aug, payload=payload))  # fmt: skip
    rita, bob, carol = (u.id for u in users)
    decisions: list[tuple[int, int | None, str | None, int | None, str, Any, datetime | None, int]] = [
        (1, rita, "relation", BASE + 109, "accept", {"rows": [["relation", BASE + 109, {}], ["entity", ent(1, 1), {}],
                                                            ["entity", ent(1, 2), {}], ["mention", BASE + 1, {}]]},
         None, 2),
        (1, bob, "entity", ent(1, 4), "edit", {"rows": [["entity", ent(1, 4), {"name": "星河 科技"}]]}, None, 1),
        (1, bob, "entity", ent(1, 3), "accept", {"rows": []}, T0, 3),
        (1, rita, "entity", ent(1, 3), "undo", {"rows": []}, None, 4),
        (1, None, None, None, "bulk_accept", {"rows": [["entity", ent(1, 7), {}], ["relation", BASE + 108, {}],
                                                       "junk", ["entity"], ["span", 3]]}, None, 5),
        (1, carol, "relation", BASE + 108, "reject", None, None, 6),
        (3, rita, "document", None, "submit", {"summary": "done"}, None, 7),
        (3, rita, "entity", ent(3, 1), "accept", {"rows": "not a list"}, None, 7),
    ]  # fmt: skip
    for n, (d, user_id, d_kind, d_item, action, after, undone, minute) in enumerate(decisions, start=1):
        session.add(Decision(id=BASE + n, document_id=BASE + d, user_id=user_id, item_kind=d_kind or "document",
                             item_id=d_item, action=action, before={"rows": []}, after=after, undone_at=undone,
                             created_at=T0.replace(minute=minute)))  # fmt: skip
    assignments: list[tuple[int, int | None, str, int | None]] = [
        (1, bob, "submitted", 2),
        (1, rita, "submitted", 1),
        (1, carol, "open", None),
        (3, rita, "submitted", 3),
    ]
    for n, (d, user_id, status, submitted) in enumerate(assignments, start=1):
        session.add(ReviewAssignment(id=BASE + n, document_id=BASE + d, user_id=user_id or 0, status=status,
                                     submitted_at=T0.replace(minute=submitted) if submitted else None))  # fmt: skip
    session.flush()
    session.commit()
    return project


CASES = [
    ("curated", None, "jsonl"),
    ("curated", None, "docred"),
    ("curated", None, "conll"),
    ("curated", None, "brat"),
    ("all", None, "jsonl"),
    ("all", None, "docred"),
    ("all", "train", "jsonl"),
    ("all", "dev", "jsonl"),
    ("all", "test", "jsonl"),
]


@pytest.mark.parametrize(("status", "split", "fmt"), CASES)
def test_export_bytes_are_pinned(session: Session, status: str, split: str | None, fmt: str) -> None:
    project = _build(session)
    export = plan_export(session, project_id=project.id or 0, fmt=fmt, status=status, split=split, seed=3)
    data = b"".join(export.chunks)
    name = f"{status}{'-' + split if split else ''}.{fmt}"
    if os.environ.get("CONCORD_WRITE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        (GOLDEN / name).write_bytes(data)
    assert data == (GOLDEN / name).read_bytes()


def test_page_size_does_not_change_the_documents(session: Session) -> None:
    project = _build(session)
    selection = Selection(project_id=project.id or 0, status="all")
    assert list(iter_documents(bind_of(session), selection, page_size=2)) == list(
        iter_documents(bind_of(session), selection)
    )


def test_json_columns_that_orjson_refuses_are_read_as_json_reads_them() -> None:
    # SQLite stores whatever json.dumps wrote: NaN, integers beyond 64 bits, lone surrogates.
    value = loads('{"nan": NaN, "big": 123456789012345678901234567890, "s": "\\ud800"}')
    assert math.isnan(value["nan"]) and value["big"] == 123456789012345678901234567890 and value["s"] == "\ud800"
    assert loads(None) is None and loads("[[0, 3]]") == [[0, 3]]
