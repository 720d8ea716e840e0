"""Headless Chromium (Debian's, never a downloaded one) driving live `concord serve` instances."""

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Response,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.conftest import IN_CI
from tests.live_server import LiveConcord

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# The network is closed: without the background-networking flags Chromium keeps dialling out and logging it.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
# Assertions wait up to 15 s (Playwright's default is 5): on a loaded two-core CI machine a live server's answer
# can take seconds; a real failure still fails, only later.
expect.set_options(timeout=15_000)
ADMIN = "admin"


# The first admin's own password per live instance (keyed by URL), chosen at its first browser sign-in:
# the instances live for the whole session, and the one-time password works only once.
_admin_passwords: dict[str, str] = {}


def _unavailable(message: str) -> None:
    """A missing browser fails the run under CI=true; elsewhere the browser tests are skipped."""
    if IN_CI:
        pytest.fail(message + " - CI requires it (set CHROMIUM_PATH if it lives elsewhere)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One Chromium for the whole run; every test gets its own context (cookies, storage)."""
    if not (Path(CHROMIUM_PATH).is_file() and os.access(CHROMIUM_PATH, os.X_OK)):
        _unavailable(f"Chromium is not installed at {CHROMIUM_PATH}")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        except Error as exc:
            _unavailable(f"Chromium at {CHROMIUM_PATH} did not start: {exc.message.splitlines()[0]}")
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser, live_concord: LiveConcord) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=live_concord.url, viewport=VIEWPORT, locale="zh-CN")
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


class JsErrors:
    """Uncaught exceptions and console errors of a page (a CSP violation by our own scripts lands here).

    A page's own 4xx status is not a script error (the tests assert statuses themselves), so Chromium's
    "Failed to load resource" for a navigation is left out; so is the favicon, which Concord does not serve.
    """

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        self._documents: set[str] = set()
        page.on("pageerror", lambda exc: self.messages.append(f"uncaught: {exc}"))
        page.on("response", self._response)
        page.on("console", self._console)

    def _response(self, response: Response) -> None:
        if response.request.is_navigation_request():
            self._documents.add(response.url)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if message.text.startswith("Failed to load resource") and (
            url in self._documents or urlsplit(url).path == "/favicon.ico"
        ):
            return
        self.messages.append(f"console: {message.text} ({url})")


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def js_errors(page: Page) -> JsErrors:
    return JsErrors(page)


def sign_in(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def first_admin_sign_in(page: Page, live: LiveConcord) -> str:
    """The first admin signs in with the one-time password `concord serve` printed and chooses their own."""
    assert live.url not in _admin_passwords, "the one-time password was already used"
    assert live.admin_password, f"no one-time password in the output of concord serve:\n{live.output()}"
    sign_in(page, ADMIN, live.admin_password)
    expect(page).to_have_url(re.compile(r"/account/password\b"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a password")
    expect(page.get_by_text("You signed in with a one-time password.")).to_be_visible()
    # Every other page sends them back here until they have chosen.
    page.goto("/projects")
    expect(page).to_have_url(re.compile(r"/account/password\b"))

    new_password = "browser " + secrets.token_urlsafe(12)
    page.get_by_label("Current password").fill(live.admin_password)
    page.get_by_label("New password (at least 10 characters)").fill(new_password)
    page.get_by_label("New password again").fill(new_password)
    page.get_by_role("button", name="Save password").click()
    expect(page).to_have_url(re.compile(r"/projects$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Projects")
    _admin_passwords[live.url] = new_password
    return new_password


def known_admin_password(live: LiveConcord) -> str | None:
    return _admin_passwords.get(live.url)


@pytest.fixture
def admin_password(browser: Browser, live_concord: LiveConcord) -> str:
    """The first admin's own password, set through the browser on first use of each instance."""
    password = known_admin_password(live_concord)
    if password is None:
        ctx = browser.new_context(base_url=live_concord.url, viewport=VIEWPORT)
        try:
            password = first_admin_sign_in(ctx.new_page(), live_concord)
        finally:
            ctx.close()
    return password


@pytest.fixture
def admin_page(page: Page, js_errors: JsErrors, admin_password: str) -> Page:
    """A page signed in as the first admin, on the projects list."""
    sign_in(page, ADMIN, admin_password)
    expect(page).to_have_url(re.compile(r"/projects$"))
    return page


def assert_scripts_ran_cleanly(page: Page, js_errors: JsErrors) -> None:
    """htmx and app.js loaded under the CSP, and nothing threw or was refused."""
    # A click's navigation can show the new page's text before its deferred scripts have run: wait for them.
    page.wait_for_load_state("load")
    assert page.evaluate("typeof htmx") == "object"
    assert js_errors.messages == []


def open_new_project_form(page: Page, name: str) -> None:
    page.get_by_role("link", name="New project").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New project")
    page.get_by_label("Name", exact=True).fill(name)
