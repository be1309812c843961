"""The report parsed into citable passages, checked against the real text."""

from __future__ import annotations

import re
from datetime import date

import pytest

from qa.corpus import (
    Corpus,
    ReportFormatError,
    canonical_id,
    load_report,
    normalise_space,
    parse_report,
    passage_label,
    passage_spans,
)
from qa.tables import read_table

from .conftest import REPORT_FILE

EXPECTED_IDS = (
    ["summary", "A"]
    + [str(n) for n in range(1, 12)]
    + ["chart-1", "12", "chart-2"]
    + [str(n) for n in range(13, 28)]
    + ["table-1"]
    + [str(n) for n in range(28, 48)]
    + ["chart-3", "abbreviations", "C", "D1", "D2", "D3", "D4", "E", "F"]
)


@pytest.fixture(scope="module")
def report():  # noqa: ANN201
    return load_report(REPORT_FILE)


def by_id(report, pid: str):  # noqa: ANN001, ANN201
    return next(p for p in report.passages if p.id == pid)


def test_ids_in_document_order(report) -> None:
    assert [p.id for p in report.passages] == EXPECTED_IDS
    assert len(set(EXPECTED_IDS)) == len(EXPECTED_IDS) == 61


def test_metadata(report) -> None:
    assert report.slug == "mpa-2005-12-08-drugs-and-crime"
    assert report.title == "Drugs and crime"
    assert report.number == "13"  # as printed (issue 11: numbers such as "6b" are kept)
    assert report.date == date(2005, 12, 8)
    assert report.committee == "Planning, Performance & Review Committee"
    assert report.author == "Assistant Commissioner Ghaffur, SCD"
    assert report.by == "Commissioner"


def test_passage_texts_verbatim(report) -> None:
    assert by_id(report, "16").text.startswith("The link between Organised Criminal Networks (OCNs)")
    assert by_id(report, "1").text.startswith("London is, of course, a leading world city")
    assert by_id(report, "A").text == (
        "That members consider the report. (All questions have been answered individually.)"
    )
    assert by_id(report, "E").text == "None"
    assert by_id(report, "D4").text.endswith(
        "Funding as been guaranteed for 2006/2007 but after that it is uncertain."
    )
    assert by_id(report, "summary").text.startswith("This report provides an update")


def test_sections_and_headings(report) -> None:
    four = by_id(report, "4")
    assert four.heading == "Middle Market Drugs Project"
    assert four.section.startswith("Q1. Identify how the MPS is organised")
    assert by_id(report, "1").section == "B. Supporting information"
    assert by_id(report, "1").heading == "Overview"
    assert by_id(report, "16").heading == "Hydroponic cultivation of Cannabis"
    assert (
        by_id(report, "9").section
        == "Q2. Highlight the variety of activity across Boroughs drawing on any trends"
    )
    assert by_id(report, "36").heading.startswith("Highlight the number of offenders on the scheme")
    assert by_id(report, "42").heading == "Good practice"
    assert by_id(report, "D2").section == "D. Financial implications"
    assert by_id(report, "C").section == "C. Race and equality impact"
    assert {p.kind for p in report.passages} == {
        "paragraph",
        "table",
        "chart",
        "abbreviations",
        "section",
    }


def test_bullets_and_quotes_belong_to_their_paragraph(report) -> None:
    two = by_id(report, "2").text.split("\n")
    assert two[1:] == [
        "• Drugs Directorate",
        "• Middle Market Drugs Project",
        "• Central Task Force",
        "• Controlled Delivery Unit",
        "• Territorial Policing (32 x Borough Operational Command Units (BOCUs))",
    ]
    assert by_id(report, "26").text.count("\n• ") == 6
    thirty_five = by_id(report, "35").text
    assert thirty_five.count("“") == 3
    assert "Our target last year was 35% successful completions of DTTOs" in thirty_five


def test_headings_are_not_passages(report) -> None:
    texts = [p.text for p in report.passages]
    for heading in ["Drugs Directorate", "Good practice", "Overview", "Q5. Highlight the speed"]:
        assert not any(text.startswith(heading) for text in texts)
    assert not any("You are in:" in t or "Send an e-mail" in t or t == "Feedback" for t in texts)


def test_table_rows(report) -> None:
    table = by_id(report, "table-1")
    read = read_table(table)
    assert [column.name for column in read.columns] == [
        "Boroughs",
        "Closure order granted Y?N",
        "Crackhouse closed",
    ]
    rows = {row.name: tuple(cell.text for cell in row.cells) for row in read.rows}
    assert len(rows) == 32
    assert rows["Haringey"] == ("17", "17")
    assert rows["Barking & Dagenham"] == ("2", "2")
    assert rows["Camden"] == ("3 extensions", "3 existing closure orders")
    assert rows["Lambeth"] == ("4", "")
    assert rows["Kingston upon Thames"] == ("0", "0")
    assert table.text.startswith("Table 1: Crackhouse data July to September 2005")
    assert "Newham 10 10" in table.text.split("\n")


def test_abbreviation_pairs(report) -> None:
    pairs = {a.term: a.expansion for a in report.abbreviations}
    assert len(pairs) == 13
    assert pairs["DTTO"] == "Drug Testing and Treatment Order"
    assert pairs["BOCU"] == "Borough Operational Command Unit"
    assert pairs["OCN"] == "Organised Criminal Network"
    assert list(pairs)[:2] == ["MPA", "MPS"]


def test_charts(report) -> None:
    assert (
        by_id(report, "chart-2").text
        == "Chart 2: Yearly comparison - total MPS drugs offences (see supporting material)"
    )
    assert by_id(report, "chart-3").heading == ""


def _body_sentences(text: str) -> list[str]:
    """Every sentence of the report body (Summary to Contact details), headings excluded."""
    body = text[text.index("\nSummary\n") : text.index("Send an e-mail linking to this page")]
    sentences = []
    for line in body.split("\n"):
        line = normalise_space(line).lstrip("• ")
        line = re.sub(r"^(\d+)\.\s+", "", line)
        if not line or len(line.split()) < 6 or not line.endswith((".", ":", "”", ")")):
            continue  # headings, table rows, short labels
        sentences.extend(s for s in re.split(r"(?<=[.:])\s+(?=[A-Z“])", line) if len(s.split()) >= 4)
    return sentences


def test_every_sentence_lands_in_exactly_one_passage(report) -> None:
    headings = {p.heading for p in report.passages} | {p.section for p in report.passages}
    sentences = [s for s in _body_sentences(REPORT_FILE.read_text(encoding="utf-8")) if s not in headings]
    assert len(sentences) > 150
    for sentence in sentences:
        holders = [p.id for p in report.passages if sentence in p.text]
        assert len(holders) == 1, (sentence, holders)


def test_spans_are_exact_slices(report) -> None:
    for passage in report.passages:
        spans = passage_spans(passage)
        assert spans, passage.id
        for span in spans:
            assert passage.text[span.start : span.end] == span.text
            assert span.text.strip() == span.text and span.text
    rows = [s.text for s in passage_spans(by_id(report, "table-1"))]
    assert rows[0] == "Barking & Dagenham 2 2" and len(rows) == 32
    entries = [s.text for s in passage_spans(by_id(report, "abbreviations"))]
    assert entries[0] == "MPA\nMetropolitan Police Authority" and len(entries) == 13
    d4 = [s.text for s in passage_spans(by_id(report, "D4"))]
    assert d4[1] == "The grant to the MPS was £6.1 million this financial year."


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("16", "16"),
        ("¶16", "16"),
        ("para 16", "16"),
        ("Paragraph 16", "16"),
        ("p16", "16"),
        ("D4", "D4"),
        ("d4", "D4"),
        ("D 4", "D4"),
        ("table-1", "table-1"),
        ("Table 1", "table-1"),
        ("chart 2", "chart-2"),
        ("summary", "summary"),
        ("Section C", "C"),
        ("abbreviations", "abbreviations"),
    ],
)
def test_resolve_citation_forms(ref: str, expected: str) -> None:
    corpus = Corpus([load_report(REPORT_FILE)])
    passage = corpus.resolve(ref)
    assert passage is not None and passage.id == expected


def test_section_titles_resolve_through_the_reports_own_sections(report) -> None:
    # Was a Corpus.resolve case: the title -> letter mapping now comes from the report, not the code.
    assert canonical_id("financial implications 4", sections=report.sections) == "D4"
    assert canonical_id("Background papers", sections=report.sections) == "E"
    assert canonical_id("financial implications 4") == "financial implications 4"


@pytest.mark.parametrize("ref", ["nope", "48", "0", "D9", "table-2", "", "¶", "<script>"])
def test_resolve_unknown(ref: str) -> None:
    assert Corpus([load_report(REPORT_FILE)]).resolve(ref) is None


def test_neighbours() -> None:
    corpus = Corpus([load_report(REPORT_FILE)])
    assert corpus.neighbours(corpus.resolve("16")) == ("15", "17")
    assert corpus.neighbours(corpus.resolve("summary")) == (None, "A")
    assert corpus.neighbours(corpus.resolve("F")) == ("E", None)


def test_labels() -> None:
    assert [passage_label(i) for i in ["16", "D4", "table-1", "chart-3", "summary", "C"]] == [
        "¶16",
        "D4",
        "Table 1",
        "Chart 3",
        "Summary",
        "C",
    ]
    assert canonical_id("  ¶ 22 ") == "22"


@pytest.mark.parametrize("text", ["", "   \n\n", "just some words\nand more words"])
def test_unparseable_text_is_a_clear_error(text: str) -> None:
    with pytest.raises(ReportFormatError):
        parse_report(text, "x")


def test_missing_seeds_folder_is_a_clear_error(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(FileNotFoundError, match="seeds folder not found"):
        Corpus.from_seeds(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="no report texts"):
        Corpus.from_seeds(tmp_path)


def test_months_a_text_names_with_spans_and_no_lookalikes() -> None:
    from qa.text import months_in

    assert months_in("Table 2: Closures July to September 2005") == {7, 8, 9}
    assert months_in("Jul-Sep") == {7, 8, 9} and months_in("since Sept") == {9}
    assert months_in("between November 2004 and February 2005") == {11, 12, 1, 2}
    assert months_in("the Mayor and Marks may decide") == frozenset()
