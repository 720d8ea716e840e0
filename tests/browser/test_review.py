"""The review workbench in a real browser: keyboard review, selections over 𠮷 and emoji, locks and stale tabs."""

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Locator, Page, expect
from sqlalchemy import Engine
from sqlmodel import Session

from app.auth import service as auth_service
from app.db import make_engine
from app.models import Document, Role
from app.project import service as project_service
from tests.browser.conftest import VIEWPORT, JsErrors, assert_scripts_ran_cleanly, sign_in
from tests.factories import PASSWORD, REVIEW_TEXT, make_review_document
from tests.live_server import LiveConcord

pytestmark = pytest.mark.browser

REVIEWER_A = "rev-a"
REVIEWER_B = "rev-b"


def span(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """The code-point span of the nth occurrence of needle (Python offsets, as the server stores them)."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(needle, start + 1)
    return start, start + len(needle)


# make_review_document's default items without 李娜 and its relation: 李娜 is free text to mark.
WITHOUT_LINA = [
    ("PER", "张伟", [span(REVIEW_TEXT, "张伟"), span(REVIEW_TEXT, "张伟", 1)], "agreed", "proposed"),
    ("ORG", "北京大学", [span(REVIEW_TEXT, "北京大学")], "a_only", "proposed"),
    ("LOC", "上海", [span(REVIEW_TEXT, "上海")], "b_only", "proposed"),
    ("ORG", "星河科技", [span(REVIEW_TEXT, "星河科技"), span(REVIEW_TEXT, "星河科技", 1)], "agreed", "accepted"),
    ("LOC", "杭州", [span(REVIEW_TEXT, "杭州")], "type_conflict", "proposed"),
]
WITHOUT_LINA_RELATIONS = [
    (0, 1, "任职于", [0], "agreed", "proposed"),
    (0, 2, "出生于", [1], "a_only", "proposed"),
    (0, 3, "创办", [2], "agreed", "accepted"),
    (3, 4, "位于", [3], "b_only", "proposed"),
]

PAYLOAD_TITLE = "<script>window.__pwned='title'</script> 标题"
PAYLOAD_SCRIPT = "<script>alert(1);window.__pwned='script'</script>"
PAYLOAD_IMG = "<img src=x onerror=\"alert(2);window.__pwned='img'\">"
PAYLOAD_TEXT = (
    f"正文里有{PAYLOAD_SCRIPT}这样的标记。"
    f"图片{PAYLOAD_IMG}也只是文字。"
    "链接javascript:alert(3)不可点击。"
    "模板{{ 7*7 }}和{% if 1 %}x{% endif %}原样显示。"
)


@dataclass
class Seeded:
    project_id: int
    document_id: int
    text: str
    entities: dict[str, int]  # name → id
    relations: dict[str, int]  # type → id

    @property
    def review_url(self) -> str:
        return f"/documents/{self.document_id}/review"


class ReviewWorld:
    """One live Concord with two reviewers and an API token; each test seeds its own project and document."""

    def __init__(self, live: LiveConcord) -> None:
        self.live = live
        self.engine: Engine = make_engine(f"sqlite:///{live.data_dir.resolve() / 'concord.db'}")
        with Session(self.engine) as session:
            reviewer = auth_service.create_user(session, username=REVIEWER_A, role=Role.reviewer, password=PASSWORD)
            auth_service.create_user(session, username=REVIEWER_B, role=Role.reviewer, password=PASSWORD)
            _, self.token = auth_service.create_api_token(session, user=reviewer)
            session.commit()

    def seed(
        self,
        *,
        text: str = REVIEW_TEXT,
        title: str | None = None,
        entities: list[tuple[str, str, list[tuple[int, int]], str, str]] | None = None,
        relations: list[tuple[int, int, str, list[int], str, str]] | None = None,
    ) -> Seeded:
        """A project of its own (so the queue holds exactly this document) with one annotated document."""
        with Session(self.engine, expire_on_commit=False) as session:
            project = project_service.create_project(session, name=f"审阅 {uuid.uuid4().hex[:8]}", preset="zh-general")
            session.commit()
            doc, ents, rels = make_review_document(session, project, text=text, entities=entities, relations=relations)
            if title is not None:
                document = session.get(Document, doc.id)
                assert document is not None
                document.title = title
                session.add(document)
                session.commit()
            return Seeded(
                project_id=project.id or 0,
                document_id=doc.id,
                text=text,
                entities={e.name: e.id for e in ents},
                relations={r.type: r.id for r in rels},
            )

    def api(self, path: str) -> Any:
        response = httpx.get(
            self.live.url + "/api/v1" + path, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def document(self, document_id: int) -> dict[str, Any]:
        body: dict[str, Any] = self.api(f"/documents/{document_id}")
        return body

    def history(self, document_id: int) -> list[dict[str, Any]]:
        body: list[dict[str, Any]] = self.api(f"/documents/{document_id}/history")
        return body


@pytest.fixture(scope="module")
def review_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConcord]:
    live = LiveConcord(tmp_path_factory.mktemp("review") / "concord-data").start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def world(review_live: LiveConcord) -> Iterator[ReviewWorld]:
    w = ReviewWorld(review_live)
    yield w
    w.engine.dispose()


@pytest.fixture
def context(browser: Browser, review_live: LiveConcord) -> Iterator[BrowserContext]:
    """This module's own server, not the shared live_concord instances."""
    ctx = new_context(browser, review_live)
    yield ctx
    ctx.close()


def new_context(browser: Browser, live: LiveConcord) -> BrowserContext:
    ctx = browser.new_context(base_url=live.url, viewport=VIEWPORT, locale="zh-CN")
    ctx.set_default_timeout(10_000)
    return ctx


def sign_in_as(page: Page, username: str) -> None:
    sign_in(page, username, PASSWORD)
    expect(page).to_have_url(re.compile(r"/projects$"))


def open_workbench(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.review_url)
    expect(page.locator("#workbench")).to_have_attribute("data-ready", "true")


def row(page: Page, kind: str, item_id: int) -> Locator:
    """An entity's or a relation's row in the panel (#e-<id> / #r-<id>)."""
    return page.locator(f"#{kind[0]}-{item_id}")


def pick(page: Page, query: str) -> None:
    """Narrow the open picker by typing, then confirm the highlighted option with Enter."""
    expect(page.locator("#wb-picker")).to_be_visible()
    page.locator("#picker-filter").fill(query)
    expect(page.locator("#picker-list li.active")).to_contain_text(query)
    page.keyboard.press("Enter")


def version(page: Page) -> int:
    return int(page.locator("#wb-state").get_attribute("data-version") or "-1")


def settled(page: Page, before: int) -> None:
    """Wait for the answer to a decision: the state bar carries the next version."""
    expect(page.locator("#wb-state")).to_have_attribute("data-version", str(before + 1))


def mention_texts(page: Page, entity_id: int) -> list[str]:
    """The text under each highlighted piece of an entity's mentions."""
    return page.locator(f'#wb-text [data-e~="{entity_id}"]').all_text_contents()


def select_text(page: Page, needle: str, nth: int = 0) -> None:
    """Select the nth occurrence of `needle` in the review text with a DOM Range, as a mouse drag would."""
    page.evaluate(
        """([needle, nth]) => {
            const root = document.getElementById("wb-text");
            const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
            let node, seen = 0;
            while ((node = walker.nextNode())) {
                let i = node.data.indexOf(needle);
                while (i !== -1) {
                    if (seen++ === nth) {
                        const range = document.createRange();
                        range.setStart(node, i);
                        range.setEnd(node, i + needle.length);
                        const sel = window.getSelection();
                        sel.removeAllRanges();
                        sel.addRange(range);
                        return;
                    }
                    i = node.data.indexOf(needle, i + needle.length);
                }
            }
            throw new Error("not in one text node: " + needle);
        }""",
        [needle, nth],
    )


# --- 1. the keyboard loop ----------------------------------------------------------------------------------


def test_a_reviewer_works_a_document_from_the_keyboard(page: Page, js_errors: JsErrors, world: ReviewWorld) -> None:
    seeded = world.seed()
    rel = seeded.relations
    sign_in_as(page, REVIEWER_A)
    page.goto(f"/projects/{seeded.project_id}/review")
    expect(page.locator("#queue")).to_contain_text("<script>alert(1)</script> 张伟的故事")
    page.get_by_role("button", name="Start reviewing").click()
    expect(page).to_have_url(re.compile(rf"{seeded.review_url}$"))
    expect(page.locator("#workbench")).to_have_attribute("data-ready", "true")
    expect(page.locator("#wb-state")).to_contain_text("yours until")
    page.evaluate("window.__noReload = 'still here'")

    # j: the first relation to review, 张伟 —任职于→ 北京大学 with its evidence sentence S0.
    page.keyboard.press("j")
    first = row(page, "relation", rel["任职于"])
    expect(first).to_have_class(re.compile(r"\bfocused\b"))
    head, tail = seeded.entities["张伟"], seeded.entities["北京大学"]
    for el in page.locator(f'#wb-text [data-e~="{head}"]').all():
        expect(el).to_have_class(re.compile(r"\bhl-head\b"))
    expect(page.locator(f'#wb-text [data-e~="{tail}"]')).to_have_class(re.compile(r"\bhl-tail\b"))
    expect(page.locator("#s0")).to_have_class(re.compile(r"\bhl-ev\b"))
    expect(page.locator("#wb-text .hl-ev")).to_have_count(1)

    # a: accepted in place, and the focus moves on to the next item to review.
    v = version(page)
    page.keyboard.press("a")
    settled(page, v)
    expect(first).to_have_class(re.compile(r"\bst-accepted\b"))
    expect(first.locator(".state")).to_have_text("Accepted")
    second = row(page, "relation", rel["出生于"])
    expect(second).to_have_class(re.compile(r"\bfocused\b"))

    # x: rejected.
    v = version(page)
    page.keyboard.press("x")
    settled(page, v)
    expect(second).to_have_class(re.compile(r"\bst-rejected\b"))
    third = row(page, "relation", rel["同事"])
    expect(third).to_have_class(re.compile(r"\bfocused\b"))

    # t: retype 张伟 —同事→ 李娜 to 师生, choosing by typing in the picker.
    page.keyboard.press("t")
    expect(page.locator("#picker-list li")).to_have_text(["1 亲属 · 亲属", "2 同事 · 同事", "3 师生 · 师生"])
    v = version(page)
    pick(page, "师生")
    settled(page, v)
    expect(third.locator(".rtype")).to_have_text("—师生→")
    expect(third).to_have_class(re.compile(r"\bst-accepted\b"))

    # u: the retype is undone, the row is back as it was.
    v = version(page)
    page.keyboard.press("u")
    settled(page, v)
    expect(third.locator(".rtype")).to_have_text("—同事→")
    expect(third).to_have_class(re.compile(r"\bst-proposed\b"))
    expect(first).to_have_class(re.compile(r"\bst-accepted\b"))
    assert page.evaluate("window.__noReload") == "still here"

    # Shift+S, Enter on "Submit": curated, read only from now on.
    page.keyboard.press("Shift+S")
    expect(page.locator("#picker-title")).to_contain_text("Submit")
    expect(page.locator("#picker-list li.active")).to_have_text("Submit")
    v = version(page)
    page.keyboard.press("Enter")
    settled(page, v)
    expect(page.locator("#wb-state")).to_have_attribute("data-status", "curated")
    expect(page.locator("#wb-state")).to_have_attribute("data-can-act", "false")
    assert page.evaluate("window.__noReload") == "still here"
    assert_scripts_ran_cleanly(page, js_errors)

    # The server holds exactly what was decided; undecided items were rejected by the submit.
    doc = world.document(seeded.document_id)
    assert doc["status"] == "curated"
    relations = {r["id"]: (r["type"], r["status"]) for r in doc["relations"]}
    assert relations == {
        rel["任职于"]: ("任职于", "accepted"),
        rel["出生于"]: ("出生于", "rejected"),
        rel["创办"]: ("创办", "accepted"),  # accepted before the review began
        rel["位于"]: ("位于", "rejected"),
        rel["同事"]: ("同事", "rejected"),
    }
    entities = {e["name"]: e["status"] for e in doc["entities"]}
    assert entities == {
        "张伟": "accepted",  # accepting a relation accepts its arguments
        "北京大学": "accepted",
        "上海": "rejected",
        "星河科技": "accepted",
        "杭州": "rejected",
        "李娜": "rejected",
    }
    history = world.history(seeded.document_id)
    assert [(h["user"], h["action"], h["item_id"], h["undone"]) for h in reversed(history)] == [
        (REVIEWER_A, "accept", rel["任职于"], False),
        (REVIEWER_A, "reject", rel["出生于"], False),
        (REVIEWER_A, "retype", rel["同事"], True),
        (REVIEWER_A, "undo", rel["同事"], False),
        (REVIEWER_A, "submit", seeded.document_id, False),
    ]

    # The history page lists them, newest first, by this reviewer.
    page.get_by_role("link", name="History").click()
    expect(page).to_have_url(re.compile(rf"/documents/{seeded.document_id}/history$"))
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(5)
    for i in range(5):
        expect(rows.nth(i).locator("td").nth(1)).to_have_text(REVIEWER_A)
    expect(rows.nth(0)).to_contain_text("submitted: curated")
    expect(rows.nth(1)).to_contain_text("undid:")
    expect(rows.nth(2)).to_contain_text("type 同事 → 师生")
    expect(rows.nth(2)).to_have_class(re.compile(r"\bundone\b"))
    expect(rows.nth(3)).to_contain_text("rejected 张伟 —出生于→ 上海")
    expect(rows.nth(4)).to_contain_text("accepted 张伟 —任职于→ 北京大学")
    assert js_errors.messages == []


# --- 2. entities from a selection, and from the find dialog --------------------------------------------------


def test_an_entity_from_a_selection_after_astral_characters_has_code_point_offsets(
    page: Page, js_errors: JsErrors, world: ReviewWorld
) -> None:
    seeded = world.seed(entities=WITHOUT_LINA, relations=WITHOUT_LINA_RELATIONS)
    text = seeded.text
    sign_in_as(page, REVIEWER_A)
    open_workbench(page, seeded)

    # 李娜 follows 𠮷 and 😀: two code points but four UTF-16 units before it in its sentence.
    select_text(page, "李娜")
    assert page.evaluate(
        "ConcordOffsets.selectionToSpan(document.getElementById('wb-text'), window.getSelection())"
    ) == list(span(text, "李娜"))
    v = version(page)
    page.keyboard.press("c")
    expect(page.locator("#picker-title")).to_have_text("Type of the new entity")
    pick(page, "PER")
    settled(page, v)
    created = page.locator('#wb-entities .item[data-name="李娜"]')
    expect(created).to_have_count(1)
    expect(created).to_have_class(re.compile(r"\bst-accepted\b"))
    lina = int(created.get_attribute("data-id") or 0)
    assert mention_texts(page, lina) == ["李娜"]

    # A selection that contains the surrogate pairs themselves.
    select_text(page, "𠮷祥😀")
    v = version(page)
    page.keyboard.press("c")
    pick(page, "MISC")
    settled(page, v)
    created = page.locator('#wb-entities .item[data-name="𠮷祥😀"]')
    expect(created).to_have_count(1)
    odd = int(created.get_attribute("data-id") or 0)
    assert mention_texts(page, odd) == ["𠮷祥😀"]

    # The keyboard path: nothing selected, c opens the find dialog; 他 occurs twice, take the second.
    page.evaluate("window.getSelection().removeAllRanges()")
    page.keyboard.press("c")
    expect(page.locator("#picker-title")).to_have_text("Find the text to mark")
    # The context shown around a match never cuts 𠮷 in half.
    page.locator("#picker-filter").fill("的同事")
    expect(page.locator("#picker-list li")).to_have_text(["S4: …𠮷祥😀李娜是他的同事。…"])
    page.locator("#picker-filter").fill("他")
    options = page.locator("#picker-list li")
    expect(options).to_have_count(2)
    expect(options.nth(0)).to_contain_text("S1:")
    expect(options.nth(1)).to_contain_text("S4:")
    page.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_have_class("active")
    page.keyboard.press("Enter")
    expect(page.locator("#picker-title")).to_have_text("Type of the new entity")
    v = version(page)
    pick(page, "PER")
    settled(page, v)
    expect(page.locator('#wb-entities .item[data-name="他"]')).to_have_count(1)

    doc = world.document(seeded.document_id)
    made = {e["name"]: e for e in doc["entities"] if e["agreement"] == "manual"}
    assert set(made) == {"李娜", "𠮷祥😀", "他"}
    for name, expected, etype in (
        ("李娜", span(text, "李娜"), "PER"),
        ("𠮷祥😀", span(text, "𠮷祥😀"), "MISC"),
        ("他", span(text, "他", 1), "PER"),
    ):
        entity = made[name]
        assert (entity["type"], entity["status"]) == (etype, "accepted")
        assert [(m["start"], m["end"], m["text"]) for m in entity["mentions"]] == [(*expected, name)]
    assert text[slice(*span(text, "李娜"))] == "李娜" and span(text, "李娜") == (47, 49)
    assert_scripts_ran_cleanly(page, js_errors)


# --- 3. a relation from the keyboard -------------------------------------------------------------------------


def test_a_relation_from_the_keyboard(page: Page, js_errors: JsErrors, world: ReviewWorld) -> None:
    seeded = world.seed()
    ents = seeded.entities
    sign_in_as(page, REVIEWER_A)
    open_workbench(page, seeded)

    row(page, "entity", ents["北京大学"]).locator(".chip").click()
    expect(row(page, "entity", ents["北京大学"])).to_have_class(re.compile(r"\bfocused\b"))
    expect(page.locator(f'#wb-text [data-e~="{ents["北京大学"]}"]')).to_have_class(re.compile(r"\bhl-ent\b"))
    page.keyboard.press("r")
    expect(page.locator("#picker-title")).to_have_text("Tail of the relation from 北京大学")
    pick(page, "上海")
    # ORG → LOC: the schema allows only 位于.
    expect(page.locator("#picker-title")).to_have_text("北京大学 → 上海: type")
    expect(page.locator("#picker-list li")).to_have_text(["1 位于 · 位于"])
    v = version(page)
    page.keyboard.press("Enter")
    settled(page, v)

    relations = page.locator(f'#wb-relations .item[data-h="{ents["北京大学"]}"][data-t="{ents["上海"]}"]')
    expect(relations).to_have_count(1)
    expect(relations.locator(".chip")).to_have_text(["北京大学", "上海"])
    expect(relations.locator(".rtype")).to_have_text("—位于→")
    expect(relations).to_have_class(re.compile(r"\bst-accepted\b"))
    expect(relations.locator(".ev")).to_have_text("S0, S1")

    doc = world.document(seeded.document_id)
    new = [r for r in doc["relations"] if r["id"] not in seeded.relations.values()]
    assert [(r["head"], r["tail"], r["type"], r["evidence"], r["status"]) for r in new] == [
        (ents["北京大学"], ents["上海"], "位于", [0, 1], "accepted")
    ]
    statuses = {e["name"]: e["status"] for e in doc["entities"]}
    assert statuses["北京大学"] == statuses["上海"] == "accepted"
    assert_scripts_ran_cleanly(page, js_errors)


# --- 4. offsets.js in the page -------------------------------------------------------------------------------


def test_offsets_convert_between_utf16_and_code_points(page: Page, js_errors: JsErrors, world: ReviewWorld) -> None:
    seeded = world.seed()
    sign_in_as(page, REVIEWER_A)
    open_workbench(page, seeded)

    result = page.evaluate(
        """() => {
            const O = window.ConcordOffsets, s = "𠮷a😀b";
            const throws = (f) => { try { f(); return null; } catch (e) { return e.name; } };
            return {
                units: s.length,
                toCp: [0, 2, 3, 5, 6].map((u) => O.utf16ToCodePoints(s, u)),
                toUnits: [0, 1, 2, 3, 4].map((c) => O.codePointsToUtf16(s, c)),
                roundTrip: [0, 1, 2, 3, 4].every((c) => O.utf16ToCodePoints(s, O.codePointsToUtf16(s, c)) === c),
                length: O.codePointLength(s),
                splitsFirst: throws(() => O.utf16ToCodePoints(s, 1)),
                splitsEmoji: throws(() => O.utf16ToCodePoints(s, 4)),
                pastEnd: throws(() => O.utf16ToCodePoints(s, 7)),
                negative: throws(() => O.codePointsToUtf16(s, -1)),
                tooMany: throws(() => O.codePointsToUtf16(s, 5)),
            };
        }"""
    )
    assert result == {
        "units": 6,
        "toCp": [0, 1, 2, 3, 4],
        "toUnits": [0, 2, 3, 5, 6],
        "roundTrip": True,
        "length": 4,
        "splitsFirst": "RangeError",
        "splitsEmoji": "RangeError",
        "pastEnd": "RangeError",
        "negative": "RangeError",
        "tooMany": "RangeError",
    }

    # Every piece of the text sits at its code-point offset of the Python string...
    mismatches = page.evaluate(
        """(text) => {
            const cps = Array.from(text), bad = [];
            document.querySelectorAll("#wb-text [data-s]").forEach((el) => {
                const s = Number(el.dataset.s), t = el.textContent;
                const want = cps.slice(s, s + Array.from(t).length).join("");
                if (want !== t) bad.push([s, t, want]);
            });
            return bad;
        }""",
        seeded.text,
    )
    assert mismatches == []
    # ...so every highlight covers exactly its entity's characters, 李娜 after 𠮷 and 😀 included.
    for name, entity_id in seeded.entities.items():
        assert mention_texts(page, entity_id) == [name] * seeded.text.count(name), name

    # A selection maps back to code points whether its ends sit in text nodes or between elements
    # (a drag gives the former; a triple click or select-all the latter).
    spans = page.evaluate(
        """(lina) => {
            const root = document.getElementById("wb-text"), sel = window.getSelection();
            const spanOf = (sc, so, ec, eo) => {
                const range = document.createRange();
                range.setStart(sc, so);
                range.setEnd(ec, eo);
                sel.removeAllRanges();
                sel.addRange(range);
                return window.ConcordOffsets.selectionToSpan(root, sel);
            };
            const piece = root.querySelector(`[data-e~="${lina}"]`), s4 = document.getElementById("s4");
            return {
                text: spanOf(piece.firstChild, 0, piece.firstChild, piece.firstChild.length),
                element: spanOf(piece, 0, piece, 1),
                sentence: spanOf(s4, 0, s4, s4.childNodes.length),
                fromBefore: spanOf(piece.previousSibling, 1, piece, 1),
            };
        }""",
        seeded.entities["李娜"],
    )
    text = seeded.text
    lina = list(span(text, "李娜"))
    s4 = [text.index("𠮷"), len(text)]
    assert spans == {"text": lina, "element": lina, "sentence": s4, "fromBefore": lina}
    assert_scripts_ran_cleanly(page, js_errors)


# --- 5. hostile text ------------------------------------------------------------------------------------------


def test_markup_in_a_document_is_shown_as_text_and_never_runs(
    page: Page, js_errors: JsErrors, world: ReviewWorld
) -> None:
    text = PAYLOAD_TEXT
    seeded = world.seed(
        text=text,
        title=PAYLOAD_TITLE,
        entities=[
            ("MISC", PAYLOAD_SCRIPT, [span(text, PAYLOAD_SCRIPT)], "agreed", "proposed"),
            ("MISC", PAYLOAD_IMG, [span(text, PAYLOAD_IMG)], "a_only", "proposed"),
            ("WORK", "{{ 7*7 }}", [span(text, "{{ 7*7 }}")], "b_only", "proposed"),
        ],
        relations=[],
    )
    dialogs: list[str] = []

    def refuse(dialog: Dialog) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", refuse)
    sign_in_as(page, REVIEWER_A)

    page.goto(f"/projects/{seeded.project_id}/review")
    expect(page.locator("#queue")).to_contain_text(PAYLOAD_TITLE)
    open_workbench(page, seeded)
    expect(page.locator("h1.wb-title")).to_have_text(PAYLOAD_TITLE)
    expect(page).to_have_title(re.compile(re.escape(PAYLOAD_TITLE)))
    body = page.locator("#wb-text")
    for literal in (PAYLOAD_SCRIPT, PAYLOAD_IMG, "javascript:alert(3)", "{{ 7*7 }}", "{% if 1 %}x{% endif %}"):
        expect(body).to_contain_text(literal)
    expect(body).not_to_contain_text("49")
    img_row = row(page, "entity", seeded.entities[PAYLOAD_IMG])
    expect(img_row.locator(".chip")).to_have_text(PAYLOAD_IMG)
    expect(img_row).to_have_attribute("data-name", PAYLOAD_IMG)
    expect(page.locator("#workbench script, #workbench img, a[href^='javascript']")).to_have_count(0)

    # Focus, highlight, the find dialog and a partial update all handle the markup as text too.
    page.keyboard.press("j")
    expect(page.locator("#wb-entities .item.focused")).to_have_count(1)
    page.keyboard.press("c")
    page.locator("#picker-filter").fill("<img src")
    expect(page.locator("#picker-list li")).to_have_text(["S1: …图片<img src=x onerr…"])
    page.keyboard.press("Escape")
    expect(page.locator("#wb-picker")).to_be_hidden()
    # The keys go to the page again (not to the closed dialog's field), and the entity is still focused.
    expect(page.locator("#picker-filter")).not_to_be_focused()
    expect(page.locator("#wb-entities .item.focused")).to_have_count(1)
    v = version(page)
    page.keyboard.press("a")
    settled(page, v)
    expect(page.locator("#wb-entities .item.st-accepted")).to_have_count(1)
    for literal in (PAYLOAD_SCRIPT, PAYLOAD_IMG):
        expect(body).to_contain_text(literal)

    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"History of “{PAYLOAD_TITLE}”")
    expect(page.locator("#history tbody tr")).to_have_count(1)

    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
    assert_scripts_ran_cleanly(page, js_errors)


# --- 6. two reviewers, two tabs ---------------------------------------------------------------------------------


def test_a_document_another_reviewer_holds_is_read_only(
    page: Page, js_errors: JsErrors, world: ReviewWorld, browser: Browser, review_live: LiveConcord
) -> None:
    seeded = world.seed()
    rel = seeded.relations
    sign_in_as(page, REVIEWER_A)
    open_workbench(page, seeded)
    page.keyboard.press("j")
    v = version(page)
    page.keyboard.press("a")
    settled(page, v)
    expect(page.locator("#wb-state")).to_contain_text("yours until")

    other = new_context(browser, review_live)
    try:
        page_b = other.new_page()
        errors_b = JsErrors(page_b)
        sign_in_as(page_b, REVIEWER_B)
        page_b.goto(f"/projects/{seeded.project_id}/review")
        expect(page_b.locator("#queue tbody tr td").nth(3)).to_have_text(REVIEWER_A)
        # The queue does not hand out a document someone else holds.
        page_b.get_by_role("button", name="Start reviewing").click()
        expect(page_b).to_have_url(re.compile(r"/review\?done=1$"))
        expect(page_b.get_by_text("No more documents await you")).to_be_visible()

        open_workbench(page_b, seeded)
        state = page_b.locator("#wb-state")
        expect(state).to_contain_text(f"locked by {REVIEWER_A}")
        expect(state).to_contain_text("read only")
        expect(state).to_have_attribute("data-can-act", "false")
        expect(page_b.locator("#wb-panel .acts")).to_have_count(0)
        expect(page_b.get_by_role("button", name=re.compile("^Submit"))).to_have_count(0)
        # Reading works; deciding does not, and nothing is sent.
        page_b.keyboard.press("j")
        focused = row(page_b, "relation", rel["出生于"])
        expect(focused).to_have_class(re.compile(r"\bfocused\b"))
        page_b.keyboard.press("x")
        expect(page_b.locator("#wb-hint")).to_have_text("This document is read only for you.")
        expect(focused).to_have_class(re.compile(r"\bst-proposed\b"))
        assert_scripts_ran_cleanly(page_b, errors_b)
    finally:
        other.close()

    doc = world.document(seeded.document_id)
    assert {r["id"]: r["status"] for r in doc["relations"]}[rel["出生于"]] == "proposed"
    assert [(h["user"], h["action"]) for h in world.history(seeded.document_id)] == [(REVIEWER_A, "accept")]
    assert_scripts_ran_cleanly(page, js_errors)


def test_a_stale_tab_gets_the_conflict_and_the_fresh_state(
    page: Page, js_errors: JsErrors, world: ReviewWorld, context: BrowserContext
) -> None:
    seeded = world.seed()
    first = seeded.relations["任职于"]
    sign_in_as(page, REVIEWER_A)
    open_workbench(page, seeded)
    tab2 = context.new_page()
    errors2 = JsErrors(tab2)
    open_workbench(tab2, seeded)
    v = version(page)
    assert version(tab2) == v

    page.keyboard.press("j")
    page.keyboard.press("a")
    settled(page, v)
    expect(row(page, "relation", first)).to_have_class(re.compile(r"\bst-accepted\b"))

    # Tab 2 still shows the relation as proposed and rejects it: refused, and shown the current state.
    tab2.keyboard.press("j")
    stale_row = row(tab2, "relation", first)
    expect(stale_row).to_have_class(re.compile(r"\bst-proposed\b"))
    tab2.keyboard.press("x")
    expect(tab2.locator("#flash .alert")).to_contain_text(f"you had version {v}, it is now {v + 1}")
    expect(tab2.locator("#wb-state")).to_have_attribute("data-version", str(v + 1))
    expect(stale_row).to_have_class(re.compile(r"\bst-accepted\b"))
    expect(stale_row).to_have_class(re.compile(r"\bfocused\b"))
    doc = world.document(seeded.document_id)
    assert {r["id"]: r["status"] for r in doc["relations"]}[first] == "accepted"
    assert [h["action"] for h in world.history(seeded.document_id)] == ["accept"]

    # Having seen it, the reviewer can decide again on the fresh version.
    tab2.keyboard.press("x")
    settled(tab2, v + 1)
    expect(stale_row).to_have_class(re.compile(r"\bst-rejected\b"))
    expect(tab2.locator("#flash .alert")).to_have_count(0)
    assert [h["action"] for h in world.history(seeded.document_id)] == ["reject", "accept"]
    # The 409 shows in the console as a failed request (htmx and Chromium both log it); nothing threw.
    assert errors2.messages and all("409" in m or "responseError" in m for m in errors2.messages), errors2.messages
    assert_scripts_ran_cleanly(page, js_errors)


# --- 7. help and layout ---------------------------------------------------------------------------------------


def test_help_opens_and_closes_and_the_workbench_fits_a_laptop_screen(
    page: Page, js_errors: JsErrors, world: ReviewWorld
) -> None:
    seeded = world.seed()
    sign_in_as(page, REVIEWER_A)
    open_workbench(page, seeded)
    help_dialog = page.locator("#wb-help")
    expect(help_dialog).to_be_hidden()
    page.keyboard.press("?")
    expect(help_dialog).to_be_visible()
    expect(help_dialog.get_by_role("heading", name="Keyboard")).to_be_visible()
    expect(help_dialog).to_contain_text("accept / reject the focused item")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    page.get_by_role("button", name=re.compile("^Keys")).click()
    expect(help_dialog).to_be_visible()
    help_dialog.get_by_role("button", name="Close").click()
    expect(help_dialog).to_be_hidden()
    # Keys work again once it is closed.
    page.keyboard.press("j")
    expect(page.locator("#wb-panel .item.focused")).to_have_count(1)

    assert page.viewport_size == VIEWPORT
    text, panel = page.locator("#wb-text"), page.locator("#wb-panel")
    expect(text).to_be_in_viewport()
    expect(panel).to_be_in_viewport()
    expect(page.locator("#wb-relations .item").first).to_be_in_viewport()
    text_box, panel_box = text.bounding_box(), panel.bounding_box()
    assert text_box and panel_box
    assert text_box["x"] + text_box["width"] <= panel_box["x"], "the text and the panel sit side by side"
    assert panel_box["x"] + panel_box["width"] <= VIEWPORT["width"]
    assert text_box["width"] >= 500 and panel_box["width"] >= 360
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert_scripts_ran_cleanly(page, js_errors)


# --- mentions from the keyboard ---------------------------------------------------------------------------------


def test_mention_boundaries_move_by_whole_characters_from_the_keyboard(
    page: Page, js_errors: JsErrors, world: ReviewWorld
) -> None:
    seeded = world.seed()
    text = seeded.text
    lina = seeded.entities["李娜"]
    sign_in_as(page, REVIEWER_A)
    open_workbench(page, seeded)

    row(page, "entity", lina).locator(".chip").click()
    page.keyboard.press("b")
    title = page.locator("#picker-title")
    expect(title).to_have_text("Mentions of 李娜")
    expect(page.locator("#picker-list li")).to_have_text([f"李娜 S4 · {span(text, '李娜')[0]}–{span(text, '李娜')[1]}"])
    page.keyboard.press("Enter")
    expect(title).to_have_text("“李娜”")
    expect(page.locator("#picker-list li.active")).to_have_text("Adjust boundaries")
    page.keyboard.press("Enter")
    expect(title).to_contain_text("Adjust “李娜”")
    boundaries = page.locator("#picker-filter")
    expect(boundaries).to_have_value("李娜")
    # The start steps over 😀 as one character, never into half of it.
    page.keyboard.press("ArrowLeft")
    expect(boundaries).to_have_value("😀李娜")
    page.keyboard.press("ArrowRight")
    expect(boundaries).to_have_value("李娜")
    page.keyboard.press("Shift+ArrowRight")
    expect(boundaries).to_have_value("李娜是")
    v = version(page)
    page.keyboard.press("Enter")
    settled(page, v)
    assert mention_texts(page, lina) == ["李娜是"]

    entity = next(e for e in world.document(seeded.document_id)["entities"] if e["id"] == lina)
    start = text.index("李娜")
    assert [(m["start"], m["end"], m["text"]) for m in entity["mentions"]] == [(start, start + 3, "李娜是")]
    assert entity["status"] == "accepted"
    assert_scripts_ran_cleanly(page, js_errors)
