"""Request and response models of the JSON API (the OpenAPI schema is generated from these)."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qa.corpus import Passage, passage_label
from qa.search import Hit, Result

MAX_QUESTION_CHARS = 500
MAX_TOP_K = 10
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


class AskRequest(BaseModel):
    """A question for the report."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"question": "How many cannabis factories were found in London?", "top_k": 3}]
        },
    )

    question: str = Field(
        description="A question in plain English: 1-500 characters once control characters are "
        "stripped, the text is NFKC-normalised and whitespace is trimmed and collapsed.",
        # Documented for clients and fuzzers; enforced after cleaning, which a schema cannot express.
        json_schema_extra={"minLength": 1, "pattern": _VISIBLE},
    )
    top_k: int = Field(3, ge=1, le=MAX_TOP_K, description="How many citations to return (an integer, 1-10).")

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


class Citation(BaseModel):
    doc: str
    paragraph: str
    label: str
    section: str
    heading: str
    kind: str
    text: str
    score: float
    url: str
    start: int = Field(description="Offsets of the best sentence of this passage.")
    end: int


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


class PassageOut(BaseModel):
    doc: str
    id: str
    label: str
    kind: str
    section: str
    heading: str
    text: str
    url: str
    prev: str | None = None
    next: str | None = None


class PassageList(BaseModel):
    doc: str
    count: int
    passages: list[PassageOut]


class ErrorOut(BaseModel):
    detail: str = Field(description="What was wrong, in words.")


class Health(BaseModel):
    status: str
    passages: int
    model: str
    index: str


def passage_url(passage_id: str) -> str:
    return f"/p/{passage_id}"


def citation_from_hit(hit: Hit) -> Citation:
    passage = hit.passage
    return Citation(
        doc=passage.doc,
        paragraph=passage.id,
        label=passage_label(passage.id),
        section=passage.section,
        heading=passage.heading,
        kind=passage.kind,
        text=passage.text,
        score=hit.score,
        url=passage_url(passage.id),
        start=hit.span.start,
        end=hit.span.end,
    )


def response_from_result(result: Result, took_ms: float | None = None) -> AskResponse:
    top = result.answer
    answer = (
        AnswerOut(text=top.span.text, paragraph=top.passage.id, start=top.span.start, end=top.span.end)
        if top
        else None
    )
    return AskResponse(
        question=result.question,
        answered=result.answered,
        confidence=(result.confidence or None) if result.answered else None,
        lookup=result.lookup,
        answer=answer,
        reason=result.reason or None,
        citations=[citation_from_hit(hit) for hit in result.hits],
        took_ms=round(result.took_ms if took_ms is None else took_ms, 3),
    )


def passage_out(passage: Passage, prev_id: str | None = None, next_id: str | None = None) -> PassageOut:
    return PassageOut(
        doc=passage.doc,
        id=passage.id,
        label=passage_label(passage.id),
        kind=passage.kind,
        section=passage.section,
        heading=passage.heading,
        text=passage.text,
        url=passage_url(passage.id),
        prev=prev_id,
        next=next_id,
    )
