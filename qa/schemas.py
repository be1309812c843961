"""Request and response models of the JSON API (the OpenAPI schema is generated from these)."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qa.corpus import Corpus, Passage, Report, Span, passage_label
from qa.search import Hit, Result
from qa.tables import read_table

MAX_QUESTION_CHARS = 500
MAX_TOP_K = 10
MAX_DOCS = 50
# Control characters (bar whitespace), zero-width marks, BOM and lone surrogates (which JSON
# can carry as "\ud800" but UTF-8 cannot encode).
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u200b-\u200f\u2060-\u2064\ufeff\ud800-\udfff]"
)


# At least one character that survives cleaning (JSON Schema / ECMA regex syntax).
_VISIBLE = r"[^\s\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2060-\u2064\ufeff]"


def clean_question(value: str) -> str:
    """Strip invisible characters, Unicode-normalise (NFKC) and collapse whitespace to single spaces;
    the form every limit applies to. Idempotent."""
    value = unicodedata.normalize("NFKC", _INVISIBLE.sub("", value))
    return " ".join(value.split())


class AskContext(BaseModel):
    """The previous turn of a conversation, so a follow-up ("why?", "and in 2004?") can lean on it."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        "", max_length=4 * MAX_QUESTION_CHARS, description="The previous question (as it was read)."
    )
    doc: str | None = Field(None, max_length=200, description="The report the previous answer came from.")
    paragraph: str | None = Field(None, max_length=100, description="The passage the previous answer cited.")

    @field_validator("question")
    @classmethod
    def _question_is_clean(cls, value: str) -> str:
        return clean_question(value)[:MAX_QUESTION_CHARS]


class AskRequest(BaseModel):
    """A question for the report."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "What does the report recommend?", "top_k": 3}]},
    )

    question: str = Field(
        description="A question in plain English: 1-500 characters once control characters are "
        "stripped, the text is NFKC-normalised and whitespace is trimmed and collapsed.",
        # Documented for clients and fuzzers; enforced after cleaning, which a schema cannot express.
        json_schema_extra={"minLength": 1, "pattern": _VISIBLE},
    )
    top_k: int = Field(3, ge=1, le=MAX_TOP_K, description="How many citations to return (an integer, 1-10).")
    docs: list[Annotated[str, Field(max_length=200)]] | None = Field(
        None,
        min_length=1,
        max_length=MAX_DOCS,
        description="Limit the question to these reports (1-50 docs, as /api/reports lists them).",
    )
    context: AskContext | None = Field(
        None, description="The previous turn; a question that leans on it is read in its light."
    )

    @field_validator("top_k", mode="before")
    @classmethod
    def _top_k_is_a_number(cls, value: object) -> object:
        # JSON numbers only (3 or 3.0, as JSON Schema's "integer"); not true or "3".
        if isinstance(value, bool | str):
            raise ValueError(f"top_k must be an integer from 1 to {MAX_TOP_K}")
        return value

    @field_validator("question")
    @classmethod
    def _question_is_usable(cls, value: str) -> str:
        value = clean_question(value)
        if not value:
            raise ValueError("the question is empty")
        if len(value) > MAX_QUESTION_CHARS:
            raise ValueError(f"the question is {len(value)} characters; the limit is {MAX_QUESTION_CHARS}")
        return value


class AnswerOut(BaseModel):
    text: str = Field(description="The report's own sentence (or table row) that best answers.")
    paragraph: str = Field(description="Id of the passage the sentence is from.")
    start: int = Field(description="Offset of the sentence in the passage text.")
    end: int = Field(description="End offset (exclusive) of the sentence in the passage text.")
    rows: list[str] | None = Field(
        None, description="When the answer is computed over a table: the names of the rows it used."
    )
    computed: bool = Field(
        False,
        description="True when the text was computed over a table (a most, total, count or comparison, "
        "or one row with its column names), built only from the table's own names and cells.",
    )


class TableRowOut(BaseModel):
    name: str
    cells: list[str] = Field(description="One per value column, as printed ('' when blank).")
    start: int = Field(description="Offsets of the row's line in the passage text.")
    end: int


class TableOut(BaseModel):
    """A table passage as data, so every row shown carries its column names."""

    caption: str = Field(description="The table's caption line, as printed.")
    columns: list[str] = Field(description="Header names as printed, the row-name column first.")
    rows: list[TableRowOut]


class NextStep(BaseModel):
    label: str = Field(description="What the button says: 'Next: ¶17 · Heading'.")
    question: str = Field(description="The question the button asks.")


class Citation(BaseModel):
    doc: str = Field(description="The report it cites (its file name without .txt).")
    doc_title: str
    doc_date: str | None = Field(description="The report's date, ISO yyyy-mm-dd.")
    paragraph: str = Field(description="The passage id within its report.")
    label: str
    section: str
    heading: str
    kind: str
    text: str
    score: float
    url: str
    start: int = Field(description="Offsets of the best sentence of this passage.")
    end: int
    table: TableOut | None = Field(None, description="For a table passage: its caption, columns and rows.")


class AskResponse(BaseModel):
    question: str
    answered: bool
    confidence: Literal["high", "low"] | None = Field(
        None,
        description="When answered: 'high', or 'low' when the answer is only the closest the report "
        "comes (reason says why it may not answer exactly); null when declined.",
    )
    lookup: bool = Field(False, description="The question named a passage ('paragraph 38'); it comes first.")
    answer: AnswerOut | None
    reason: str | None = Field(
        None,
        description="When answered is false: why the report's closest passage does not answer; when "
        "confidence is 'low': why it may not answer exactly.",
    )
    citations: list[Citation]
    took_ms: float
    read_as: str | None = Field(
        None, description="How a follow-up was read in its context; null when it stood on its own."
    )
    next_steps: list[NextStep] = Field(
        default_factory=list, description="Up to three questions to ask next, from the cited passages."
    )


class PassageOut(BaseModel):
    doc: str
    doc_title: str
    doc_date: str | None
    id: str
    label: str
    kind: str
    section: str
    heading: str
    text: str
    url: str
    prev: str | None = None
    next: str | None = None
    table: TableOut | None = None


class PassageList(BaseModel):
    doc: str = Field(description="The report listed (the default report unless ?doc= names one).")
    count: int
    passages: list[PassageOut]


class ErrorOut(BaseModel):
    detail: str = Field(description="What was wrong, in words.")


class Health(BaseModel):
    status: str
    reports: int = Field(description="How many reports the library holds.")
    passages: int
    model: str
    index: str = Field(description="The index fingerprint: changes with every build.")


def passage_url(passage: Passage) -> str:
    return report_passage_url(passage.doc, passage.id)


def report_meta(report: Report) -> ReportMeta:
    return ReportMeta(
        doc=report.slug,
        title=report.title,
        report=None if report.number is None else str(report.number),
        date=report.date.isoformat() if report.date else None,
        by=report.by,
        committee=report.committee,
        url=f"/r/{quote(report.slug, safe='')}",
    )


def citation_from_hit(hit: Hit, report: Report) -> Citation:
    passage = hit.passage
    return Citation(
        doc=passage.doc,
        doc_title=report.title,
        doc_date=report.date.isoformat() if report.date else None,
        paragraph=passage.id,
        label=passage_label(passage.id),
        section=passage.section,
        heading=passage.heading,
        kind=passage.kind,
        text=passage.text,
        score=hit.score,
        url=passage_url(passage),
        start=hit.span.start,
        end=hit.span.end,
        table=table_out(passage),
    )


def table_out(passage: Passage) -> TableOut | None:
    table = read_table(passage)
    if table is None:
        return None
    rows = [
        TableRowOut(name=row.name, cells=[cell.text for cell in row.cells], start=row.start, end=row.end)
        for row in table.rows
    ]
    return TableOut(caption=table.caption, columns=[column.name for column in table.columns], rows=rows)


def _row_with_columns(passage: Passage, span: Span) -> str:
    """A table row as an answer carries its column names ('Harehills: Cameras fitted 17')."""
    table = read_table(passage)
    row = next((row for row in table.rows if row.start == span.start), None) if table else None
    return table.row_text(row) if table and row else span.text


def response_from_result(result: Result, corpus: Corpus, took_ms: float | None = None) -> AskResponse:
    """The API's view of a result: each citation with its report's title and date, tables as tables."""
    top = result.answer
    answer = (
        AnswerOut(text=top.span.text, paragraph=top.passage.id, start=top.span.start, end=top.span.end)
        if top
        else None
    )
    if answer is not None and result.table is not None:
        # Tables as data: the computed text, citing the table (qa.table_answers).
        answer.text, answer.rows, answer.computed = result.table.text, list(result.table.rows), True
    elif answer is not None and top is not None and top.passage.kind == "table":
        answer.text = _row_with_columns(top.passage, top.span)
    return AskResponse(
        question=result.question,
        answered=result.answered,
        confidence=(result.confidence or None) if result.answered else None,
        lookup=result.lookup,
        answer=answer,
        reason=result.reason or None,
        citations=[citation_from_hit(hit, corpus.report_of(hit.passage)) for hit in result.hits],
        took_ms=round(result.took_ms if took_ms is None else took_ms, 3),
    )


def passage_out(
    passage: Passage, prev_id: str | None = None, next_id: str | None = None, *, report: Report
) -> PassageOut:
    return PassageOut(
        doc=passage.doc,
        doc_title=report.title,
        doc_date=report.date.isoformat() if report.date else None,
        id=passage.id,
        label=passage_label(passage.id),
        kind=passage.kind,
        section=passage.section,
        heading=passage.heading,
        text=passage.text,
        url=passage_url(passage),
        prev=prev_id,
        next=next_id,
        table=table_out(passage),
    )


# ---------------------------------------------------------------------------
# The library: reports and their passages, addressed as /r/{doc}/p/{id}.


def report_passage_url(doc: str, passage_id: str) -> str:
    return f"/r/{quote(doc, safe='')}/p/{quote(passage_id, safe='')}"


class ReportMeta(BaseModel):
    """What a report's page header says."""

    doc: str = Field(description="The report's id: its file name without .txt.")
    title: str
    report: str | None = Field(description="The report number as printed ('13', '5 (AGM)').")
    date: str | None = Field(description="The report's date, ISO yyyy-mm-dd.")
    by: str
    committee: str
    url: str = Field(description="The report's page: /r/{doc}.")


class ReportOut(ReportMeta):
    """One report of the library."""

    passages: int = Field(description="How many passages it has.")


class PassageBrief(BaseModel):
    id: str
    kind: str
    section: str
    heading: str
    text: str


class ReportPassages(ReportMeta):
    """A report's metadata, its sections and every passage in document order."""

    sections: list[list[str]] = Field(description="[letter, title] of each lettered section.")
    passages: list[PassageBrief]


class AmbiguousOut(BaseModel):
    detail: str
    docs: list[str] = Field(description="The reports that have a passage with this id: add ?doc=.")
