"""`concord evaluate`: the report from files or a snapshot, and exit code 2 with a clear message on bad input."""

import json
from functools import cache
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app import cli
from app.dataset.exporters import export_docred, export_jsonl
from app.dataset.jobs import build_snapshot
from app.dataset.service import bind_of
from app.evaluation.records import ExportDocument, from_docred
from app.webtext.docred import parse_docred
from tests.conftest import FIXTURES
from tests.dataset.conftest import World


@cache
def _gold() -> list[ExportDocument]:
    raws = json.loads((FIXTURES / "docred" / "redocred_dev.json").read_text())[:5]
    return [from_docred(parse_docred(raw), doc_id=str(i)) for i, raw in enumerate(raws)]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    gold = tmp_path / "gold.json"
    gold.write_bytes(b"".join(export_docred(_gold())))
    pred = tmp_path / "pred.jsonl"
    pred.write_bytes(b"".join(export_jsonl(_gold())))
    return {"gold": gold, "pred": pred, "dir": tmp_path}


def test_perfect_predictions_print_every_score(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["evaluate", "--gold", str(files["gold"]), "--pred", str(files["pred"])]) == 0
    out = capsys.readouterr().out
    for label in ("NER", "relations (strict)", "DocRED", "Ign F1", "evidence F1", "intra-sentence", "inter-sentence"):
        assert label in out
    assert "DocRED                 F1 1.0000" in out
    assert cli.main(["evaluate", "--gold", str(files["gold"]), "--pred", str(files["pred"]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["docred"]["f1"] == 1.0 and report["ner"]["f1"] == 1.0 and report["documents"] == 5


def _bad(files: dict[str, Path], content: str, capsys: pytest.CaptureFixture[str]) -> str:
    bad = files["dir"] / "bad.jsonl"
    bad.write_text(content, encoding="utf-8")
    assert cli.main(["evaluate", "--gold", str(files["gold"]), "--pred", str(bad)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    return captured.err


def test_malformed_json_names_the_line(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    good = files["pred"].read_text().splitlines()[0]
    err = _bad(files, good + '\n{"title": "x", \n', capsys)
    assert err.startswith("error: predictions: line 2: not valid JSON")


def test_unknown_title_names_the_record(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    err = _bad(files, json.dumps({"title": "没有这篇", "entities": [], "relations": []}) + "\n", capsys)
    assert "line 1 (title '没有这篇')" in err and "not in the gold" in err


def test_wrong_entity_index_names_the_record(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    title = _gold()[0].title
    results = [{"title": title, "h_idx": 0, "t_idx": 999, "r": "P17", "evidence": []}]
    err = _bad(files, json.dumps(results), capsys)
    assert "item 0" in err and "refers to entity 999" in err


def test_missing_files_and_unknown_snapshots(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.main(["evaluate", "--gold", str(files["gold"]), "--pred", str(files["dir"] / "nope.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    monkeypatch.setattr(cli, "get_engine", lambda: bind_of(session))
    assert cli.main(["evaluate", "--gold", "no-such-snapshot", "--pred", str(files["pred"])]) == 2
    assert "No snapshot is named 'no-such-snapshot'" in capsys.readouterr().err


def test_gold_by_snapshot_name(
    session: Session,
    app_client: TestClient,
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    r = app_client.post(
        f"/api/v1/projects/{world.project.id}/snapshots",
        json={"name": "gold-cli", "confirm_empty_splits": True},
        headers=world.admin,
    )
    build_snapshot(r.json()["id"], bind=bind_of(session))
    pred = tmp_path / "pred.jsonl"
    pred.write_bytes(
        app_client.get(f"/api/v1/snapshots/{r.json()['id']}/download?format=jsonl", headers=world.admin).content
    )
    monkeypatch.setattr(cli, "get_engine", lambda: bind_of(session))
    assert cli.main(["evaluate", "--gold", "gold-cli", "--pred", str(pred), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["docred"]["f1"] == 1.0 and report["relations"]["f1"] == 1.0
    assert cli.main(["evaluate", "--gold", str(r.json()["id"]), "--pred", str(pred)]) == 0
