"""Uploading crawl batches, following their progress live, and reading their documents, in a real browser."""

import html
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect

from app.status_names import status_label
from tests.browser.conftest import VIEWPORT, JsErrors, assert_scripts_ran_cleanly, open_new_project_form, sign_in
from tests.conftest import FIXTURES
from tests.factories import html_page, warc_response
from tests.live_server import LiveConcord, run_cli

pytestmark = pytest.mark.browser

WARCS = FIXTURES / "warc"
FINISHED = re.compile(r"^(Done|Done, with errors|Failed)$")
# The 500-document DocRED import takes 10-20 s; the other files a second or two.
DOCRED_TIMEOUT_MS = 90_000
BATCH_TIMEOUT_MS = 30_000

# Each paragraph is one sentence. 镕 is outside GB2312: the page declares gb2312 but is GBK, as real ones are.
GBK_TITLE = "朱镕基考察上海浦东新区"
GBK_PARAGRAPHS = [
    "国务院总理朱镕基今天上午在上海市考察浦东新区的建设情况，他先后走访了陆家嘴金融贸易区、外高桥保税区和"
    "张江高科技园区，详细了解了当地引进外资、发展高新技术产业、改善城市基础设施和保障居民住房的最新进展。",
    "朱镕基在随后召开的座谈会上指出，浦东开发开放是国家发展的重要战略，要继续坚持改革开放，努力提高经济增长"
    "的质量和效益，同时高度重视环境保护和社会事业的协调发展，让广大人民群众从中得到更多看得见的实惠。",
]
# Traditional characters throughout: they must be stored as written, never converted to simplified.
BIG5_TITLE = "臺灣大學舉辦國際學術研討會"
BIG5_PARAGRAPHS = [
    "國立臺灣大學今天在臺北舉辦國際學術研討會，來自十幾個國家的學者齊聚一堂，就人工智慧、語言學與資訊檢索等"
    "領域的最新研究成果進行深入的交流與討論，會場氣氛十分熱烈，許多研究生也踴躍提問並發表自己的看法。",
    "臺灣大學校長在開幕致詞時表示，學校將繼續推動國際合作，鼓勵師生參與跨領域的研究計畫，並且持續改善教學與"
    "研究環境，希望培養更多具有國際視野的優秀人才，為社會的長遠發展貢獻更多的知識與力量。",
]
# What text decoded with the wrong charset looks like (and U+FFFD for bytes that were dropped).
MOJIBAKE = ("\ufffd", "锟斤拷", "Ã", "Â", "â€", "ï¿½")

HOSTILE_TITLE = "<script>window.__pwned=1</script>"
HOSTILE_IMG = '<img src=x onerror="window.__pwned=2">'
HOSTILE_PARAGRAPHS = [
    "这是一篇用来检验页面安全的测试文章，文中看起来像标记的内容只应当作为普通文字显示，绝不能在浏览器里执行。",
    f"下面这段文字看起来像网页标记：{html.escape(HOSTILE_IMG)}，但是它在页面上必须原样显示出来，不会被当作标签。",
]

# The zh-general project of each live instance (keyed by URL), created through the browser on first use.
_projects: dict[str, str] = {}


def zh_project(page: Page, live: LiveConcord) -> str:
    """The path of a project made from the zh-general preset, whose default settings keep only Chinese."""
    if live.url not in _projects:
        page.goto("/projects")
        name = f"抓取批次 {uuid.uuid4().hex[:6]}"
        open_new_project_form(page, name)
        page.locator("select[name=preset]").select_option("zh-general")
        page.get_by_role("button", name="Create project").click()
        expect(page).to_have_url(re.compile(r"/projects/\d+$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(name)
        _projects[live.url] = page.url.removeprefix(live.url)
    return _projects[live.url]


def upload(page: Page, project: str, file: Path | FilePayload, *, fmt: str = "auto") -> str:
    """Upload a file through the project page's form; htmx sends the browser to the new batch's page."""
    page.goto(project)
    form = page.locator("#upload-form")
    form.locator("input[name=file]").set_input_files(file)
    form.locator("select[name=format]").select_option(fmt)
    form.get_by_role("button", name="Upload and ingest").click()
    expect(page).to_have_url(re.compile(r"/batches/\d+$"))
    expect(page.locator("#batch-status")).to_be_visible()
    return page.url


def wait_until_finished(page: Page, timeout: float = BATCH_TIMEOUT_MS) -> str:
    """Wait on the open batch page, without reloading it, until polling shows a finished status.

    Returns the status the page first showed. A marker on `window` proves the page was never reloaded: only
    htmx's polling can have brought the final status.
    """
    first_status = page.locator("#batch-status").inner_text()
    page.evaluate("window.__sameBatchPage = true")
    expect(page.locator("#batch-status")).to_have_text(FINISHED, timeout=timeout)
    assert page.evaluate("window.__sameBatchPage") is True, "the batch page was reloaded"
    # A finished batch stops polling.
    expect(page.locator("#progress")).not_to_have_attribute("hx-trigger", re.compile(".*"))
    return first_status


def expect_counts(page: Page, *, status: str, records: int, kept: int, errors: int | None = None) -> None:
    expect(page.locator("#batch-status")).to_have_text(status_label("batch", status))
    expect(page.locator("#count-records")).to_have_text(str(records))
    expect(page.locator("#count-kept")).to_have_text(str(kept))
    if errors is not None:
        expect(page.locator("#count-errors")).to_have_text(str(errors))


def chinese_warc(tmp_path: Path) -> Path:
    """A GBK page that declares gb2312, and a Big5 page, as a crawler stores them."""
    gbk = html_page(GBK_TITLE, GBK_PARAGRAPHS, charset="gb2312").encode("gb18030")
    big5 = html_page(BIG5_TITLE, BIG5_PARAGRAPHS, charset="big5", nav="首頁 新聞 關於我們").encode("big5")
    path = tmp_path / "zh-news.warc"
    path.write_bytes(
        warc_response("http://news.example.cn/zhu-rongji", gbk, content_type="text/html; charset=gb2312")
        + warc_response("http://news.example.tw/ntu", big5, content_type="text/html; charset=big5")
    )
    return path


def expect_total(page: Page, text: str) -> None:
    expect(page.locator("#results > p.muted").first).to_have_text(text)


def search_and_open(page: Page, query: str, title: str) -> None:
    """Filter the documents list through htmx (no page load) and open the one document found."""
    page.evaluate("window.__sameDocumentsPage = true")
    page.get_by_role("searchbox", name="Search title or URL").fill(query)
    results = page.locator("#results")
    expect(results.locator("tbody tr")).to_have_count(1)
    expect_total(page, "1 document")
    assert page.evaluate("window.__sameDocumentsPage") is True, "the search reloaded the page"
    results.get_by_role("link", name=title, exact=True).click()
    expect(page).to_have_url(re.compile(r"/documents/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(title)


def expect_sentences(page: Page, paragraphs: list[str]) -> None:
    """The document shows the text exactly as written, one numbered sentence per paragraph."""
    sentences = page.locator("ol.sentences > li")
    expect(sentences.locator(".sid")).to_have_text([str(i) for i in range(len(paragraphs))])
    expect(sentences.locator(".sent")).to_have_text(paragraphs)
    shown = page.locator("main").inner_text()
    assert not [m for m in MOJIBAKE if m in shown], shown


def test_gbk_and_big5_pages_are_ingested_and_read_back_as_written(
    admin_page: Page, js_errors: JsErrors, live_concord: LiveConcord, tmp_path: Path
) -> None:
    page = admin_page
    upload(page, zh_project(page, live_concord), chinese_warc(tmp_path))
    wait_until_finished(page)
    expect_counts(page, status="done", records=2, kept=2, errors=0)
    expect(page.locator("#filters")).to_have_count(0)
    expect(page.locator("#failure-reason")).to_have_count(0)

    page.get_by_role("link", name="Documents").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Documents")
    expect_total(page, "2 documents")
    documents = page.url

    search_and_open(page, "朱镕基", GBK_TITLE)
    expect_sentences(page, GBK_PARAGRAPHS)
    expect(page.locator("main")).to_contain_text("朱镕基")
    expect(page.locator("dl.meta")).to_contain_text("zh · hans")
    expect(page.locator("dl.meta")).to_contain_text("http://news.example.cn/zhu-rongji")
    assert page.title() == f"{GBK_TITLE} · Concord"

    page.goto(documents)
    search_and_open(page, "臺灣大學", BIG5_TITLE)
    expect_sentences(page, BIG5_PARAGRAPHS)
    expect(page.locator("main")).to_contain_text("臺灣大學")
    expect(page.locator("main")).not_to_contain_text("台湾大学")
    expect(page.locator("dl.meta")).to_contain_text("zh · hant")
    assert_scripts_ran_cleanly(page, js_errors)


@pytest.mark.parametrize(
    ("fixture", "fmt", "language"),
    [("whirlwind.warc.gz", "auto", "an"), ("whirlwind.warc.wet.gz", "wet", "es")],
)
def test_common_crawl_pages_in_other_languages_are_filtered_out_by_language(
    admin_page: Page, js_errors: JsErrors, live_concord: LiveConcord, fixture: str, fmt: str, language: str
) -> None:
    page = admin_page
    upload(page, zh_project(page, live_concord), WARCS / fixture, fmt=fmt)
    wait_until_finished(page)
    expect_counts(page, status="done", records=1, kept=0, errors=0)
    filters = page.locator("table#filters tbody tr")
    expect(filters).to_have_count(1)
    expect(filters.locator("td")).to_have_text(["Other language", "1"])
    expect(page.locator("h1")).to_have_text(fixture)

    page.get_by_role("link", name="Documents").click()
    expect_total(page, "0 documents")
    expect(page.get_by_text("No documents match.")).to_be_visible()
    assert_scripts_ran_cleanly(page, js_errors)


def test_a_docred_import_keeps_every_document_and_the_page_follows_it_live(
    admin_page: Page, js_errors: JsErrors, live_concord: LiveConcord
) -> None:
    page = admin_page
    upload(page, zh_project(page, live_concord), FIXTURES / "docred" / "redocred_dev.json")
    first_status = wait_until_finished(page, timeout=DOCRED_TIMEOUT_MS)
    # 500 documents take seconds: the page first showed the batch unfinished, and polling brought the rest.
    assert first_status in ("Queued", "Running")
    expect_counts(page, status="done", records=500, kept=500, errors=0)
    expect(page.locator("progress[aria-label='bytes read']")).to_have_attribute("value", "100.0")

    page.get_by_role("link", name="Documents").click()
    expect_total(page, "500 documents")
    expect(page.locator(".pager")).to_contain_text("page 1 of 10")
    assert_scripts_ran_cleanly(page, js_errors)


@pytest.mark.parametrize(
    ("fixture", "status", "message"),
    [
        ("example-trunc.warc", "done_with_errors", "Invalid WARC header"),
        ("example-bad.warc.gz.bad", "done_with_errors", "do not line up with the WARC records"),
    ],
)
def test_a_damaged_warc_keeps_what_it_can_and_shows_the_error(
    admin_page: Page, js_errors: JsErrors, live_concord: LiveConcord, fixture: str, status: str, message: str
) -> None:
    page = admin_page
    upload(page, zh_project(page, live_concord), WARCS / fixture)
    wait_until_finished(page)
    expect(page.locator("#batch-status")).to_have_text(status_label("batch", status))
    expect(page.locator("#count-errors")).to_have_text("1")
    expect(page.locator("table#errors tbody tr")).to_have_count(1)
    expect(page.locator("table#errors")).to_contain_text(message)
    # The English pages it could read were seen and filtered, not lost.
    assert int(page.locator("#count-records").inner_text()) >= 1
    assert_scripts_ran_cleanly(page, js_errors)


def test_an_empty_file_fails_with_a_readable_reason(
    admin_page: Page, js_errors: JsErrors, live_concord: LiveConcord
) -> None:
    page = admin_page
    empty: FilePayload = {"name": "empty.warc", "mimeType": "application/octet-stream", "buffer": b""}
    upload(page, zh_project(page, live_concord), empty)
    wait_until_finished(page)
    expect_counts(page, status="failed", records=0, kept=0)
    reason = page.locator("#failure-reason")
    expect(reason).to_be_visible()
    expect(reason).to_contain_text(re.compile("empty", re.IGNORECASE))
    assert_scripts_ran_cleanly(page, js_errors)


def test_markup_inside_a_crawled_page_stays_inert_text(
    admin_page: Page, js_errors: JsErrors, live_concord: LiveConcord, tmp_path: Path
) -> None:
    page = admin_page
    # Escaped in the page, so the extracted title and text literally contain the markup.
    body = html_page(html.escape(HOSTILE_TITLE), HOSTILE_PARAGRAPHS, charset="utf-8").encode()
    path = tmp_path / "hostile.warc"
    path.write_bytes(warc_response("http://evil.example/page", body, content_type="text/html; charset=utf-8"))
    upload(page, zh_project(page, live_concord), path)
    wait_until_finished(page)
    expect_counts(page, status="done", records=1, kept=1, errors=0)

    page.get_by_role("link", name="Documents").click()
    link = page.locator("#results").get_by_role("link", name=HOSTILE_TITLE, exact=True)
    expect(link).to_have_text(HOSTILE_TITLE)
    assert page.locator("main script, main img").count() == 0
    link.click()
    expect(page).to_have_url(re.compile(r"/documents/\d+$"))

    expect(page.get_by_role("heading", level=1)).to_have_text(HOSTILE_TITLE)
    expect(page.locator("ol.sentences")).to_contain_text(HOSTILE_IMG)
    assert page.title() == f"{HOSTILE_TITLE} · Concord"
    assert page.locator("main script, main img").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert_scripts_ran_cleanly(page, js_errors)


def test_a_reviewer_sees_the_batches_but_cannot_upload(
    admin_page: Page, browser: Browser, live_concord: LiveConcord
) -> None:
    project = zh_project(admin_page, live_concord)
    batch = upload(admin_page, project, WARCS / "whirlwind.warc.wet.gz").removeprefix(live_concord.url)
    username = f"reviewer-{uuid.uuid4().hex[:6]}"
    created = run_cli(
        ["create-user", "--username", username, "--role", "reviewer"], live_concord.env, stdin="a long passphrase\n"
    )
    assert created.returncode == 0, created.stderr

    context = browser.new_context(base_url=live_concord.url, viewport=VIEWPORT, locale="zh-CN")
    try:
        page = context.new_page()
        js_errors = JsErrors(page)
        sign_in(page, username, "a long passphrase")
        expect(page).to_have_url(re.compile(r"/projects$"))
        page.goto(project)
        expect(page.get_by_role("heading", level=2, name="Batches")).to_be_visible()
        expect(page.locator("table#batches tbody tr").first).to_be_visible()
        expect(page.locator("#upload-form")).to_have_count(0)
        expect(page.locator("input[type=file]")).to_have_count(0)
        expect(page.get_by_role("button", name="Upload and ingest")).to_have_count(0)

        page.locator("table#batches").get_by_role("link", name="whirlwind.warc.wet.gz").first.click()
        expect(page).to_have_url(re.compile(r"/batches/\d+$"))
        assert page.url.removeprefix(live_concord.url) == batch
        expect(page.locator("#batch-status")).to_have_text(FINISHED, timeout=BATCH_TIMEOUT_MS)
        assert_scripts_ran_cleanly(page, js_errors)
    finally:
        context.close()
