"""A training run through a running Concord: queued over the API, trained by `concord serve`'s own worker on the
`training` queue, followed until it succeeds, its model written under the data directory."""

import json
import secrets
import time
from typing import Any

import httpx
import pytest

from tests.live_server import LiveConcord, run_cli
from tests.modelling.corpus import tiny_docs, write_docred

pytestmark = pytest.mark.e2e


def _wait(fetch: Any, done: Any, timeout: float = 240.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"still waiting: {value}"
        time.sleep(0.5)


def test_the_serve_worker_trains_a_queued_run_to_the_end(embedded_concord: LiveConcord) -> None:
    live = embedded_concord
    username = f"trainer-{secrets.token_hex(4)}"
    made = run_cli(["create-user", "--username", username, "--role", "admin"], live.env, stdin="a long passphrase\n")
    assert made.returncode == 0, made.stderr
    token = run_cli(["token", "create", "--username", username], live.env).stdout.split()[-1]
    api = httpx.Client(base_url=live.url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    project = api.post("/projects", json={"name": f"训练 {time.time_ns()}", "preset": "zh-general"}).json()
    frozen = api.post(f"/projects/{project['id']}/snapshots", json={"name": "base", "confirm_empty_splits": True})
    assert frozen.status_code == 202, frozen.text
    snapshot = _wait(lambda: api.get(f"/snapshots/{frozen.json()['id']}").json(), lambda s: s["status"] == "done")
    refused = api.post(f"/snapshots/{snapshot['id']}/training-runs", json={"epochs": 1})
    assert refused.status_code == 409 and "split has no documents" in refused.json()["detail"]

    # The test stands in for curation: the snapshot's DocRED splits become the tiny corpus (the files only).
    directory = live.data_dir / "snapshots" / str(project["id"]) / "v1" / "docred"
    for split, docs in (("train", tiny_docs(8)), ("dev", tiny_docs(4, 8)), ("test", tiny_docs(4, 12))):
        write_docred(directory / f"{split}.json", docs)
    started = api.post(f"/snapshots/{snapshot['id']}/training-runs", json={"epochs": 1, "device": "cpu", "seed": 4})
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    done = _wait(lambda: api.get(f"/training-runs/{run_id}").json(), lambda r: r["status"] not in ("queued", "running"))
    assert done["status"] == "succeeded", done
    assert done["model_dir"] == f"models/{project['id']}/run-{run_id}"
    metrics = json.loads((live.data_dir / done["model_dir"] / "metrics.json").read_text(encoding="utf-8"))
    assert metrics == done["metrics"] and metrics["seed"] == 4 and metrics["documents"]["test"] == 4
    assert "epoch 1/1" in done["log"] and done["step"] == done["steps"] > 0
    worker_log = (live.data_dir / "logs" / "worker.log").read_text()
    assert "embedded-training@" in worker_log and "training.train" in worker_log
