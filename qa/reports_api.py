"""JSON routes of the library: /api/reports, /api/reports/{doc}, /api/reports/{doc}/passages/{id}."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, Request

from qa.api import ERRORS, ready_service
from qa.corpus import Corpus, Report
from qa.schemas import (
    ErrorOut,
    PassageBrief,
    PassageOut,
    ReportOut,
    ReportPassages,
    passage_out,
    report_meta,
)

router = APIRouter(tags=["reports"])

NOT_FOUND = {404: {"model": ErrorOut, "description": "No report (or passage) has that id"}}
DocPath = Path(description="The report's doc: its file name without .txt.", max_length=200)


def report_or_404(corpus: Corpus, doc: str) -> Report:
    """The report with this doc, or a 404 that says which docs exist (a few of them)."""
    report = corpus.report(doc)
    if report is None:
        known = corpus.docs
        listed = ", ".join(known[:5]) + (f" and {len(known) - 5} more" if len(known) > 5 else "")
        raise HTTPException(status_code=404, detail=f"no report {doc[:200]!r}; reports are {listed}")
    return report


@router.get("/api/reports", response_model=list[ReportOut], responses=ERRORS)
def list_reports(request: Request) -> list[ReportOut]:
    """Every report of the library, in the order they are indexed."""
    corpus = ready_service(request).corpus
    return [
        ReportOut(**report_meta(report).model_dump(), passages=len(report.passages))
        for report in corpus.reports
    ]


@router.get("/api/reports/{doc}", response_model=ReportPassages, responses={**NOT_FOUND, **ERRORS})
def get_report(request: Request, doc: str = DocPath) -> ReportPassages:
    """One report: its metadata, its lettered sections and every passage in document order."""
    corpus = ready_service(request).corpus
    report = report_or_404(corpus, doc)
    return ReportPassages(
        **report_meta(report).model_dump(),
        sections=[[section.letter, section.title] for section in report.sections],
        passages=[
            PassageBrief(id=p.id, kind=p.kind, section=p.section, heading=p.heading, text=p.text)
            for p in report.passages
        ],
    )


@router.get(
    "/api/reports/{doc}/passages/{ref}",
    response_model=PassageOut,
    responses={**NOT_FOUND, **ERRORS},
)
def get_report_passage(request: Request, ref: str, doc: str = DocPath) -> PassageOut:
    """One passage of one report: `16`, `¶16`, `para 16`, `D4`, `table-1`, `summary` (any case)."""
    corpus = ready_service(request).corpus
    report = report_or_404(corpus, doc)
    passage = corpus.resolve(ref[:100], doc=report.slug)
    if passage is None:
        ids = ", ".join(p.id for p in report.passages)
        raise HTTPException(status_code=404, detail=f"no passage {ref[:100]!r} in {doc!r}; ids are {ids}")
    return passage_out(passage, *corpus.neighbours(passage), report=report)
