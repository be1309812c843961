"""HTML pages: the chat (with a no-JavaScript form), the whole report, and one page per passage."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from qa.config import PROJECT_ROOT
from qa.conversation import ask_in_context
from qa.corpus import AmbiguousId, Corpus, Passage, Report, canonical_id, line_offsets
from qa.followup import example_candidates, lookup_example
from qa.schemas import AskContext, AskRequest, AskResponse, Citation
from qa.service import AnswerService
from qa.tables import read_table

WEB_DIR = PROJECT_ROOT / "web"
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"

EXAMPLE_COUNT = 3  # heading questions on an empty chat, plus one passage lookup
DECLINED = "The report does not seem to cover this."
STARTING = "The service is starting; try again in a few seconds."
_NO_REPORT = "There is no report at this address. The library lists every report."

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
    doc_title: str = ""  # the report's title, shown on chips when several reports are loaded

    @property
    def about(self) -> str:
        """What a chip says after the label: the passage's heading, else its section."""
        return self.passage.heading or self.passage.section

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
    for start, end in line_offsets(text):
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
    lines = line_offsets(passage.text)
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
    """A unique anchor for a heading: 's-road-safety-campaigns'."""
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
    service = _service(request)
    context.setdefault("library_size", len(service.corpus.reports) if service is not None else 1)
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


def _report(request: Request, service: AnswerService | None) -> Report | None:
    """The library's default report: the one the chat preselects and bare routes mean."""
    if service is None:
        return None
    corpus = service.corpus
    return corpus.report(corpus.default_doc(request.app.state.settings.default_doc))


@dataclass
class Exchange:
    """One question and the server's reply, for the no-JavaScript chat."""

    question: str
    response: AskResponse | None = None
    error: str | None = None
    views: list[PassageView] = field(default_factory=list)

    @property
    def turn(self) -> AskContext | None:
        """What the next question is read against: this question (as read) and the passage it cited."""
        response = self.response
        if response is None or not response.citations:
            return None
        first = response.citations[0]
        paragraph = response.answer.paragraph if response.answer else first.paragraph
        return AskContext(question=response.read_as or self.question, doc=first.doc, paragraph=paragraph)


def _citation_view(corpus: Corpus, citation: Citation, highlight: bool) -> PassageView:
    passage = corpus.get(citation.doc, citation.paragraph)
    assert passage is not None
    view = passage_view(corpus, passage, (citation.start, citation.end) if highlight else None)
    view.doc_title = corpus.report_of(passage).title
    return view


_EXAMPLES: dict[str, list[str]] = {}  # index fingerprint -> example questions the index answers


async def _examples(service: AnswerService | None, report: Report | None) -> list[str]:
    """Questions built from the report's own headings, kept only when the report answers them from
    the passage under that heading; then one lookup by paragraph number. Worked out once an index
    and report."""
    if service is None or report is None:
        return []
    key = f"{service.searcher.fingerprint}/{report.slug}"
    if key not in _EXAMPLES:
        chosen: list[str] = []
        scope = (report.slug,)
        for question in example_candidates(report):
            if len(chosen) == EXAMPLE_COUNT:
                break
            result, _cached = await service.ask(question, 3, docs=scope)
            if result.answer is not None and result.answer.passage.heading.lower() in question.lower():
                chosen.append(question)
        lookup = lookup_example(report)
        _EXAMPLES[key] = chosen + ([lookup] if lookup else [])
    return _EXAMPLES[key]


def _doc_report(request: Request, service: AnswerService | None, doc: str | None) -> Report | None:
    """The report named by `doc`, or the library's default report."""
    if service is None:
        return None
    return service.corpus.report(doc or "") or _report(request, service)


@router.get("/", response_class=HTMLResponse)
async def chat(request: Request) -> HTMLResponse:
    """The chat page."""
    service = _service(request)
    return await _chat_with(request, service, None)


def _context(question: str, doc: str, paragraph: str) -> AskContext | None:
    """The previous turn from form fields; None when there is none or it is not acceptable."""
    if not (question.strip() or paragraph.strip()):
        return None
    try:
        return AskContext(question=question, doc=doc or None, paragraph=paragraph or None)
    except ValidationError:
        return None  # a tampered or oversized context is ignored: the question still stands alone


async def _answer(
    request: Request, question: str, context: AskContext | None, doc: str | None = None
) -> HTMLResponse:
    """The chat page with the answer to one question rendered on the server (no JavaScript needed)."""
    service = _service(request)
    try:
        cleaned = AskRequest(question=question).question
    except ValidationError as error:
        message = str(error.errors()[0].get("msg", "invalid question")).removeprefix("Value error, ")
        exchange = Exchange(question, error=f"That question was not accepted: {message}.")
        return await _chat_with(request, service, exchange, 422, doc=doc)
    if service is None:
        return await _chat_with(request, service, Exchange(cleaned, error=STARTING), 503, doc=doc)
    docs = (doc,) if doc and service.corpus.report(doc) else None
    response = await ask_in_context(service, cleaned, 3, context, docs=docs)
    exchange = Exchange(cleaned, response)
    highlight = response.answered and not response.lookup
    exchange.views = [_citation_view(service.corpus, c, highlight) for c in response.citations]
    return await _chat_with(request, service, exchange, doc=doc)


@router.post("/ask", response_class=HTMLResponse)
async def ask_form(
    request: Request,
    question: Annotated[str, Form()] = "",
    context_question: Annotated[str, Form()] = "",
    context_doc: Annotated[str, Form()] = "",
    context_paragraph: Annotated[str, Form()] = "",
    doc: Annotated[str | None, Form(max_length=200)] = None,
) -> HTMLResponse:
    """The chat form without JavaScript: the answer rendered on the server, read after the previous turn."""
    context = _context(context_question, context_doc, context_paragraph)
    return await _answer(request, question, context, doc=doc)


@router.get("/ask", response_model=None)
async def ask_link(
    request: Request,
    q: Annotated[str, Query(max_length=2000)] = "",
    doc: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """A shareable answer: /ask?q=...(&doc=...) renders the answer page; a bare /ask goes to the chat."""
    if not q:
        return RedirectResponse("/", status_code=303)
    return await _answer(request, q, None, doc=doc)


def _scope(service: AnswerService | None, doc: str | None, report: Report | None) -> str:
    """The picker's choice: the report asked of, '' for all of them, the default report at first."""
    if doc is None:
        return report.slug if report is not None else ""
    return doc if service is not None and service.corpus.report(doc) else ""


async def _chat_with(
    request: Request,
    service: AnswerService | None,
    exchange: Exchange | None,
    status_code: int = 200,
    doc: str | None = None,
) -> HTMLResponse:
    report = _doc_report(request, service, doc)
    library = service.corpus.reports if service is not None else []
    return _page(
        request,
        "chat.html",
        status_code,
        report=report,
        reports=len(library),
        library=library if len(library) > 1 else [],
        scope=_scope(service, doc, report),
        examples=await _examples(service, report),
        exchange=exchange,
        turn=exchange.turn if exchange is not None else None,
        declined=DECLINED,
        draft=exchange.question if exchange is not None and exchange.error else "",
    )


@router.get("/report", response_class=HTMLResponse)
def report_page(request: Request) -> HTMLResponse:
    """The default report whole: headings, every passage with its anchor, tables, abbreviations."""
    service = _service(request)
    if service is None:
        return _starting(request)
    report = _report(request, service)
    return _report_page(request, service.corpus, report, base="", report_url="/report")


@router.get("/r/{doc}", response_class=HTMLResponse)
def library_report_page(request: Request, doc: str) -> HTMLResponse:
    """One report of the library, laid out as /report."""
    service = _service(request)
    if service is None:
        return _starting(request)
    report = service.corpus.report(doc[:200])
    if report is None:
        return _page(request, "error.html", 404, title="Report not found", message=_NO_REPORT)
    base = f"/r/{quote(report.slug, safe='')}"
    return _report_page(request, service.corpus, report, base=base, report_url=base)


def _report_page(
    request: Request, corpus: Corpus, report: Report, *, base: str, report_url: str
) -> HTMLResponse:
    outline = [(items, passage_view(corpus, p)) for items, p in report_outline(report)]
    return _page(
        request,
        "report.html",
        report=report,
        outline=outline,
        base=base,
        report_url=report_url,
        library=len(corpus.reports) > 1,
    )


@router.get("/reports", response_class=HTMLResponse)
def library_page(request: Request, q: str = "") -> HTMLResponse:
    """The library: every report with its date, committee and size; `q` filters by words."""
    service = _service(request)
    if service is None:
        return _starting(request)
    wanted = q[:200].strip()
    reports = [r for r in service.corpus.reports if _matches(r, wanted)]
    return _page(request, "library.html", reports=reports, total=len(service.corpus.reports), q=wanted)


def _matches(report: Report, wanted: str) -> bool:
    """Every word of the filter appears in the report's title, committee, number, date or doc."""
    date = report.date.strftime("%Y-%m-%d %d %B %Y") if report.date else ""
    haystack = f"{report.title} {report.committee} {report.number or ''} {date} {report.slug}".lower()
    return all(word in haystack for word in wanted.lower().split())


@router.get("/p/{ref:path}", response_class=HTMLResponse)
def passage_page(request: Request, ref: str, hl: str | None = None, doc: str | None = None) -> Response:
    """One passage of the default report (or of the only report with that id, or of ?doc=);
    other id forms redirect to the canonical one."""
    service = _service(request)
    if service is None:
        return _starting(request)
    corpus = service.corpus
    try:
        passage = corpus.resolve(ref[:100], doc=doc[:200] if doc else None)
    except AmbiguousId as ambiguous:
        return _page(request, "error.html", 409, title="Which report?", choices=_choices(corpus, ambiguous))
    if passage is None:
        return _page(request, "error.html", 404, title="Passage not found", missing=ref[:100])
    if ref != passage.id:
        query = f"?hl={quote(hl)}" if hl else ""
        query += f"{'&' if query else '?'}doc={quote(doc)}" if doc else ""
        return RedirectResponse(f"/p/{quote(passage.id)}{query}", status_code=308)
    return _passage_page(request, corpus, passage, hl=hl, base="", report_url="/report")


@router.get("/r/{doc}/p/{ref:path}", response_class=HTMLResponse)
def library_passage_page(request: Request, doc: str, ref: str, hl: str | None = None) -> Response:
    """One passage of one report of the library; other id forms redirect to the canonical one."""
    service = _service(request)
    if service is None:
        return _starting(request)
    corpus = service.corpus
    report = corpus.report(doc[:200])
    if report is None:
        return _page(request, "error.html", 404, title="Report not found", message=_NO_REPORT)
    passage = corpus.resolve(ref[:100], doc=report.slug)
    if passage is None:
        return _page(request, "error.html", 404, title="Passage not found", missing=ref[:100])
    base = f"/r/{quote(report.slug, safe='')}"
    if ref != passage.id:
        query = f"?hl={quote(hl)}" if hl else ""
        return RedirectResponse(f"{base}/p/{quote(passage.id)}{query}", status_code=308)
    return _passage_page(request, corpus, passage, hl=hl, base=base, report_url=base)


def _passage_page(
    request: Request, corpus: Corpus, passage: Passage, *, hl: str | None, base: str, report_url: str
) -> HTMLResponse:
    prev_id, next_id = corpus.neighbours(passage)
    return _page(
        request,
        "passage.html",
        view=passage_view(corpus, passage, parse_highlight(hl, passage.text)),
        report=corpus.report_of(passage),
        prev=corpus.get(passage.doc, prev_id) if prev_id else None,
        next=corpus.get(passage.doc, next_id) if next_id else None,
        base=base,
        report_url=report_url,
        library=len(corpus.reports) > 1,
    )


def _choices(corpus: Corpus, ambiguous: AmbiguousId) -> list[tuple[str, str]]:
    """(title, address) of each report that has the id a reader asked for."""
    passage_id = canonical_id(ambiguous.ref)
    choices = []
    for doc in ambiguous.docs:
        report = corpus.report(doc)
        if report is not None:
            choices.append((_short_name(report), f"/r/{quote(doc, safe='')}/p/{quote(passage_id)}"))
    return choices


def _short_name(report: Report) -> str:
    when = f"{report.date.day} {report.date.strftime('%b %Y')}" if report.date else report.slug
    return f"{report.title or report.slug} ({when})"
