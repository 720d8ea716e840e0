"""In the browser, against a live `concord serve` and its own worker: a model trained on a snapshot is added as
annotator A from the project page and annotates an upload beside builtin:patterns, at no cost."""

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session, create_engine

from app.modelling import train
from app.models import DatasetSnapshot, TrainingRun, TrainingStatus
from tests.annotation.test_model_annotator import TINY
from tests.browser.conftest import VIEWPORT, JsErrors, assert_scripts_ran_cleanly, first_admin_sign_in
from tests.live_server import LiveConcord
from tests.modelling.conftest import require_torch
from tests.modelling.corpus import tiny_doc, tiny_docs

# Three documents' sentences the model learned from: long enough to pass ingestion's 50-character minimum.
TEXT = "".join(s for i in range(3) for s in tiny_doc(i).sentences)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConcord]:
    require_torch()
    server = LiveConcord(tmp_path_factory.mktemp("model") / "concord-data").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin_page(browser: Browser, live: LiveConcord) -> Iterator[Page]:
    context = browser.new_context(base_url=live.url, viewport=VIEWPORT)
    context.set_default_timeout(15_000)
    page = context.new_page()
    first_admin_sign_in(page, live)
    yield page
    context.close()


def _trained_run(live: LiveConcord, project_id: int) -> int:
    """What the training job leaves behind: a succeeded run whose model is under the data directory's models/."""
    train(tiny_docs(8), tiny_docs(4, 8), TINY, live.data_dir / "models" / "tiny")
    engine = create_engine(f"sqlite:///{live.data_dir / 'concord.db'}")
    with Session(engine) as s:
        snapshot = DatasetSnapshot(project_id=project_id, name="gold", version=1)
        s.add(snapshot)
        s.flush()
        run = TrainingRun(
            project_id=project_id,
            snapshot_id=snapshot.id or 0,
            status=TrainingStatus.succeeded,
            model_dir="models/tiny",
            metrics={"test": {"relations": {"f1": 0.5}}},
        )
        s.add(run)
        s.commit()
        run_id = run.id or 0
    engine.dispose()
    return run_id


def test_a_trained_model_annotates_an_upload_from_the_project_page(
    admin_page: Page, live: LiveConcord, tmp_path: Path
) -> None:
    page = admin_page
    js_errors = JsErrors(page)
    page.goto("/projects/new")
    page.get_by_label("Name", exact=True).fill("模型标注")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("模型标注")
    match = re.search(r"/projects/(\d+)", page.url)
    assert match
    run_id = _trained_run(live, int(match.group(1)))
    page.reload()
    for name, provider, role in (("tiny", "model", "A"), ("rules", "builtin:patterns", "B")):
        page.locator("details.card summary").click()
        form = page.locator("form.grid-form")
        form.get_by_label("Name").fill(name)
        form.get_by_label("Provider").select_option(provider)
        if provider == "model":
            training_run = form.get_by_label("Training run")
            expect(training_run.locator(f'option[value="{run_id}"]')).to_have_text(
                f"run {run_id}: gold v1, from scratch, relation F1 0.500"
            )
            training_run.select_option(str(run_id))
        form.get_by_label("Role").select_option(role)
        form.get_by_role("button", name="Add annotator").click()
    table = page.locator("#annotator-table")
    expect(table).to_contain_text("trained model")
    expect(table.get_by_role("button", name="Switch model")).to_be_visible()

    upload = tmp_path / "tiny.jsonl"
    upload.write_text(json.dumps({"title": "张伟", "url": "https://a.example/1", "text": TEXT}, ensure_ascii=False))
    page.locator("input[name=file]").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and ingest").click()
    expect(page).to_have_url(re.compile(r"/batches/\d+$"))
    expect(page.locator("#batch-status")).to_have_text("Done", timeout=30_000)
    page.get_by_role("button", name="Annotate with the project's annotators").click()
    rows = page.locator("#annotation tbody tr")
    expect(rows).to_have_count(2, timeout=30_000)
    model_row = rows.filter(has_text="tiny")
    expect(model_row.locator("td").nth(1)).to_have_text("1", timeout=60_000)  # done, by the live worker
    expect(model_row.locator("td").nth(7)).to_have_text("$0.0000")  # no token cost
    page.get_by_role("link", name="Documents").click()
    page.get_by_role("link", name="张伟").click()
    expect(page.locator("#entities")).to_contain_text("张伟")
    expect(page.locator("#entities")).to_contain_text("tiny")
    assert_scripts_ran_cleanly(page, js_errors)
