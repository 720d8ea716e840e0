"""Freezing a snapshot whose split would be empty warns first: the API answers 409 with the counts unless
`confirm_empty_splits`, the page says so and asks to confirm or change the shares."""

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.dataset.splits import empty_splits, split_counts, split_of
from app.models import DatasetSnapshot
from tests.dataset.conftest import World
from tests.factories import login, page_csrf


def test_counts_per_split_and_which_are_empty() -> None:
    ratios = {"train": 0.8, "dev": 0.1, "test": 0.1}
    ids = [1, 2, 3]
    counts = split_counts(7, ids, ratios)
    assert sum(counts.values()) == 3
    assert counts == {s: sum(split_of(7, i, ratios) == s for i in ids) for s in ("train", "dev", "test")}
    assert empty_splits({"train": 3, "dev": 0, "test": 0}, ratios) == ["dev", "test"]
    # A share of 0 is an empty split on purpose: no warning.
    assert empty_splits({"train": 3, "dev": 0, "test": 0}, {"train": 1.0, "dev": 0.0, "test": 0.0}) == []
    assert empty_splits(dict.fromkeys(ratios, 0), ratios) == ["train", "dev", "test"]


def test_the_api_refuses_an_empty_split_until_confirmed(session: Session, app_client: TestClient, world: World) -> None:
    url = f"/api/v1/projects/{world.project.id}/snapshots"
    # The world has one curated document: at most one split can hold it.
    refused = app_client.post(url, json={"name": "tiny"}, headers=world.admin)
    assert refused.status_code == 409
    body = refused.json()
    assert body["detail"].startswith("With 1 curated document and ratios train 0.8 / dev 0.1 / test 0.1, the ")
    assert "would be empty" in body["detail"] and "confirm" in body["detail"]
    assert sum(body["split_counts"].values()) == 1 and body["confirm_with"] == "confirm_empty_splits"
    assert session.exec(select(DatasetSnapshot)).first() is None

    only_train = app_client.post(url, json={"name": "train-only", "split": {"train": 1.0}}, headers=world.admin)
    assert only_train.status_code == 202, only_train.text
    confirmed = app_client.post(url, json={"name": "tiny", "confirm_empty_splits": True}, headers=world.admin)
    assert confirmed.status_code == 202 and confirmed.json()["version"] == "v2"


def test_the_page_warns_with_the_counts_and_freezes_once_confirmed(
    session: Session, app_client: TestClient, world: World
) -> None:
    login(app_client, "admin")
    url = f"/projects/{world.project.id}/snapshots"
    token = page_csrf(app_client, url)
    form = {"csrf_token": token, "name": "第一版", "seed": "3", "train": "0.8", "dev": "0.1", "test": "0.1"}
    warned = app_client.post(url, data=form)
    assert warned.status_code == 409
    html = warned.text
    assert html.count("would be empty") == 1 and 'id="empty-split-warning"' in html
    assert (
        'name="confirm_empty_splits"' in html
        and 'value="第一版"' in html
        and 'name="seed" inputmode="numeric" value="3"' in html
    )
    assert session.exec(select(DatasetSnapshot)).first() is None

    huge = app_client.post(url, data={**form, "seed": "9" * 30})
    assert huge.status_code == 422 and "Seed" in huge.text
    bad = app_client.post(url, data={**form, "dev": "a tenth"})
    assert bad.status_code == 422 and bad.text.count("Give each split&#39;s share as a number") == 1

    done = app_client.post(url, data={**form, "confirm_empty_splits": "true"}, follow_redirects=False)
    assert done.status_code == 303
    snapshot = session.exec(select(DatasetSnapshot)).one()
    assert snapshot.name == "第一版" and snapshot.split_seed == 3
    assert snapshot.params["split"] == {"train": 0.8, "dev": 0.1, "test": 0.1}
