"""Training in the browser: the snapshot page pulls its training panel (htmx, under the CSP), and *Train a
model* on a snapshot no model can be trained on shows the reason instead of queueing a run."""

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from app.status_names import status_label
from tests.browser.conftest import JsErrors, assert_scripts_ran_cleanly, open_new_project_form

pytestmark = pytest.mark.browser


def test_train_a_model_on_an_empty_snapshot_is_refused_with_the_reason(admin_page: Page, js_errors: JsErrors) -> None:
    page = admin_page
    open_new_project_form(page, f"训练 {uuid.uuid4().hex[:6]}")
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(r"/projects/\d+$"))
    page.goto(page.url + "/snapshots")
    page.get_by_label("Name", exact=True).fill("empty")
    page.get_by_role("button", name="Freeze a snapshot").click()
    page.get_by_label(re.compile("Freeze with the empty splits? anyway")).check()
    page.get_by_role("button", name="Freeze a snapshot").click()
    row = page.locator("#snapshots tbody tr", has_text="empty")
    for _ in range(60):  # the worker builds it
        if status_label("snapshot", "done") in (row.text_content() or ""):
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(row).to_contain_text(status_label("snapshot", "done"))
    # The datasheet's neighbour: the training panel, fetched by htmx once the page has loaded.
    panel = page.locator("#training-panel")
    expect(panel).to_contain_text("No model trained on this snapshot yet")
    panel.get_by_label("Epochs").fill("2")
    panel.get_by_role("button", name="Train a model").click()
    expect(page.get_by_role("alert")).to_contain_text("cannot be trained on: the train split has no documents")
    expect(page.get_by_label("Epochs")).to_have_value("2")
    expect(page.locator("#training-runs")).to_have_count(0)
    assert_scripts_ran_cleanly(page, js_errors)
