"""Which report a question names: by title, committee or date, or 'this report' (no model needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.corpus import Corpus, load_report
from qa.scoping import ReportNames, without_phrases
from tests.conftest import DATA_DIR, REPORT_FILE

REPORTS = DATA_DIR / "reports"
HOLLY = "2002-03-12_home-office-holly-royde-conference"
LEASE = "2004-07-22_acquisition-of-a-new-lease-of-premises-for-use-by-specialist-operations"
SEED = "mpa-2005-12-08-drugs-and-crime"
DELEGATED_2003 = "2003-03-27_action-taken-under-delegated-authority"


@pytest.fixture(scope="module")
def names() -> ReportNames:
    files = [REPORT_FILE, *sorted(REPORTS.glob("*.txt"))]
    return ReportNames(Corpus([load_report(Path(f)) for f in files], default=SEED))


@pytest.mark.parametrize(
    ("question", "docs"),
    [
        ("Who wrote the Holly Royde conference paper?", (HOLLY,)),
        ("At the 22 July 2004 meeting, what were members asked to approve?", (LEASE,)),
        ("What was decided at the Finance Committee in July 2004?", (LEASE,)),
        (
            "What did the Co-ordination and Policing Committee hear in December 2003?",
            ("2003-12-15_nomination-of-membership-for-health-and-safety-sub-committee",),
        ),
        (
            "In the 27 March 2003 report on action taken under delegated authority, who is the author?",
            (DELEGATED_2003,),
        ),
        ("Who wrote this report?", (SEED,)),
        ("What is the report about?", (SEED,)),
    ],
)
def test_named_reports(names: ReportNames, question: str, docs: tuple[str, ...]) -> None:
    mention = names.mention(question)
    assert mention is not None and mention.docs == docs


def test_one_title_shared_by_several_reports_names_them_all(names: ReportNames) -> None:
    mention = names.mention("What was done under the action taken under delegated authority reports?")
    assert mention is not None and len(mention.docs) == 4  # the four complete ones in tests/data


@pytest.mark.parametrize(
    "question",
    [
        "How many cannabis factories were found in London?",
        "What happened in March 2019?",  # a date no report has
        "What did the report on crack houses say?",  # names a subject, not a report
        "What was decided on 31 February 2004?",
        "How many staff work for the Metropolitan Police Service?",  # a committee's name alone
    ],
)
def test_questions_that_name_no_report(names: ReportNames, question: str) -> None:
    assert names.mention(question) is None


def test_a_single_report_library_names_nothing() -> None:
    assert ReportNames(Corpus([load_report(REPORT_FILE)])).mention("Who wrote this report?") is None


def test_the_naming_words_are_left_out() -> None:
    question = "At the 22 July 2004 meeting, what were members asked to approve?"
    assert (
        without_phrases(question, ("22 July 2004",)) == "At the meeting, what were members asked to approve?"
    )
