"""One turn of a conversation for the JSON API and the no-JavaScript page: a follow-up read in context."""

from __future__ import annotations

from qa.corpus import Corpus
from qa.followup import Turn, context_passage, next_steps, read_in_context
from qa.schemas import AskContext, AskResponse, NextStep, response_from_result
from qa.search import Result, Searcher
from qa.service import AnswerService


async def ask_in_context(
    service: AnswerService,
    question: str,
    top_k: int = 3,
    context: AskContext | None = None,
    docs: tuple[str, ...] | None = None,
) -> AskResponse:
    """Answer a question read in the light of the previous turn; the response says how it was read.
    A follow-up stays in the report of the turn it follows."""
    read_as, docs = reading_of(question, context=context, corpus=service.corpus, docs=docs)
    result, _cached = await service.ask(read_as or question, top_k, docs=docs)
    return respond(question, read_as=read_as, result=result, corpus=service.corpus)


def ask_in_context_now(
    searcher: Searcher,
    question: str,
    top_k: int = 3,
    context: AskContext | None = None,
    docs: tuple[str, ...] | None = None,
) -> AskResponse:
    """The same turn answered in-process, without the service (`qa ask --local`, `qa chat --local`)."""
    read_as, docs = reading_of(question, context=context, corpus=searcher.corpus, docs=docs)
    result = searcher.ask_many([read_as or question], k=top_k, docs=docs)[0]
    return respond(question, read_as=read_as, result=result, corpus=searcher.corpus)


def reading_of(
    question: str, *, context: AskContext | None, corpus: Corpus, docs: tuple[str, ...] | None
) -> tuple[str | None, tuple[str, ...] | None]:
    """How a question is read after the previous turn (None: as asked), and the reports to search."""
    turn = Turn(context.question, context.doc, context.paragraph) if context is not None else None
    read_as = read_in_context(question, turn, corpus)
    if read_as is not None and turn is not None and docs is None:
        docs = _report_of_turn(turn, corpus)
    return read_as, docs


def respond(question: str, *, read_as: str | None, result: Result, corpus: Corpus) -> AskResponse:
    """The API's answer: the result, the question as asked and as read, and next steps."""
    response = response_from_result(result, corpus=corpus)
    response.question = question
    response.read_as = read_as
    if response.answered:
        cited = [hit.passage for hit in result.hits]
        steps = next_steps(cited, corpus, read_as or question)
        response.next_steps = [NextStep(label=step.label, question=step.question) for step in steps]
    return response


def _report_of_turn(turn: Turn, corpus: Corpus) -> tuple[str, ...] | None:
    """The report a previous turn was answered from, when the library holds more than one."""
    if len(corpus.reports) == 1:
        return None
    passage = context_passage(turn, corpus)
    doc = passage.doc if passage is not None else turn.doc
    return (doc,) if doc is not None and corpus.report(doc) is not None else None
