"""An imported dataset against an LLM: Re-DocRED dev documents, the fake server replaying the gold with noise."""

import json
import re
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.annotation import jobs as annotation_jobs
from app.annotation.service import create_annotator
from app.config import get_settings
from app.crawl_batch.jobs import ingest_batch
from app.crawl_batch.service import create_batch
from app.crawl_batch.uploads import StoredUpload
from app.models import Agreement, Document, Entity, Mention, Project, Relation
from app.project.service import create_project
from app.webtext.docred import parse_docred
from tests.conftest import FIXTURES
from tests.fake_llm_server import FakeLLMServer, FakeReply, contract_reply, prompt_text

N_DOCS = 12
SYMMETRIC = {"P26", "P190", "P3373"}


def _noise(title: str, kind: str, index: int) -> int:
    """A deterministic number 0..99 per item: the same noise on every run."""
    return zlib.crc32(f"{title}|{kind}|{index}".encode()) % 100


class Gold:
    """What the noisy model says for each document, and what the test therefore expects."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.by_title = {d["title"]: d for d in docs}
        self.expected: dict[str, dict[str, set[Any]]] = {}
        self.answers: dict[str, str] = {}
        for raw in docs:
            parsed = parse_docred(raw)
            title = raw["title"]
            exp: dict[str, set[Any]] = {
                "agreed": set(),
                "type_conflict": set(),
                "a_only": set(),
                "hallucinated": set(),
                "rel_agreed": set(),
                "rel_dropped": set(),
            }
            entities, kept = [], {}
            for i, entity in enumerate(parsed.entities):
                surfaces = list(dict.fromkeys(parsed.text[m.start : m.end] for m in entity.mentions))
                roll = _noise(title, "entity", i)
                if roll < 8:
                    exp["a_only"].add(entity.name)  # the model missed it
                    continue
                kind = entity.type
                if roll >= 94:
                    kind = "MISC" if entity.type != "MISC" else "ORG"
                    exp["type_conflict"].add(entity.name)
                else:
                    exp["agreed"].add(entity.name)
                kept[i] = f"E{i}"
                entities.append({"id": f"E{i}", "type": kind, "name": entity.name, "mentions": surfaces})
            entities.append({"id": "H1", "type": "PER", "name": "Zyxw Qrstuv", "mentions": ["Zyxw Qrstuv"]})
            exp["hallucinated"].add("Zyxw Qrstuv")
            relations = []
            for j, rel in enumerate(parsed.relations):
                if rel.head not in kept or rel.tail not in kept:
                    continue
                key = (parsed.entities[rel.head].name, rel.type, parsed.entities[rel.tail].name)
                if _noise(title, "relation", j) < 10:
                    exp["rel_dropped"].add(key)
                    continue
                exp["rel_agreed"].add(key)
                relations.append(
                    {"head": kept[rel.head], "tail": kept[rel.tail], "type": rel.type, "evidence": rel.evidence}
                )
            self.expected[title] = exp
            self.answers[title] = contract_reply(entities, relations)

    def responder(self, provider: str, model: str, request: dict[str, Any]) -> FakeReply:
        match = re.search(r"^Document title: (.*)$", prompt_text(provider, request), re.M)
        if match is None or match.group(1) not in self.answers:
            return FakeReply(text='{"entities": [], "relations": []}')
        return FakeReply(text=self.answers[match.group(1)])


@pytest.fixture
def imported(
    engine: Engine, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[int, Gold, FakeLLMServer]]:
    docs = json.loads((FIXTURES / "docred" / "redocred_dev.json").read_text())[:N_DOCS]
    gold = Gold(docs)
    path = tmp_path / "redocred_dev.json"
    path.write_text(json.dumps(docs))
    with FakeLLMServer(gold.responder) as server:
        settings = get_settings()
        monkeypatch.setattr(settings, "openai_api_key", SecretStr("sk-test-SECRET-123"))
        monkeypatch.setattr(settings, "openai_base_url", server.openai_base_url)
        with Session(engine, expire_on_commit=False) as s:
            project = create_project(s, name=f"redocred-{id(gold)}", preset="docred")
            project.settings = {**project.settings, "languages": [], "augmentation": False, "audit_rate": 0.0}
            s.flush()
            batch = create_batch(
                s,
                project=project,
                upload=StoredUpload(path, path.name, path.stat().st_size, "x"),
                fmt=None,
                created_by=None,
            )
            s.commit()
            assert batch.id is not None
        ingest_batch(batch.id, engine=engine)
        with Session(engine, expire_on_commit=False) as s:
            project = s.get_one(Project, project.id)
            llm = create_annotator(
                s,
                project=project,
                data={"name": "gpt", "provider": "openai", "model": "m", "parameters": {"role": "B"}},
            )
            s.commit()
            doc_ids = list(s.exec(select(Document.id).where(Document.project_id == project.id)))
        for doc_id in doc_ids:
            assert doc_id is not None and llm.id is not None
            annotation_jobs.run_annotator(doc_id, llm.id, engine=engine)
            annotation_jobs.crossvalidate(doc_id, engine=engine)
        yield project.id or 0, gold, server
        with Session(engine) as s:
            p = s.get(Project, project.id)
            if p is not None:
                s.delete(p)
            s.commit()


def test_agreement_classes_match_the_injected_noise(engine: Engine, imported: tuple[int, Gold, FakeLLMServer]) -> None:
    project_id, gold, server = imported
    assert server.calls("openai") == N_DOCS
    checked = {"agreed": 0, "type_conflict": 0, "a_only": 0, "hallucinated": 0, "rel_agreed": 0}
    with Session(engine) as s:
        for doc in s.exec(select(Document).where(Document.project_id == project_id)):
            exp = gold.expected[doc.title]
            entities = list(s.exec(select(Entity).where(Entity.document_id == doc.id)))
            by_name: dict[str, list[Entity]] = {}
            for e in entities:
                by_name.setdefault(e.name, []).append(e)
            classes = {name: {e.agreement for e in es} for name, es in by_name.items()}
            for name in exp["agreed"]:
                checked["agreed"] += Agreement.agreed in classes.get(name, set())
            for name in exp["type_conflict"]:
                checked["type_conflict"] += Agreement.type_conflict in classes.get(name, set())
            for name in exp["a_only"]:
                checked["a_only"] += Agreement.a_only in classes.get(name, set())
            for name in exp["hallucinated"]:
                (hallucination,) = by_name[name]
                assert hallucination.agreement == Agreement.b_only
                assert not hallucination.grounded
                checked["hallucinated"] += 1
            names = {e.id: e.name for e in entities}
            agreed_relations = {
                (names[r.head_id], r.type, names[r.tail_id])
                for r in s.exec(select(Relation).where(Relation.document_id == doc.id))
                if r.agreement == Agreement.agreed
            }
            checked["rel_agreed"] += len(exp["rel_agreed"] & agreed_relations)
            for head, code, tail in exp["rel_dropped"]:
                if code in SYMMETRIC and (tail, code, head) in exp["rel_agreed"]:
                    continue  # the kept reverse of a symmetric relation agrees with it, rightly
                assert (head, code, tail) not in agreed_relations
    totals = {k: sum(len(gold.expected[t][k]) for t in gold.expected) for k in checked}
    assert totals["agreed"] > 100 and totals["type_conflict"] > 3 and totals["a_only"] > 3
    for key, found in checked.items():
        # Names shared by two gold entities can pair differently; everything else must be exact.
        assert found >= 0.95 * totals[key], (key, found, totals[key])


def test_grounded_mentions_carry_exact_offsets(engine: Engine, imported: tuple[int, Gold, FakeLLMServer]) -> None:
    project_id, _, _ = imported
    with Session(engine) as s:
        docs = {d.id: d for d in s.exec(select(Document).where(Document.project_id == project_id))}
        mentions = s.exec(select(Mention).where(col(Mention.document_id).in_(list(docs))))
        count = 0
        for m in mentions:
            doc = docs[m.document_id]
            assert doc.text[m.start : m.end] == m.text
            start, end = doc.sentences[m.sentence_id]
            assert start <= m.start < end
            count += 1
    assert count > 200
