"""Snapshots: versioned, built by the job into frozen files with checksums and a datasheet, downloadable, and
scoreable by the official DocRED scorer; later edits never change them."""

import hashlib
import io
import json
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.annotation.contract import AnnotationOutput, parse_model_json
from app.dataset.exporters import parse_target
from app.dataset.jobs import build_snapshot
from app.dataset.service import bind_of
from app.models import DatasetSnapshot, Document, DocumentStatus, Entity
from tests.dataset.conftest import World
from tests.dataset.docred_official_eval import official_evaluate
from tests.factories import login, make_project, make_review_document


def freeze(client: TestClient, world: World, session: Session, **body: Any) -> dict[str, Any]:
    """Create over the API, then run the job the way the worker would (directly, never Celery eager mode). The
    test world holds two documents, so its dev and test splits are empty: confirmed unless the test says not."""
    body.setdefault("confirm_empty_splits", True)
    r = client.post(f"/api/v1/projects/{world.project.id}/snapshots", json=body, headers=world.admin)
    assert r.status_code == 202, r.text
    created = r.json()
    assert created["status"] == "queued"
    build_snapshot(created["id"], bind=bind_of(session))
    session.expire_all()
    got = client.get(f"/api/v1/snapshots/{created['id']}", headers=world.admin)
    assert got.status_code == 200
    return got.json()  # type: ignore[no-any-return]


def download(client: TestClient, world: World, snapshot_id: int, fmt: str, split: str = "all") -> bytes:
    r = client.get(f"/api/v1/snapshots/{snapshot_id}/download?format={fmt}&split={split}", headers=world.admin)
    assert r.status_code == 200, r.text
    return r.content


def test_versions_count_up_and_a_taken_name_is_a_conflict(
    session: Session, app_client: TestClient, world: World
) -> None:
    url = f"/api/v1/projects/{world.project.id}/snapshots"
    ok = {"confirm_empty_splits": True}
    first = app_client.post(url, json={"name": "release", **ok}, headers=world.admin)
    second = app_client.post(url, json={"name": "release-2", "seed": 7, **ok}, headers=world.admin)
    assert (first.status_code, second.status_code) == (202, 202)
    assert (first.json()["version"], second.json()["version"]) == ("v1", "v2")
    # The same keys in the same order as ever, the time as `isoformat()` writes it.
    assert list(first.json()) == [
        "id", "project_id", "name", "version", "status", "seed", "params", "created_at", "error", "checksums", "files"
    ]  # fmt: skip
    assert first.json()["created_at"].endswith("+00:00") and first.json()["files"] == {}
    again = app_client.post(url, json={"name": "release"}, headers=world.admin)
    assert again.status_code == 409 and "already has a snapshot named 'release'" in again.json()["detail"]
    bad = app_client.post(url, json={"name": "x", "split": {"train": 0.9, "dev": 0.3}}, headers=world.admin)
    assert bad.status_code == 422 and "sum to 1" in bad.json()["detail"]
    assert app_client.post(url, json={"name": " "}, headers=world.admin).status_code == 422
    assert app_client.post(url, json={"name": "r"}, headers=world.reviewer).status_code == 403
    listed = app_client.get(url, headers=world.admin).json()
    assert [s["version"] for s in listed] == ["v2", "v1"]
    # Not built yet: its files are not there to download.
    r = app_client.get(f"/api/v1/snapshots/{first.json()['id']}/download?format=jsonl", headers=world.admin)
    assert r.status_code == 409


def test_build_writes_every_format_and_split_with_checksums_and_datasheet(
    session: Session, app_client: TestClient, world: World
) -> None:
    snap = freeze(app_client, world, session, name="v-one", seed=3)
    assert snap["status"] == "done", snap
    assert set(snap["checksums"]) == {
        f"{fmt}/{split}.{ext}"
        for fmt, ext in (
            ("docred", "json"),
            ("jsonl", "jsonl"),
            ("brat", "zip"),
            ("conll", "conll"),
            ("seq2seq", "jsonl"),
            ("chat", "jsonl"),
        )
        for split in ("all", "train", "dev", "test")
    }
    for name, digest in snap["checksums"].items():
        fmt, rest = name.split("/")
        data = download(app_client, world, snap["id"], fmt, rest.split(".")[0])
        assert hashlib.sha256(data).hexdigest() == digest, name
    assert list(snap)[-2:] == ["files", "datasheet"] and snap["error"] is None
    assert snap["files"]["jsonl"]["dev"] == f"/api/v1/snapshots/{snap['id']}/download?format=jsonl&split=dev"
    sheet = snap["datasheet"]
    assert sheet["version"] == "v1" and sheet["documents"]["all"] == 1
    assert sum(sheet["documents"][s] for s in ("train", "dev", "test")) == 1
    assert sheet["entities"] == {"total": 3, "by_type": {"ORG": 2, "PER": 1}}
    assert sheet["relations"]["by_type"] == {"任职于": 1, "创办": 1}
    # 张伟 has a mention in each relation's sentence: both are intra-sentence.
    assert (sheet["relations"]["cross_sentence"], sheet["relations"]["cross_sentence_share"]) == (0, 0.0)
    assert sheet["annotators"] == [
        {"name": "model-a", "prompt_versions": ["v1"]},
        {"name": "model-b", "prompt_versions": ["v1"]},
    ]
    assert sheet["reviewers"] == ["rita"]
    assert sheet["agreement"]["pair"] == {"a": "model-a", "b": "model-b"}
    assert sheet["agreement"]["model_vs_model"]["documents"] == 1
    assert "cost" in sheet and sheet["selection"]["seed"] == 3
    [doc] = [json.loads(line) for line in download(app_client, world, snap["id"], "jsonl").splitlines()]
    assert doc["provenance"]["split"] in ("train", "dev", "test")
    own_split = doc["provenance"]["split"]
    assert len(download(app_client, world, snap["id"], "jsonl", own_split).splitlines()) == 1
    other = next(s for s in ("train", "dev", "test") if s != own_split)
    assert download(app_client, world, snap["id"], "docred", other) == b"[]"
    assert zipfile.ZipFile(io.BytesIO(download(app_client, world, snap["id"], "brat"))).testzip() is None


def test_snapshot_has_the_generative_formats_per_split_with_checksums(
    session: Session, app_client: TestClient, world: World
) -> None:
    snap = freeze(app_client, world, session, name="generative", seed=5)
    assert snap["status"] == "done", snap
    [doc] = [json.loads(line) for line in download(app_client, world, snap["id"], "jsonl").splitlines()]
    own = doc["provenance"]["split"]
    for fmt in ("seq2seq", "chat"):
        assert set(snap["files"][fmt]) == {"all", "train", "dev", "test"}
        for split in ("all", "train", "dev", "test"):
            r = app_client.get(snap["files"][fmt][split], headers=world.admin)
            assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
            assert r.headers["content-disposition"].endswith(f'-v1-{split}-{fmt}.jsonl"')
            assert hashlib.sha256(r.content).hexdigest() == snap["checksums"][f"{fmt}/{split}.jsonl"]
            assert len(r.content.splitlines()) == (1 if split in ("all", own) else 0), (fmt, split)
    [example] = [json.loads(x) for x in download(app_client, world, snap["id"], "seq2seq").splitlines()]
    assert example["input"] == world.curated.text
    assert {t.relation for t in parse_target(example["target"])} == {"任职于", "创办"}
    [record] = [json.loads(x) for x in download(app_client, world, snap["id"], "chat").splitlines()]
    answer = parse_model_json(record["messages"][2]["content"], AnnotationOutput)
    assert {r.type for r in answer.relations} == {"任职于", "创办"}
    formats = snap["datasheet"]["formats"]
    assert formats["seq2seq"] == {"linearisation": "concord-triples-v1", "window_tokens": 1024}
    assert formats["chat"]["contract"] == "v1" and formats["chat"]["prompt_version"].startswith("annotate-v1+")


def test_official_docred_scorer_gives_one_scoring_a_download_against_itself(
    session: Session, app_client: TestClient, world: World
) -> None:
    snap = freeze(app_client, world, session, name="scored")
    truth = json.loads(download(app_client, world, snap["id"], "docred"))
    answers = [
        {"title": d["title"], "h_idx": x["h"], "t_idx": x["t"], "r": x["r"], "evidence": x["evidence"]}
        for d in truth
        for x in d["labels"]
    ]
    assert len(answers) == 2
    scores = official_evaluate(truth, answers)
    assert scores["RE_F1"] == pytest.approx(1.0) and scores["Evi_F1"] == pytest.approx(1.0)
    # And ours, over the API, from the JSONL download (end-to-end predictions: NER measured too).
    files = {"pred": ("pred.jsonl", download(app_client, world, snap["id"], "jsonl"), "application/x-ndjson")}
    r = app_client.post(f"/api/v1/snapshots/{snap['id']}/evaluate", files=files, headers=world.admin)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["docred"]["f1"] == pytest.approx(1.0) and report["ner"]["f1"] == pytest.approx(1.0)
    assert report["relations"]["f1"] == pytest.approx(1.0)
    # Written as before: the report's fields in order, by Python's JSON writer (its spelling of floats).
    assert list(report) == [
        "documents", "ner", "relations", "docred", "intra_sentence", "inter_sentence", "entities_from_gold"
    ]  # fmt: skip
    assert r.content == json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode()
    raw = app_client.post(
        f"/api/v1/snapshots/{snap['id']}/evaluate", content=json.dumps(answers).encode(), headers=world.admin
    )
    assert raw.status_code == 200 and raw.json()["docred"]["f1"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"title": "nope", "h_idx": 0, "t_idx": 1, "r": "x"}]', "item 0 (title 'nope'): this title is not"),
        (b'{"title": "T", "entities": [}\n', "line 1: not valid JSON"),
        (b'[{"title": "TITLE", "h_idx": 0, "t_idx": 9, "r": "x"}]', "refers to entity 9"),
    ],
)
def test_bad_prediction_files_are_a_422_naming_the_first_bad_record(
    session: Session, app_client: TestClient, world: World, body: bytes, message: str
) -> None:
    snap = freeze(app_client, world, session, name="eval")
    title = json.loads(download(app_client, world, snap["id"], "docred"))[0]["title"]
    body = body.replace(b"TITLE", json.dumps(title, ensure_ascii=False)[1:-1].encode())
    files = {"pred": ("pred.json", body, "application/json")}
    r = app_client.post(f"/api/v1/snapshots/{snap['id']}/evaluate", files=files, headers=world.admin)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("predictions: ") and message in r.json()["detail"]


def test_files_never_change_after_later_edits_and_old_versions_stay_downloadable(
    session: Session, app_client: TestClient, world: World
) -> None:
    v1 = freeze(app_client, world, session, name="before")
    formats = ("docred", "jsonl", "brat", "conll", "seq2seq", "chat")
    before = {fmt: download(app_client, world, v1["id"], fmt) for fmt in formats}
    zhang = session.exec(select(Entity).where(Entity.document_id == world.curated.id, Entity.name == "张伟")).one()
    zhang.type = "ORG"
    session.add(zhang)
    session.commit()
    v2 = freeze(app_client, world, session, name="after")
    assert v2["version"] == "v2" and v2["checksums"] != v1["checksums"]
    for fmt, data in before.items():
        assert download(app_client, world, v1["id"], fmt) == data
    assert app_client.get(f"/api/v1/snapshots/{v1['id']}", headers=world.admin).json()["checksums"] == v1["checksums"]
    build_snapshot(v1["id"], bind=bind_of(session))  # delivered again: done already, nothing is rewritten
    assert download(app_client, world, v1["id"], "jsonl") == before["jsonl"]


def test_a_broken_document_fails_the_build_with_a_readable_reason(
    session: Session, app_client: TestClient, world: World
) -> None:
    doc = session.get(Document, world.curated.id)
    assert doc is not None
    doc.sentences = [[0, 10_000]]
    session.add(doc)
    session.commit()
    snap = freeze(app_client, world, session, name="broken")
    assert snap["status"] == "failed"
    assert "cannot be exported" in snap["error"] and f"document '{doc.id}'" in snap["error"]
    assert snap["files"] == {}
    build_snapshot(10**9, bind=bind_of(session))  # a vanished snapshot: a no-op


def test_empty_project_snapshot_has_empty_valid_files(session: Session, app_client: TestClient, world: World) -> None:
    empty = make_project(session, name="空")
    make_review_document(session, empty)  # annotated, never curated
    body = {"name": "none", "confirm_empty_splits": True}
    r = app_client.post(f"/api/v1/projects/{empty.id}/snapshots", json=body, headers=world.admin)
    build_snapshot(r.json()["id"], bind=bind_of(session))
    session.expire_all()
    snap = session.get(DatasetSnapshot, r.json()["id"])
    assert snap is not None and snap.status == "done"
    assert download(app_client, world, snap.id or 0, "docred") == b"[]"
    assert download(app_client, world, snap.id or 0, "jsonl") == b""
    assert snap.datasheet["documents"]["all"] == 0
    assert DocumentStatus.curated not in {
        d.status for d in session.exec(select(Document).where(Document.project_id == empty.id))
    }


def test_datasheet_reports_routing_and_what_no_person_decided(
    session: Session, app_client: TestClient, world: World
) -> None:
    from tests.factories import login, make_routed_item

    curated, pending = world.curated, world.pending
    for i in range(2):  # auto-accepted in the curated document: in the snapshot, no person decided them
        make_routed_item(session, document=curated, item_id=100 + i, route="auto")
    make_routed_item(
        session, document=curated, item_kind="entity", item_id=200, agreement="confirmed", proposers="model-a",
        item_type="PER", route="review", outcome="correct",
    )  # fmt: skip
    make_routed_item(session, document=curated, item_id=300, route="audit", outcome="wrong")
    # Outside the snapshot (not curated): counted nowhere in its totals.
    make_routed_item(session, document=pending, item_id=400, agreement="disputed", proposers="model-a", route="auto")
    session.commit()
    snap = freeze(app_client, world, session, name="routed")
    routing = snap["datasheet"]["routing"]
    assert routing["policy"] == {
        "auto_accept": True,
        "target_precision": 0.97,
        "min_evidence": 30,
        "audit_rate": 0.1,
        "recheck": True,
    }
    assert routing["totals"] == {"auto": 2, "review": 1, "audit": 1, "reject": 0}
    assert routing["curated_unseen"] == 2
    assert routing["audited"] == {"judged": 1, "correct": 0, "precision": 0.0}
    # Only slices people judged, with their record (the disputed one was never judged).
    by_slice = {s["slice"]: s for s in routing["slices"]}
    assert set(by_slice) == {"entity|confirmed|model-a|PER", "relation|agreed|model-a+model-b|任职于"}
    confirmed = by_slice["entity|confirmed|model-a|PER"]
    assert (confirmed["judged"], confirmed["correct"], confirmed["precision"]) == (1, 1, 1.0)
    assert 0 < confirmed["lower_bound"] < 1 and confirmed["trusted"] is True
    agreed = by_slice["relation|agreed|model-a+model-b|任职于"]
    assert (agreed["judged"], agreed["correct"], agreed["precision"], agreed["lower_bound"]) == (1, 0, 0.0, 0.0)
    assert json.loads(json.dumps(routing)) == routing  # plain JSON in datasheet.json
    login(app_client, "admin")
    page = app_client.get(f"/projects/{world.project.id}/snapshots?snapshot={snap['id']}").text
    row = page.split('id="datasheet-routing"')[1].split("</tr>")[0]
    assert "target precision 0.97" in row and "blind second opinion on" in row
    assert "<strong>2</strong> curated items no person decided" in row
    assert "audit sample 0 correct of 1" in row
    assert ">Confirmed blind</span> · model-a · PER: 1/1 correct, lower bound" in page


def test_a_consumer_downloads_snapshots_but_cannot_freeze_or_review(
    session: Session, app_client: TestClient, world: World
) -> None:
    from app.models import Role
    from tests.factories import bearer, login, make_token, make_user

    snap = freeze(app_client, world, session, name="for-consumers")
    consumer = make_user(session, username="reader", role=Role.consumer)
    token = bearer(make_token(session, consumer))
    listed = app_client.get(f"/api/v1/projects/{world.project.id}/snapshots", headers=token)
    assert [s["name"] for s in listed.json()] == ["for-consumers"]
    sheet = app_client.get(f"/api/v1/snapshots/{snap['id']}", headers=token).json()["datasheet"]
    assert sheet == snap["datasheet"]
    got = app_client.get(f"/api/v1/snapshots/{snap['id']}/download?format=jsonl", headers=token)
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == snap["checksums"]["jsonl/all.jsonl"]
    live = app_client.get(f"/api/v1/projects/{world.project.id}/export?format=jsonl", headers=token)
    assert live.status_code == 200 and live.content
    url = f"/api/v1/projects/{world.project.id}/snapshots"
    assert app_client.post(url, json={"name": "mine"}, headers=token).status_code == 403
    assert app_client.get(f"/api/v1/documents/{world.curated.id}", headers=token).status_code == 403

    assert login(app_client, "reader").status_code == 303
    page = app_client.get(f"/projects/{world.project.id}/snapshots")
    assert page.status_code == 200
    assert "for-consumers" in page.text and 'id="freeze-form"' not in page.text
    project_page = app_client.get(f"/projects/{world.project.id}").text
    assert "Snapshots and downloads" in project_page and "Review queue" not in project_page
    download = app_client.get(f"/snapshots/{snap['id']}/download?format=docred&split=train")
    assert download.status_code == 200
    assert app_client.get(f"/projects/{world.project.id}/review", follow_redirects=False).status_code == 403


def test_snapshot_page_offers_the_generative_formats_live_and_frozen(
    session: Session, app_client: TestClient, world: World
) -> None:
    snap = freeze(app_client, world, session, name="页面")
    login(app_client, "admin")
    page = app_client.get(f"/projects/{world.project.id}/snapshots").text
    for fmt in ("seq2seq", "chat"):
        assert f'href="/projects/{world.project.id}/export?format={fmt}&amp;status=curated"' in page
        assert f'href="/snapshots/{snap["id"]}/download?format={fmt}&amp;split=train"' in page
        assert f"{fmt}/test.jsonl" in page, "its checksums are listed"
        live = app_client.get(f"/projects/{world.project.id}/export?format={fmt}")
        assert live.status_code == 200 and live.headers["content-disposition"].endswith(f'-curated-{fmt}.jsonl"')
        frozen = app_client.get(f"/snapshots/{snap['id']}/download?format={fmt}&split=all")
        assert frozen.status_code == 200 and frozen.content == live.content
