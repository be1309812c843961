"""HTML pages: the chat (with a no-JavaScript form), the whole report, and one page per passage."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from qa.config import PROJECT_ROOT
from qa.corpus import Corpus, Passage, Report
from qa.schemas import AskRequest, AskResponse, Citation, response_from_result
from qa.service import AnswerService
from qa.tables import read_table

WEB_DIR = PROJECT_ROOT / "web"
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"

EXAMPLES = (
    "How many cannabis factories were found in London?",
    "What were the reconviction rates for DTTO offenders?",
    "How many crackhouses were closed in Haringey?",
    "What does paragraph 22 say?",
)
DECLINED = "The report does not seem to cover this."
STARTING = "The service is starting; try again in a few seconds."

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"], default_for_string=True, default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_env)
router = APIRouter(include_in_schema=False)


# ---------------------------------------------------------------------------
# Passage text as blocks of pieces, with one character range marked.


@dataclass(frozen=True)
class Piece:
    text: str
    marked: bool = False


@dataclass
class Block:
    """A paragraph ('p') or a bulleted list ('ul'); each line is a list of pieces."""

    kind: str
    lines: list[list[Piece]] = field(default_factory=list)


@dataclass
class TableView:
    caption: list[Piece]
    header: tuple[str, ...]
    rows: list[tuple[tuple[str, ...], bool]]


@dataclass
class PassageView:
    """What a template needs to show a passage: its text split for HTML, and where it sits."""

    passage: Passage
    label: str
    blocks: list[Block]
    table: TableView | None = None
    terms: list[tuple[str, str, bool]] | None = None
    highlight: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        return passage_name(self.passage)

    @property
    def hl_query(self) -> str:
        return f"?hl={self.highlight[0]}-{self.highlight[1]}" if self.highlight else ""


def passage_name(passage: Passage) -> str:
    """A reader's name for a passage: 'Paragraph 16', 'Financial implications 4', 'Table 1'."""
    if passage.id.isdigit():
        return f"Paragraph {passage.id}"
    numbered = re.fullmatch(r"([A-Z])(\d+)", passage.id)
    if numbered and passage.section.startswith(f"{numbered.group(1)}. "):
        return f"{passage.section[3:]} {numbered.group(2)}"
    if passage.kind == "section" and passage.section:
        return passage.section
    if passage.kind == "abbreviations":
        return "List of abbreviations"
    return passage.label


def _line_offsets(text: str) -> list[tuple[int, int]]:
    offsets, start = [], 0
    for line in text.split("\n"):
        offsets.append((start, start + len(line)))
        start += len(line) + 1
    return offsets


def _overlaps(span: tuple[int, int], highlight: tuple[int, int] | None) -> bool:
    return highlight is not None and span[0] < highlight[1] and highlight[0] < span[1]


def _pieces(text: str, start: int, end: int, highlight: tuple[int, int] | None) -> list[Piece]:
    """text[start:end] split into unmarked / marked / unmarked pieces."""
    if not _overlaps((start, end), highlight):
        return [Piece(text[start:end])]
    assert highlight is not None
    lo, hi = max(start, highlight[0]), min(end, highlight[1])
    parts = [Piece(text[start:lo]), Piece(text[lo:hi], True), Piece(text[hi:end])]
    return [part for part in parts if part.text]


def text_blocks(text: str, highlight: tuple[int, int] | None = None) -> list[Block]:
    """Lines become paragraphs; consecutive '• ' lines become one bulleted list."""
    blocks: list[Block] = []
    for start, end in _line_offsets(text):
        bullet = text.startswith("• ", start)
        pieces = _pieces(text, start + 2 if bullet else start, end, highlight)
        kind = "ul" if bullet else "p"
        if kind == "ul" and blocks and blocks[-1].kind == "ul":
            blocks[-1].lines.append(pieces)
        else:
            blocks.append(Block(kind, [pieces]))
    return blocks


def _table_view(passage: Passage, highlight: tuple[int, int] | None) -> TableView | None:
    """The table read by qa.tables: its header names over every row (a blank cell stays blank)."""
    table = read_table(passage)
    if table is None:
        return None
    caption = _pieces(passage.text, 0, len(table.caption), highlight)
    rows = [
        ((row.name, *(cell.text for cell in row.cells)), _overlaps((row.start, row.end), highlight))
        for row in table.rows
    ]
    return TableView(caption, tuple(column.name for column in table.columns), rows)


def _terms(passage: Passage, report: Report, highlight: tuple[int, int] | None) -> list | None:
    lines = _line_offsets(passage.text)
    if len(report.abbreviations) * 2 != len(lines):
        return None
    return [
        (entry.term, entry.expansion, _overlaps((lines[2 * i][0], lines[2 * i + 1][1]), highlight))
        for i, entry in enumerate(report.abbreviations)
    ]


def passage_view(corpus: Corpus, passage: Passage, highlight: tuple[int, int] | None = None) -> PassageView:
    report = corpus.report_of(passage)
    view = PassageView(passage, passage.label, text_blocks(passage.text, highlight), highlight=highlight)
    if passage.kind == "table":
        view.table = _table_view(passage, highlight)
    elif passage.kind == "abbreviations":
        view.terms = _terms(passage, report, highlight)
    return view


def parse_highlight(value: str | None, text: str) -> tuple[int, int] | None:
    """'150-315' -> (150, 315) when it is a non-empty range inside the text; anything else -> None."""
    match = re.fullmatch(r"(\d{1,6})-(\d{1,6})", value or "")
    if not match:
        return None
    start, end = int(match.group(1)), min(int(match.group(2)), len(text))
    return (start, end) if start < end else None


# ---------------------------------------------------------------------------
# The report as an outline: headings interleaved with passages.


@dataclass(frozen=True)
class OutlineItem:
    level: int  # 2 lettered section, 3 question or sub-heading, 4 sub-heading under a question
    title: str
    anchor: str


def _slug(title: str, used: set[str]) -> str:
    """A unique anchor for a heading: 's-hydroponic-cultivation-of-cannabis'."""
    base = "s-" + (re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "section")
    slug, n = base, 1
    while slug in used:
        n += 1
        slug = f"{base}-{n}"
    used.add(slug)
    return slug


def report_outline(report: Report) -> list[tuple[list[OutlineItem], Passage]]:
    """Each passage with the headings that open just before it, in document order."""
    seen: set[str] = set()
    anchors: set[str] = set()
    section, heading = "", ""
    outline: list[tuple[list[OutlineItem], Passage]] = []
    for passage in report.passages:
        opened: list[OutlineItem] = []
        if passage.section != section:
            section, heading = passage.section, ""
            if section not in seen:
                seen.add(section)
                level = 3 if _is_question(section) else 2
                opened.append(OutlineItem(level, section, _slug(section, anchors)))
        if passage.heading and passage.heading != heading:
            heading = passage.heading
            level = 4 if _is_question(section) else 3
            opened.append(OutlineItem(level, heading, _slug(heading, anchors)))
        outline.append((opened, passage))
    return outline


def _is_question(section: str) -> bool:
    return re.match(r"Q\d+\.", section) is not None


# ---------------------------------------------------------------------------
# Routes.


def _service(request: Request) -> AnswerService | None:
    return request.app.state.service


def _page(request: Request, name: str, status_code: int = 200, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


_HTTP_ERRORS = {404: ("Page not found", "There is no page at this address.")}


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not the JSON API, health check or a static file)."""
    if request.method not in ("GET", "HEAD") or "text/html" not in request.headers.get("accept", ""):
        return False
    return not request.url.path.startswith(("/api/", "/healthz", "/static/", "/docs", "/openapi"))


def error_page(request: Request, status_code: int) -> HTMLResponse | None:
    """The HTML page for an error a browser met on a page address; None to answer in JSON."""
    if status_code not in _HTTP_ERRORS:
        return None
    title, message = _HTTP_ERRORS[status_code]
    return _page(request, "error.html", status_code, title=title, message=message)


def _starting(request: Request) -> HTMLResponse:
    response = _page(request, "error.html", 503, title="Starting", message=STARTING)
    response.headers["retry-after"] = "5"
    return response


def _report(service: AnswerService | None) -> Report | None:
    return service.corpus.reports[0] if service is not None else None


@dataclass
class Exchange:
    """One question and the server's reply, for the no-JavaScript chat."""

    question: str
    response: AskResponse | None = None
    error: str | None = None
    views: list[PassageView] = field(default_factory=list)


def _citation_view(corpus: Corpus, citation: Citation, highlight: bool) -> PassageView:
    passage = corpus.resolve(citation.paragraph)
    assert passage is not None
    return passage_view(corpus, passage, (citation.start, citation.end) if highlight else None)


@router.get("/", response_class=HTMLResponse)
def chat(request: Request) -> HTMLResponse:
    """The chat page."""
    return _page(request, "chat.html", report=_report(_service(request)), examples=EXAMPLES)


@router.post("/ask", response_class=HTMLResponse)
async def ask_form(request: Request, question: Annotated[str, Form()] = "") -> HTMLResponse:
    """The chat form without JavaScript: the answer rendered on the server."""
    service = _service(request)
    try:
        cleaned = AskRequest(question=question).question
    except ValidationError as error:
        message = str(error.errors()[0].get("msg", "invalid question")).removeprefix("Value error, ")
        exchange = Exchange(question, error=f"That question was not accepted: {message}.")
        return _chat_with(request, service, exchange, 422)
    if service is None:
        return _chat_with(request, service, Exchange(cleaned, error=STARTING), 503)
    result, _cached = await service.ask(cleaned, 3)
    response = response_from_result(result)
    response.question = cleaned
    exchange = Exchange(cleaned, response)
    highlight = response.answered and not response.lookup
    exchange.views = [_citation_view(service.corpus, c, highlight) for c in response.citations]
    return _chat_with(request, service, exchange)


def _chat_with(
    request: Request, service: AnswerService | None, exchange: Exchange, status_code: int = 200
) -> HTMLResponse:
    return _page(
        request,
        "chat.html",
        status_code,
        report=_report(service),
        examples=EXAMPLES,
        exchange=exchange,
        declined=DECLINED,
        draft=exchange.question if exchange.error else "",
    )


@router.get("/ask")
def ask_form_get() -> RedirectResponse:
    """The form posts; a bookmarked /ask goes back to the chat."""
    return RedirectResponse("/", status_code=303)


@router.get("/report", response_class=HTMLResponse)
def report_page(request: Request) -> HTMLResponse:
    """The whole report: headings, every passage with its anchor, Table 1, the abbreviations."""
    service = _service(request)
    if service is None:
        return _starting(request)
    report = service.corpus.reports[0]
    outline = [(items, passage_view(service.corpus, p)) for items, p in report_outline(report)]
    return _page(request, "report.html", report=report, outline=outline)


@router.get("/p/{ref:path}", response_class=HTMLResponse)
def passage_page(request: Request, ref: str, hl: str | None = None) -> Response:
    """One passage with its place in the report; other id forms redirect to the canonical one."""
    service = _service(request)
    if service is None:
        return _starting(request)
    corpus = service.corpus
    passage = corpus.resolve(ref[:100])
    if passage is None:
        return _page(request, "error.html", 404, title="Passage not found", missing=ref[:100])
    if ref != passage.id:
        query = f"?hl={quote(hl)}" if hl else ""
        return RedirectResponse(f"/p/{quote(passage.id)}{query}", status_code=308)
    prev_id, next_id = corpus.neighbours(passage)
    return _page(
        request,
        "passage.html",
        view=passage_view(corpus, passage, parse_highlight(hl, passage.text)),
        report=corpus.report_of(passage),
        prev=corpus.resolve(prev_id) if prev_id else None,
        next=corpus.resolve(next_id) if next_id else None,
    )
