"""Signing in, the project pages and their safety, in a real browser against each deployment shape."""

import json
import re
import uuid

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import (
    ADMIN,
    JsErrors,
    assert_scripts_ran_cleanly,
    first_admin_sign_in,
    known_admin_password,
    open_new_project_form,
    sign_in,
)
from tests.live_server import LiveConcord, run_cli

pytestmark = pytest.mark.browser

XSS_NAME = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def heading(page: Page) -> str:
    return page.get_by_role("heading", level=1).inner_text()


def no_session_cookie(context: BrowserContext) -> bool:
    return all(c["name"] != "concord_session" for c in context.cookies())


def test_first_admin_signs_in_with_the_one_time_password_and_must_choose_their_own(
    page: Page, js_errors: JsErrors, live_concord: LiveConcord
) -> None:
    password = known_admin_password(live_concord)
    if password is None:
        first_admin_sign_in(page, live_concord)
    else:
        # Another test needed the admin first; the one-time password must be spent by now.
        assert live_concord.admin_password
        sign_in(page, ADMIN, live_concord.admin_password)
        expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
        sign_in(page, ADMIN, password)
        expect(page).to_have_url(re.compile(r"/projects$"))
    expect(page.locator(".who")).to_contain_text(ADMIN)
    assert_scripts_ran_cleanly(page, js_errors)


def test_wrong_password_shows_an_error_and_starts_no_session(
    page: Page, js_errors: JsErrors, context: BrowserContext, admin_password: str
) -> None:
    sign_in(page, ADMIN, admin_password + " not")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    expect(page.get_by_label("Username")).to_have_value(ADMIN)
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    assert no_session_cookie(context)
    page.goto("/projects")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fprojects$"))
    assert_scripts_ran_cleanly(page, js_errors)


PRESET_CHECKS = {
    "zh-general": (8, 14),
    "person-relations": (1, 4),
    "docred": (6, 96),
}


@pytest.mark.parametrize("preset", list(PRESET_CHECKS))
def test_admin_creates_a_project_from_a_preset_and_sees_its_schema(
    admin_page: Page, js_errors: JsErrors, preset: str
) -> None:
    page = admin_page
    name = f"{preset} 项目 {uuid.uuid4().hex[:6]}"
    open_new_project_form(page, name)
    expect(page.locator("textarea[name=schema_text]")).to_be_hidden()
    page.locator("select[name=preset]").select_option(preset)
    page.get_by_role("button", name="Create project").click()

    expect(page).to_have_url(re.compile(r"/projects/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    entity_count, relation_count = PRESET_CHECKS[preset]
    expect(page.get_by_text(f"Preset: {preset} ·")).to_be_visible()
    expect(page.locator("table#entity-types tbody tr")).to_have_count(entity_count)
    relations = page.locator("table#relation-types tbody tr")
    expect(relations).to_have_count(relation_count)
    relation_codes = page.locator("table#relation-types tbody tr td:first-child")
    if preset == "zh-general":
        expect(relation_codes.filter(has_text="任职于")).to_have_count(1)
        chip = page.locator("table#entity-types .type-chip", has_text="PER")
        expect(chip).to_be_visible()
        # Type colours come from the project's stylesheet (inline styles are refused by the CSP).
        expect(chip).to_have_css("border-left-color", "rgb(47, 111, 222)")
    elif preset == "person-relations":
        assert relation_codes.all_inner_texts() == ["亲属", "师生", "同事", "其他"]
    else:
        expect(relation_codes.filter(has_text=re.compile(r"^P17$"))).to_have_count(1)

    page.get_by_role("link", name="Projects", exact=True).click()
    expect(page.get_by_role("link", name=name)).to_be_visible()
    assert_scripts_ran_cleanly(page, js_errors)


def test_pasted_json_errors_are_shown_and_keep_what_was_typed(admin_page: Page, js_errors: JsErrors) -> None:
    page = admin_page
    name = f"粘贴 JSON {uuid.uuid4().hex[:6]}"
    open_new_project_form(page, name)
    textarea = page.locator("textarea[name=schema_text]")
    expect(textarea).to_be_hidden()
    page.get_by_label("Write your own (form or JSON)").check()
    expect(textarea).to_be_visible()
    expect(page.locator("select[name=preset]")).to_be_hidden()

    textarea.fill('{"entity_types": [')
    page.get_by_role("button", name="Create project").click()
    # Said once, beside the field; the alert only points there.
    expect(page.get_by_role("alert")).to_have_text("Correct the field marked below.")
    expect(page.locator("#err-schema")).to_contain_text("Not valid JSON")
    expect(page.get_by_text("Not valid JSON")).to_have_count(1)
    expect(page.locator("#schema-editor-waiting")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_have_value(name)
    expect(page.get_by_label("Write your own (form or JSON)")).to_be_checked()
    expect(textarea).to_have_value('{"entity_types": [')

    unknown_head = {
        "entity_types": [{"code": "PER", "name": "人物", "color": "#2f6fde"}],
        "relation_types": [
            {"code": "任职于", "name": "任职于", "head_types": ["ORG"], "tail_types": ["PER"]},
        ],
    }
    textarea.fill(json.dumps(unknown_head, ensure_ascii=False))
    page.get_by_role("button", name="Create project").click()
    # The form editor follows the pasted JSON and shows the problem beside the field it names, in words.
    head_types = page.locator("#schema-editor").get_by_label("Relation type 1, head types")
    expect(head_types).to_have_value("ORG")
    expect(head_types).to_have_attribute("aria-invalid", "true")
    expect(page.locator('.field-error[data-field="schema.relation_types[0].head_types[0]"]')).to_have_text(
        "Relation type 1, allowed head type 1: unknown entity type 'ORG' (known: PER)"
    )
    expect(page.get_by_role("alert")).to_have_text("Invalid schema: see the fields marked in the form.")
    expect(page.get_by_label("Name", exact=True)).to_have_value(name)

    page.goto("/projects")
    expect(page.get_by_role("link", name=name)).to_have_count(0)
    assert_scripts_ran_cleanly(page, js_errors)


def test_a_project_name_full_of_markup_stays_inert_text(
    admin_page: Page, js_errors: JsErrors, live_concord: LiveConcord
) -> None:
    page = admin_page
    open_new_project_form(page, XSS_NAME)
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(r"/projects/\d+$"))
    detail_url = page.url

    h1 = page.get_by_role("heading", level=1)
    expect(h1).to_have_text(XSS_NAME)
    expect(h1).to_contain_text("<script>")
    assert page.locator("h1 script, h1 img").count() == 0
    assert page.title() == f"{XSS_NAME} · Concord"
    assert page.evaluate("window.__pwned") is None
    assert_scripts_ran_cleanly(page, js_errors)

    page.goto("/projects")
    link = page.get_by_role("link", name=XSS_NAME)
    expect(link).to_have_text(XSS_NAME)
    assert link.get_attribute("href") == detail_url.removeprefix(live_concord.url)
    assert page.locator("main script, main img").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert_scripts_ran_cleanly(page, js_errors)


def test_sign_out_ends_the_session(admin_page: Page, context: BrowserContext, js_errors: JsErrors) -> None:
    page = admin_page
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert no_session_cookie(context)
    page.goto("/projects")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fprojects$"))
    assert_scripts_ran_cleanly(page, js_errors)


def test_a_reviewer_sees_projects_but_not_the_admin_pages(
    page: Page, js_errors: JsErrors, live_concord: LiveConcord
) -> None:
    username = f"reviewer-{uuid.uuid4().hex[:6]}"
    created = run_cli(
        ["create-user", "--username", username, "--role", "reviewer"],
        live_concord.env,
        stdin="a long passphrase\n",
    )
    assert created.returncode == 0, created.stderr
    sign_in(page, username, "a long passphrase")
    expect(page).to_have_url(re.compile(r"/projects$"))
    assert heading(page) == "Projects"
    expect(page.locator(".badge")).to_have_text("reviewer")
    expect(page.get_by_role("link", name="New project")).to_have_count(0)
    expect(page.get_by_role("link", name="Create the first one")).to_have_count(0)

    response = page.goto("/projects/new")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("alert")).to_have_text("This page is for admins.")
    assert_scripts_ran_cleanly(page, js_errors)
