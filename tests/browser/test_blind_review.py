"""The recall audit's blind pass in a real browser: text only, the reviewer marks entities with the mouse and the
keyboard, finishes the pass, and the proposals appear with the identical ones already settled."""

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlmodel import Session

from app.models import Document
from tests.browser import test_review as review
from tests.browser.conftest import JsErrors, assert_scripts_ran_cleanly
from tests.live_server import LiveConcord

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def blind_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConcord]:
    live = LiveConcord(tmp_path_factory.mktemp("blind") / "concord-data").start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def world(blind_live: LiveConcord) -> Iterator[review.ReviewWorld]:
    w = review.ReviewWorld(blind_live)
    yield w
    w.engine.dispose()


@pytest.fixture
def context(browser: Browser, blind_live: LiveConcord) -> Iterator[BrowserContext]:
    ctx = review.new_context(browser, blind_live)
    yield ctx
    ctx.close()


def seed_blind(world: review.ReviewWorld) -> review.Seeded:
    """The factory's annotated document, drawn for the recall audit (as cross-validation marks it)."""
    seeded = world.seed()
    with Session(world.engine) as session:
        document = session.get(Document, seeded.document_id)
        assert document is not None
        document.blind_review = "pending"
        session.add(document)
        session.commit()
    return seeded


def test_a_reviewer_marks_a_blind_document_then_sees_the_proposals(
    page: Page, js_errors: JsErrors, world: review.ReviewWorld
) -> None:
    seeded = seed_blind(world)
    ents = seeded.entities
    review.sign_in_as(page, review.REVIEWER_A)
    review.open_workbench(page, seeded)

    # Text only: the banner says what to do, and nothing of the proposals is drawn or counted.
    banner = "Blind pass: mark what the text states; the models' proposals appear after you finish"
    expect(page.locator("#wb-blind")).to_contain_text(banner)
    expect(page.locator("#wb-state")).to_contain_text("blind pass")
    expect(page.locator("#wb-state")).not_to_contain_text("to review")
    expect(page.locator("#wb-text .m")).to_have_count(0)
    expect(page.locator("#wb-panel .items > .item")).to_have_count(0)
    expect(page.get_by_role("button", name="Accept all agreed")).to_have_count(0)
    expect(page.get_by_role("button", name="Submit")).to_have_count(0)
    page.keyboard.press("Shift+S")
    expect(page.locator("#wb-hint")).to_contain_text("Finish the blind pass first")

    # The mouse: select 北京大学 (a hidden proposal's exact span: no clash, nothing revealed), press c, pick ORG.
    review.select_text(page, "北京大学")
    v = review.version(page)
    page.keyboard.press("c")
    review.pick(page, "ORG")
    review.settled(page, v)
    mine = page.locator('#wb-entities .item[data-name="北京大学"]')
    expect(mine).to_have_count(1)
    expect(mine).to_have_class(re.compile(r"\bag-manual\b"))
    own_org = int(mine.get_attribute("data-id") or 0)
    assert review.mention_texts(page, own_org) == ["北京大学"]
    expect(page.locator("#flash .alert")).to_have_count(0)

    # The keyboard: nothing selected, c finds the text; 李娜 as a person.
    page.evaluate("window.getSelection().removeAllRanges()")
    page.keyboard.press("c")
    expect(page.locator("#picker-title")).to_have_text("Find the text to mark")
    page.locator("#picker-filter").fill("李娜")
    expect(page.locator("#picker-list li")).to_have_count(1)
    page.keyboard.press("Enter")
    v = review.version(page)
    review.pick(page, "PER")
    review.settled(page, v)
    expect(page.locator("#wb-entities .item")).to_have_count(2)
    expect(page.locator("#marked-count")).to_have_text("2")
    expect(page.locator("#wb-text .m")).to_have_count(2)
    for entity_id in ents.values():
        expect(page.locator(f"#e-{entity_id}")).to_have_count(0)

    # Shift+F, Enter: the proposals appear; the reviewer's items identical to one are folded into it.
    page.keyboard.press("Shift+F")
    expect(page.locator("#picker-title")).to_contain_text("Finish the blind pass")
    v = review.version(page)
    page.keyboard.press("Enter")
    review.settled(page, v)
    expect(page.locator("#wb-blind .alert")).to_have_count(0)
    expect(page.locator("#wb-state")).to_contain_text("to review")
    expect(page.locator("#wb-state")).to_contain_text("finished the blind pass")
    for entity_id in ents.values():
        expect(review.row(page, "entity", entity_id)).to_have_count(1)
    for relation_id in seeded.relations.values():
        expect(review.row(page, "relation", relation_id)).to_have_count(1)
    expect(review.row(page, "entity", own_org)).to_have_count(0)
    expect(review.row(page, "entity", ents["北京大学"])).to_have_class(re.compile(r"\bst-accepted\b"))
    expect(review.row(page, "entity", ents["李娜"])).to_have_class(re.compile(r"\bst-accepted\b"))
    expect(review.row(page, "entity", ents["上海"])).to_have_class(re.compile(r"\bst-proposed\b"))
    expect(page.get_by_role("button", name="Submit")).to_be_visible()

    # The normal workbench from here: j finds a proposal to review and a accepts it.
    page.keyboard.press("j")
    expect(page.locator("#wb-panel .item.focused")).to_have_count(1)
    v = review.version(page)
    page.keyboard.press("a")
    review.settled(page, v)

    doc = world.document(seeded.document_id)
    assert doc["blind_review"] == "revealed"
    assert {e["name"] for e in doc["entities"]} == set(ents)  # the reviewer's two copies were folded away
    history = world.history(seeded.document_id)
    assert [h["action"] for h in reversed(history)][:3] == ["create", "create", "finish_blind"]
    assert_scripts_ran_cleanly(page, js_errors)
