"""Reviewing faster, in a real browser: number keys in type lists, the agreed-items toggle, the audit question,
progress, relation arcs and dragging a relation, the help in a short window and dialog hints that apply."""

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlmodel import Session, select

from app.models import Proposal, Route, RoutedItem
from app.project import service as project_service
from tests.browser.conftest import JsErrors, assert_scripts_ran_cleanly
from tests.browser.test_review import (
    REVIEWER_A,
    WITHOUT_LINA,
    WITHOUT_LINA_RELATIONS,
    ReviewWorld,
    Seeded,
    new_context,
    open_workbench,
    pick,
    row,
    settled,
    sign_in_as,
    version,
)
from tests.factories import REVIEW_TEXT, make_review_document
from tests.live_server import LiveConcord

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def review_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConcord]:
    live = LiveConcord(tmp_path_factory.mktemp("review-speed") / "concord-data", extra_args=["--no-demo"]).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def world(review_live: LiveConcord) -> Iterator[ReviewWorld]:
    w = ReviewWorld(review_live)
    yield w
    w.engine.dispose()


@pytest.fixture
def context(browser: Browser, review_live: LiveConcord) -> Iterator[BrowserContext]:
    ctx = new_context(browser, review_live)
    yield ctx
    ctx.close()


def type_key(page: Page, kind: str, code: str) -> str:
    """The number key of a type: its place in the schema's list (1-based)."""
    codes = page.locator(f"#{kind}-types li").evaluate_all("els => els.map(e => e.dataset.code)")
    return str(codes.index(code) + 1)


def focused_ids(page: Page, presses: int, key: str = "j") -> list[str]:
    seen = []
    for _ in range(presses):
        page.keyboard.press(key)
        seen.append(page.evaluate("(document.querySelector('#wb-panel .item.focused') || {}).id || ''"))
    return seen


def select_across(page: Page, first: str, last: str) -> None:
    """A selection from the start of `first` to the end of `last`, which lie in different text nodes."""
    page.evaluate(
        """([first, last]) => {
            const root = document.getElementById("wb-text");
            const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
            let node, a = null, b = null;
            while ((node = walker.nextNode())) {
                if (!a && node.data.includes(first)) a = [node, node.data.indexOf(first)];
                if (node.data.includes(last)) b = [node, node.data.indexOf(last) + last.length];
            }
            const range = document.createRange();
            range.setStart(a[0], a[1]);
            range.setEnd(b[0], b[1]);
            window.getSelection().removeAllRanges();
            window.getSelection().addRange(range);
        }""",
        [first, last],
    )


def select_text(page: Page, needle: str) -> None:
    select_across(page, needle, needle)


# --- number keys, preselection, the remembered type, the new entity focused -------------------------------------


def test_number_keys_pick_types_and_the_new_entity_takes_the_focus(
    page: Page, js_errors: JsErrors, world: ReviewWorld
) -> None:
    seeded = world.seed(entities=WITHOUT_LINA, relations=WITHOUT_LINA_RELATIONS)
    sign_in_as(page, REVIEWER_A)
    open_workbench(page, seeded)
    per = type_key(page, "entity", "PER")

    select_text(page, "李娜")
    page.keyboard.press("c")
    expect(page.locator("#picker-title")).to_have_text("Type of the new entity")
    items = page.locator("#picker-list li")
    expect(items.first.locator("kbd")).to_have_text("1")
    expect(items.nth(int(per) - 1)).to_contain_text("· PER")
    expect(page.locator("#picker-keys")).to_contain_text("1–9 pick")
    v = version(page)
    page.keyboard.press(per)
    settled(page, v)
    lina = page.locator('#wb-entities .item[data-name="李娜"]')
    expect(lina).to_have_attribute("data-type", "PER")
    # The new entity is focused: r starts a relation from it at once.
    expect(lina).to_have_class(re.compile(r"\bfocused\b"))
    page.keyboard.press("r")
    expect(page.locator("#picker-title")).to_have_text("Tail of the relation from 李娜")
    pick(page, "张伟")
    # PER → PER: numbered too; 1 is the first type the schema allows.
    expect(page.locator("#picker-title")).to_have_text("李娜 → 张伟: type")
    first_allowed = page.locator("#picker-list li").first.inner_text()
    v = version(page)
    page.keyboard.press("1")
    settled(page, v)
    created = page.locator(f'#wb-relations .item[data-h="{lina.get_attribute("data-id")}"]')
    expect(created).to_have_count(1)
    expect(created.locator(".rtype")).to_contain_text(first_allowed.split(" · ")[0].removeprefix("1").strip())

    # The last type chosen comes preselected, per project, and survives a reload.
    assert page.evaluate(f"localStorage.getItem('concord.lastType.{seeded.project_id}.entity')") == "PER"
    page.reload()
    expect(page.locator("#workbench")).to_have_attribute("data-ready", "true")
    select_text(page, "教授")
    page.keyboard.press("c")
    expect(page.locator("#picker-list li.active")).to_contain_text("· PER")
    # Digits typed after a filter filter (codes such as P17), they do not pick.
    page.locator("#picker-filter").press("O")
    expect(page.locator("#picker-list li kbd")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(page.locator("#wb-picker")).to_be_hidden()

    # t: the current type is preselected; a number retypes.
    row(page, "entity", seeded.entities["上海"]).locator(".chip").click()
    page.keyboard.press("t")
    expect(page.locator("#picker-list li.active")).to_contain_text("· LOC")
    v = version(page)
    page.keyboard.press(type_key(page, "entity", "ORG"))
    settled(page, v)
    doc = world.document(seeded.document_id)
    assert {e["name"]: e["type"] for e in doc["entities"]}["上海"] == "ORG"
    assert {e["name"]: e["type"] for e in doc["entities"]}["李娜"] == "PER"
    assert_scripts_ran_cleanly(page, js_errors)


def test_a_selection_across_sentences_is_refused_before_the_type_and_hints_fit_the_dialog(
    page: Page, js_errors: JsErrors, world: ReviewWorld
) -> None:
    seeded = world.seed()
    sign_in_as(page, REVIEWER_A)
    open_workbench(page, seeded)
    v = version(page)
    select_across(page, "出生于", "2020")
    page.keyboard.press("c")
    expect(page.locator("#wb-hint")).to_have_text("A mention cannot cross sentences: select text within one sentence.")
    expect(page.locator("#wb-picker")).to_be_hidden()
    assert version(page) == v

    # Evidence is typed: no ↑/↓ or numbers in its hint. A list says how to choose.
    row(page, "relation", seeded.relations["任职于"]).locator(".rtype").click()
    page.keyboard.press("e")
    expect(page.locator("#picker-keys")).to_have_text("Enter confirm · Esc cancel")
    page.keyboard.press("Escape")
    row(page, "entity", seeded.entities["张伟"]).locator(".chip").click()
    page.keyboard.press("r")
    expect(page.locator("#picker-keys")).to_have_text("↑/↓ choose · Enter confirm · Esc cancel")
    page.keyboard.press("Escape")
    assert_scripts_ran_cleanly(page, js_errors)


def test_help_opens_at_its_top_in_a_short_window(page: Page, js_errors: JsErrors, world: ReviewWorld) -> None:
    seeded = world.seed()
    sign_in_as(page, REVIEWER_A)
    page.set_viewport_size({"width": 1280, "height": 360})
    open_workbench(page, seeded)
    page.keyboard.press("?")
    help_dialog = page.locator("#wb-help")
    expect(help_dialog).to_be_visible()
    title = help_dialog.get_by_role("heading", name="Keyboard")
    expect(title).to_be_in_viewport()
    assert help_dialog.evaluate("d => d.scrollTop") == 0
    assert help_dialog.evaluate("d => d.scrollHeight > d.clientHeight"), "the window is short enough to scroll"
    box = help_dialog.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 360
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    assert_scripts_ran_cleanly(page, js_errors)


# --- agreed items too, and Shift+A with audit items --------------------------------------------------------------


def route_auto(world: ReviewWorld, seeded: Seeded, name: str) -> int:
    """Mark an accepted entity as accepted by routing, without review."""
    entity_id = seeded.entities[name]
    with Session(world.engine) as session:
        session.add(
            RoutedItem(
                project_id=seeded.project_id,
                document_id=seeded.document_id,
                item_kind="entity",
                item_id=entity_id,
                slice=f"entity|agreed|model-a+model-b|{name}",
                agreement="agreed",
                proposers="model-a+model-b",
                type="ORG",
                route=Route.auto,
            )
        )
        session.commit()
    return entity_id


def test_review_agreed_items_too_stops_on_auto_accepted_items(
    page: Page, js_errors: JsErrors, world: ReviewWorld
) -> None:
    seeded = world.seed()
    auto = route_auto(world, seeded, "星河科技")
    sign_in_as(page, REVIEWER_A)
    open_workbench(page, seeded)
    auto_row = row(page, "entity", auto)
    expect(auto_row).to_have_class(re.compile(r"\bauto\b"))
    expect(auto_row.locator(".pv.auto")).to_have_count(1)
    toggle = page.get_by_label("Review agreed items too")
    expect(toggle).not_to_be_checked()
    todo = int(page.locator("#todo-count").inner_text())
    assert f"e-{auto}" not in focused_ids(page, todo + 2)

    toggle.check()  # the keys work right after: the box gives the focus back
    page.keyboard.press("Escape")
    seen = focused_ids(page, todo + 3)
    assert f"e-{auto}" in seen
    for _ in range(todo + 3):
        if page.evaluate("document.querySelector('#wb-panel .item.focused').id") == f"e-{auto}":
            break
        page.keyboard.press("k")
    v = version(page)
    page.keyboard.press("x")
    settled(page, v)
    expect(auto_row).to_have_class(re.compile(r"\bst-rejected\b"))
    doc = world.document(seeded.document_id)
    assert {e["name"]: e["status"] for e in doc["entities"]}["星河科技"] == "rejected"

    # The choice holds for the reviewer's session: the next page opens with it on.
    page.reload()
    expect(page.locator("#workbench")).to_have_attribute("data-ready", "true")
    expect(page.get_by_label("Review agreed items too")).to_be_checked()
    assert_scripts_ran_cleanly(page, js_errors)


def test_accepting_all_agreed_asks_first_when_some_are_flagged_for_audit(
    page: Page, js_errors: JsErrors, world: ReviewWorld
) -> None:
    seeded = world.seed()
    with Session(world.engine) as session:
        for p in session.exec(
            select(Proposal).where(Proposal.item_kind == "entity", Proposal.item_id == seeded.entities["张伟"])
        ):
            p.payload = {"audit": True}
            session.add(p)
        session.commit()
    sign_in_as(page, REVIEWER_A)
    open_workbench(page, seeded)
    zhang = row(page, "entity", seeded.entities["张伟"])
    expect(zhang.locator(".pv.audit")).to_have_count(1)
    v = version(page)
    page.keyboard.press("Shift+A")
    expect(page.locator("#picker-title")).to_contain_text("1 of them are flagged for audit")
    # The safe answer is the first: Enter cancels.
    page.keyboard.press("Enter")
    expect(page.locator("#wb-picker")).to_be_hidden()
    assert version(page) == v
    expect(zhang).to_have_class(re.compile(r"\bst-proposed\b"))

    page.keyboard.press("Shift+A")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    settled(page, v)
    expect(zhang).to_have_class(re.compile(r"\bst-accepted\b"))
    expect(row(page, "relation", seeded.relations["任职于"])).to_have_class(re.compile(r"\bst-accepted\b"))
    assert_scripts_ran_cleanly(page, js_errors)


# --- progress -----------------------------------------------------------------------------------------------------


def test_document_and_project_progress_stay_in_view_and_follow_decisions(
    page: Page, js_errors: JsErrors, world: ReviewWorld
) -> None:
    seeded = world.seed()
    with Session(world.engine, expire_on_commit=False) as session:
        project = project_service.get_project(session, seeded.project_id)
        _other, ents, rels = make_review_document(session, project, text=REVIEW_TEXT + "另一篇。")
    other_items = sum(e.status == "proposed" for e in ents) + sum(r.status == "proposed" for r in rels)
    sign_in_as(page, REVIEWER_A)
    open_workbench(page, seeded)
    todo = int(page.locator("#todo-count").inner_text())
    progress = page.locator("#wb-progress")
    expect(progress).to_be_in_viewport()
    expect(page.locator("#doc-items-left")).to_have_text(str(todo))
    expect(page.locator("#project-items-left")).to_have_text(str(todo + other_items))
    expect(page.locator("#project-docs-left")).to_have_text("2")

    page.keyboard.press("j")
    v = version(page)
    page.keyboard.press("a")
    settled(page, v)
    left = int(page.locator("#todo-count").inner_text())  # accepting a relation accepts its ends too
    assert left < todo
    expect(page.locator("#doc-items-left")).to_have_text(str(left))
    expect(page.locator("#project-items-left")).to_have_text(str(left + other_items))
    # Scrolling the long text or panel does not take it away.
    page.locator("#wb-text").evaluate("el => el.scrollTop = el.scrollHeight")
    expect(progress).to_be_in_viewport()

    page.keyboard.press("Shift+S")
    v = version(page)
    page.keyboard.press("Enter")
    settled(page, v)
    expect(page.locator("#doc-items-left")).to_have_text("0")
    expect(page.locator("#project-items-left")).to_have_text(str(other_items))
    expect(page.locator("#project-docs-left")).to_have_text("1")
    assert_scripts_ran_cleanly(page, js_errors)


# --- relation arcs and dragging a relation ---------------------------------------------------------------------


def arcs(page: Page) -> list[str]:
    rels: list[str] = page.locator("#wb-arcs .arc").evaluate_all("els => els.map(e => e.dataset.rel).sort()")
    return rels


def test_relation_arcs_follow_focus_and_hover_and_a_drag_starts_a_relation(
    page: Page, js_errors: JsErrors, world: ReviewWorld
) -> None:
    seeded = world.seed(entities=WITHOUT_LINA, relations=WITHOUT_LINA_RELATIONS)
    ents, rels = seeded.entities, seeded.relations
    sign_in_as(page, REVIEWER_A)
    open_workbench(page, seeded)
    assert arcs(page) == []

    # Focusing 张伟 draws its three relations, and only those.
    row(page, "entity", ents["张伟"]).locator(".chip").click()
    expect(page.locator("#wb-arcs .arc")).to_have_count(3)
    assert arcs(page) == sorted(str(rels[t]) for t in ("任职于", "出生于", "创办"))
    labels = page.locator("#wb-arcs .arc-label").all_text_contents()
    assert sorted(labels) == sorted(["任职于", "出生于", "创办"])
    # An arc runs from the head's mention to the tail's: its ends lie over those spans.
    ends = page.evaluate(
        """(rel) => {
            const path = document.querySelector('#wb-arcs .arc[data-rel="' + rel + '"]');
            const svg = path.ownerSVGElement.getBoundingClientRect();
            const a = path.getPointAtLength(0), b = path.getPointAtLength(path.getTotalLength());
            return [a.x + svg.left, a.y + svg.top, b.x + svg.left, b.y + svg.top];
        }""",
        str(rels["出生于"]),
    )
    head_box = page.locator(f'#wb-text [data-e~="{ents["张伟"]}"]').first.bounding_box()
    tail_box = page.locator(f'#wb-text [data-e~="{ents["上海"]}"]').first.bounding_box()
    assert head_box and tail_box
    assert head_box["x"] <= ends[0] <= head_box["x"] + head_box["width"]
    assert tail_box["x"] <= ends[2] <= tail_box["x"] + tail_box["width"]
    assert abs(ends[3] - tail_box["y"]) <= tail_box["height"]

    # Hovering another entity's mention shows its arcs; leaving the text brings the focused entity's back.
    page.locator(f'#wb-text [data-e~="{ents["杭州"]}"]').first.hover()
    expect(page.locator("#wb-arcs .arc")).to_have_count(1)
    assert arcs(page) == [str(rels["位于"])]
    page.locator("h1.wb-title").hover()
    expect(page.locator("#wb-arcs .arc")).to_have_count(3)
    # A focused relation draws its own arc.
    row(page, "relation", rels["位于"]).locator(".rtype").click()
    expect(page.locator("#wb-arcs .arc")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator("#wb-arcs .arc")).to_have_count(0)

    # Drag from 北京大学 to 上海: the relation type list for that head and tail opens.
    source = page.locator(f'#wb-text [data-e~="{ents["北京大学"]}"]').first.bounding_box()
    target = page.locator(f'#wb-text [data-e~="{ents["上海"]}"]').first.bounding_box()
    assert source and target
    page.mouse.move(source["x"] + source["width"] / 2, source["y"] + source["height"] / 2)
    page.mouse.down()
    page.mouse.move(target["x"] + 2, target["y"] + target["height"] / 2, steps=8)
    expect(page.locator("#wb-arcs .arc-drag")).to_have_count(1)
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2, steps=2)
    page.mouse.up()
    expect(page.locator("#picker-title")).to_have_text("北京大学 → 上海: type")
    expect(page.locator("#wb-arcs .arc-drag")).to_have_count(0)
    v = version(page)
    page.keyboard.press("1")
    settled(page, v)
    doc = world.document(seeded.document_id)
    assert [(r["head"], r["tail"], r["type"]) for r in doc["relations"] if r["id"] not in rels.values()] == [
        (ents["北京大学"], ents["上海"], "位于")
    ]
    assert_scripts_ran_cleanly(page, js_errors)


def test_arcs_measure_only_the_mentions_they_join_on_a_long_document(
    page: Page, js_errors: JsErrors, world: ReviewWorld
) -> None:
    filler = "".join(f"第{i}段再次提到星河科技的新产品。" for i in range(400))
    text = REVIEW_TEXT + filler
    star = [(m.start(), m.end()) for m in re.finditer("星河科技", text)]
    entities = [*WITHOUT_LINA[:3], ("ORG", "星河科技", star, "agreed", "accepted"), WITHOUT_LINA[4]]
    seeded = world.seed(text=text, entities=entities, relations=WITHOUT_LINA_RELATIONS)
    sign_in_as(page, REVIEWER_A)
    open_workbench(page, seeded)
    expect(page.locator(f'#wb-text [data-e~="{seeded.entities["星河科技"]}"]')).to_have_count(len(star))
    page.evaluate(
        """() => {
            window.__rects = 0;
            const original = Element.prototype.getBoundingClientRect;
            Element.prototype.getBoundingClientRect = function () { window.__rects++; return original.call(this); };
        }"""
    )
    # 北京大学 has one relation, to 张伟 (two mentions): four rectangles (with the text box), not 400 more.
    page.locator(f"#e-{seeded.entities['北京大学']}").evaluate("el => el.click()")
    expect(page.locator("#wb-arcs .arc")).to_have_count(1)
    assert page.evaluate("window.__rects") <= 4
    assert_scripts_ran_cleanly(page, js_errors)
