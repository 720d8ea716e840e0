"""Everyday pages in a real browser: tables that never break a word, human labels, Markdown guidelines, the
highlighted document, breadcrumbs, one-time notices, local times; and screenshots of every main page."""

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect
from sqlalchemy import Engine
from sqlmodel import Session

from app.auth import service as auth_service
from app.db import make_engine
from app.models import BatchStatus, CrawlBatch, Document, Role
from app.project import service as project_service
from tests.browser.conftest import JsErrors, assert_scripts_ran_cleanly, open_new_project_form, sign_in
from tests.factories import PASSWORD, make_review_document
from tests.live_server import LiveConcord

pytestmark = pytest.mark.browser

ADMIN = "pages-admin"
LAPTOP: ViewportSize = {"width": 1280, "height": 720}
DESKTOP: ViewportSize = {"width": 1920, "height": 1080}
ZONE = "Asia/Shanghai"

GUIDELINES = """# 标注规范

**人名** 标为 `PER`，*机构* 标为 `ORG`。

- 只标注正文
- 不标注导航

| 类型 | 例子 |
|---|---|
| PER | 张伟 |

[规范全文](https://example.org/guide)

<script>window.__pwned = "script"</script>
<img src=x onerror="window.__pwned = 'img'">
<a href="https://example.org" onclick="window.__pwned = 'onclick'">内联链接</a>
[点我](javascript:window.__pwned='link')
"""

# Every word or number in these cells must stay on one line (the bug drew "Create/d", "$0.000/0", "Offs/et").
ONE_LINE_WORDS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll("table th, table td")) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/[\\x21-\\x7e]+/g)) {
        if (m[0].length > 30) continue;  // a long URL or name may wrap where it must
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const centres = [...range.getClientRects()].filter((r) => r.width > 0).map((r) => (r.top + r.bottom) / 2);
        if (centres.length && Math.max(...centres) - Math.min(...centres) > 6) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""


@dataclass
class World:
    live: LiveConcord
    engine: Engine
    project_id: int
    project_name: str
    batch_id: int
    document_id: int


def _seed(live: LiveConcord) -> World:
    engine = make_engine(f"sqlite:///{live.data_dir.resolve() / 'concord.db'}")
    with Session(engine, expire_on_commit=False) as session:
        auth_service.create_user(session, username=ADMIN, role=Role.admin, password=PASSWORD)
        auth_service.create_user(session, username="pages-rev", role=Role.reviewer, password=PASSWORD)
        name = f"新闻语料 {uuid.uuid4().hex[:6]}"
        project = project_service.create_project(session, name=name, preset="zh-general")
        project.guidelines = GUIDELINES
        session.add(project)
        session.commit()
        batch = CrawlBatch(
            project_id=project.id or 0,
            filename="CC-MAIN-20261201-sample-00042.warc.gz",
            format="warc",
            status=BatchStatus.done_with_errors,
            size_bytes=1_234_567,
            bytes_read=1_234_567,
            counts={"records": 1234, "kept": 987, "duplicates_exact": 12, "duplicates_near": 3, "errors": 2},
            errors=[
                {"offset": 123456789, "line": 4021, "member": "", "message": "Invalid WARC header"},
                {"offset": 987654321, "line": 88, "member": "part-3", "message": "Record truncated"},
            ],
        )
        session.add(batch)
        session.commit()
        doc, _, _ = make_review_document(session, project)
        document = session.get(Document, doc.id)
        assert document is not None
        document.batch_id = batch.id
        session.add(document)
        session.commit()
        return World(live, engine, project.id or 0, name, batch.id or 0, doc.id or 0)


@pytest.fixture(scope="module")
def pages_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConcord]:
    live = LiveConcord(tmp_path_factory.mktemp("pages") / "concord-data").start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def world(pages_live: LiveConcord) -> Iterator[World]:
    w = _seed(pages_live)
    yield w
    w.engine.dispose()


def _context(browser: Browser, live: LiveConcord, viewport: ViewportSize) -> BrowserContext:
    ctx = browser.new_context(base_url=live.url, viewport=viewport, locale="zh-CN", timezone_id=ZONE)
    ctx.set_default_timeout(10_000)
    return ctx


@pytest.fixture
def context(browser: Browser, pages_live: LiveConcord) -> Iterator[BrowserContext]:
    """This module's own server, at the laptop size the issue was seen at, in a zone east of UTC."""
    ctx = _context(browser, pages_live, LAPTOP)
    yield ctx
    ctx.close()


def as_admin(page: Page) -> Page:
    sign_in(page, ADMIN, PASSWORD)
    expect(page).to_have_url(re.compile(r"/projects$"))
    return page


def test_no_table_breaks_a_word_or_number_at_1280(page: Page, js_errors: JsErrors, world: World) -> None:
    as_admin(page)
    pages = {
        "projects": "/projects",
        "project": f"/projects/{world.project_id}",
        "batch": f"/batches/{world.batch_id}",
        "documents": f"/batches/{world.batch_id}/documents",
        "document": f"/documents/{world.document_id}",
        "dashboard": f"/projects/{world.project_id}/dashboard",
        "queue": f"/projects/{world.project_id}/review",
    }
    for name, url in pages.items():
        page.goto(url)
        expect(page.locator("table").first).to_be_visible()
        assert page.evaluate(ONE_LINE_WORDS) == [], f"words broken across lines on the {name} page"
        # Nothing wider than the window: no sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
    # The cells that used to break: the batch's counts and record errors, the dashboard's cost.
    page.goto(f"/batches/{world.batch_id}")
    expect(page.locator("#errors td").filter(has_text="123456789")).to_be_visible()
    expect(page.locator("#errors th").filter(has_text="Offset")).to_be_visible()
    assert page.evaluate(ONE_LINE_WORDS) == []
    assert_scripts_ran_cleanly(page, js_errors)


def test_statuses_and_classes_by_human_name_with_a_tooltip(page: Page, js_errors: JsErrors, world: World) -> None:
    as_admin(page)
    page.goto(f"/batches/{world.batch_id}")
    status = page.locator("#batch-status")
    expect(status).to_have_text("Done, with errors")
    expect(status).to_have_attribute("title", re.compile("some could not be used"))
    expect(status).to_have_class(re.compile(r"\bstatus-done_with_errors\b"))  # the code stays for styles

    page.goto(f"/projects/{world.project_id}")
    expect(page.locator("#batches .status")).to_have_text("Done, with errors")

    page.goto(f"/documents/{world.document_id}")
    entities = page.locator("#entities")
    expect(entities.locator(".ag-name.ag-a_only")).to_have_text("Model A only")
    expect(entities.locator(".ag-name.ag-a_only")).to_have_attribute("title", re.compile("Only model A"))
    expect(entities.locator(".ag-name.ag-type_conflict")).to_have_text("Type conflict")
    expect(entities.locator(".status-proposed").first).to_have_text("Proposed")
    expect(entities.locator(".status-proposed").first).to_have_attribute("title", re.compile("no reviewer"))
    expect(entities.locator(".status-accepted").first).to_have_text("Accepted")

    page.goto(f"/projects/{world.project_id}/review")
    expect(page.locator("table .status-annotated")).to_have_text("Ready for review")

    # No raw code anywhere in what the pages say.
    for url in (
        f"/batches/{world.batch_id}",
        f"/documents/{world.document_id}",
        f"/projects/{world.project_id}/review",
    ):
        page.goto(url)
        text = page.locator("main").inner_text()
        for code in ("type_conflict", "a_only", "b_only", "in_review", "done_with_errors"):
            assert code not in text, f"{code} shown on {url}"
    assert_scripts_ran_cleanly(page, js_errors)


def test_guidelines_are_rendered_markdown_and_hostile_markup_stays_inert(
    page: Page, js_errors: JsErrors, world: World
) -> None:
    as_admin(page)
    page.goto(f"/projects/{world.project_id}")
    guidelines = page.locator("#guidelines")
    expect(guidelines.get_by_role("heading", name="标注规范", level=3)).to_be_visible()
    expect(guidelines.locator("strong")).to_have_text("人名")
    expect(guidelines.locator("li")).to_have_text(["只标注正文", "不标注导航"])
    expect(guidelines.locator("table td").first).to_have_text("PER")
    expect(guidelines.get_by_role("link", name="规范全文")).to_have_attribute("href", "https://example.org/guide")
    # The hostile lines read as text; none became an element, a handler or a javascript: link.
    expect(guidelines).to_contain_text('<script>window.__pwned = "script"</script>')
    expect(guidelines).to_contain_text("onerror=")
    assert guidelines.locator("script, img, iframe").count() == 0
    assert guidelines.locator("a").count() == 1
    handlers = (
        "[...document.querySelectorAll('#guidelines *')].some(e => [...e.attributes].some(a => /^on/i.test(a.name)))"
    )
    assert page.evaluate(handlers) is False
    assert page.evaluate("window.__pwned") is None
    expect(page.get_by_role("heading", level=1)).to_have_text(world.project_name)  # still the page's only h1
    assert_scripts_ran_cleanly(page, js_errors)


def test_the_document_page_highlights_entities_as_the_workbench_does(
    page: Page, js_errors: JsErrors, world: World
) -> None:
    as_admin(page)
    page.goto(f"/documents/{world.document_id}")
    text = page.locator("#doc-text.doc-text")
    expect(text).to_be_visible()  # pulled in from the review package, replacing the plain sentences
    marks = text.locator(".m")
    expect(marks.first).to_be_visible()
    assert marks.count() >= 6
    zhang = text.locator(".m", has_text="张伟").first
    colours = "e => { const s = getComputedStyle(e); return [s.backgroundColor, s.borderBottomColor]; }"
    on_document = zhang.evaluate(colours)
    assert on_document[1] != "rgb(136, 136, 136)"  # the type's colour, not the fallback grey
    entity = zhang.get_attribute("data-p")
    # Read-only: nothing to decide here, and the hostile title stays text.
    assert page.locator("#doc-text button, #doc-text form").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert_scripts_ran_cleanly(page, js_errors)

    page.goto(f"/documents/{world.document_id}/review")
    same = page.locator(f"#wb-text .m[data-p='{entity}']").first
    expect(same).to_have_text("张伟")
    assert same.evaluate(colours) == on_document


def test_the_dashboard_leads_with_key_figures_and_charts_span_the_page(
    page: Page, js_errors: JsErrors, world: World
) -> None:
    as_admin(page)
    page.goto(f"/projects/{world.project_id}/dashboard")
    sections = page.locator("main section").evaluate_all("els => els.map(e => e.id)")
    assert sections[0] == "key-figures"
    keys = page.locator("#key-figures .key-name")
    expect(keys).to_have_text(["Curated", "Model agreement", "Audit precision", "Cost per curated document"])
    expect(page.locator("#key-progress .key-value")).to_contain_text("0 of 1")
    expect(page.locator("#key-agreement .key-value")).to_have_text("0.77")  # entity F1 of A vs B
    # A wide chart fills its card; the agreement classes' names are drawn whole, never "Model A on…".
    card = page.locator("#model-vs-model").bounding_box()
    chart = page.locator("#model-vs-model figure.wide svg").bounding_box()
    assert card and chart and chart["width"] > 0.9 * (card["width"] - 60)
    labels = page.locator("#model-vs-model figure.wide svg text.chart-tick").all_text_contents()
    assert {"Model A only", "Model B only", "Type conflict", "Both models"} <= set(labels)
    assert not any(t.endswith("…") for t in labels)
    status_bars = page.locator("#status svg text.chart-label").all_text_contents()
    assert "Ready for review" in status_bars and "annotated" not in status_bars
    assert_scripts_ran_cleanly(page, js_errors)


def test_breadcrumbs_name_the_project(page: Page, js_errors: JsErrors, world: World) -> None:
    as_admin(page)
    for url in (f"/documents/{world.document_id}", f"/batches/{world.batch_id}/documents"):
        page.goto(url)
        crumb = page.locator("main p.muted a").first
        expect(crumb).to_have_text(world.project_name)
        expect(crumb).to_have_attribute("href", f"/projects/{world.project_id}")
    assert_scripts_ran_cleanly(page, js_errors)


def test_saving_shows_a_notice_once(page: Page, js_errors: JsErrors, world: World) -> None:
    as_admin(page)
    name = f"提示 {uuid.uuid4().hex[:6]}"
    open_new_project_form(page, name)
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.locator("#flash")).to_have_text("Project created.")
    page.reload()
    expect(page.locator("#flash")).to_have_text("")  # once

    page.get_by_role("link", name="Edit").click()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.locator("#flash")).to_have_text("Project saved.")
    page.goto("/projects")
    expect(page.locator("#flash")).to_have_text("")

    assert_scripts_ran_cleanly(page, js_errors)


def test_saving_a_password_shows_a_notice(page: Page, js_errors: JsErrors, world: World) -> None:
    username = f"pw-{uuid.uuid4().hex[:6]}"
    with Session(world.engine) as session:
        auth_service.create_user(session, username=username, role=Role.reviewer, password=PASSWORD)
        session.commit()
    sign_in(page, username, PASSWORD)
    page.get_by_role("link", name="Password").click()
    new_password = "a new one " + uuid.uuid4().hex
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password (at least 10 characters)").fill(new_password)
    page.get_by_label("New password again").fill(new_password)
    page.get_by_role("button", name="Save password").click()
    expect(page).to_have_url(re.compile(r"/projects$"))
    expect(page.locator("#flash")).to_have_text("Password saved.")
    page.reload()
    expect(page.locator("#flash")).to_have_text("")
    assert_scripts_ran_cleanly(page, js_errors)


def test_lock_times_are_in_the_viewers_time(page: Page, js_errors: JsErrors, world: World) -> None:
    as_admin(page)
    page.goto(f"/projects/{world.project_id}/review")
    page.get_by_role("button", name="Start reviewing").click()  # claims the document: a lock until some time
    expect(page).to_have_url(re.compile(rf"/documents/{world.document_id}/review$"))
    lock = page.locator("#wb-state time")
    expect(lock).to_have_attribute("data-local", "true")
    moment = datetime.fromisoformat(lock.get_attribute("datetime") or "")
    assert moment.tzinfo is not None
    expect(lock).to_have_text(moment.astimezone(ZoneInfo(ZONE)).strftime("%H:%M"))
    expect(lock).to_have_attribute("title", moment.astimezone(UTC).strftime("%H:%M UTC"))
    assert_scripts_ran_cleanly(page, js_errors)


def test_the_snapshot_name_suggests_today_and_the_next_version(page: Page, js_errors: JsErrors, world: World) -> None:
    as_admin(page)
    page.goto(f"/projects/{world.project_id}/snapshots")
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    expect(page.get_by_label("Name")).to_have_attribute("placeholder", f"release-{today}-v1")
    assert_scripts_ran_cleanly(page, js_errors)


def _screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CONCORD_SCREENSHOTS if set, else screenshots/ under pytest's base temporary directory."""
    chosen = os.environ.get("CONCORD_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_screenshots_of_every_main_page(
    browser: Browser, world: World, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """For people to look at: every main page at a laptop's and a desktop's size."""
    folder = _screenshot_dir(tmp_path_factory)
    p, b, d = world.project_id, world.batch_id, world.document_id
    pages = [
        ("projects", "/projects"),
        ("project", f"/projects/{p}"),
        ("batch", f"/batches/{b}"),
        ("documents", f"/batches/{b}/documents"),
        ("document", f"/documents/{d}"),
        ("review-queue", f"/projects/{p}/review"),
        ("workbench", f"/documents/{d}/review"),
        ("dashboard", f"/projects/{p}/dashboard"),
        ("snapshots", f"/projects/{p}/snapshots"),
        ("users", "/admin/users"),
        ("tokens", "/admin/tokens"),
        ("error", f"/projects/{p + 999_999}"),
    ]
    written: list[Path] = []
    for viewport in (LAPTOP, DESKTOP):
        size = f"{viewport['width']}x{viewport['height']}"
        ctx = _context(browser, world.live, viewport)
        try:
            page = ctx.new_page()
            page.goto("/login")
            written.append(folder / f"login-{size}.png")
            page.screenshot(path=written[-1], full_page=True)
            as_admin(page)
            for name, url in pages:
                page.goto(url)
                page.wait_for_load_state("networkidle")
                written.append(folder / f"{name}-{size}.png")
                page.screenshot(path=written[-1], full_page=True)
        finally:
            ctx.close()
    for path in written:
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2_000, path.name
    with capsys.disabled():
        print(f"\n{len(written)} screenshots in {folder}")
