"""Training through the API and the snapshot page: queued on its own queue, followed live, its learnability shown
beside the datasheet (and compared across versions), refused in words before anything is queued, cancelled."""

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.config import get_settings
from app.dataset.jobs import build_snapshot
from app.dataset.service import bind_of
from app.models import Role, TrainingRun
from app.training.jobs import train_model
from tests.dataset.conftest import World
from tests.dataset.conftest import world as world  # the reviewed two-document project of the dataset tests
from tests.factories import bearer, login, make_token, make_user, page_csrf
from tests.modelling.corpus import tiny_docs
from tests.training.conftest import TINY, Setup, make_snapshot

TRAINING_QUEUE = get_settings().redis_key_prefix + "training"


@pytest.fixture
def queue() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(get_settings().client_redis_url)
    client.delete(TRAINING_QUEUE)
    yield client
    client.delete(TRAINING_QUEUE)


def _sent(queue: redis.Redis) -> list[tuple[str, dict[str, int]]]:
    out = []
    for raw in queue.lrange(TRAINING_QUEUE, 0, -1):
        message = json.loads(raw)
        out.append((message["headers"]["task"], json.loads(base64.b64decode(message["body"]))[1]))
    return out


def test_train_over_the_api_then_follow_it_and_see_its_learnability_on_the_page(
    session: Session, app_client: TestClient, setup: Setup, queue: redis.Redis
) -> None:
    admin = bearer(make_token(session, setup.admin))
    v1 = make_snapshot(session, setup.project)
    r = app_client.post(
        f"/api/v1/snapshots/{v1.id}/training-runs", json={"epochs": 2, "seed": 5, "device": "cpu"}, headers=admin
    )
    assert r.status_code == 202, r.text
    created = r.json()
    assert created["status"] == "queued" and created["model_dir"] is None and created["metrics"] == {}
    # Sent after the commit, to the training queue (never the queue ingestion's processes read).
    assert _sent(queue) == [("training.train", {"run_id": created["id"]})]
    login(app_client, "admin")
    live = app_client.get(f"/snapshots/{v1.id}/training", headers={"HX-Request": "true"})
    assert live.status_code == 200 and 'hx-trigger="every 2s"' in live.text and "queued" in live.text
    assert f'id="cancel-run-{created["id"]}"' in live.text

    train_model(created["id"], bind=bind_of(session), base=TINY)  # as the worker would
    got = app_client.get(f"/api/v1/training-runs/{created['id']}", headers=admin).json()
    assert got["status"] == "succeeded" and got["model_dir"] == f"models/{setup.project.id}/run-{created['id']}"
    test = got["metrics"]["test"]
    assert got["metrics"]["seed"] == 5 and test["relations"]["gold"] == 12
    listed = app_client.get(f"/api/v1/snapshots/{v1.id}/training-runs", headers=admin).json()
    assert [run["id"] for run in listed] == [created["id"]]

    panel = app_client.get(f"/snapshots/{v1.id}/training", headers={"HX-Request": "true"}).text
    assert "every 2s" not in panel  # nothing live: polling stops
    assert f'id="learnability-{created["id"]}"' in panel and "seed 5" in panel
    for label, key in (("entities", "entities"), ("relations", "relations")):
        assert f"<th>{label}</th><td>{test[key]['precision']:.4f}</td>" in panel
    assert f"{test['inter_sentence']['f1']:.4f}" in panel and "relation type 任职于" in panel
    assert 'id="train-model"' in panel and "done in" in panel  # the form, and the run's log

    # A second version trained too: the two compare on either snapshot's panel.
    v2 = make_snapshot(session, setup.project, version=2, train=tiny_docs(8, 16))
    second = app_client.post(f"/api/v1/snapshots/{v2.id}/training-runs", json={"epochs": 1}, headers=admin).json()
    train_model(second["id"], bind=bind_of(session), base=TINY)
    compared = app_client.get(f"/snapshots/{v1.id}/training", headers={"HX-Request": "true"}).text
    assert 'id="learnability-compared"' in compared
    assert compared.index("<td>v1</td>") < compared.index("<td>v2</td>")


def test_refusals_come_before_anything_is_queued_on_the_api_and_the_page(
    session: Session, app_client: TestClient, setup: Setup, queue: redis.Redis
) -> None:
    admin = bearer(make_token(session, setup.admin))
    bare = [d.__class__(d.title, d.sentences, d.entities, []) for d in tiny_docs(8)]
    snapshot = make_snapshot(session, setup.project, train=bare)
    r = app_client.post(f"/api/v1/snapshots/{snapshot.id}/training-runs", json={}, headers=admin)
    assert r.status_code == 409
    assert r.json()["detail"] == "Snapshot v1 cannot be trained on: the train split has no relations."
    bad = app_client.post(f"/api/v1/snapshots/{snapshot.id}/training-runs", json={"epochs": 0}, headers=admin)
    assert bad.status_code == 422
    assert app_client.post("/api/v1/snapshots/999999/training-runs", json={}, headers=admin).status_code == 404
    login(app_client, "admin")
    form = {"csrf_token": page_csrf(app_client), "epochs": "3", "seed": "1", "device": "cpu", "backbone": ""}
    page = app_client.post(f"/snapshots/{snapshot.id}/training", data=form, follow_redirects=False)
    assert page.status_code == 409 and "the train split has no relations" in page.text
    assert 'value="3"' in page.text  # what was typed is kept
    assert session.exec(select(TrainingRun)).all() == [] and _sent(queue) == []


def test_the_snapshot_page_pulls_the_panel_and_a_built_snapshot_with_empty_splits_is_refused(
    session: Session, app_client: TestClient, world: World, data_dir: Path, queue: redis.Redis
) -> None:
    # A snapshot built by the real job from two curated documents: its dev and test splits are empty.
    r = app_client.post(
        f"/api/v1/projects/{world.project.id}/snapshots",
        json={"name": "two-docs", "confirm_empty_splits": True},
        headers=world.admin,
    )
    build_snapshot(r.json()["id"], bind=bind_of(session))
    snapshot_id = r.json()["id"]
    login(app_client, "admin")
    page = app_client.get(f"/projects/{world.project.id}/snapshots?snapshot={snapshot_id}")
    assert page.status_code == 200 and 'id="datasheet"' in page.text
    assert f'hx-get="/snapshots/{snapshot_id}/training"' in page.text  # the panel, beside the datasheet
    refused = app_client.post(f"/api/v1/snapshots/{snapshot_id}/training-runs", json={}, headers=world.admin)
    assert refused.status_code == 409
    detail = refused.json()["detail"]  # one curated document: two of the three splits are empty
    assert detail.startswith("Snapshot v1 cannot be trained on: the ") and "split has no documents" in detail
    assert session.exec(select(TrainingRun)).all() == [] and _sent(queue) == []


def test_the_page_form_queues_a_run_and_cancel_stops_it(
    session: Session, app_client: TestClient, setup: Setup, queue: redis.Redis
) -> None:
    snapshot = make_snapshot(session, setup.project)
    login(app_client, "admin")
    form = {"csrf_token": page_csrf(app_client), "epochs": "1", "seed": "2", "device": "auto", "backbone": " "}
    r = app_client.post(f"/snapshots/{snapshot.id}/training", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/projects/{setup.project.id}/snapshots?snapshot={snapshot.id}#training"
    run = session.exec(select(TrainingRun)).one()
    assert (run.backbone, run.epochs, run.seed, run.status) == (None, 1, 2, "queued")
    assert _sent(queue) == [("training.train", {"run_id": run.id})]
    cancel = app_client.post(
        f"/training-runs/{run.id}/cancel", data={"csrf_token": page_csrf(app_client)}, follow_redirects=False
    )
    assert cancel.status_code == 303
    session.refresh(run)
    assert run.status == "cancelled" and run.cancel_requested and run.model_dir is None
    admin = bearer(make_token(session, setup.admin))
    again = app_client.post(f"/api/v1/training-runs/{run.id}/cancel", headers=admin)
    assert again.status_code == 409 and "cancelled already" in again.json()["detail"]


def test_only_admins_train_and_cancel_and_consumers_read_the_figures(
    session: Session, app_client: TestClient, setup: Setup
) -> None:
    snapshot = make_snapshot(session, setup.project)
    reviewer = bearer(make_token(session, make_user(session, username="rev", role=Role.reviewer)))
    assert (
        app_client.post(f"/api/v1/snapshots/{snapshot.id}/training-runs", json={}, headers=reviewer).status_code == 403
    )
    assert app_client.get("/api/v1/training-runs/1", headers=reviewer).status_code == 403
    make_user(session, username="reader", role=Role.consumer)
    login(app_client, "reader")
    panel = app_client.get(f"/snapshots/{snapshot.id}/training")
    assert panel.status_code == 200 and "No model trained on this snapshot yet" in panel.text
    assert 'id="train-form"' not in panel.text
