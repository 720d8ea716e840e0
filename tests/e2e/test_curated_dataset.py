"""The whole loop through a running Concord: upload, annotate, review over the API, freeze a snapshot,
download it with a token from a script, and score it with the official DocRED scorer."""

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.dataset.docred_official_eval import official_evaluate
from tests.live_server import LiveConcord, run_cli

pytestmark = pytest.mark.e2e

SAMPLE = Path(__file__).resolve().parents[2] / "app" / "demo" / "sample_batch.jsonl"


def _wait(fetch: Any, done: Any, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"still waiting: {value}"
        time.sleep(0.5)


def test_reviewed_batch_becomes_a_snapshot_a_script_downloads_and_scores(live_concord: LiveConcord) -> None:
    env = live_concord.env
    assert (
        run_cli(
            ["create-user", "--username", "curator", "--role", "admin"], env, stdin="curator passphrase\n"
        ).returncode
        == 0
    )
    assert (
        run_cli(
            ["create-user", "--username", "reader", "--role", "reviewer"], env, stdin="reader passphrase\n"
        ).returncode
        == 0
    )
    admin = {"Authorization": "Bearer " + run_cli(["token", "create", "--username", "curator"], env).stdout.split()[-1]}
    reviewer = {
        "Authorization": "Bearer " + run_cli(["token", "create", "--username", "reader"], env).stdout.split()[-1]
    }
    api = httpx.Client(base_url=live_concord.url + "/api/v1", timeout=30)

    project = api.post(
        "/projects", json={"name": f"端到端数据集 {time.time_ns()}", "preset": "zh-general"}, headers=admin
    ).json()
    for name, provider, role in (("lex", "builtin:lexicon", "A"), ("pat", "builtin:patterns", "B")):
        made = api.post(
            f"/projects/{project['id']}/annotators",
            json={"name": name, "provider": provider, "parameters": {"role": role}},
            headers=admin,
        )
        assert made.status_code == 201, made.text
    with SAMPLE.open("rb") as f:
        batch = api.post(f"/projects/{project['id']}/batches", files={"file": ("sample.jsonl", f)}, headers=admin)
    assert batch.status_code == 202, batch.text
    batch_id = batch.json()["id"]
    _wait(lambda: api.get(f"/batches/{batch_id}", headers=admin).json(), lambda b: b["status"] == "done")
    assert (
        api.post(f"/projects/{project['id']}/annotate", json={"batch_id": batch_id}, headers=admin).status_code == 202
    )

    def documents() -> list[dict[str, Any]]:
        listing = api.get(f"/projects/{project['id']}/documents", params={"batch": batch_id}, headers=admin).json()
        return [api.get(f"/documents/{d['id']}", headers=admin).json() for d in listing["items"]]

    docs = _wait(documents, lambda ds: ds and all(d["status"] == "annotated" for d in ds), timeout=180)

    # A reviewer curates every document over the API: accept what both agreed and every proposed relation
    # (the builtin pair rarely agrees on relations), then submit.
    for doc in docs:
        r = api.post(
            f"/documents/{doc['id']}/decisions",
            json={"item": "document", "action": "accept_agreed", "version": doc["version"]},
            headers=reviewer,
        )
        assert r.status_code == 200, r.text
        version = r.json()["version"]
        for rel in doc["relations"]:
            if rel["status"] == "proposed":
                r = api.post(
                    f"/documents/{doc['id']}/decisions",
                    json={"item": "relation", "id": rel["id"], "action": "accept", "version": version},
                    headers=reviewer,
                )
                assert r.status_code == 200, r.text
                version = r.json()["version"]
        done = api.post(f"/documents/{doc['id']}/submit", json={"version": version}, headers=reviewer)
        assert done.status_code == 200 and done.json()["status"] == "curated", done.text

    # Only an admin freezes and downloads; a reviewer's token is refused.
    assert (
        api.post(f"/projects/{project['id']}/snapshots", json={"name": "v-test"}, headers=reviewer).status_code == 403
    )
    # A handful of curated documents leaves a split empty: the API asks for the confirmation a person gives.
    body = {"name": "release-1", "seed": 7, "confirm_empty_splits": True}
    snap = api.post(f"/projects/{project['id']}/snapshots", json=body, headers=admin)
    assert snap.status_code == 202, snap.text
    built = _wait(
        lambda: api.get(f"/snapshots/{snap.json()['id']}", headers=admin).json(),
        lambda s: s["status"] in ("done", "failed"),
    )
    assert built["status"] == "done", built
    assert built["version"] == "v1"
    again = api.post(f"/projects/{project['id']}/snapshots", json={"name": "release-1"}, headers=admin)
    assert again.status_code == 409

    # The "script": a plain HTTP client with the token.
    url = live_concord.url + built["files"]["docred"]["all"]
    gold = httpx.get(url, headers=admin, timeout=30)
    assert gold.status_code == 200
    data = json.loads(gold.content)
    assert len(data) == len(docs) and sum(len(d["labels"]) for d in data) > 0
    scores = official_evaluate(
        data,
        [
            {"title": d["title"], "h_idx": lab["h"], "t_idx": lab["t"], "r": lab["r"], "evidence": lab["evidence"]}
            for d in data
            for lab in d["labels"]
        ],
    )
    assert scores["RE_F1"] == 1.0 and scores["Evi_F1"] == 1.0
    jsonl = httpx.get(live_concord.url + built["files"]["jsonl"]["all"], headers=admin, timeout=30)
    first = json.loads(jsonl.content.splitlines()[0])
    assert first["provenance"]["reviewers"] == ["reader"]
