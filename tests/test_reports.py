"""Every real report in tests/data/reports reads as its page prints it (expectations written by hand)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.cli import _print_reading
from qa.cli import main as cli_main
from qa.config import load_settings
from qa.corpus import (
    Corpus,
    NotAReport,
    Report,
    ReportFormatError,
    Section,
    canonical_id,
    load_report,
    load_reports,
    parse_report,
)

from .conftest import REPORT_FILE

REPORTS = Path(__file__).parent / "data" / "reports"
SEED_PASSAGES = Path(__file__).parent / "data" / "seed-passages.json"

STANDARD_A_TO_F = [
    ("A", "Recommendation"),
    ("B", "Supporting information"),
    ("C", "Equality and diversity implications"),
    ("D", "Financial implications"),
    ("E", "Background papers"),
    ("F", "Contact details"),
]


@dataclass(frozen=True)
class Expected:
    """What a reader sees on the page: written by hand from each file, not from the parser."""

    file: str
    title: str
    number: str
    date: date
    by: str
    committee: str
    sections: list[tuple[str, str]]
    ids: list[str]
    meeting_date: date | None = None
    author: str = ""
    warnings: list[str] = field(default_factory=list)  # why of each warning, in order


EXPECTED = [
    Expected(
        file="2001-04-19_new-contact-system-to-inform-members-of-major-sensitive-issues.txt",
        title="New contact system to inform members of major sensitive issues",
        number="19",
        date=date(2001, 4, 19),
        by="Clerk",
        committee="MPA Committee",
        meeting_date=date(2001, 4, 19),
        sections=[
            ("A", "Recommendation"),
            ("B", "Supporting information"),
            ("C", "Financial implications"),
            ("D", "Background papers"),
            ("C", "Contact details"),
        ],
        # C and D are empty; the second C holds the only C text, so it is plain "C".
        ids=["summary", "A", "1", "C"],
        author="Philip Powell, Director of Communications",
        warnings=["section letter C used twice (its passages take the next free id)"],
    ),
    Expected(
        file="2002-03-12_home-office-holly-royde-conference.txt",
        title="Home Office Holly Royde Conference",
        number="late urgent paper a",
        date=date(2002, 3, 12),
        by="Clerk",
        committee="Chair's Co-ordination and Urgency Committee",
        meeting_date=date(2002, 3, 12),
        sections=[
            ("A", "Recommendation"),
            ("B", "Supporting information"),
            ("C", "Financial implications"),
            ("D", "Background papers"),
            ("E", "Contact details"),
        ],
        ids=["summary", "A", "1", "2", "3", "4", "D", "E"],  # 4 continues the numbering under C
        author="Jenny Trevillion, MPA",
    ),
    Expected(
        file="2002-07-25_action-taken-under-delegated-authority.txt",
        title="Action taken under delegated Authority",
        number="13",
        date=date(2002, 7, 25),
        by="Clerk",
        committee="MPA Committee",
        meeting_date=date(2002, 7, 25),
        sections=[
            ("A", "Recommendations"),
            ("B", "Supporting information"),
            ("C", "Financial implications"),
            ("D", "Background papers"),
            ("E", "Contact details"),
        ],
        ids=["summary", "A", "1", "2", "C", "D", "E"],
        author="Simon Vile, MPA",
    ),
    Expected(
        file="2003-03-27_action-taken-under-delegated-authority.txt",
        title="Action taken under delegated authority",
        number="15",
        date=date(2003, 3, 27),
        by="Clerk",
        committee="MPA Committee",
        meeting_date=date(2003, 3, 27),
        sections=[("A", "Recommendations"), *STANDARD_A_TO_F[1:]],
        ids=["summary", "A", "1", "2", "C", "D", "E", "F"],
        author="Simon Vile",
    ),
    Expected(
        file="2003-12-09_action-taken-under-delegated-authority.txt",
        title="Action taken under delegated authority",
        number="12",
        date=date(2003, 12, 9),
        by="Clerk",
        committee="MPA Committee",
        meeting_date=date(2003, 12, 9),
        sections=[
            ("A", "Recommendation"),
            ("B", "Supporting information"),
            ("C", "Equality and diversity implications"),
            ("D", "Financial implications"),
            ("D", "Background papers"),
            ("E", "Contact details"),
        ],
        ids=["summary", "A", "1", "2", "C", "D", "D-2", "E"],
        author="Simon Vile, Secretariat, MPA",
        warnings=["section letter D used twice (its passages take the next free id)"],
    ),
    Expected(
        file="2003-12-15_nomination-of-membership-for-health-and-safety-sub-committee.txt",
        title="Nomination of membership for Health and Safety Sub-committee",
        number="5",
        date=date(2003, 12, 15),
        by="Clerk",
        committee="Co-ordination and Policing Committee",
        meeting_date=date(2003, 12, 15),
        sections=STANDARD_A_TO_F,
        ids=["summary", "A", "1", "2", "3", "C", "D", "E", "F"],
        author="Keith Dickinson, MPA",
    ),
    Expected(
        file="2004-01-29_action-taken-under-delegated-authority.txt",
        title="Action taken under delegated authority",
        number="13",
        date=date(2004, 1, 29),
        by="Clerk",
        committee="MPA Committee",
        meeting_date=date(2004, 1, 29),
        sections=STANDARD_A_TO_F,
        ids=["summary", "A", "1", "2", "C", "D", "E", "F"],
        author="Simon Vile",
    ),
    Expected(
        file="2004-07-22_acquisition-of-a-new-lease-of-premises-for-use-by-specialist-operations.txt",
        title="Acquisition of a New Lease Of Premises For Use By Specialist Operations",
        number="13",
        date=date(2004, 7, 22),
        by="Commissioner",
        committee="Finance Committee",
        meeting_date=date(2004, 7, 22),
        sections=[
            STANDARD_A_TO_F[0],
            STANDARD_A_TO_F[1],
            ("C", "Race and Equality impact"),
            *STANDARD_A_TO_F[3:],
        ],
        ids=["summary", "A", "1", "C", "D", "E", "F"],  # the "1." and "2." under A are its list
        author="Alan Croney, Director of Property Services",
    ),
    Expected(
        file="2010-01-28_the-mpa-monitoring-officer.txt",
        title="The MPA Monitoring officer",
        number="9",
        date=date(2010, 1, 28),
        by="Chief Executive",
        committee="MPA Committee",
        meeting_date=date(2010, 1, 28),
        sections=[
            STANDARD_A_TO_F[0],
            STANDARD_A_TO_F[1],
            ("C", "Race and equality impact"),
            *STANDARD_A_TO_F[3:],
        ],
        ids=["summary", "A", "1", "2", "3", "C", "D", "E", "F"],
        author="Nick Baker, MPA",
    ),
    Expected(
        file="partial/2000-09-14_urgent-approval-undertaken-under-delegated-powers.txt",
        title="Urgent approval undertaken under delegated powers",
        number="5",
        date=date(2000, 9, 14),
        by="Clerk",
        committee="Metropolitan Police Authority",  # the page's "Meeting:" line
        meeting_date=date(2000, 9, 14),
        sections=[
            ("A", "Supporting information"),
            ("B", "Recommendations"),
            ("C", "Financial implications"),
            ("D", "Review arrangements"),
            ("E", "Background papers"),
        ],
        ids=["summary", "1", "2", "3", "4", "B", "C", "D", "E"],
    ),
    Expected(
        file="partial/2000-09-28_terms-of-reference-and-membership.txt",
        title="Terms of reference and membership",
        number="2",
        date=date(2000, 9, 28),
        by="Clerk",
        committee="Audit Panel",
        meeting_date=date(2000, 10, 26),
        sections=[("A", "Supporting information")],
        ids=["summary", "1", "2", "3"],
    ),
    Expected(
        file="partial/2001-02-27_meeting-arrangements.txt",
        title="Meeting arrangements",
        number="6",
        date=date(2001, 2, 27),
        by="Clerk",
        committee="Consultation, Diversity and Outreach Committee",
        meeting_date=date(2001, 2, 27),
        sections=[("A", "Recommendations"), ("B", "Supporting information")],
        ids=["summary", "A", "1", "2", "B", "3", "4"],  # B: "Meetings have been held as follows." + venues
    ),
    Expected(
        file="partial/2001-10-09_association-of-police-authorities-conference.txt",
        title="Association of Police Authorities Conference",
        number="5",
        date=date(2001, 10, 9),
        by="Clerk",
        committee="Chair's Co-ordination and Urgency Committee",
        meeting_date=date(2001, 10, 9),
        sections=[
            ("A", "Recommendation"),
            ("B", "Supporting information"),
            ("C", "Financial implications"),
            ("D", "Background papers"),
            ("E", "Contact details"),
        ],
        ids=["summary", "A", "1", "2", "3", "4", "D", "E"],
        author="Simon Vile",
    ),
    Expected(
        file=(
            "partial/2003-10-03_the-apa-annual-conference-policing-the-police-conference-and-the-police-"
            "diversity-management-conference.txt"
        ),
        title=(
            "The APA Annual Conference - 4/5 November 2003; The Policing the Police Conference - 5/7 November"
            " 2003 and the Police Diversity Management Conference 18/19 November 2003"
        ),
        number="6",
        date=date(2003, 10, 3),
        by="Clerk",
        committee="Co-ordination and Policing Committee",
        meeting_date=date(2003, 10, 3),
        sections=[("A", "Recommendation"), ("B", "Supporting information")],
        ids=["summary", "A", "1"],
    ),
    Expected(
        file="partial/2003-10-16_mpa-internal-equal-opportunities-group.txt",
        title="MPA internal equal opportunities group",
        number="16 - Report not considered by the committee",
        date=date(2003, 10, 16),
        by="Clerk",
        committee="Equal Opportunities & Diversity Board",
        meeting_date=date(2003, 10, 16),
        sections=[("A", "Recommendation"), ("B", "Supporting information")],
        ids=["summary", "A", "1", "2", "3"],
    ),
    Expected(
        file="partial/2006-02-08_mpa-dip-sampling-of-public-complaints.txt",
        title="MPA dip sampling of public complaints",
        number="10",
        date=date(2006, 2, 8),  # the page's Date: line; the meeting was in 2007
        by="Chief Executive",
        committee="Professional Standards & Complaints Committee",
        meeting_date=date(2007, 2, 8),
        sections=[("A", "Recommendations"), ("B", "Supporting information")],
        ids=["summary", "A", "1", "2"],
    ),
    Expected(
        file="partial/2008-04-10_standards-indicators.txt",
        title="Standards indicators",
        number="7",
        date=date(2008, 4, 10),
        by="the Chief Executive",
        committee="",
        sections=[
            ("A", "Recommendation"),
            ("B", "Supporting information"),
            ("C", "Race and equality impact"),
        ],
        ids=["summary", "A", "1", "2", "3", "4", "C"],
    ),
    Expected(
        file="partial/2008-10-06_untitled-report-6b.txt",
        title="",
        number="6b",
        date=date(2008, 10, 6),
        by="the Chief Executive",
        committee="MPA Committee",
        meeting_date=date(2008, 10, 6),
        sections=[("A", "Recommendation"), ("B", "Supporting information")],
        ids=["summary", "A", "1", "2"],  # A's "1."-"6." are its list of recommendations
        warnings=["no title line above the header"],
    ),
    Expected(
        file=(
            "partial/2008-11-06_terms-of-reference-establishment-of-sub-committees-and-memberships-and-the-"
            "appointment-of-chairmen-and-vice-chairmen.txt"
        ),
        title=(
            "Terms of reference, establishment of sub committees and memberships, and the appointment of"
            " Chairmen and vice Chairmen"
        ),
        number="3",
        date=date(2008, 11, 6),
        by="the Chief Executive",
        committee="",
        sections=[("A", "Recommendation"), ("B", "Supporting information")],
        # The last line is a sub-heading cut off mid-word, with no paragraph under it: B's own text.
        ids=["summary", "A", "1.1", "1.2", "2.1", "2.2", "2.3", "B"],
    ),
]


def _load(expected: Expected) -> Report:
    return load_report(REPORTS / expected.file)


def test_every_report_file_has_expectations() -> None:
    files = {str(path.relative_to(REPORTS)) for path in REPORTS.rglob("*.txt")}
    assert files == {expected.file for expected in EXPECTED}


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda e: e.file[:40])
def test_ids_and_metadata(expected: Expected) -> None:
    report = _load(expected)
    assert [p.id for p in report.passages] == expected.ids
    assert report.title == expected.title
    assert report.number == expected.number
    assert report.date is not None and report.date.isoformat() == expected.date.isoformat()
    assert report.by == expected.by
    assert report.committee == expected.committee
    assert report.meeting_date == expected.meeting_date
    assert report.author == expected.author
    assert report.sections == [Section(letter=letter, title=title) for letter, title in expected.sections]
    assert [w.why for w in report.warnings] == expected.warnings


def _passage(report: Report, pid: str) -> str:
    return next(p.text for p in report.passages if p.id == pid)


def _by_file(prefix: str) -> Report:
    return _load(next(e for e in EXPECTED if e.file.startswith(prefix)))


def test_numbered_paragraphs_keep_their_whole_text() -> None:
    report = _by_file("2002-03-12")
    assert _passage(report, "4") == "The cost can be met from MPA budget for 2002/03."
    assert _passage(report, "D") == "None."
    assert _passage(report, "2").endswith("it is proposed Cindy Butts attends as the MPA representative")
    decimal = _by_file("partial/2008-11-06")
    assert _passage(decimal, "2.2") == (
        "The following expressions of interest for serving on the Sub Committees have been received:\n"
        "• Community Engagement Citizen Focus: Valerie Brasse and Clive Lawton.\n"
        "• Equalities: Kirsten Hearn, Faith Boardman and Clive Lawton.\n"
        "• Remuneration: Reshard Auladin and Faith Boardman."
    )


def test_summary_without_a_heading_is_the_text_before_the_first_section() -> None:
    report = _by_file("partial/2006-02-08")
    summary = _passage(report, "summary").split("\n")
    assert len(summary) == 2
    assert summary[0].startswith("At the last Professional Standards & Complaints Committee (PSCC) meeting")
    assert summary[1].startswith("The purpose of the report is to provide a brief update")


def test_recommendation_lists_stay_in_their_section() -> None:
    six_b = _passage(_by_file("partial/2008-10-06"), "A").split("\n")
    assert len(six_b) == 6 and six_b[0].startswith("1. members note the appointment")
    roman = _passage(_by_file("partial/2008-11-06"), "A").split("\n")
    assert (
        roman[0] == "That members"
        and roman[3].startswith("(iii) appoint")
        and roman[4].startswith("(iii) agree")
    )
    asked = _passage(_by_file("2004-07-22"), "A").split("\n")
    assert asked[0] == "Members are asked to:" and asked[2].startswith("2. to approve estimated expenditure")


def test_lists_inside_a_paragraph_stay_in_it() -> None:
    report = _by_file("partial/2000-09-28")
    three = _passage(report, "3")
    assert "\n1. to advise the Authority on the appropriate arrangements" in three
    assert three.endswith("make recommendations as appropriate to t")  # the file is cut mid-word
    headings = {p.id: p.heading for p in report.passages}
    assert headings == {"summary": "", "1": "Background", "2": "Membership", "3": "Terms of reference"}


def test_flattened_list_is_its_own_unnumbered_passage() -> None:
    report = _by_file("partial/2001-02-27")
    lines = _passage(report, "B").split("\n")
    assert lines[0] == "Meetings have been held as follows."
    assert lines[-1] == "Bromley - Central Library" and len(lines) == 7
    assert next(p for p in report.passages if p.id == "4").heading == "Time of meetings"


def test_contact_details_and_supporting_material_stay_in_their_section() -> None:
    contact = _passage(_by_file("2010-01-28"), "F").split("\n")
    assert contact == [
        "Report author(s): Nick Baker, MPA",
        "For more information contact:",
        "MPA general: 020 7202 0202",
        "Media enquiries: 020 7202 0217/18",
    ]
    race = _passage(_by_file("partial/2008-04-10"), "C")
    assert race.endswith("Supporting material\nAppendix 1 [PDF]")


def test_single_newline_layout_reads_like_the_blank_line_layout() -> None:
    text = (REPORTS / EXPECTED[1].file).read_text(encoding="utf-8")
    squeezed = parse_report(re.sub(r"\n\s*\n+", "\n", text), slug="squeezed")
    spaced = _load(EXPECTED[1])
    assert [(p.id, p.text) for p in squeezed.passages] == [(p.id, p.text) for p in spaced.passages]


def test_numbering_that_restarts_in_a_duplicate_section_stays_unique() -> None:
    text = (REPORTS / EXPECTED[4].file).read_text(encoding="utf-8")
    text = text.replace("Any implications are addressed", "1. Any implications are addressed")
    # D's own text is free for the second D section, whose unnumbered text takes it.
    assert [p.id for p in parse_report(text, slug="x").passages] == [
        "summary",
        "A",
        "1",
        "2",
        "C1",
        "D1",
        "D",
        "E",
    ]
    both = parse_report(text.replace("  • Delegated action forms", "1. Delegated action forms"), slug="x")
    assert [p.id for p in both.passages] == ["summary", "A", "1", "2", "C1", "D1", "D1-2", "E"]
    assert both.warnings[-1].why == "paragraph number D1 used twice: cited as D1-2"


def test_the_longest_run_of_numbering_keeps_the_printed_numbers() -> None:
    text = (REPORTS / EXPECTED[5].file).read_text(encoding="utf-8")
    text = text.replace("  1. the membership", "1. The membership").replace("  2. the sub", "2. The sub")
    report = parse_report(text, slug="x")
    assert [p.id for p in report.passages] == ["summary", "A", "A1", "A2", "1", "2", "3", "C", "D", "E", "F"]
    assert report.warnings == []


@pytest.mark.parametrize(
    ("description", "committee"),
    [
        ("Report 4 of the 1 May 2001 meeting of the full Authority and sets out a plan.", "full Authority"),
        ("Report 4 of the 1 May 01 meeting of the the Finance Committee, seeking it.", "Finance Committee"),
        ("Report 3b-AGM of the 1 May 2001 meeting of the MPA Committee informing members.", "MPA Committee"),
    ],
)
def test_committee_names_from_description_lines(description: str, committee: str) -> None:
    report = parse_report(f"{description}\n\nTitle\n\nReport: 4\nDate: 1 May 2001\n\nText.\n", slug="x")
    assert (report.committee, report.meeting_date, report.title) == (committee, date(2001, 5, 1), "Title")


# ---------------------------------------------------------------------------
# No word of a report's body is lost.


def _body(text: str) -> str:
    """The page between the header (its last 'By:' line) and the footer link."""
    start = max(match.end() for match in re.finditer(r"^By\s*:.*$", text, re.MULTILINE))
    end = text.find("Send an e-mail linking to this page")
    return text[start : end if end >= 0 else len(text)]


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text))


@pytest.mark.parametrize("path", [REPORT_FILE, *sorted(REPORTS.rglob("*.txt"))], ids=lambda p: p.name[:40])
def test_no_word_of_the_body_is_lost(path: Path) -> None:
    report = load_report(path)
    held = " ".join(f"{p.id} {p.section} {p.heading} {p.text}" for p in report.passages)
    held += " ".join(f" {s.letter} {s.title}" for s in report.sections) + " Summary"
    missing = _words(_body(path.read_text(encoding="utf-8"))) - _words(held)
    assert not missing


# ---------------------------------------------------------------------------
# The seed, the files that are not reports, and the parser under any input.


def test_seed_passages_are_unchanged() -> None:
    saved = json.loads(SEED_PASSAGES.read_text(encoding="utf-8"))
    report = load_report(REPORT_FILE)
    now = [
        {"id": p.id, "kind": p.kind, "section": p.section, "heading": p.heading, "text": p.text}
        for p in report.passages
    ]
    assert now == saved and len(now) == 61
    assert report.warnings == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"  \n\n\t\n", "empty"),
        (b"Report: 5\x00\x01\x02Date: 1 May 2001", "NUL"),
        ("Report: 5\nDate: 3 mai 2001\n\nUn r\u00e9sum\u00e9".encode("latin-1"), "not UTF-8"),
        (b"Just some words\nand more words, no report here.\n", "no report header"),
        (b"Report: 5\nDate: 1 May 2001\nBy: Clerk\n", "no report text"),
    ],
)
def test_files_that_are_not_reports_are_skipped_with_a_reason(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    with pytest.raises(NotAReport, match=reason):
        load_report(bad)
    reports, skipped = load_reports([REPORT_FILE, bad])
    assert [r.slug for r in reports] == [REPORT_FILE.stem]
    assert skipped == [(bad, skipped[0][1])] and "\n" not in skipped[0][1] and reason in skipped[0][1]


def test_section_titles_resolve_through_each_reports_sections() -> None:
    report = _by_file("partial/2000-09-14")
    assert canonical_id("review arrangements", sections=report.sections) == "D"
    assert canonical_id("supporting information 3", sections=report.sections) == "A3"
    assert canonical_id("Section G") == "G" and canonical_id("g 2") == "G2"


_REAL_LINES = sorted(
    {
        line
        for path in [REPORT_FILE, *REPORTS.rglob("*.txt")]
        for line in path.read_text(encoding="utf-8").split("\n")
    }
)
_LINE = st.one_of(
    st.sampled_from(_REAL_LINES),
    st.text(max_size=60).filter(lambda text: "\n" not in text),
    st.builds(lambda n, text: f"{n}. {text}", st.integers(0, 60), st.sampled_from(_REAL_LINES)),
    st.builds(
        lambda letter, title: f"{letter}. {title}", st.sampled_from("ABCDEFGPQ"), st.sampled_from(_REAL_LINES)
    ),
)
_ANY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parses_or_is_not_a_report(text: str) -> None:
    try:
        report = parse_report(text, slug="fuzz")
    except NotAReport as error:
        assert str(error) and "\n" not in str(error)
        return
    except ReportFormatError as error:  # pragma: no cover - the only error allowed is NotAReport
        pytest.fail(f"not NotAReport: {error!r}")
    ids = [p.id.lower() for p in report.passages]
    assert len(ids) == len(set(ids))
    for passage in report.passages:
        assert passage.text
        assert canonical_id(passage.id).lower() == passage.id.lower()


@_ANY
@given(st.text())
def test_any_text_is_a_report_or_not_a_report(text: str) -> None:
    _parses_or_is_not_a_report(text)


@_ANY
@given(st.lists(_LINE, max_size=60), st.sampled_from(["\n", "\n\n", "\r\n"]))
def test_any_mix_of_real_report_lines_is_a_report_or_not_a_report(lines: list[str], newline: str) -> None:
    _parses_or_is_not_a_report(newline.join(lines))


# ---------------------------------------------------------------------------
# What users see: `qa inspect`, `qa build`'s reading report, and a seeds folder with a bad file.


def _seeds_with_a_bad_file(tmp_path: Path) -> Path:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(REPORT_FILE, seeds / REPORT_FILE.name)
    shutil.copy(REPORTS / EXPECTED[4].file, seeds / "dup-letter.txt")
    (seeds / "broken.txt").write_bytes(b"\xff\xfe\x00binary")
    return seeds


def test_build_prints_warnings_and_skipped_files_and_goes_on(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    seeds = _seeds_with_a_bad_file(tmp_path)
    _print_reading(load_settings().with_overrides(seeds_dir=seeds))
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "warning: dup-letter.txt:44: section letter D used twice (its passages take the next free id): "
        "'D. Background papers'",
        "skipped: broken.txt: binary data (NUL bytes), not a report page",
    ]
    corpus = Corpus.from_seeds(seeds)
    assert [r.slug for r in corpus.reports] == ["dup-letter", REPORT_FILE.stem]


def test_inspect_prints_how_a_report_was_read_without_the_model(tmp_path: Path) -> None:
    path = REPORTS / EXPECTED[4].file
    script = (
        "import sys; from qa.cli import main; code = main(['inspect', '--json', sys.argv[1]]);"
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules; sys.exit(code)"
    )
    command = [sys.executable, "-c", script, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    shown = json.loads(done.stdout)
    assert [p["id"] for p in shown["passages"]] == EXPECTED[4].ids
    assert shown["date"] == "2003-12-09" and shown["number"] == "12"
    assert shown["sections"][4] == {"letter": "D", "title": "Background papers"}
    assert shown["warnings"][0]["line"] == 44
    assert shown["passages"][2]["start"].startswith("Standing Order 6.1")


def test_inspect_text_and_not_a_report(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert cli_main(["inspect", str(REPORT_FILE)]) == 0
    out = capsys.readouterr().out
    assert "  D1            paragraph     The Central Drug Trafficking Database" in out
    assert "warnings (0):" in out and "  F. Contact details" in out
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert cli_main(["inspect", str(empty)]) == 1
    assert capsys.readouterr().err.strip() == "not a report: empty.txt: the report text is empty"


def test_header_and_body_variants_of_the_family() -> None:
    """A made-up page mixing variants the samples do not show: '5 (AGM)', 'Meeting date:', other fields."""
    text = (Path(__file__).parent / "data" / "variants-synthetic.txt.in").read_text(encoding="utf-8")
    report = parse_report(text, slug="variants")
    assert (report.title, report.number, report.committee) == ("Annual business", "5 (AGM)", "Full Authority")
    assert (report.date, report.meeting_date) == (date(2005, 5, 3), date(2005, 5, 12))
    assert [w.why for w in report.warnings] == ["header field not understood (not in any passage)"]
    assert [s.title for s in report.sections][:2] == ["Recommendations", "Supporting Information"]
    passages = {p.id: p for p in report.passages}
    assert list(passages) == ["summary", "A", "1", "2", "3", "C", "D1", "D2"]
    assert passages["A"].text == "That members\n• agree the business; and\n• note the report."
    assert passages["2"].text == "the meeting also elects the chair."  # lower case, but the next number
    assert passages["3"].heading == "Election arrangements"
    assert passages["D1"].heading == "Appendix 1"  # numbering restarts under D: cited D1, D2


def test_a_paragraphs_list_stays_in_it_and_other_text_gets_its_own_passage() -> None:
    text = (Path(__file__).parent / "data" / "lists-synthetic.txt.in").read_text(encoding="utf-8")
    report = parse_report(text, slug="lists")
    passages = {p.id: p.text for p in report.passages}
    assert passages == {
        "1": "The Committee is asked to consider:\na) the first thing;\nb) the second thing.",
        "2": "Members attending were:\nJohn Smith\nJane Doe",
        "3": "The last paragraph.\n(i) with a roman item",
        "A": "An unrelated closing remark.",
    }
    # A line on its own just above a numbered paragraph is that paragraph's sub-heading.
    assert next(p for p in report.passages if p.id == "3").heading == "Venues were agreed."


def test_a_page_without_header_fields_or_with_text_after_the_footer_is_still_read() -> None:
    bare = (
        "You are in:\n\nSome intro text.\n\nA. Recommendation\n\nThat it be noted.\n\nB. Papers\n\n"
        "1. First.\n"
    )
    report = parse_report(bare, slug="bare")
    assert [(p.id, p.text) for p in report.passages] == [
        ("summary", "Some intro text."),
        ("A", "That it be noted."),
        ("1", "First."),
    ]
    assert [(w.line, w.why) for w in report.warnings] == [(1, "no Report:/Date: header lines")]
    footer = "\nSend an e-mail linking to this page\n\nFeedback\n\nStray words.\n"
    tail = parse_report(bare + footer, slug="tail")
    assert tail.passages[-1].text == "Stray words."
    assert [w.why for w in tail.warnings][-1] == "text after the page footer (read as report text)"
