"""In the browser: the demo loop on the builtin annotators, then two model endpoints annotating an upload."""

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.annotation.test_engine import TEXT, _responder
from tests.browser.conftest import VIEWPORT, JsErrors, assert_scripts_ran_cleanly, first_admin_sign_in
from tests.fake_llm_server import FakeLLMServer
from tests.live_server import LiveConcord

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def llm_concord(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveConcord, FakeLLMServer]]:
    """`concord serve` whose environment points both providers at the fake model server."""
    with FakeLLMServer(_responder) as server:
        live = LiveConcord(
            tmp_path_factory.mktemp("llm") / "concord-data",
            OPENAI_API_KEY="sk-test-SECRET-123",
            OPENAI_BASE_URL=server.openai_base_url,
            GEMINI_API_KEY="gm-test-SECRET-456",
            GOOGLE_GEMINI_BASE_URL=server.url,
        ).start()
        yield live, server
        live.stop()


@pytest.fixture(scope="module")
def admin_session(browser: Browser, llm_concord: tuple[LiveConcord, FakeLLMServer]) -> Iterator[Page]:
    live, _ = llm_concord
    context = browser.new_context(base_url=live.url, viewport=VIEWPORT, locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    first_admin_sign_in(page, live)
    yield page
    context.close()


def test_the_demo_project_shows_the_whole_loop_without_any_key(admin_session: Page) -> None:
    page = admin_session
    js_errors = JsErrors(page)
    page.goto("/projects")
    page.get_by_role("link", name=re.compile("示例项目")).click()
    annotators = page.locator("#annotator-table")
    expect(annotators).to_contain_text("builtin-lexicon")
    expect(annotators).to_contain_text("weak, offline")
    expect(annotators).to_contain_text("no key needed")
    page.locator("#batches a").first.click()
    expect(page.locator("#annotation")).to_contain_text("builtin-patterns")
    expect(page.locator("#agreement")).to_contain_text("entities")
    page.get_by_role("link", name="Documents").click()
    page.get_by_role("link", name="深圳智言科技完成新一轮融资").click()
    expect(page.locator("#entities")).to_contain_text("Both models")
    expect(page.locator("#relations")).to_contain_text("创办")
    assert_scripts_ran_cleanly(page, js_errors)


def _model_project(page: Page, name: str) -> None:
    """A new project whose annotators A and B are the two model endpoints (the fake server)."""
    page.goto("/projects/new")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    for annotator, provider, model, role in (("gpt", "openai", "gpt-test", "A"), ("gem", "gemini", "gemini-test", "B")):
        page.locator("details.card summary").click()
        form = page.locator("form.grid-form")
        form.get_by_label("Name").fill(annotator)
        form.get_by_label("Provider").select_option(provider)
        form.get_by_label("Model", exact=True).fill(model)
        form.get_by_label("Role").select_option(role)
        form.get_by_label("Price per 1M input tokens ($)").fill("1")
        form.get_by_label("Price per 1M output tokens ($)").fill("2")
        form.get_by_role("button", name="Add annotator").click()
    table = page.locator("#annotator-table")
    expect(table).to_contain_text("key from OPENAI_API_KEY")
    expect(table).to_contain_text("key from GEMINI_API_KEY")


def _upload_news(page: Page, tmp_path: Path, text: str = TEXT) -> None:
    upload = tmp_path / "news.jsonl"
    upload.write_text(
        json.dumps({"title": "张伟", "url": "https://a.example/1", "text": text}, ensure_ascii=False) + "\n"
    )
    page.locator("input[name=file]").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and ingest").click()
    expect(page).to_have_url(re.compile(r"/batches/\d+$"))
    expect(page.locator("#batch-status")).to_have_text("Done", timeout=30_000)


def test_two_model_endpoints_annotate_an_upload(
    admin_session: Page, llm_concord: tuple[LiveConcord, FakeLLMServer], tmp_path: Path
) -> None:
    page = admin_session
    live, server = llm_concord
    js_errors = JsErrors(page)
    _model_project(page, "两个模型")
    assert "SECRET" not in page.content()

    _upload_news(page, tmp_path)
    page.get_by_role("button", name="Annotate with the project's annotators").click()
    rows = page.locator("#annotation tbody tr")
    expect(rows).to_have_count(2, timeout=30_000)
    expect(rows.nth(0)).to_contain_text("gpt")
    expect(rows.nth(0).locator("td").nth(1)).to_have_text("1", timeout=30_000)  # done
    expect(rows.nth(0).locator("td").nth(5)).to_have_text("1", timeout=30_000)  # augmented documents
    expect(page.locator("#agreement")).to_contain_text("Type conflict", timeout=30_000)
    expect(rows.nth(0).locator("td").nth(7)).not_to_have_text("$0.0000")  # priced calls cost something
    page.get_by_role("link", name="Documents").click()
    page.get_by_role("link", name="张伟").click()
    entities, relations = page.locator("#entities"), page.locator("#relations")
    # B's single-model entities were shown to A blind: one confirmed, one disputed.
    for agreement in ("Both models", "Type conflict", "Model A only", "Confirmed blind", "Disputed"):
        expect(entities).to_contain_text(agreement)
    expect(entities).to_contain_text("gpt (blind)")
    expect(entities).to_contain_text("not in text")  # the hallucinated name is flagged
    # The pair both first passes missed was related by both when asked: confirmed blind, from augmentation.
    expect(relations).to_contain_text("Confirmed blind", timeout=30_000)
    expect(relations).to_contain_text("Disputed")
    expect(relations).to_contain_text("(augmentation)")
    assert server.calls("openai") >= 2 and server.calls("gemini") >= 1
    assert "SECRET" not in live.output()
    assert_scripts_ran_cleanly(page, js_errors)


# Records each stage the batch page shows, as htmx swaps its progress block in (no inline script: run through
# Playwright, which CSP does not govern).
_WATCH_STAGES = """() => {
  const stage = () => document.querySelector('#pipeline-stage')?.dataset.stage;
  window.__stages = [stage()];
  new MutationObserver(() => {
    const now = stage();
    if (now && window.__stages[window.__stages.length - 1] !== now) window.__stages.push(now);
  }).observe(document.body, {childList: true, subtree: true});
  window.__sameBatchPage = true;
}"""


def test_the_batch_page_follows_slow_workers_to_ready_for_review_without_a_reload(
    admin_session: Page, llm_concord: tuple[LiveConcord, FakeLLMServer], tmp_path: Path
) -> None:
    page = admin_session
    _live, server = llm_concord
    js_errors = JsErrors(page)
    _model_project(page, "慢速流水线")
    # A text of its own: the same one would be answered from the paid-call cache, without a call.
    _upload_news(page, tmp_path, TEXT + "本文由记者报道。")
    expect(page.locator("#pipeline-stage")).to_have_text("not annotated yet")
    # Every model call now takes seconds: the annotators' runs end well before the second look does.
    server.latency = 2.5
    try:
        page.get_by_role("button", name="Annotate with the project's annotators").click()
        expect(page).to_have_url(re.compile(r"/batches/\d+$"))
        page.evaluate(_WATCH_STAGES)
        expect(page.locator("#pipeline-stage")).to_have_text("ready for review", timeout=120_000)
    finally:
        server.latency = 0.0
    assert page.evaluate("window.__sameBatchPage") is True, "the batch page was reloaded"
    stages = page.evaluate("window.__stages")
    assert stages[0] == "annotating" and stages[-1] == "ready", stages
    assert "augmenting" in stages, stages  # the page kept asking after the annotators' runs had ended
    # The last stage has ended: polling stopped, and the counts it shows are the final ones, without a reload.
    expect(page.locator("#progress")).not_to_have_attribute("hx-trigger", re.compile(".*"))
    rows = page.locator("#annotation tbody tr")
    expect(rows).to_have_count(2)
    for row in range(2):
        expect(rows.nth(row).locator("td").nth(1)).to_have_text("1")  # done
        expect(rows.nth(row).locator("td").nth(5)).to_have_text("1")  # second look
    expect(page.locator("#second-look")).to_contain_text("second look done on 1 document(s)")
    expect(page.locator("#agreement")).to_contain_text("Type conflict")
    expect(page.locator("#pipeline li[aria-current=step]")).to_have_text("ready for review")
    assert_scripts_ran_cleanly(page, js_errors)
