"""Admin work in the browser: the label schema form editor, API tokens, the empty-split warning, errors once."""

import re
import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    ADMIN,
    VIEWPORT,
    JsErrors,
    assert_scripts_ran_cleanly,
    open_new_project_form,
    sign_in,
)
from tests.live_server import LiveConcord, run_cli

pytestmark = pytest.mark.browser

BAD_CODE_MESSAGE = "Relation type 2, code: codes cannot contain spaces or <>&\"'`"


def _create_from_the_form(page: Page, name: str) -> None:
    open_new_project_form(page, name)
    page.get_by_label("Write your own (form or JSON)").check()
    editor = page.locator("#schema-editor")
    expect(editor).to_be_visible()
    editor.get_by_role("button", name="Add entity type").click()
    editor.get_by_label("Entity type 1, code").fill("PER")
    editor.get_by_label("Entity type 1, name").fill("人物")
    editor.get_by_label("Entity type 1, colour", exact=True).fill("#2f6fde")
    expect(editor.locator(".schema-hint")).to_contain_text("known: PER.")
    editor.get_by_role("button", name="Add relation type").click()
    editor.get_by_label("Relation type 1, code").fill("亲属")
    editor.get_by_label("Relation type 1, name").fill("亲属")
    editor.get_by_label("Relation type 1, head types").fill("PER")
    editor.get_by_label("Relation type 1, tail types").fill("PER")
    editor.get_by_label("Relation type 1, symmetric").check()
    # The form writes the JSON the page posts.
    expect(page.locator("textarea[name=schema_text]")).to_have_value(re.compile(r'"head_types": \[\s*"PER"\s*\]'))
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(r"/projects/\d+$"))


def test_a_relation_type_added_in_the_form_is_saved_and_a_bad_one_is_named_as_in_json(
    admin_page: Page, js_errors: JsErrors, browser: Browser, live_concord: LiveConcord
) -> None:
    page = admin_page
    _create_from_the_form(page, f"表单 {uuid.uuid4().hex[:6]}")
    relations = page.locator("#relation-types tbody tr")
    expect(relations).to_have_count(1)
    expect(relations.first).to_contain_text("亲属")
    expect(relations.first).to_contain_text("yes")
    project_url = page.url

    # Edit: the form starts from the saved schema; a second relation type with a bad code.
    page.goto(project_url + "/edit")
    editor = page.locator("#schema-editor")
    expect(editor.get_by_label("Relation type 1, code")).to_have_value("亲属")
    editor.get_by_role("button", name="Add relation type").click()
    editor.get_by_label("Relation type 2, code").fill("任 职")
    editor.get_by_label("Relation type 2, name").fill("任职")
    page.get_by_role("button", name="Save", exact=True).click()
    code = editor.get_by_label("Relation type 2, code")
    expect(code).to_have_attribute("aria-invalid", "true")
    beside = editor.locator('.field-error[data-field="schema.relation_types[1].code"]')
    expect(beside).to_have_text(BAD_CODE_MESSAGE)
    # Said once on the page: beside the field, not again in the alert.
    expect(page.get_by_text("codes cannot contain spaces")).to_have_count(1)
    posted = page.locator("textarea[name=schema_text]").input_value()
    assert_scripts_ran_cleanly(page, js_errors)

    # The JSON path without the script: the same schema, the same words, in the alert's list.
    plain = browser.new_context(base_url=live_concord.url, viewport=VIEWPORT, java_script_enabled=False)
    try:
        no_js = plain.new_page()
        sign_in(no_js, ADMIN, _password(live_concord))
        no_js.goto(project_url + "/edit")
        expect(no_js.locator("#schema-editor")).to_be_hidden()
        no_js.locator("textarea[name=schema_text]").fill(posted)
        no_js.get_by_role("button", name="Save", exact=True).click()
        expect(no_js.locator('li[data-field="schema.relation_types[1].code"]')).to_have_text(BAD_CODE_MESSAGE)
        expect(no_js.get_by_text("codes cannot contain spaces")).to_have_count(1)
    finally:
        plain.close()

    # Fixed in the form, saved: the project shows both relation types.
    code.fill("任职")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(r"/projects/\d+$"))
    expect(page.locator("#relation-types tbody tr")).to_have_count(2)


def _password(live: LiveConcord) -> str:
    from tests.browser.conftest import known_admin_password

    password = known_admin_password(live)
    assert password is not None
    return password


def test_tokens_are_made_shown_once_and_revoked_in_the_browser(
    admin_page: Page, js_errors: JsErrors, live_concord: LiveConcord
) -> None:
    page = admin_page
    owner = f"reader-{uuid.uuid4().hex[:6]}"
    made = run_cli(
        ["create-user", "--username", owner, "--role", "consumer"], live_concord.env, stdin="a long passphrase\n"
    )
    assert made.returncode == 0, made.stderr
    page.get_by_role("link", name="Users").click()
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("API tokens")
    page.get_by_label("For user").select_option(label=f"{owner} (consumer)")
    page.get_by_label("Name (what it is for)").fill("nightly")
    page.get_by_label("Expires after (days; empty: never)").fill("7")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#one-time-secret code.secret").inner_text()
    assert secret.startswith("cnc_")
    row = page.locator("#tokens tbody tr", has_text=owner)
    expect(row).to_contain_text(secret[:10] + "…")
    expect(row).to_contain_text("Active")

    page.goto("/admin/tokens")
    expect(page.get_by_text(secret)).to_have_count(0)
    assert secret not in page.content()
    row = page.locator("#tokens tbody tr", has_text=owner)
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("API token revoked")).to_be_visible()
    expect(page.locator("#tokens tbody tr", has_text=owner)).to_contain_text("Revoked")
    assert_scripts_ran_cleanly(page, js_errors)


def test_a_reviewer_gets_403_on_the_admin_pages(page: Page, js_errors: JsErrors, live_concord: LiveConcord) -> None:
    username = f"reviewer-{uuid.uuid4().hex[:6]}"
    made = run_cli(
        ["create-user", "--username", username, "--role", "reviewer"], live_concord.env, stdin="a long passphrase\n"
    )
    assert made.returncode == 0, made.stderr
    sign_in(page, username, "a long passphrase")
    expect(page).to_have_url(re.compile(r"/projects$"))
    for path in ("/admin/tokens", "/admin/users"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("alert")).to_have_text("This page is for admins.")
    assert_scripts_ran_cleanly(page, js_errors)


def test_freezing_with_an_empty_split_asks_first(admin_page: Page, js_errors: JsErrors) -> None:
    page = admin_page
    open_new_project_form(page, f"冻结 {uuid.uuid4().hex[:6]}")
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(r"/projects/\d+$"))
    page.goto(page.url + "/snapshots")
    page.get_by_label("Name", exact=True).fill("v-empty")
    page.get_by_role("button", name="Freeze a snapshot").click()
    warning = page.locator("#empty-split-warning")
    expect(warning).to_contain_text("train 0, dev 0, test 0")
    expect(page.get_by_role("alert")).to_contain_text("the train, dev and test splits would be empty")
    expect(page.get_by_label("Name", exact=True)).to_have_value("v-empty")
    expect(page.locator("#snapshots tbody tr, table tbody tr", has_text="v-empty")).to_have_count(0)
    page.get_by_label(re.compile("Freeze with the empty splits? anyway")).check()
    page.get_by_role("button", name="Freeze a snapshot").click()
    expect(page.locator("#empty-split-warning")).to_have_count(0)
    expect(page.locator("tr", has_text="v-empty")).to_have_count(1)
    assert_scripts_ran_cleanly(page, js_errors)
