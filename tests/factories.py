"""Factory functions for test data, and helpers that act like a browser or an API client."""

import re
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.models import Project, Role, User
from app.project import service as project_service

PASSWORD = "correct horse battery"


def make_user(session: Session, *, username: str = "alice", role: Role = Role.admin, password: str = PASSWORD) -> User:
    user = auth_service.create_user(session, username=username, role=role, password=password)
    session.commit()
    return user


def make_project(session: Session, *, name: str = "新闻 2026", preset: str = "zh-general", **kw: Any) -> Project:
    project = project_service.create_project(session, name=name, preset=preset, **kw)
    session.commit()
    return project


def make_token(session: Session, user: User) -> str:
    _, secret = auth_service.create_api_token(session, user=user)
    session.commit()
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def login(client: TestClient, username: str = "alice", password: str = PASSWORD) -> Response:
    """Sign in through the form, like a browser: fetch the page (CSRF cookie + token), then post."""
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_from(page.text), "next": "/projects"},
        follow_redirects=False,
    )


def page_csrf(client: TestClient, path: str = "/projects") -> str:
    return csrf_from(client.get(path).text)


def warc_response(url: str, body: bytes, *, content_type: str = "text/html", status: int = 200) -> bytes:
    """One WARC/1.0 response record with an HTTP message, as a crawler writes it."""
    http = (
        f"HTTP/1.1 {status} OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    )
    import uuid

    headers = (
        "WARC/1.0\r\nWARC-Type: response\r\n"
        f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\nWARC-Date: 2024-05-18T10:00:00Z\r\n"
        f"WARC-Target-URI: {url}\r\nContent-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {len(http)}\r\n\r\n"
    ).encode()
    return headers + http + b"\r\n\r\n"


def html_page(title: str, paragraphs: list[str], *, charset: str | None = None, nav: str = "首页 新闻 关于我们") -> str:
    meta = f'<meta charset="{charset}">' if charset else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    nav = "<nav>" + " | ".join(f"<a href='/{i}'>{item}</a>" for i, item in enumerate(nav.split())) + "</nav>"
    head = f"<head>{meta}<title>{title}</title></head>"
    return f"<!doctype html><html>{head}<body>{nav}<article>{body}</article></body></html>"


REVIEW_TEXT = (
    "张伟是北京大学的教授。他出生于上海。\n2020年，张伟创办了星河科技。星河科技位于杭州。𠮷祥😀李娜是他的同事。"
)


def make_review_document(
    session: Session,
    project: Project,
    *,
    text: str = REVIEW_TEXT,
    entities: list[tuple[str, str, list[tuple[int, int]], str, str]] | None = None,
    relations: list[tuple[int, int, str, list[int], str, str]] | None = None,
    with_annotators: bool = True,
) -> Any:
    """An annotated document ready for review: entities (type, name, spans, agreement, status) and relations
    (head index, tail index, type, evidence, agreement, status); annotators A and B propose them by agreement."""
    from app.models import (
        Agreement,
        Annotator,
        AnnotatorRun,
        Document,
        DocumentStatus,
        Entity,
        ItemStatus,
        Mention,
        Proposal,
        Relation,
        RunStatus,
    )
    from app.webtext.sentences import split_sentences

    def find(s: str, nth: int = 0) -> tuple[int, int]:
        start = -1
        for _ in range(nth + 1):
            start = text.index(s, start + 1)
        return start, start + len(s)

    if entities is None:
        entities = [
            ("PER", "张伟", [find("张伟"), find("张伟", 1)], "agreed", "proposed"),
            ("ORG", "北京大学", [find("北京大学")], "a_only", "proposed"),
            ("LOC", "上海", [find("上海")], "b_only", "proposed"),
            ("ORG", "星河科技", [find("星河科技"), find("星河科技", 1)], "agreed", "accepted"),
            ("LOC", "杭州", [find("杭州")], "type_conflict", "proposed"),
            ("PER", "李娜", [find("李娜")], "augmented", "proposed"),
        ]
    if relations is None:
        relations = [
            (0, 1, "任职于", [0], "agreed", "proposed"),
            (0, 2, "出生于", [1], "a_only", "proposed"),
            (0, 3, "创办", [2], "agreed", "accepted"),
            (3, 4, "位于", [3], "b_only", "proposed"),
            (0, 5, "同事", [1, 4], "augmented", "proposed"),
        ]
    sentences = [[s, e] for s, e in split_sentences(text)]
    import hashlib

    doc = Document(
        project_id=project.id or 0,
        title="<script>alert(1)</script> 张伟的故事",
        url="javascript:alert(1)",
        language="zh",
        script="hans",
        text=text,
        sentences=sentences,
        text_hash=hashlib.sha256(text.encode()).hexdigest(),
        status=DocumentStatus.annotated,
    )
    session.add(doc)
    session.flush()
    runs: dict[str, AnnotatorRun] = {}
    if with_annotators:
        for role, name in (("A", "model-a"), ("B", "model-b")):
            annotator = session.exec(
                select(Annotator).where(Annotator.project_id == project.id, Annotator.name == name)
            ).first()
            if annotator is None:
                annotator = Annotator(
                    project_id=project.id or 0, name=name, provider="builtin:lexicon", parameters={"role": role}
                )
                session.add(annotator)
                session.flush()
            run = AnnotatorRun(
                document_id=doc.id or 0, annotator_id=annotator.id or 0, prompt_version="v1", status=RunStatus.done
            )
            session.add(run)
            session.flush()
            runs[role] = run

    def propose(kind: str, item_id: int, agreement: str, ptype: str) -> None:
        # Confirmed and disputed: A's first pass (B's blind answer is add_blind_answer's).
        sides = {"agreed": "AB", "type_conflict": "AB", "a_only": "A", "b_only": "B", "augmented": "A"}
        who = (sides | {"confirmed": "A", "disputed": "A"}).get(agreement, "")
        for role in who:
            if role in runs:
                session.add(
                    Proposal(
                        run_id=runs[role].id or 0,
                        item_kind=kind,
                        item_id=item_id,
                        proposed_type=ptype,
                        augmentation=agreement == "augmented",
                    )
                )

    ents = []
    for etype, name, spans, agreement, status in entities:
        e = Entity(
            document_id=doc.id or 0,
            type=etype,
            name=name,
            agreement=Agreement(agreement),
            status=ItemStatus(status),
            grounded=bool(spans),
        )
        session.add(e)
        session.flush()
        for s, end in spans:
            sid = next(i for i, (a, b) in enumerate(sentences) if a <= s < b)
            session.add(
                Mention(
                    entity_id=e.id or 0,
                    document_id=doc.id or 0,
                    start=s,
                    end=end,
                    text=text[s:end],
                    sentence_id=sid,
                    status=ItemStatus(status),
                )
            )
        propose("entity", e.id or 0, agreement, etype)
        ents.append(e)
    rels = []
    for h, t, rtype, evidence, agreement, status in relations:
        r = Relation(
            document_id=doc.id or 0,
            head_id=ents[h].id or 0,
            tail_id=ents[t].id or 0,
            type=rtype,
            evidence=evidence,
            agreement=Agreement(agreement),
            status=ItemStatus(status),
        )
        session.add(r)
        session.flush()
        propose("relation", r.id or 0, agreement, rtype)
        rels.append(r)
    session.commit()
    return doc, ents, rels


def add_blind_answer(session: Session, *, document: Any, item_kind: str, item_id: int, proposed_type: str) -> Any:
    """Annotator B's answer in the blind second opinion about an item (its recheck run, made once per document)."""
    from app.models import Annotator, AnnotatorRun, Proposal, RunStatus

    b = session.exec(
        select(Annotator).where(Annotator.project_id == document.project_id, Annotator.name == "model-b")
    ).one()
    run = session.exec(
        select(AnnotatorRun).where(
            AnnotatorRun.document_id == document.id,
            AnnotatorRun.annotator_id == b.id,
            AnnotatorRun.prompt_version == "recheck-v2",
        )
    ).first()
    if run is None:
        run = AnnotatorRun(
            document_id=document.id, annotator_id=b.id or 0, prompt_version="recheck-v2", status=RunStatus.done
        )
        session.add(run)
        session.flush()
    proposal = Proposal(
        run_id=run.id or 0, item_kind=item_kind, item_id=item_id, proposed_type=proposed_type, payload={"recheck": True}
    )
    session.add(proposal)
    session.flush()
    return proposal


def make_routed_item(
    session: Session,
    *,
    document: Any,
    item_kind: str = "relation",
    item_id: int = 0,
    agreement: str = "agreed",
    proposers: str = "model-a+model-b",
    item_type: str = "任职于",
    route: str = "auto",
    outcome: str | None = None,
    reason: str = "",
) -> Any:
    """A machine item as calibrated routing recorded it (its outcome once its document was curated)."""
    from app.annotation.calibration import slice_key
    from app.models import ItemOutcome, Route, RoutedItem

    routed = RoutedItem(
        project_id=document.project_id,
        document_id=document.id,
        item_kind=item_kind,
        item_id=item_id,
        slice=slice_key(item_kind, agreement, proposers, item_type),
        agreement=agreement,
        proposers=proposers,
        type=item_type,
        route=Route(route),
        reason=reason,
        outcome=None if outcome is None else ItemOutcome(outcome),
    )
    session.add(routed)
    session.flush()
    return routed
