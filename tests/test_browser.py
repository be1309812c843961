"""The chat and citation pages in a real Chromium (Debian's) against a real `qa serve`."""

from __future__ import annotations

import re
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
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 375, "height": 740}
DOCS = PROJECT_ROOT / "docs"

CANNABIS = "How many cannabis factories were found in London?"
ANSWER_16 = (
    "Vietnamese groups are setting up 'cannabis factories' on an unprecedented scale; "
    "since April of this year more than 300 of the factories have been detected in London."
)
DECLINED = "The report does not seem to cover this."


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
    chip = exchange.get_by_role("button", name="¶16", exact=True)
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
    page.get_by_role("button", name="What does paragraph 22 say?").click()  # an example question
    example = page.locator("#log .exchange").first
    expect(example.locator(".answer")).to_have_text("Here is ¶22 of the report.")
    expect(example.locator(".panel")).to_contain_text("Central Drug Trafficking Database")

    exchange = ask(page, "show paragraph 38")
    expect(exchange.locator(".answer")).to_have_text("Here is ¶38 of the report.")
    expect(exchange.get_by_role("button", name="¶38", exact=True)).to_have_attribute("aria-expanded", "true")
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
    expect(first.locator("summary")).to_have_text("¶16")
    expect(first.locator("mark")).to_have_text(ANSWER_16)

    page.goto("/")
    page.get_by_role("button", name="What does paragraph 22 say?").click()
    expect(page.locator(".answer")).to_have_text("Here is ¶22 of the report.")
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
    page.locator("#log").get_by_role("button", name="¶16", exact=True).click()
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
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    ask(page, CANNABIS)
    # Back from the question box through the reply to the ¶16 chip, then open it with Enter.
    page.get_by_label("Your question").focus()
    for _ in range(12):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.textContent") == "¶16":
            break
    chip = page.locator("#log").get_by_role("button", name="¶16", exact=True)
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
    exchange.get_by_role("button", name="¶16", exact=True).click()
    ask(page, "https://example.org/" + "a-very-long-unbroken-address-" * 6)
    assert no_horizontal_scroll(page)
    for path in ("/report", "/p/table-1", "/p/38"):
        page.goto(path)
        assert no_horizontal_scroll(page), path
    context.close()


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_screenshots_of_the_chat(browser: Browser, live_server: str, name: str, viewport: dict) -> None:
    """Saves docs/chat-desktop.png and docs/chat-phone.png (shown in the README) after one question."""
    context = new_context(browser, live_server, viewport=viewport)
    page = context.new_page()
    page.goto("/")
    exchange = ask(page, CANNABIS)
    exchange.get_by_role("button", name="¶16", exact=True).click()
    expect(exchange.locator(".panel mark")).to_be_visible()
    page.get_by_label("Your question").blur()
    page.evaluate("window.scrollTo(0, 0)")
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=DOCS / f"chat-{name}.png", animations="disabled", caret="hide")
    context.close()
