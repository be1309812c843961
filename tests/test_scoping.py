"""Which report a question names: by title, committee or date, or 'this report' (no model needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.corpus import Corpus, load_report
from qa.scoping import ReportNames, asked_of_default, knowing_first, section_title, without_phrases
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


@pytest.fixture(scope="module")
def library() -> Corpus:
    files = [REPORT_FILE, *sorted(REPORTS.glob("*.txt"))]
    return Corpus([load_report(Path(f)) for f in files], default=SEED)


def _at(corpus: Corpus, doc: str, passage_id: str) -> int:
    passage = corpus.get(doc, passage_id)
    assert passage is not None
    return corpus.position(passage)


def test_section_titles_read_without_their_letter(library: Corpus) -> None:
    assert section_title(library.get(SEED, "A")) == "recommendation"
    assert section_title(library.get(LEASE, "A")) == "recommendation"
    assert section_title(library.get(SEED, "7")) == ""  # a paragraph is no whole section


def test_a_section_many_reports_share_is_asked_of_the_default_report(library: Corpus) -> None:
    """'what are members asked to do' ranks every report's Recommendation alike: the default's answers."""
    lease, delegated = _at(library, LEASE, "A"), _at(library, DELEGATED_2003, "A")
    ranked = [(lease, 1.5), (delegated, 1.45), (_at(library, LEASE, "1"), 1.0)]
    moved = asked_of_default(ranked, library, gap=0.1, depth=4)
    assert moved is not None
    assert moved[0] == (_at(library, SEED, "A"), 1.5)
    assert [p for p, _ in moved[1:]] == [p for p, _ in ranked]  # the rest keep their order


def test_a_section_that_leads_clearly_stays_first(library: Corpus) -> None:
    lease, delegated = _at(library, LEASE, "A"), _at(library, DELEGATED_2003, "A")
    assert asked_of_default([(lease, 1.5), (delegated, 1.2)], library, gap=0.1, depth=4) is None
    paragraph = _at(library, DELEGATED_2003, "1")
    assert asked_of_default([(lease, 1.5), (paragraph, 1.49)], library, gap=0.1, depth=4) is None
    seed = _at(library, SEED, "A")
    assert asked_of_default([(seed, 1.5), (lease, 1.49)], library, gap=0.1, depth=4) is None
    alone = Corpus([load_report(REPORT_FILE)])
    assert asked_of_default([(0, 1.5), (1, 1.49)], alone, gap=0.1, depth=4) is None


def test_an_id_several_reports_have_is_read_as_the_default_reports() -> None:
    """'what is in section E' across a library cites the default report's E, as /p/E does."""
    from qa.query import QueryAnalyzer

    files = [*sorted(REPORTS.glob("*.txt")), REPORT_FILE]  # the default report loaded last
    corpus = Corpus([load_report(Path(f)) for f in files], default=SEED)
    cited = QueryAnalyzer(corpus).cited_passage("what is listed under section E")
    assert cited is not None and (cited.doc, cited.id) == (SEED, "E")


def test_reports_that_use_the_questions_names_come_first(library: Corpus) -> None:
    lease, delegated, seed = (
        _at(library, LEASE, "A"),
        _at(library, DELEGATED_2003, "A"),
        _at(library, SEED, "7"),
    )
    ranked = [(lease, 1.5), (seed, 1.4), (delegated, 1.3)]
    moved = knowing_first(ranked, library, lambda doc: doc in (SEED, DELEGATED_2003), gap=0.3)
    assert moved == [(seed, 1.4), (delegated, 1.3), (lease, 1.5)]
    only_close = knowing_first(ranked, library, lambda doc: doc in (SEED, DELEGATED_2003), gap=0.15)
    assert only_close == [(seed, 1.4), (lease, 1.5), (delegated, 1.3)]  # 1.3 is too far behind
    assert knowing_first(ranked, library, lambda doc: True, gap=0.3) is None  # all know: nothing moves
    assert knowing_first(ranked, library, lambda doc: False, gap=0.3) is None  # none knows: the rules decide


def test_the_passage_naming_the_author_answers_who_wrote_it(library: Corpus) -> None:
    """The lease report's author is printed in its contact details: that passage comes first."""
    from qa.query import QueryAnalyzer
    from qa.scoping import author_first

    report = library.report(LEASE)
    assert report is not None and report.author
    naming = next(p for p in report.passages if report.author.split(",")[0] in p.text)
    ranked = [(_at(library, LEASE, "A"), 1.5), (_at(library, SEED, "A"), 1.4)]
    moved = author_first(ranked, library)
    assert moved is not None and moved[0] == (library.position(naming), 1.5)
    assert author_first(moved, library) is None  # it already leads
    analyzer = QueryAnalyzer(library)
    assert analyzer.analyse("Who wrote the report on leasing premises?").asks_author
    assert analyzer.analyse("report author name").asks_author
    assert not analyzer.analyse("Who wrote Pride and Prejudice?").asks_author
    assert not analyzer.analyse("what powers does the authority have").asks_author


def test_what_members_are_asked_to_do_is_the_recommendation(library: Corpus) -> None:
    from qa.query import QueryAnalyzer
    from qa.scoping import recommendation_first

    ranked = [(_at(library, LEASE, "1"), 1.5), (_at(library, SEED, "A"), 1.4)]
    moved = recommendation_first(ranked, library)
    assert moved is not None and moved[0] == (_at(library, LEASE, "A"), 1.5)
    analyzer = QueryAnalyzer(library)
    for question in ("what are members being asked to do?", "What is the report's recommendation?"):
        query = analyzer.analyse(question)
        assert query.asks_recommendation and query.asked == [], question
    for question in (
        "Which recommendation of the inquiry introduced the form?",  # another body's recommendation
        "what spending were members asked to approve?",  # asks what is approved: a paragraph says
    ):
        assert not analyzer.analyse(question).asks_recommendation, question
