"""The chat and citation pages in a real Chromium (Debian's) against a real `qa serve`."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright

from qa.config import PROJECT_ROOT

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
DOCS = PROJECT_ROOT / "docs"

CANNABIS = "How many cannabis factories were found in London?"
ANSWER_16 = (
    "Vietnamese groups are setting up 'cannabis factories' on an unprecedented scale; "
    "since April of this year more than 300 of the factories have been detected in London."
)
DECLINED = "The report does not seem to cover this."
HEADED_16 = "¶16 · Hydroponic cultivation of Cannabis"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browsers` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def new_context(browser: Browser, base_url: str, **options: object) -> BrowserContext:
    context = browser.new_context(base_url=base_url, viewport=options.pop("viewport", DESKTOP), **options)
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def context(browser: Browser, live_server: str) -> Iterator[BrowserContext]:
    context = new_context(browser, live_server)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A fresh page (empty localStorage) that fails the test on any script error or CSP violation."""
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text
            else None
        ),
    )
    yield page
    assert not problems


def ask(page: Page, question: str) -> Locator:
    """Type a question, press Enter, and wait for its reply to finish loading; returns the exchange."""
    count = page.locator("#log .exchange").count()
    box = page.get_by_label("Your question")
    box.fill(question)
    box.press("Enter")
    exchange = page.locator("#log .exchange").nth(count)
    expect(exchange.locator(".question .text")).to_have_text(question)
    expect(exchange.locator(".reply .loading")).to_have_count(0)
    expect(exchange).not_to_have_attribute("aria-busy", "true")
    return exchange


def no_horizontal_scroll(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_enter_asks_and_the_chip_opens_the_highlighted_paragraph(page: Page) -> None:
    page.goto("/")
    box = page.get_by_label("Your question")
    box.fill("How many cannabis")
    box.press("Shift+Enter")
    expect(box).to_have_value("How many cannabis\n")  # a new line, nothing sent
    expect(page.locator("#log .exchange")).to_have_count(0)

    exchange = ask(page, CANNABIS)
    expect(exchange.locator("blockquote.answer")).to_have_text(ANSWER_16)
    chip = exchange.get_by_role("button", name=HEADED_16, exact=True)
    expect(chip).to_be_visible()
    expect(chip).to_have_attribute("aria-expanded", "false")
    chip.click()
    expect(chip).to_have_attribute("aria-expanded", "true")
    panel = exchange.locator(".panel")
    expect(panel.locator("mark")).to_have_text(ANSWER_16)
    expect(panel.locator(".where")).to_contain_text("Hydroponic cultivation of Cannabis")
    expect(panel).to_contain_text("The link between Organised Criminal Networks")

    panel.get_by_role("link", name="Open ¶16 on its own page").click()
    expect(page).to_have_url(re.compile(r"/p/16\?hl=\d+-\d+$"))
    expect(page.locator("h1")).to_have_text("Paragraph 16")
    expect(page.locator(".passage-text mark")).to_have_text(ANSWER_16)


def test_off_topic_question_is_declined_politely(page: Page) -> None:
    page.goto("/")
    exchange = ask(page, "What is the recipe for banana bread?")
    expect(exchange.locator(".answer")).to_have_text(DECLINED)
    expect(exchange.locator(".reason")).to_have_text("The closest passage never mentions 'recipe'.")
    nearest = exchange.locator("details.nearest")
    expect(nearest).not_to_have_attribute("open", "")
    expect(nearest.locator(".chip").first).to_be_hidden()  # folded away until asked for
    nearest.locator("summary").click()
    expect(nearest.locator(".chip")).to_have_count(3)


def test_citation_lookup_answers_with_that_passage(page: Page) -> None:
    page.goto("/")
    page.get_by_role("button", name=re.compile(r"^What does paragraph \d+ say\?$")).click()  # an example
    example = page.locator("#log .exchange").first
    expect(example.locator(".answer")).to_have_text("Here is ¶24 of the report.")
    expect(example.locator(".panel")).to_contain_text("Problem Drug Users (PDUs)")

    exchange = ask(page, "show paragraph 38")
    expect(exchange.locator(".answer")).to_have_text("Here is ¶38 of the report.")
    chip = exchange.get_by_role("button", name=re.compile(r"^¶38 · "))
    expect(chip).to_have_attribute("aria-expanded", "true")
    expect(exchange.locator(".panel")).to_contain_text("two-year reconviction rates were 80%")


def test_markup_in_a_question_stays_text(page: Page) -> None:
    attack = '<img src=x onerror="window.__pwned=1">'
    page.goto("/")
    exchange = ask(page, attack)
    expect(exchange.locator(".reply .copy")).to_be_visible()
    assert page.locator("#log img").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.reload()  # the stored conversation is rendered as text too
    expect(page.locator("#log .question .text")).to_have_text(attack)
    assert page.locator("#log img").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"


def test_without_javascript_the_form_returns_an_answer_page(browser: Browser, live_server: str) -> None:
    context = new_context(browser, live_server, java_script_enabled=False)
    page = context.new_page()
    page.goto("/")
    page.get_by_label("Your question").fill(CANNABIS)
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(f"{live_server}/ask")
    expect(page.locator("blockquote.answer")).to_have_text(ANSWER_16)
    first = page.locator("ul.citations details").first
    expect(first.locator("summary")).to_have_text(HEADED_16)
    expect(first.locator("mark")).to_have_text(ANSWER_16)

    page.goto("/")
    page.get_by_role("button", name=re.compile(r"^What does paragraph \d+ say\?$")).click()
    expect(page.locator(".answer")).to_have_text("Here is ¶24 of the report.")
    context.close()


def test_report_anchor_and_passage_pages(page: Page) -> None:
    page.goto("/report#p-38")
    paragraph = page.locator("#p-38")
    expect(paragraph).to_be_in_viewport()
    expect(paragraph.locator(".pnum")).to_have_text("¶38")
    assert page.evaluate("window.scrollY") > 0
    expect(page.locator("table")).to_contain_text("Haringey")
    expect(page.locator("dl.terms")).to_contain_text("Drug Testing and Treatment Order")

    page.goto("/p/D4")
    expect(page.locator("h1")).to_have_text("Financial implications 4")
    expect(page.locator(".passage-text")).to_contain_text("£6.1 million")
    page.get_by_role("link", name="See D4 in the full report").click()
    expect(page.locator("#p-D4")).to_be_in_viewport()

    response = page.goto("/p/nope")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("Passage not found")
    page.get_by_role("link", name="Read the full report").click()
    expect(page.locator("h1")).to_have_text("Drugs and crime")


def test_conversation_survives_a_reload_and_can_be_cleared(page: Page) -> None:
    page.goto("/")
    expect(page.locator("#examples")).to_be_visible()
    ask(page, CANNABIS)
    expect(page.locator("#examples")).to_be_hidden()
    page.reload()
    expect(page.locator("#log .exchange")).to_have_count(1)
    expect(page.locator("#log blockquote.answer")).to_have_text(ANSWER_16)
    page.locator("#log").get_by_role("button", name=HEADED_16, exact=True).click()
    expect(page.locator("#log .panel mark")).to_have_text(ANSWER_16)

    page.get_by_role("button", name="Clear conversation").click()
    expect(page.locator("#log .exchange")).to_have_count(0)
    expect(page.locator("#examples")).to_be_visible()
    expect(page.get_by_label("Your question")).to_be_focused()
    page.reload()
    expect(page.locator("#log .exchange")).to_have_count(0)


def test_copy_puts_the_answer_and_its_citation_on_the_clipboard(page: Page, context: BrowserContext) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/")
    exchange = ask(page, CANNABIS)
    exchange.get_by_role("button", name="Copy the answer with its citation").click()
    expect(exchange.locator(".copy")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(f"“{ANSWER_16}” (¶16)") and copied.endswith("/p/16")


def test_rejected_question_and_server_down_read_clearly(page: Page) -> None:
    page.goto("/")
    box = page.get_by_label("Your question")
    exchange = ask(page, "x" * 501)
    expect(exchange.locator(".error")).to_contain_text("That question was not accepted")
    expect(exchange.locator(".error")).to_contain_text("the limit is 500")
    expect(box).to_have_value("x" * 501)  # kept for editing

    page.route("**/api/ask", lambda route: route.abort())
    box.fill("")
    exchange = ask(page, CANNABIS)
    expect(exchange.locator(".error")).to_have_text(
        "Could not reach the server. Check that it is running, then try again."
    )
    page.reload()  # failed exchanges are not kept
    expect(page.locator("#log .exchange")).to_have_count(0)


def test_keyboard_only_use_with_visible_focus(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_label("Your question")).to_be_focused()  # ready to type on load
    skip = page.get_by_role("link", name="Skip to content")
    for _ in range(12):  # back through the examples and the site links to the skip link
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.classList.contains('skip')"):
            break
    expect(skip).to_be_focused()
    ask(page, CANNABIS)
    # Back from the question box through the reply to the ¶16 chip, then open it with Enter.
    page.get_by_label("Your question").focus()
    for _ in range(12):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.textContent") == HEADED_16:
            break
    chip = page.locator("#log").get_by_role("button", name=HEADED_16, exact=True)
    expect(chip).to_be_focused()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    expect(chip).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#log .panel mark")).to_have_text(ANSWER_16)


def test_phone_width_has_no_horizontal_scroll(browser: Browser, live_server: str) -> None:
    context = new_context(browser, live_server, viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto("/")
    assert no_horizontal_scroll(page)
    exchange = ask(page, CANNABIS)
    exchange.get_by_role("button", name=HEADED_16, exact=True).click()
    ask(page, "https://example.org/" + "a-very-long-unbroken-address-" * 6)
    assert no_horizontal_scroll(page)
    for path in ("/report", "/p/table-1", "/p/38"):
        page.goto(path)
        assert no_horizontal_scroll(page), path
    context.close()


@pytest.mark.parametrize(
    ("name", "viewport", "options"),
    [("desktop", DESKTOP, {}), ("phone", PHONE, {"is_mobile": True, "has_touch": True})],
)
def test_screenshots_of_the_chat(
    browser: Browser, live_server: str, name: str, viewport: dict, options: dict
) -> None:
    """Saves docs/chat-desktop.png and docs/chat-phone.png (shown in the README) after one question."""
    context = new_context(browser, live_server, viewport=viewport, **options)
    page = context.new_page()
    page.goto("/")
    exchange = ask(page, CANNABIS)
    exchange.get_by_role("button", name=HEADED_16, exact=True).click()
    expect(exchange.locator(".panel mark")).to_be_visible()
    page.get_by_label("Your question").blur()
    page.evaluate("window.scrollTo(0, 0)")
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=DOCS / f"chat-{name}.png", animations="disabled", caret="hide")
    context.close()


# ---------------------------------------------------------------------------
# The conversation in view, readable chips, follow-ups, links, accessibility (issue 14).

SIZES = [("desktop", DESKTOP, {}), ("phone", PHONE, {"is_mobile": True, "has_touch": True})]
CLEAN = "What is a clean delivery?"
ANSWER_7 = "The tactic the Unit employs is more accurately described as a ‘clean delivery’."
AXE_DIR = PROJECT_ROOT / ".axe"  # git-ignored; `npm install` puts axe-core here on first use
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def in_view_above_composer(page: Page, exchange: Locator) -> None:
    """The exchange is wholly between the top of the window and the composer when it fits there;
    a taller one shows its start at the top."""
    box = exchange.bounding_box()
    composer = page.locator("#ask-form").bounding_box()
    assert box is not None and composer is not None
    if box["height"] <= composer["y"]:
        assert box["y"] >= -1 and box["y"] + box["height"] <= composer["y"] + 1, (box, composer)
    else:
        assert -1 <= box["y"] <= 24, (box, composer)


@pytest.fixture(params=SIZES, ids=[name for name, _, _ in SIZES])
def sized_page(request: pytest.FixtureRequest, browser: Browser, live_server: str) -> Iterator[Page]:
    _, viewport, options = request.param
    context = new_context(browser, live_server, viewport=viewport, **options)
    yield context.new_page()
    context.close()


def test_newest_reply_stays_in_view_above_the_composer(sized_page: Page) -> None:
    page = sized_page
    page.goto("/")
    expect(page.get_by_label("Your question")).to_be_focused()  # focus on load
    questions = [
        CANNABIS,
        CLEAN,
        "How many crackhouses were closed in Haringey?",
        "What is the recipe for banana bread?",
        "What were the reconviction rates for DTTO offenders?",
    ]
    for question in questions:
        exchange = ask(page, question)
        in_view_above_composer(page, exchange)
        expect(page.get_by_label("Your question")).to_be_focused()  # and after each reply

    page.route("**/api/ask", lambda route: route.fulfill(status=500, json={"detail": "internal error"}))
    failed = ask(page, CLEAN)
    expect(failed.locator(".error")).to_have_text(
        "The server could not answer just now. Try again in a moment."
    )
    in_view_above_composer(page, failed)
    page.unroute("**/api/ask")
    page.get_by_label("Your question").fill("")
    failed.get_by_role("button", name="Retry").click()
    retried = page.locator("#log .exchange").last
    expect(retried.locator("blockquote.answer")).to_have_text(ANSWER_7)
    expect(page.locator("#log .failed")).to_have_count(0)
    in_view_above_composer(page, retried)


def test_keyboard_hint_only_where_there_is_a_keyboard(sized_page: Page) -> None:
    sized_page.goto("/")
    keys = sized_page.locator(".composer .keys")
    touch = sized_page.evaluate("matchMedia('(hover: none), (pointer: coarse)').matches")
    expect(keys).to_be_hidden() if touch else expect(keys).to_be_visible()
    expect(sized_page.locator("#question-hint")).to_contain_text("Up to 500 characters.")


def test_chips_name_their_passage_and_a_table_opens_as_a_table(sized_page: Page) -> None:
    page = sized_page
    page.goto("/")
    exchange = ask(page, CANNABIS)
    chip = exchange.get_by_role("button", name=HEADED_16, exact=True)
    expect(chip).to_be_visible()
    # The heading trails off with an ellipsis rather than widening the page.
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    exchange = ask(page, "How many crackhouses were closed in Haringey?")
    table_chip = exchange.get_by_role("button", name=re.compile(r"^Table 1 · "))
    table_chip.click()
    table = exchange.locator(".panel table")
    expect(table.locator("caption")).to_have_text("Table 1: Crackhouse data July to September 2005")
    expect(table.locator("thead th")).to_have_text(
        ["Boroughs", "Closure order granted Y?N", "Crackhouse closed"]
    )
    expect(table.locator("tbody th[scope=row]")).to_have_count(32)
    expect(table.locator("tr.marked th mark")).to_have_text("Haringey")


def test_a_follow_up_is_answered_from_the_passage_it_leans_on(page: Page) -> None:
    page.goto("/")
    first = ask(page, CLEAN)
    expect(first.locator("blockquote.answer")).to_have_text(ANSWER_7)
    follow_up = ask(page, "how many arrests did that lead to?")
    expect(follow_up.locator(".read-as")).to_have_text("Read as: How many clean delivery arrests were there?")
    expect(follow_up.locator("blockquote.answer")).to_contain_text("imprisonment of 150 persons")
    expect(follow_up.locator(".source")).to_have_text("— ¶7")
    why = ask(page, "why?")
    expect(why.locator(".answer")).to_have_text("Here is ¶7 of the report.")
    # Next steps under each answer: the passage after the one cited.
    steps = first.locator(".next-steps button")
    assert 1 <= steps.count() <= 3
    steps.first.click()
    expect(page.locator("#log .exchange").last.locator(".answer")).to_have_text("Here is ¶8 of the report.")
    # After a reload the conversation still has its context.
    page.reload()
    expect(ask(page, "the next paragraph").locator(".answer")).to_have_text("Here is ¶9 of the report.")


def test_a_shared_link_answers_with_and_without_javascript(browser: Browser, live_server: str) -> None:
    for javascript in (False, True):
        context = new_context(browser, live_server, java_script_enabled=javascript)
        page = context.new_page()
        page.goto("/ask?q=What+is+a+clean+delivery%3F")
        expect(page.locator("blockquote.answer")).to_have_text(ANSWER_7)
        expect(page.locator("ul.citations summary").first).to_have_text("¶7 · Controlled Deliveries Unit")
        # The follow-up through the form (posted, or sent by the script) is read after the shared answer.
        page.get_by_label("Your question").fill("how many arrests did that lead to?")
        page.get_by_role("button", name="Send").click()
        answer = page.locator("blockquote.answer").last
        expect(answer).to_contain_text("imprisonment of 150 persons")
        expect(page.locator(".read-as").last).to_contain_text("How many clean delivery arrests were there?")
        context.close()


@pytest.fixture(scope="session")
def axe_script() -> str:
    """axe-core from npm, installed once into a git-ignored folder."""
    script = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        command = ["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(AXE_DIR)]
        subprocess.run([*command, "axe-core@4"], check=True, timeout=300, capture_output=True)
    return script.read_text()


def axe_violations(page: Page, script: str) -> list[dict]:
    page.evaluate(script)
    return page.evaluate(
        """async (tags) => {
          const result = await axe.run(document, { runOnly: { type: "tag", values: tags } });
          return result.violations.map((v) => ({ id: v.id, impact: v.impact,
            nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
        }""",
        AXE_TAGS,
    )


@pytest.mark.parametrize(("name", "viewport", "options"), SIZES, ids=[name for name, _, _ in SIZES])
def test_axe_finds_no_violations(
    browser: Browser, live_server: str, axe_script: str, name: str, viewport: dict, options: dict
) -> None:
    # The pages' CSP forbids injected scripts; this context lets axe in and changes nothing else.
    context = new_context(browser, live_server, viewport=viewport, bypass_csp=True, **options)
    page = context.new_page()
    page.goto("/")
    assert axe_violations(page, axe_script) == [], "/"
    exchange = ask(page, CANNABIS)
    exchange.get_by_role("button", name=HEADED_16, exact=True).click()
    table = ask(page, "How many crackhouses were closed in Haringey?")
    table.get_by_role("button", name=re.compile(r"^Table 1 · ")).click()
    assert axe_violations(page, axe_script) == [], "chat with chips open"
    for path in ("/report", "/p/16", "/p/table-1", "/ask?q=What+is+a+clean+delivery%3F"):
        page.goto(path)
        assert axe_violations(page, axe_script) == [], path
    context.close()
