"""JSON routes: /api/ask, /api/passages, /healthz."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from qa.config import MODEL_NAME
from qa.conversation import ask_in_context
from qa.corpus import AmbiguousId, Corpus, Report
from qa.limits import require_json
from qa.schemas import (
    AmbiguousOut,
    AskRequest,
    AskResponse,
    ErrorOut,
    Health,
    PassageList,
    PassageOut,
    passage_out,
)
from qa.service import AnswerService

router = APIRouter()

ERRORS = {
    400: {"model": ErrorOut, "description": "Malformed JSON"},
    413: {"model": ErrorOut, "description": "Body over the size limit"},
    415: {"model": ErrorOut, "description": "Body is not application/json"},
    422: {"model": ErrorOut, "description": "The question or top_k is not acceptable"},
    503: {"model": ErrorOut, "description": "The index is still loading"},
}


def ready_service(request: Request) -> AnswerService:
    """The loaded service, or a 503 while the index is still loading (or could not be loaded)."""
    service: AnswerService | None = request.app.state.service
    if service is None:
        if request.app.state.load_error:  # the reason is in the server log, never in a response
            raise HTTPException(status_code=503, detail="the index failed to load; the operator must fix it")
        detail = "the service is starting; try again in a few seconds"
        raise HTTPException(status_code=503, detail=detail, headers={"retry-after": "5"})
    return service


@router.post(
    "/api/ask",
    response_model=AskResponse,
    responses=ERRORS,
    tags=["ask"],
    dependencies=[Depends(require_json)],
)
async def ask(body: AskRequest, request: Request) -> AskResponse:
    """Answer a question with the report's own sentence and the passages it cites, best first.
    With `context` (the previous turn), a follow-up is read in its light; `read_as` says how."""
    started = time.perf_counter()
    service = ready_service(request)
    docs = known_docs(service.corpus, body.docs)
    response = await ask_in_context(service, body.question, body.top_k, body.context, docs=docs)
    response.took_ms = round((time.perf_counter() - started) * 1000, 3)
    return response


def known_docs(corpus: Corpus, docs: list[str] | None) -> tuple[str, ...] | None:
    """The asked-for reports in library order, or a 422 naming the first unknown one."""
    if docs is None:
        return None
    for doc in docs:
        if corpus.report(doc) is None:
            raise HTTPException(status_code=422, detail=f"docs: no report {doc[:200]!r} in the library")
    wanted = set(docs)
    return tuple(doc for doc in corpus.docs if doc in wanted)


def default_report(request: Request, corpus: Corpus, doc: str | None) -> Report:
    """The report a route without a doc in its path means: ?doc=, else the library's default."""
    if doc is not None:
        report = corpus.report(doc)
        if report is None:
            raise HTTPException(status_code=404, detail=f"no report {doc[:200]!r}")
        return report
    report = corpus.report(corpus.default_doc(request.app.state.settings.default_doc))
    assert report is not None
    return report


@router.get(
    "/api/passages",
    response_model=PassageList,
    responses={404: {"model": ErrorOut, "description": "No report has that doc"}, **ERRORS},
    tags=["passages"],
)
def list_passages(request: Request, doc: str | None = Query(None, max_length=200)) -> PassageList:
    """Every passage of a report in document order (the default report unless ?doc= names one)."""
    corpus = ready_service(request).corpus
    report = default_report(request, corpus, doc)
    passages = [passage_out(p, *corpus.neighbours(p), report=report) for p in report.passages]
    return PassageList(doc=report.slug, count=len(passages), passages=passages)


@router.get(
    "/api/passages/{ref}",
    response_model=PassageOut,
    responses={
        404: {"model": ErrorOut, "description": "No passage has that id"},
        409: {"model": AmbiguousOut, "description": "Several reports have that id: add ?doc="},
        **ERRORS,
    },
    tags=["passages"],
)
def get_passage(ref: str, request: Request, doc: str | None = Query(None, max_length=200)) -> Response:
    """One passage by citation id: `16`, `¶16`, `para 16`, `D4`, `table-1`, `summary` (any case)."""
    corpus = ready_service(request).corpus
    scope = default_report(request, corpus, doc).slug if doc is not None else None
    try:
        passage = corpus.resolve(ref[:100], doc=scope)
    except AmbiguousId as ambiguous:
        detail = f"{ref[:100]!r} is in {len(ambiguous.docs)} reports; add ?doc= to choose one"
        return JSONResponse({"detail": detail, "docs": ambiguous.docs}, status_code=409)
    if passage is None:
        listed = scope or default_report(request, corpus, None).slug
        ids = ", ".join(p.id for p in corpus.passages_of(listed))
        where = "" if len(corpus.reports) == 1 else f" in any report; ids of {listed} are"
        raise HTTPException(status_code=404, detail=f"no passage {ref[:100]!r}{where or '; ids are'} {ids}")
    out = passage_out(passage, *corpus.neighbours(passage), report=corpus.report_of(passage))
    return JSONResponse(out.model_dump())


@router.get("/healthz", response_model=Health, responses={503: {"model": ErrorOut}}, tags=["health"])
def health(request: Request) -> Health | JSONResponse:
    """Ready once the index is loaded and the model warmed; 503 until then."""
    service: AnswerService | None = request.app.state.service
    if service is None:
        error = request.app.state.load_error
        detail = "the index failed to load" if error else "loading"
        return JSONResponse({"status": "starting", "detail": detail}, status_code=503)
    return Health(
        status="ok",
        reports=len(service.corpus.reports),
        passages=len(service.corpus.passages),
        model=MODEL_NAME,
        index=service.searcher.fingerprint,
    )
