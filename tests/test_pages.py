"""The HTML pages through HTTP: chat, no-JavaScript form, report, passage pages, safety headers."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from qa.app import create_app
from qa.config import Settings
from qa.corpus import Corpus
from qa.pages import STATIC_DIR, TEMPLATES_DIR, parse_highlight, passage_name, passage_view, text_blocks

CANNABIS = "How many cannabis factories were found in London?"
ANSWER_16 = "more than 300 of the factories have been detected in London."
DECLINED = "The report does not seem to cover this."


def html(client: TestClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def ask_form(client: TestClient, question: str, status: int = 200) -> str:
    response = client.post("/ask", data={"question": question})
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_chat_page_has_labelled_form_that_posts(client: TestClient) -> None:
    page = html(client, "/")
    assert '<form id="ask-form" class="ask composer" method="post" action="/ask">' in page
    assert '<label for="question">Your question</label>' in page
    assert '<textarea id="question" name="question"' in page
    assert 'role="log" aria-live="polite"' in page
    assert '<script src="/static/chat.js" defer></script>' in page
    # Examples come from the report's own headings (each checked to be answered from that heading's
    # passage), plus one lookup by paragraph number; nothing about the report is written in the code.
    examples = re.findall(r'<button class="example" name="question" value="([^"]+)"', page)
    assert len(examples) == 4, examples
    assert all(e.startswith("What does the report say about ") for e in examples[:3])
    assert re.fullmatch(r"What does paragraph \d+ say\?", examples[3])
    assert "What does the report say about hydroponic cultivation of Cannabis?" in examples
    assert "<cite>Drugs and crime</cite>" in page


def test_no_js_form_renders_answer_and_citations(client: TestClient) -> None:
    page = ask_form(client, CANNABIS)
    assert ANSWER_16 in page
    assert (
        '<summary class="chip"><span class="chip-label">¶16</span>'
        '<span class="chip-about"> · Hydroponic cultivation of Cannabis</span></summary>'
    ) in page
    assert '<a class="step" href="/ask?q=' in page  # next steps, as links that work without JS
    assert re.search(r"<mark>[^<]*300 of the factories[^<]*</mark>", page)
    assert re.search(r'href="/p/16\?hl=\d+-\d+"', page)
    assert 'href="/report#p-16"' in page
    assert "Hydroponic cultivation of Cannabis" in page


def test_no_js_form_escapes_markup_in_the_question(client: TestClient) -> None:
    question = '<script>alert("x")</script> cannabis factories'
    page = ask_form(client, question)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; cannabis factories" in page
    assert "<script>alert" not in page
    assert ANSWER_16 in page


def test_no_js_form_declines_politely_with_nearest_passages(client: TestClient) -> None:
    page = ask_form(client, "What is the recipe for banana bread?")
    assert DECLINED in page
    assert "<summary>Nearest passages (3)</summary>" in page
    assert "<mark>" not in page  # nearest passages are not answers: nothing is highlighted
    assert '<p class="hint reason">The closest passage never mentions &#39;recipe&#39;.</p>' in page


def test_no_js_decline_reason_is_escaped(client: TestClient) -> None:
    page = ask_form(client, "how many <b>crack houses</b> were shut in Narnia's O'Brien")
    assert "The report never mentions &#39;Narnia&#39; or &#39;O&#39;Brien&#39;." in page
    assert "<b>crack houses</b>" not in page and "&lt;b&gt;crack houses&lt;/b&gt;" in page


@pytest.mark.parametrize("question", ["show paragraph 38", "¶38"])
def test_no_js_citation_lookup_answers_with_the_passage(client: TestClient, question: str) -> None:
    page = ask_form(client, question)
    assert "Here is ¶38 of the report." in page
    assert "<details open>" in page and "two-year reconviction rates were 80%" in page


@pytest.mark.parametrize(
    ("question", "needle"),
    [("", "the question is empty"), ("   ", "the question is empty"), ("x" * 501, "the limit is 500")],
)
def test_no_js_form_rejects_bad_questions_readably(client: TestClient, question: str, needle: str) -> None:
    page = ask_form(client, question, status=422)
    assert "That question was not accepted" in page and needle in page
    if question.strip():
        assert f">{question}</textarea>" in page  # kept so it can be edited


def test_get_ask_goes_back_to_the_chat(client: TestClient) -> None:
    response = client.get("/ask", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_get_ask_renders_a_shareable_answer(client: TestClient) -> None:
    page = html(client, "/ask?q=What+is+a+clean+delivery%3F")
    assert '<blockquote class="answer"><p>The tactic the Unit employs' in page
    assert '<span class="chip-label">¶7</span>' in page
    # The next question is read against this one: the form carries the turn.
    assert '<input type="hidden" name="context_question" value="What is a clean delivery?">' in page
    assert '<input type="hidden" name="context_paragraph" value="7">' in page
    assert "What is a clean delivery?</p>" in page
    same = html(client, "/ask?q=What+is+a+clean+delivery%3F&doc=mpa-2005-12-08-drugs-and-crime")
    assert '<span class="chip-label">¶7</span>' in same
    assert html(client, "/ask?q=" + "x" * 501, status=422).count("the limit is 500") == 1
    escaped = html(client, "/ask?q=%3Cscript%3Ealert(1)%3C/script%3E+cannabis+factories")
    assert "<script>alert" not in escaped and "&lt;script&gt;alert(1)&lt;/script&gt;" in escaped


def test_no_js_follow_up_is_read_in_context(client: TestClient) -> None:
    context = {"context_question": "What is a clean delivery?", "context_paragraph": "7"}
    response = client.post("/ask", data={"question": "how many arrests did that lead to?", **context})
    assert response.status_code == 200
    page = response.text
    assert '<p class="read-as">Read as: <q>How many clean delivery arrests were there?</q></p>' in page
    assert "imprisonment of 150 persons" in page and '<span class="chip-label">¶7</span>' in page
    # A tampered context is ignored, not an error: the question stands alone.
    bad = {"context_question": "x" * 5000, "context_paragraph": "7"}
    response = client.post("/ask", data={"question": CANNABIS, **bad})
    assert response.status_code == 200 and ANSWER_16 in response.text and "Read as" not in response.text


@pytest.mark.parametrize(
    "path", ["/", "/report", "/p/16", "/p/nope", "/static/chat.js", "/static/chat.css", "/ask", "/ask?q=x"]
)
def test_security_headers_on_pages(client: TestClient, path: str) -> None:
    response = client.post(path, data={"question": CANNABIS}) if path == "/ask" else client.get(path)
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/", "/report", "/p/16", "/p/table-1", "/p/abbreviations", "/p/nope"])
def test_pages_have_no_inline_script_style_or_handlers(client: TestClient, path: str) -> None:
    page = client.get(path).text
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "inline <script>"
    assert not re.search(r"<style|\sstyle=", page), "inline style"
    assert not re.search(r"\son[a-z]+\s*=", page, re.IGNORECASE), "inline event handler"


def test_templates_and_script_never_inject_markup() -> None:
    script = (STATIC_DIR / "chat.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
    for template in TEMPLATES_DIR.glob("*.html"):
        assert "|safe" not in template.read_text().replace(" ", ""), template.name


def test_static_files_are_served(client: TestClient) -> None:
    assert "javascript" in client.get("/static/chat.js").headers["content-type"]
    assert client.get("/static/chat.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/favicon.svg").status_code == 200


def test_report_page_has_every_passage_anchored(client: TestClient, corpus: Corpus) -> None:
    page = html(client, "/report")
    assert '<h1 id="report-title">Drugs and crime</h1>' in page
    assert "Planning, Performance &amp; Review Committee" in page and "8 December 2005" in page
    for passage in corpus.passages:
        assert page.count(f'id="p-{passage.id}"') == 1, passage.id
        assert f'<a class="pnum" href="#p-{passage.id}">{passage.label}</a>' in page
    assert page.index('id="p-15"') < page.index('id="p-16"') < page.index('id="p-D4"')
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert "<h3 id=" in page and ">Q2. Highlight the variety of activity" in page
    assert ">Hydroponic cultivation of Cannabis</h4>" in page


def test_report_page_table_and_abbreviations(client: TestClient) -> None:
    page = html(client, "/report")
    assert '<th scope="col">Boroughs</th>' in page
    assert '<th scope="row">Haringey</th><td>17</td><td>17</td>' in page
    assert "<caption>Table 1: Crackhouse data July to September 2005</caption>" in page
    assert '<dl class="terms">' in page
    assert "<dt>DTTO</dt><dd>Drug Testing and Treatment Order</dd>" in page


@pytest.mark.parametrize("ref", ["16", "%C2%B616", "para%2016", "P16"])
def test_passage_page_resolves_every_id_form(client: TestClient, ref: str) -> None:
    response = client.get(f"/p/{ref}")
    assert response.status_code == 200 and response.url.path == "/p/16"
    page = response.text
    assert '<h1 id="passage-title">Paragraph 16</h1>' in page
    assert "Q2. Highlight the variety of activity" in page and "Hydroponic cultivation of Cannabis" in page
    assert 'href="/report#p-16"' in page
    assert 'rel="prev" href="/p/15"' in page and 'rel="next" href="/p/17"' in page


def test_other_id_forms_redirect_to_the_canonical_page(client: TestClient) -> None:
    response = client.get("/p/%C2%B616?hl=1-5", follow_redirects=False)
    assert response.status_code == 308 and response.headers["location"] == "/p/16?hl=1-5"


def test_financial_implications_and_table_pages(client: TestClient) -> None:
    page = html(client, "/p/d4")
    assert '<h1 id="passage-title">Financial implications 4</h1>' in page and "£6.1 million" in page
    assert 'rel="prev" href="/p/D3"' in page
    table = html(client, "/p/table-1")
    assert '<h1 id="passage-title">Table 1</h1>' in table and '<th scope="row">Newham</th>' in table


def test_passage_page_highlights_a_range(client: TestClient, corpus: Corpus) -> None:
    text = corpus.resolve("16").text
    start = text.index("Vietnamese")
    end = text.index(ANSWER_16) + len(ANSWER_16)
    page = html(client, f"/p/16?hl={start}-{end}")
    assert f"<mark>{text[start:end]}</mark>".replace("'", "&#39;") in page
    for bad in ("nonsense", "300-100", "5-5", "-1-4"):
        assert "<mark>" not in html(client, f"/p/16?hl={bad}")


def test_unknown_passage_is_a_404_page_linking_the_report(client: TestClient) -> None:
    page = html(client, "/p/nope", status=404)
    assert "Passage not found" in page and 'href="/report"' in page
    escaped = html(client, "/p/%3Cb%3Enope%3C%2Fb%3E", status=404)
    assert "&lt;b&gt;nope&lt;/b&gt;" in escaped and "<b>nope" not in escaped
    assert "Passage not found" in html(client, "/p/16/extra", status=404)


BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize(
    ("method", "path", "status", "title"),
    [
        ("GET", "/no-such-page", 404, "Page not found"),
        ("GET", "/<script>alert(1)</script>", 404, "Page not found"),
        ("PUT", "/", 405, None),  # not a page request: JSON
        ("GET", "/api/ask", 405, None),
        ("GET", "/api/nope", 404, None),  # the API answers JSON even to a browser
        ("GET", "/static/nope.js", 404, None),
    ],
)
def test_browser_meets_an_html_error_page(
    client: TestClient, method: str, path: str, status: int, title: str | None
) -> None:
    response = client.request(method, path, headers=BROWSER)
    assert response.status_code == status
    if title is None:
        assert response.headers["content-type"] == "application/json"
        assert "detail" in response.json()
        return
    assert response.headers["content-type"].startswith("text/html")
    assert f"<h1>{title}</h1>" in response.text and 'href="/report"' in response.text
    assert "<script>alert" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"


def test_api_clients_still_get_json_errors(client: TestClient) -> None:
    response = client.get("/no-such-page")  # no Accept: text/html
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


def test_pages_while_loading(settings: Settings) -> None:
    client = TestClient(create_app(settings))  # no lifespan: the service never loads
    assert client.get("/").status_code == 200  # the chat itself needs no index
    for path in ("/report", "/p/16"):
        response = client.get(path)
        assert response.status_code == 503 and "starting" in response.text
        assert response.headers["retry-after"] == "5"
    response = client.post("/ask", data={"question": CANNABIS})
    assert response.status_code == 503 and "starting" in response.text


def test_text_blocks_group_bullets_and_mark_a_range() -> None:
    text = "Intro line.\n• first\n• second\nAfter."
    blocks = text_blocks(text, (text.index("first"), text.index("second") + 3))
    assert [b.kind for b in blocks] == ["p", "ul", "p"]
    first, second = blocks[1].lines
    assert [(p.text, p.marked) for p in first] == [("first", True)]
    assert [(p.text, p.marked) for p in second] == [("sec", True), ("ond", False)]


def test_passage_views(corpus: Corpus) -> None:
    table = passage_view(corpus, corpus.resolve("table-1"), (0, 0))
    assert table.table is not None and table.table.header[0] == "Boroughs" and len(table.table.rows) == 32
    text = corpus.resolve("table-1").text
    haringey = text.index("Haringey")
    marked = passage_view(corpus, corpus.resolve("table-1"), (haringey, haringey + 5)).table
    assert [cells[0] for cells, hit in marked.rows if hit] == ["Haringey"]
    terms = passage_view(corpus, corpus.resolve("abbreviations")).terms
    assert terms is not None and terms[0][:2] == ("MPA", "Metropolitan Police Authority")
    assert [passage_name(corpus.resolve(r)) for r in ("16", "D4", "table-1", "A", "abbreviations")] == [
        "Paragraph 16",
        "Financial implications 4",
        "Table 1",
        "A. Recommendation",
        "List of abbreviations",
    ]
    assert parse_highlight("10-20", "x" * 15) == (10, 15) and parse_highlight("20-10", "x" * 30) is None
