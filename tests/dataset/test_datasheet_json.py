"""datasheet.json: the keys in the order consumers have always read them, the file and the API in agreement."""

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models import DatasetSnapshot
from tests.dataset.conftest import World
from tests.dataset.test_snapshots import freeze
from tests.factories import make_routed_item

GOLDEN = Path(__file__).parent / "golden" / "datasheet_keys.json"


def skeleton(value: Any) -> Any:
    """The keys of every object, in order, down through the first element of every list."""
    if isinstance(value, dict):
        return [[k, skeleton(v)] for k, v in value.items()]
    if isinstance(value, list):
        return [skeleton(value[0])] if value else []
    return None


def test_datasheet_json_keeps_its_keys_in_order_and_matches_the_api(
    session: Session, app_client: TestClient, world: World
) -> None:
    make_routed_item(session, document=world.curated, item_id=100, route="auto")
    make_routed_item(
        session, document=world.curated, item_kind="entity", item_id=200, agreement="confirmed", proposers="model-a",
        item_type="PER", route="review", outcome="correct",
    )  # fmt: skip
    session.commit()
    snap = freeze(app_client, world, session, name="keys")
    row = session.get(DatasetSnapshot, snap["id"])
    assert row is not None and row.path is not None
    text = (Path(row.path) / "datasheet.json").read_text()
    # Every object's keys in the order datasheet.json has always had them (golden taken before the datasheet
    # became a typed value), routing slices and the dashboard's agreement figures included.
    assert skeleton(json.loads(text)) == json.loads(GOLDEN.read_text())
    # The file is the API's datasheet, written with indent 2 and the characters as they are.
    assert text == json.dumps(snap["datasheet"], ensure_ascii=False, indent=2)


def test_snapshot_params_answer_as_they_were_stored(session: Session, app_client: TestClient, world: World) -> None:
    snap = freeze(app_client, world, session, name="params", seed=4, split={"train": 0.5, "dev": 0.25, "test": 0.25})
    row = session.get(DatasetSnapshot, snap["id"])
    assert row is not None
    # Typed on the way out, yet the same keys, order and numbers as the stored column (and as ever).
    assert json.dumps(snap["params"]) == json.dumps(row.params)
    assert snap["params"] == {"status": "curated", "split": {"train": 0.5, "dev": 0.25, "test": 0.25}, "batch_id": None}
