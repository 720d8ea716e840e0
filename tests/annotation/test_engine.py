"""The annotation engine end to end: real SDKs against the fake model server, real databases, real Redis."""

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.annotation import jobs as annotation_jobs
from app.annotation.service import create_annotator
from app.config import get_settings
from app.document.schemas import VoteRead
from app.document.service import document_annotations
from app.models import (
    Agreement,
    AnnotatorRun,
    Document,
    Entity,
    ItemStatus,
    LlmCall,
    Mention,
    Project,
    Relation,
    RoutedItem,
    RunStatus,
)
from app.project.service import create_project
from app.webtext.dedup import text_hash
from app.webtext.sentences import split_sentences
from tests.fake_llm_server import FakeLLMServer, FakeReply, contract_reply, prompt_text

TEXT = (
    "张伟于2008年毕业于北京大学，随后加入华为技术有限公司担任工程师。"
    "他的妻子李娜出生于上海。"
    "2015年，张伟创办了深圳智言科技公司，总部位于深圳市南山区。"
)
ENTITIES_A = [
    {"id": "E1", "type": "PER", "name": "张伟", "mentions": ["张伟"]},
    {"id": "E2", "type": "ORG", "name": "北京大学", "mentions": ["北京大学"]},
    {"id": "E3", "type": "PER", "name": "李娜", "mentions": ["李娜"]},
    {"id": "E4", "type": "LOC", "name": "上海", "mentions": ["上海"]},
    {"id": "E5", "type": "ORG", "name": "华为技术有限公司", "mentions": ["华为技术有限公司"]},
    {"id": "E6", "type": "PER", "name": "王五", "mentions": ["王五"]},  # not in the text: a hallucination
]
RELATIONS_A = [
    {"head": "E1", "tail": "E2", "type": "毕业于", "evidence": [0]},
    {"head": "E3", "tail": "E4", "type": "出生于", "evidence": [1]},
    {"head": "E1", "tail": "E3", "type": "亲属", "evidence": [1]},
]
ENTITIES_B = [
    {"id": "X1", "type": "PER", "name": "张伟", "mentions": ["张伟"]},
    {"id": "X2", "type": "ORG", "name": "北京大学", "mentions": ["北京大学"]},
    {"id": "X3", "type": "PER", "name": "李娜", "mentions": ["李娜"]},
    {"id": "X4", "type": "ORG", "name": "上海", "mentions": ["上海"]},  # type conflict with A's LOC
    {"id": "X7", "type": "ORG", "name": "深圳智言科技公司", "mentions": ["深圳智言科技公司"]},
]
RELATIONS_B = [
    {"head": "X1", "tail": "X2", "type": "毕业于", "evidence": [0]},
    {"head": "X3", "tail": "X1", "type": "亲属", "evidence": [1]},  # symmetric: agrees with A's direction
    {"head": "X1", "tail": "X7", "type": "创办", "evidence": [2]},
]


class World:
    """A committed project with a document and two LLM annotators (openai as A, gemini as B)."""

    def __init__(self, engine: Engine, server: FakeLLMServer) -> None:
        self.engine = engine
        self.server = server
        with Session(engine, expire_on_commit=False) as s:
            self.project = create_project(s, name=f"engine-{id(self)}", preset="zh-general")
            self.project.settings = {**self.project.settings, "audit_rate": 0.0}
            s.flush()
            assert self.project.id is not None
            self.doc = Document(
                project_id=self.project.id,
                text=TEXT,
                title="张伟",
                sentences=[list(x) for x in split_sentences(TEXT)],
                text_hash=text_hash(TEXT),
            )
            s.add(self.doc)
            self.a = create_annotator(
                s,
                project=self.project,
                data={
                    "name": "gpt",
                    "provider": "openai",
                    "model": "gpt-test",
                    "price_input_per_m": 1.0,
                    "price_output_per_m": 2.0,
                    "parameters": {"role": "A", "concurrency": 4},
                },
            )
            self.b = create_annotator(
                s,
                project=self.project,
                data={"name": "gem", "provider": "gemini", "model": "gemini-test", "parameters": {"role": "B"}},
            )
            s.commit()

    def run_all(self) -> None:
        assert self.doc.id is not None and self.a.id is not None and self.b.id is not None
        annotation_jobs.run_annotator(self.doc.id, self.a.id, engine=self.engine)
        annotation_jobs.run_annotator(self.doc.id, self.b.id, engine=self.engine)
        annotation_jobs.crossvalidate(self.doc.id, engine=self.engine)
        annotation_jobs.augment(self.doc.id, engine=self.engine)

    def items(self) -> tuple[list[Entity], list[Relation], dict[int, list[Mention]]]:
        with Session(self.engine) as s:
            entities = list(s.exec(select(Entity).where(Entity.document_id == self.doc.id)))
            relations = list(s.exec(select(Relation).where(Relation.document_id == self.doc.id)))
            mentions: dict[int, list[Mention]] = {}
            for m in s.exec(select(Mention).where(Mention.document_id == self.doc.id)):
                mentions.setdefault(m.entity_id, []).append(m)
        return entities, relations, mentions

    def runs(self) -> list[AnnotatorRun]:
        with Session(self.engine) as s:
            return list(s.exec(select(AnnotatorRun).where(AnnotatorRun.document_id == self.doc.id)))

    def cleanup(self) -> None:
        with Session(self.engine) as s:
            project = s.get(Project, self.project.id)
            if project is not None:
                s.delete(project)
            s.commit()


# The blind second opinion each model gives (by entity name): gpt confirms gem's 深圳智言科技公司 and its 创办;
# gem says 华为技术有限公司 is not an entity and sees no relation between 李娜 and 上海. Both find 张伟 works at 华为.
# Each model is also asked, blind, about its own single-model items: gpt still holds 李娜 出生于 上海.
# Both keep their first types for 上海 (LOC / ORG), so that type conflict stands.
BLIND_TYPES = {
    "openai": {"深圳智言科技公司": "ORG", "上海": "LOC"},
    "gemini": {"华为技术有限公司": "NONE", "上海": "ORG"},
}
BLIND_PAIRS = {
    "openai": {
        ("张伟", "深圳智言科技公司"): "创办",
        ("张伟", "华为技术有限公司"): "任职于",
        ("李娜", "上海"): "出生于",
    },
    "gemini": {("张伟", "华为技术有限公司"): "任职于", ("张伟", "深圳智言科技公司"): "创办"},
}
TRUE_TYPES = {e["name"]: e["type"] for e in [*ENTITIES_A, *ENTITIES_B]}


BLIND = "Pairs (head → tails):"  # the blind second opinion's prompt, and only it


def _names(prompt: str) -> dict[str, str]:
    """Entity label ("E1") → name, as listed in a second-look prompt."""
    return dict(re.findall(r"^(E\d+) (.+)$", prompt.split("\nEntities:\n")[1].split("\nPairs (head")[0], re.M))


def _asked_pairs(prompt: str) -> list[tuple[str, str]]:
    """The (head, tail) labels a blind prompt asks about, from its lines "E1 → E3 E5"."""
    block = prompt.split(f"\n{BLIND}\n")[1].split("\nSentences:")[0]
    return [(head, tail) for head, tails in re.findall(r"^(E\d+) → (.+)$", block, re.M) for tail in tails.split()]


def _blind_answer(provider: str, prompt: str) -> dict[str, Any]:
    names = _names(prompt)
    types = {label: BLIND_TYPES[provider].get(name, TRUE_TYPES.get(name, "NONE")) for label, name in names.items()}
    relations = []
    for head, tail in _asked_pairs(prompt):
        kind = BLIND_PAIRS[provider].get((names[head], names[tail]))
        if kind:
            relations.append(f"{head} {kind} {tail} 0")
    return {"types": types, "relations": relations}


def _responder(provider: str, model: str, request: dict[str, Any]) -> FakeReply:
    prompt = prompt_text(provider, request)
    if "Statements:" in prompt:  # verification: agree with every statement
        items = re.findall(r"^(\d+)\. ", prompt.split("Statements:")[1].split("Sentences:")[0], re.M)
        return FakeReply(text=json.dumps({"votes": [{"item": int(n), "verdict": True} for n in items]}))
    if BLIND in prompt:
        return FakeReply(text=json.dumps(_blind_answer(provider, prompt), ensure_ascii=False))
    if "Pairs (head → tail):" in prompt:  # augmentation alone: 张伟 (PER) works at every ORG he is paired with
        entities = dict(re.findall(r"^(E\d+) (.+)$", prompt.split("Entities:")[1].split("Pairs (head")[0], re.M))
        answers = []
        for n, head, tail in re.findall(r"^(\d+)\. (E\d+) → (E\d+)$", prompt, re.M):
            if entities[head] == "张伟 (PER)" and entities[tail].endswith("(ORG)"):
                answers.append({"pair": int(n), "type": "任职于", "evidence": [0]})
        return FakeReply(text=json.dumps({"pairs": answers}, ensure_ascii=False))
    if provider == "openai":
        return FakeReply(text=contract_reply(ENTITIES_A, RELATIONS_A))
    return FakeReply(text=contract_reply(ENTITIES_B, RELATIONS_B))


@pytest.fixture
def world(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with FakeLLMServer(_responder) as server:
        settings = get_settings()
        monkeypatch.setattr(settings, "openai_api_key", SecretStr("sk-test-SECRET-123"))
        monkeypatch.setattr(settings, "openai_base_url", server.openai_base_url)
        monkeypatch.setattr(settings, "gemini_api_key", SecretStr("gm-test-SECRET-456"))
        monkeypatch.setattr(settings, "google_gemini_base_url", server.url)
        monkeypatch.setattr("app.annotation.providers.asyncio.sleep", _no_sleep)
        w = World(engine, server)
        yield w
        w.cleanup()


async def _no_sleep(_seconds: float) -> None:
    return None


def _by_name(entities: list[Entity]) -> dict[str, Entity]:
    return {e.name: e for e in entities}


def test_two_llms_are_grounded_cross_validated_and_rechecked_blind(world: World) -> None:
    world.run_all()
    entities, relations, mentions = world.items()
    by_name = _by_name(entities)
    assert by_name["张伟"].agreement == Agreement.agreed
    assert by_name["张伟"].status == ItemStatus.accepted  # agreed + grounded, audit rate 0
    assert [TEXT[m.start : m.end] for m in mentions[by_name["张伟"].id or 0]] == ["张伟", "张伟"]
    assert by_name["上海"].agreement == Agreement.type_conflict
    assert by_name["上海"].status == ItemStatus.proposed
    # A alone proposed it and B, asked blind, said it is not an entity.
    assert by_name["华为技术有限公司"].agreement == Agreement.disputed
    assert by_name["华为技术有限公司"].status == ItemStatus.proposed
    # B alone proposed it and A, asked blind, gave the same type: confirmed, and accepted like an agreed item.
    assert by_name["深圳智言科技公司"].agreement == Agreement.confirmed
    assert by_name["深圳智言科技公司"].status == ItemStatus.accepted
    hallucination = by_name["王五"]
    # Nothing in the text supports it: rejected without review (a reviewer can restore it).
    assert (hallucination.grounded, hallucination.status) == (False, ItemStatus.rejected)
    assert hallucination.agreement == Agreement.a_only  # nothing to ask about: it is in no sentence
    assert mentions.get(hallucination.id or 0, []) == []
    names = {e.id: e.name for e in entities}
    triples = {(names[r.head_id], r.type, names[r.tail_id]): r for r in relations}
    assert triples[("张伟", "毕业于", "北京大学")].agreement == Agreement.agreed
    assert triples[("张伟", "毕业于", "北京大学")].status == ItemStatus.accepted
    assert triples[("张伟", "亲属", "李娜")].agreement == Agreement.agreed  # symmetric, opposite directions
    assert triples[("李娜", "出生于", "上海")].agreement == Agreement.disputed
    assert triples[("李娜", "出生于", "上海")].status == ItemStatus.proposed
    assert triples[("张伟", "创办", "深圳智言科技公司")].agreement == Agreement.confirmed
    assert triples[("张伟", "创办", "深圳智言科技公司")].status == ItemStatus.accepted
    # A pair both first passes missed, asked of both models blind: both give it, so it is confirmed and accepted.
    found = triples[("张伟", "任职于", "华为技术有限公司")]
    assert (found.agreement, found.status) == (Agreement.confirmed, ItemStatus.accepted)
    with Session(world.engine) as s:
        document = s.get(Document, world.doc.id)
        assert document is not None
        assert document.meta["second_look"] == "done"


def test_the_second_opinion_is_blind(world: World) -> None:
    world.run_all()
    for provider, other_name in (("openai", "gem"), ("gemini", "gpt")):
        prompts = [
            prompt_text(provider, r.json or {})
            for r in world.server.requests_for(provider)
            if BLIND in prompt_text(provider, r.json or {})
        ]
        assert len(prompts) == 1  # one request per document and annotator
        prompt = prompts[0]
        entity_block = prompt.split("\nEntities:\n")[1].split("\nPairs (head")[0]
        pair_block = prompt.split(f"\n{BLIND}\n")[1].split("\nSentences:")[0]
        # Names only, no type; pairs only, no relation; nothing about who proposed what.
        assert all(re.fullmatch(r"E\d+ [^()]+", line) for line in entity_block.splitlines())
        assert all(re.fullmatch(r"E\d+ → E\d+( E\d+)*", line) for line in pair_block.splitlines())
        for leak in ("propos", "annotator", "agree", other_name, "(PER)", "(ORG)", "(LOC)"):
            assert leak not in prompt
    # gem is asked about A's single relation 李娜 → 上海 among the candidates, and A's single entity.
    gem = next(
        prompt_text("gemini", r.json or {})
        for r in world.server.requests_for("gemini")
        if BLIND in prompt_text("gemini", r.json or {})
    )
    names = _names(gem)
    pairs = {(names[h], names[t]) for h, t in _asked_pairs(gem)}
    assert ("李娜", "上海") in pairs
    assert "华为技术有限公司" in names.values()
    # Each candidate goes to both, asked exactly like the single-model pairs.
    gpt = next(
        prompt_text("openai", r.json or {})
        for r in world.server.requests_for("openai")
        if BLIND in prompt_text("openai", r.json or {})
    )
    gpt_names = _names(gpt)
    gpt_pairs = {(gpt_names[h], gpt_names[t]) for h, t in _asked_pairs(gpt)}
    assert ("张伟", "华为技术有限公司") in pairs and ("张伟", "华为技术有限公司") in gpt_pairs
    # Single-model items go to both: the proposer answers blind about its own too.
    assert ("李娜", "上海") in gpt_pairs and ("张伟", "深圳智言科技公司") in pairs


def test_an_item_its_own_proposer_withdraws_blind_is_rejected_and_a_conflict_both_settle_is_confirmed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(BLIND_PAIRS, "openai", {("张伟", "深圳智言科技公司"): "创办"})  # gpt drops 李娜 出生于 上海
    monkeypatch.setitem(BLIND_TYPES, "gemini", {"华为技术有限公司": "NONE", "上海": "LOC"})  # gem comes round to LOC
    world.run_all()
    entities, relations, _ = world.items()
    by_name = _by_name(entities)
    names = {e.id: e.name for e in entities}
    triples = {(names[r.head_id], r.type, names[r.tail_id]): r for r in relations}
    born = triples[("李娜", "出生于", "上海")]
    assert (born.agreement, born.status) == (Agreement.retracted, ItemStatus.rejected)
    assert (by_name["上海"].agreement, by_name["上海"].type) == (Agreement.confirmed, "LOC")
    assert by_name["上海"].status == ItemStatus.accepted
    with Session(world.engine) as s:
        reasons = {
            (r.item_kind, r.agreement): (r.route, r.reason)
            for r in s.exec(select(RoutedItem).where(RoutedItem.document_id == world.doc.id))
        }
    assert reasons[("relation", "retracted")] == ("reject", "retracted: rejected until reviews show otherwise")


def test_a_new_pair_only_one_model_gives_blind_is_unconfirmed_and_rejected_unless_audited(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(BLIND_PAIRS, "gemini", {("张伟", "深圳智言科技公司"): "创办"})  # gem leaves 张伟 → 华为 out
    world.run_all()
    entities, relations, _ = world.items()
    names = {e.id: e.name for e in entities}
    triples = {(names[r.head_id], r.type, names[r.tail_id]): r for r in relations}
    found = triples[("张伟", "任职于", "华为技术有限公司")]
    assert (found.agreement, found.status) == (Agreement.unconfirmed, ItemStatus.rejected)
    with Session(world.engine) as s:
        routed = s.exec(select(RoutedItem).where(RoutedItem.item_id == found.id, RoutedItem.item_kind == "relation"))
        (row,) = list(routed)
        assert (row.route, row.reason) == ("reject", "unconfirmed: rejected until reviews show otherwise")
        assert row.slice == "relation|unconfirmed|gpt|任职于"


def test_with_recheck_off_augmentation_asks_one_model_with_types_shown(world: World) -> None:
    with Session(world.engine) as s:
        project = s.get(Project, world.project.id)
        assert project is not None
        project.settings = {**project.settings, "recheck": False}
        s.add(project)
        s.commit()
    world.run_all()
    entities, relations, _ = world.items()
    names = {e.id: e.name for e in entities}
    assert _by_name(entities)["华为技术有限公司"].agreement == Agreement.a_only
    triples = {(names[r.head_id], r.type, names[r.tail_id]): r for r in relations}
    assert triples[("李娜", "出生于", "上海")].agreement == Agreement.a_only
    augmented = [r for r in relations if r.agreement == Agreement.augmented]
    assert {(names[r.head_id], r.type, names[r.tail_id]) for r in augmented} == {("张伟", "任职于", "华为技术有限公司")}
    assert all(r.status == ItemStatus.proposed for r in augmented)
    assert world.server.calls("gemini") == 1  # its first pass only


def test_a_failed_second_opinion_leaves_the_items_in_review_with_the_reason(world: World) -> None:
    assert world.doc.id is not None and world.a.id is not None and world.b.id is not None
    annotation_jobs.run_annotator(world.doc.id, world.a.id, engine=world.engine)
    annotation_jobs.run_annotator(world.doc.id, world.b.id, engine=world.engine)
    annotation_jobs.crossvalidate(world.doc.id, engine=world.engine)
    world.server.add_faults("401", provider="gemini")
    annotation_jobs.augment(world.doc.id, engine=world.engine)
    entities, _relations, _ = world.items()
    by_name = _by_name(entities)
    # gem could not answer: A's single items stay A only, in review; gpt's answers still count.
    assert by_name["华为技术有限公司"].agreement == Agreement.a_only
    assert by_name["华为技术有限公司"].status == ItemStatus.proposed
    assert by_name["深圳智言科技公司"].agreement == Agreement.confirmed
    with Session(world.engine) as s:
        document = s.get(Document, world.doc.id)
        assert document is not None
        assert document.meta["second_look"].startswith("gem: ")
        reasons = {
            r.reason
            for r in s.exec(select(RoutedItem).where(RoutedItem.document_id == world.doc.id))
            if r.agreement == "a_only" and r.item_kind == "entity" and r.type == "ORG"
        }
        assert any(reason.startswith("no second opinion (gem: ") for reason in reasons)
        assert "SECRET" not in document.meta["second_look"]
    runs = [r for r in world.runs() if r.annotator_id == world.b.id and r.prompt_version.startswith("recheck")]
    assert runs and runs[0].status == "failed" and runs[0].error


def test_answers_about_unknown_pairs_entities_or_types_are_ignored_and_counted(world: World) -> None:
    def garbage(provider: str, model: str, request: dict[str, Any]) -> FakeReply:
        prompt = prompt_text(provider, request)
        if BLIND in prompt:
            answer = {
                "types": {"E99": "PER", "E1": "NOT_A_TYPE"},
                "relations": ["E1 创办 E999 0", "E1 NOT_A_RELATION E2", "E1 works at E2"],
            }
            return FakeReply(text=json.dumps(answer))
        return _responder(provider, model, request)

    world.server.responder = garbage
    world.run_all()
    entities, _relations, _ = world.items()
    by_name = _by_name(entities)
    assert by_name["华为技术有限公司"].agreement == Agreement.a_only  # no usable answer: unchanged, in review
    assert by_name["华为技术有限公司"].status == ItemStatus.proposed
    with Session(world.engine) as s:
        document = s.get(Document, world.doc.id)
        assert document is not None
        assert "10 answer(s) ignored" in document.meta["second_look"]


def test_malformed_second_opinion_json_leaves_the_items_in_review(world: World) -> None:
    def broken(provider: str, model: str, request: dict[str, Any]) -> FakeReply:
        if BLIND in prompt_text(provider, request):
            return FakeReply(text="{not json")
        return _responder(provider, model, request)

    world.server.responder = broken
    world.run_all()
    by_name = _by_name(world.items()[0])
    assert by_name["华为技术有限公司"].agreement == Agreement.a_only
    assert by_name["深圳智言科技公司"].agreement == Agreement.b_only
    assert by_name["深圳智言科技公司"].status == ItemStatus.proposed


def test_costs_tokens_and_latency_are_recorded_per_run(world: World) -> None:
    world.run_all()
    runs: dict[tuple[int | None, str], AnnotatorRun] = {
        (r.annotator_id, r.prompt_version.split("+")[0]): r for r in world.runs()
    }
    a_run = runs[(world.a.id, "annotate-v1")]
    assert a_run.status == "done"
    assert a_run.input_tokens > 0 and a_run.output_tokens > 0
    expected = (a_run.input_tokens * 1.0 + a_run.output_tokens * 2.0) / 1_000_000
    assert float(a_run.cost) == pytest.approx(expected)
    assert float(runs[(world.b.id, "annotate-v1")].cost) == 0.0  # no prices set
    assert (world.a.id, "recheck-v2") in runs and (world.b.id, "recheck-v2") in runs


def test_a_rerun_pays_nothing_and_changes_nothing(world: World) -> None:
    world.run_all()
    calls = world.server.calls("openai") + world.server.calls("gemini")
    before = sorted((e.name, e.agreement) for e in world.items()[0])
    with Session(world.engine) as s:  # as if a killed worker's job came back: runs not yet marked done
        for run in s.exec(select(AnnotatorRun).where(AnnotatorRun.document_id == world.doc.id)):
            run.status = RunStatus.running
            s.add(run)
        s.commit()
    world.run_all()
    assert world.server.calls("openai") + world.server.calls("gemini") == calls
    assert sorted((e.name, e.agreement) for e in world.items()[0]) == before


def test_rate_limit_and_server_errors_are_retried(world: World) -> None:
    world.server.add_faults("429", "500", provider="openai")
    world.run_all()
    runs = [r for r in world.runs() if r.annotator_id == world.a.id and r.prompt_version.startswith("annotate")]
    assert runs[0].status == "done"
    assert world.server.calls("openai") >= 3


def test_invalid_json_gets_one_repair_request(world: World) -> None:
    world.server.add_faults("invalid_json", provider="gemini")
    world.run_all()
    with Session(world.engine) as s:
        purposes = [c.purpose for c in s.exec(select(LlmCall).where(LlmCall.annotator_id == world.b.id))]
    assert purposes.count("repair") == 1
    assert any(r.status == "done" for r in world.runs() if r.annotator_id == world.b.id)


def test_fenced_json_is_accepted_without_repair(world: World) -> None:
    world.server.add_faults("fenced_json", provider="openai")
    world.run_all()
    with Session(world.engine) as s:
        purposes = [c.purpose for c in s.exec(select(LlmCall).where(LlmCall.annotator_id == world.a.id))]
    assert "repair" not in purposes


def test_repeated_garbage_fails_the_run_with_a_reason_and_the_pair_still_completes(world: World) -> None:
    world.server.add_faults("invalid_json", "invalid_json", provider="gemini")
    world.run_all()
    failed = [r for r in world.runs() if r.annotator_id == world.b.id and r.prompt_version.startswith("annotate")]
    assert failed[0].status == "failed"
    assert "invalid output after one repair" in (failed[0].error or "")
    entities = world.items()[0]
    # Nothing is agreed: B's first pass failed (its blind second opinion may still confirm or dispute A's items).
    assert entities and not any(e.agreement in (Agreement.agreed, Agreement.b_only) for e in entities)


@pytest.mark.parametrize("fault", ["empty", "safety"])
def test_empty_and_blocked_answers_are_recorded(world: World, fault: str) -> None:
    world.server.add_faults(fault, fault, provider="gemini")
    world.run_all()
    run = next(r for r in world.runs() if r.annotator_id == world.b.id and r.prompt_version.startswith("annotate"))
    assert run.status in ("failed", "done")
    if run.status == "failed":
        assert run.error


def test_truncated_output_splits_the_window(world: World) -> None:
    world.server.add_faults("truncated", provider="openai")
    world.run_all()
    run = next(r for r in world.runs() if r.annotator_id == world.a.id and r.prompt_version.startswith("annotate"))
    assert run.status == "done"
    with Session(world.engine) as s:
        annotate_calls = [
            c for c in s.exec(select(LlmCall).where(LlmCall.annotator_id == world.a.id)) if c.purpose == "annotate"
        ]
    assert len(annotate_calls) >= 3  # the cut-off answer, then the two halves


def test_a_missing_key_fails_the_run_naming_the_variable(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "gemini_api_key", None)
    world.run_all()
    run = next(r for r in world.runs() if r.annotator_id == world.b.id)
    assert run.status == "failed"
    assert "GEMINI_API_KEY" in (run.error or "")
    assert "SECRET" not in (run.error or "")


def test_budget_cap_stops_paid_calls_and_can_resume(world: World) -> None:
    with Session(world.engine) as s:
        project = s.get(Project, world.project.id)
        assert project is not None
        project.settings = {**project.settings, "budget_usd": 0.0}
        s.add(project)
        s.commit()
    world.run_all()
    assert world.server.calls("openai") == 0
    run = next(r for r in world.runs() if r.annotator_id == world.a.id)
    assert run.status == "budget"
    with Session(world.engine) as s:
        project = s.get(Project, world.project.id)
        assert project is not None
        project.settings = {**project.settings, "budget_usd": 10.0}
        s.add(project)
        s.commit()
    world.run_all()
    assert any(r.status == "done" for r in world.runs() if r.annotator_id == world.a.id)


def test_rebuilding_leaves_no_provenance_behind_for_removed_items(world: World) -> None:
    from app.models import Proposal

    world.run_all()
    assert world.doc.id is not None
    annotation_jobs.crossvalidate(world.doc.id, engine=world.engine)
    annotation_jobs.augment(world.doc.id, engine=world.engine)
    entities, relations, _ = world.items()
    live = {("entity", e.id) for e in entities} | {("relation", r.id) for r in relations}
    with Session(world.engine) as s:
        run_ids = [r.id for r in world.runs()]
        proposals = list(s.exec(select(Proposal).where(col(Proposal.run_id).in_(run_ids))))
    assert proposals
    assert {(p.item_kind, p.item_id) for p in proposals} <= live
    names = {e.id: e.name for e in entities}
    found = {
        (names[r.head_id], names[r.tail_id])
        for r in relations
        if any(p.item_kind == "relation" and p.item_id == r.id and p.augmentation for p in proposals)
    }
    assert found == {("张伟", "华为技术有限公司")}


def test_the_other_model_votes_on_one_sided_relations_without_accepting_them(world: World) -> None:
    with Session(world.engine) as s:
        project = s.get(Project, world.project.id)
        assert project is not None
        project.settings = {**project.settings, "verification": True}
        s.add(project)
        s.commit()
    world.run_all()
    assert world.doc.id is not None
    annotation_jobs.verify(world.doc.id, engine=world.engine)

    with Session(world.engine) as s:
        document = s.get(Document, world.doc.id)
        assert document is not None
        view = document_annotations(s, document)
    names = {e.id: e.name for e in view.entities}
    by_triple = {(names[r.head], r.type, names[r.tail]): r for r in view.relations}
    born = by_triple[("李娜", "出生于", "上海")]  # A only: B (gemini) votes
    assert born.votes == [VoteRead(annotator="gem", vote=True)]
    assert born.status == "proposed"
    founded = by_triple[("张伟", "创办", "深圳智言科技公司")]  # B only: A (openai) votes
    assert founded.votes == [VoteRead(annotator="gpt", vote=True)]
    agreed = by_triple[("张伟", "毕业于", "北京大学")]
    assert agreed.votes == []
