"""The API reference at /api/docs: inside the app's frame, with Swagger's Authorize for a bearer token."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN, JsErrors, assert_scripts_ran_cleanly
from tests.live_server import LiveConcord, run_cli

pytestmark = pytest.mark.browser


def test_api_docs_keep_the_top_bar_and_authorize_with_a_token(
    admin_page: Page, js_errors: JsErrors, live_concord: LiveConcord
) -> None:
    page = admin_page
    made = run_cli(["token", "create", "--username", ADMIN], live_concord.env)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Concord API")
    # The app's top bar, with the signed-in admin's navigation and account links.
    topbar = page.locator("header.topbar")
    expect(topbar.get_by_role("link", name="Projects")).to_be_visible()
    expect(topbar.get_by_role("button", name="Sign out")).to_be_visible()
    # Swagger UI (vendored, started by api-docs.js under the strict CSP) lists the routes and offers Authorize.
    snapshots = page.locator(".opblock-summary-path", has_text="/api/v1/projects/{project_id}/snapshots")
    expect(snapshots.first).to_be_visible()
    page.locator(".swagger-ui button.authorize").first.click()
    dialog = page.locator(".swagger-ui .modal-ux")
    expect(dialog.get_by_role("heading", name="bearer (http, Bearer)")).to_be_visible()
    dialog.get_by_role("textbox").fill(token)
    dialog.get_by_role("button", name="Apply credentials").click()
    dialog.get_by_role("button", name="Close").click()
    # Try it out sends the token: the projects list answers 200 instead of 401.
    operation = page.locator("#operations-projects-list_projects_api_v1_projects_get")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator(".live-responses-table tr.response .response-col_status")).to_have_text("200")
    assert_scripts_ran_cleanly(page, js_errors)


def test_api_docs_are_public(page: Page) -> None:
    page.goto("/api/docs")
    expect(page.locator("header.topbar").get_by_role("link", name="Concord")).to_be_visible()
    expect(page.locator(".swagger-ui button.authorize").first).to_be_visible()
