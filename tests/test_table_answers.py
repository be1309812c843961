"""Aggregate questions answered by computing over a table (qa.table_answers), and through Searcher."""

from __future__ import annotations

import pytest

from qa.corpus import Corpus
from qa.schemas import response_from_result
from qa.search import Searcher
from qa.table_answers import Ask, TableAnswer, answer_question, named_rows, read_ask
from qa.tables import Table, read_table, read_table_text

# Expected figures below were read off the tables by hand, not from the code's output.
SEIZURES_TEXT = (
    "Table 2: Drug seizures by region\n"
    "Region Cannabis seizures Heroin seizures\n"
    "North 1,200 45\nSouth 950 60\nEast 300\nWest 0 12\nTotal 2,450 117"
)
SEIZURES = read_table_text(SEIZURES_TEXT, "table-2")
RATES = read_table_text(
    "Table 3: Detection rates\nOffence Detection rate\nBurglary 12.5%\nRobbery 20%\nFraud 7.25%", "table-3"
)


@pytest.fixture(scope="module")
def crackhouses(corpus: Corpus) -> Table:
    table = read_table(corpus.resolve("table-1"))
    assert table is not None
    return table


def _ask(question: str, table: Table | None, *, leading: bool = False) -> TableAnswer:
    assert table is not None
    answer = answer_question(question, table, leading=leading)
    assert answer is not None, question
    return answer


def test_question_words_to_operations() -> None:
    assert read_ask("Which region had the most?") == Ask("most")
    assert read_ask("who had the fewest") == Ask("least")
    assert read_ask("top 3 areas") == Ask("top", 3)
    assert read_ask("the five lowest") == Ask("bottom", 5)
    assert read_ask("how many had more than 10") == Ask("above", 10)
    assert read_ask("how many had at least two") == Ask("above", 2, inclusive=True)
    assert read_ask("which had fewer than 4") == Ask("below", 4)
    assert read_ask("how many had none") == Ask("zero")
    assert read_ask("which districts had three closures") == Ask("equal", 3)  # a plain count is exact
    assert read_ask("which has one of the highest") == Ask("most")  # 'one of' is no count
    assert read_ask("which had 2005 figures") is None  # a year
    for unsure in ("had 2.5 million", "had 10 percent of", "had 3 to 5 closures", "had 3 times more"):
        assert read_ask(unsure) is None, unsure
    assert read_ask("which had 3 or more closures") == Ask("above", 3, inclusive=True)
    assert read_ask("how many altogether") == Ask("total")
    assert read_ask("compare A and B") == Ask("compare")
    assert read_ask("What does paragraph 22 say?") is None


# ---------------------------------------------------------------------------
# The seed report's Table 1.


def test_most_crackhouses_closed(crackhouses: Table) -> None:
    answer = _ask("Which borough closed the most crackhouses?", crackhouses)
    assert answer.rows == ("Haringey",) and answer.passage_id == "table-1"
    assert answer.text.startswith("Haringey: Closure order granted 17, Crackhouse closed 17")
    assert "of 32 boroughs" in answer.text  # the noun is the table's own row-name header


def test_total_crackhouses_closed_notes_blank_and_text_cells(crackhouses: Table) -> None:
    answer = _ask("How many crackhouses were closed in total?", crackhouses)
    # 30 numbers add to 52; Lambeth's cell is blank and Camden's is text.
    assert "52 in total" in answer.text and "30 of 32 boroughs" in answer.text
    assert "not given for Lambeth" in answer.text
    assert 'Camden "3 existing closure orders"' in answer.text and "left out" in answer.text
    assert "Lambeth" not in answer.rows and "Camden" not in answer.rows and len(answer.rows) == 30


def test_boroughs_with_no_closure_orders(crackhouses: Table) -> None:
    answer = _ask("how many boroughs had no closure orders granted", crackhouses)
    names = [
        "Barnet", "Bexley", "Bromley", "Croydon", "Greenwich", "Harrow", "Hillingdon", "Hounslow",
        "Kensington & Chelsea", "Kingston upon Thames", "Redbridge", "Richmond upon Thames", "Sutton",
        "Waltham Forest", "Wandsworth",
    ]  # fmt: skip
    assert sorted(answer.rows) == sorted(names) and len(names) == 15
    assert answer.text.startswith("15 of 32 boroughs")
    assert "Camden" in answer.text  # "3 extensions" is text: not counted as zero, and said so


def test_compare_two_boroughs(crackhouses: Table) -> None:
    answer = _ask("compare Lambeth and Southwark", crackhouses)
    assert answer.rows == ("Lambeth", "Southwark")
    assert "Lambeth: Closure order granted 4, Crackhouse closed not given" in answer.text
    assert "Southwark: Closure order granted 3, Crackhouse closed 3" in answer.text


def test_top_three_for_closure_orders_keeps_ties(crackhouses: Table) -> None:
    answer = _ask("top 3 boroughs for closure orders", crackhouses)
    # 17, 10, then Hackney and Lambeth tied on 4 for third place.
    assert answer.rows == ("Haringey", "Newham", "Hackney", "Lambeth")
    assert "Closure order granted" in answer.text


def test_rows_counted_and_named_rows_added(crackhouses: Table) -> None:
    # Boroughs whose Crackhouse closed is above 0: 15 (Lambeth blank, Camden text, 15 zeros).
    counted = _ask("How many boroughs closed any crackhouses?", crackhouses, leading=True)
    assert counted.text.startswith("15 of 32 boroughs") and "Haringey" in counted.rows
    added = _ask("How many crackhouses were closed in total in Haringey and Newham?", crackhouses)
    assert added.text.startswith("Crackhouse closed: 27 in total for Haringey, Newham")


def test_more_than_and_one_row(crackhouses: Table) -> None:
    answer = _ask("Which boroughs closed more than 3 crackhouses?", crackhouses)
    assert sorted(answer.rows) == ["Hackney", "Haringey", "Newham"]
    one = _ask("How many crackhouses were closed in Haringey?", crackhouses, leading=True)
    assert one.text == "Haringey: Closure order granted 17, Crackhouse closed 17." and not one.aggregate


@pytest.mark.parametrize(
    "question",
    [
        "What were the reconviction rates for DTTO offenders?",
        "How many cannabis factories were found in London?",
        "What does paragraph 22 say?",
        "What is the most common drug?",
    ],
)
def test_questions_that_are_not_about_the_table_get_none(crackhouses: Table, question: str) -> None:
    assert answer_question(question, crackhouses, leading=True) is None


# ---------------------------------------------------------------------------
# Made-up tables in other shapes.


def test_made_up_table_most_least_total_and_total_row() -> None:
    assert _ask("Which region had the most cannabis seizures?", SEIZURES).rows == ("North",)
    assert _ask("Which region had the fewest heroin seizures?", SEIZURES).rows == ("West",)
    total = _ask("How many heroin seizures were there in total?", SEIZURES)
    assert "117 in total" in total.text and "3 of 4 regions" in total.text  # East blank; Total row apart
    assert "Heroin seizures not given for East" in total.text and "Total row gives 117" in total.text
    cannabis = _ask("total cannabis seizures", SEIZURES)
    assert "2,450 in total" in cannabis.text  # thousands shown as the table prints them


def test_made_up_table_conditions_compare_and_top() -> None:
    assert _ask("how many regions had no cannabis seizures", SEIZURES).rows == ("West",)
    assert _ask("Which regions had more than 50 heroin seizures?", SEIZURES).rows == ("South",)
    fewer = _ask("which regions had fewer than 500 cannabis seizures", SEIZURES)
    assert fewer.rows == ("East", "West") and "fewer than 500: East 300, West 0." in fewer.text
    assert _ask("top 2 regions for cannabis seizures", SEIZURES).rows == ("North", "South")
    compared = _ask("compare North and South heroin seizures", SEIZURES)
    assert compared.rows == ("North", "South") and "South has 15 more Heroin seizures" in compared.text


def test_made_up_table_exactly_and_blank_cells() -> None:
    assert _ask("which regions had exactly 45 heroin seizures", SEIZURES).rows == ("North",)
    blank = _ask("Which region has no figure given for heroin seizures?", SEIZURES)
    assert blank.rows == ("East",) and "Heroin seizures not given" in blank.text and " 0" not in blank.text
    shown = _ask("which region has nothing shown in the heroin seizures column?", SEIZURES)
    assert shown.rows == ("East",)
    assert read_ask("Which borough had the most empty homes?") == Ask("most")
    assert "exactly 45: North. " in _ask("which regions had exactly 45 heroin seizures", SEIZURES).text


def test_exactly_and_not_given_on_table_1(crackhouses: Table) -> None:
    one = _ask("How many boroughs had exactly one closure order granted?", crackhouses)
    assert one.rows == ("Ealing", "Enfield", "Hammersmith & Fulham", "Havering", "Lewisham", "Merton")
    missing = _ask("Which borough had closure orders granted but no figure given for closures?", crackhouses)
    assert missing.rows == ("Lambeth",) and "Crackhouse closed not given" in missing.text


def test_cells_that_are_not_numbers_are_shown_as_printed(crackhouses: Table) -> None:
    assert read_ask("which entries aren't plain numbers") == Ask("text")
    assert read_ask("any non-numeric cells?") == Ask("text")
    assert read_ask("which borough has no figure given") == Ask("missing")  # a blank is not text
    text = _ask("Which borough's crackhouse entries aren't plain numbers?", crackhouses)
    assert (
        text.rows == ("Camden",)
        and '"3 extensions"' in text.text
        and '"3 existing closure orders"' in text.text
    )
    made_up = read_table_text("Table 4: Staff\nTeam Posts\nNorth 12\nSouth 2 shared\nEast 3", "table-4")
    assert made_up is not None
    assert _ask("which teams have posts that are not numbers", made_up).rows == ("South",)


def test_a_question_naming_the_table_is_computed_over_it(searcher: Searcher) -> None:
    result = searcher.ask("How many crackhouses were closed in total according to Table 1?")
    assert result.table is not None and "52 in total" in result.table.text


def test_made_up_percentages_one_value_column() -> None:
    highest = _ask("Which offence has the highest detection rate?", RATES)
    assert highest.rows == ("Robbery",) and "Detection rate 20%" in highest.text
    assert _ask("lowest detection rate", RATES).rows == ("Fraud",)


# ---------------------------------------------------------------------------
# End to end through the real Searcher and the API's response.


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Which borough closed the most crackhouses?", ["Haringey", "17"]),
        ("How many crackhouses were closed in total?", ["52"]),
    ],
)
def test_aggregate_questions_through_searcher(searcher: Searcher, question: str, expected: list[str]) -> None:
    result = searcher.ask(question)
    assert result.answered and result.table is not None
    response = response_from_result(result, searcher.corpus)
    assert response.answer is not None and response.answer.paragraph == "table-1"
    assert response.answer.computed and response.answer.rows
    assert all(part in response.answer.text for part in expected), response.answer.text
    assert response.citations[0].paragraph == "table-1"


def test_computed_answer_in_the_api_and_the_no_javascript_chat(client) -> None:  # noqa: ANN001
    body = client.post("/api/ask", json={"question": "top 3 boroughs for closure orders"}).json()
    assert body["answer"]["computed"] and body["answer"]["paragraph"] == "table-1"
    assert body["answer"]["rows"] == ["Haringey", "Newham", "Hackney", "Lambeth"]
    assert body["citations"][0]["table"]["columns"][0] == "Boroughs"
    page = client.post("/ask", data={"question": "Which borough closed the most crackhouses?"}).text
    assert (
        "Haringey: Closure order granted 17, Crackhouse closed 17" in page
        and "Worked out from 1 row of Table 1" in page
    )


def test_eval_reads_a_computed_answer_for_the_expected_words(searcher: Searcher) -> None:
    """`qa eval`'s 'answer holds the expected words' reads what the reader is shown: the computed
    text of a table answer, not the table row it points at."""
    from qa.evaluate import Question, evaluate

    question = Question(
        q="How many crackhouses were closed in total?", gold=["table-1"], abstain=False, expect="52 in total"
    )
    assert evaluate(searcher, [question]).answer_holds_expected == 1.0


def test_rows_the_question_leaves_out_are_not_counted() -> None:
    """Figures by hand: cannabis seizures North 1,200 + East 300 + West 0 = 1,500 without South."""
    answer = _ask("total cannabis seizures, not counting South", SEIZURES)
    assert "1,500" in answer.text and "Left out, as asked: South" in answer.text
    assert "2,450" in _ask("total cannabis seizures", SEIZURES).text
    excluding = _ask("how many regions had more than 100 cannabis seizures (excluding North)", SEIZURES)
    assert "North" not in excluding.rows and "South" in excluding.rows and "East" in excluding.rows


def test_the_second_highest_is_ranked() -> None:
    assert read_ask("which region had the second highest number of heroin seizures") == Ask("top", 2)
    answer = _ask("which region had the second highest number of heroin seizures", SEIZURES)
    assert answer.rows == ("South", "North")  # 60, then 45


def test_the_same_table_in_two_reports_names_each_its_own_rows() -> None:
    """Row names are matched once per question for tables with the same names (the match is
    cached by the names), but each table's answer is read from its own rows and cites its report."""
    text = SEIZURES_TEXT
    first, second = read_table_text(text, "table-2", "report-a"), read_table_text(text, "table-2", "report-b")
    assert first is not None and second is not None and first != second
    question = "Compare cannabis seizures in North and West"
    rows_a, rows_b = named_rows(question, first), named_rows(question, second)
    assert [row.name for row in rows_a] == [row.name for row in rows_b] == ["North", "West"]
    assert all(a is not b for a, b in zip(rows_a, rows_b, strict=True))
    assert all(any(row is r for r in first.data_rows) for row in rows_a)
    assert all(any(row is r for r in second.data_rows) for row in rows_b)
    assert _ask(question, first).text == _ask(question, second).text


def test_a_blank_cell_asked_for_is_not_given_with_low_confidence(searcher: Searcher) -> None:
    """Lambeth's 'Crackhouse closed' cell is blank: its row is shown, the figure is not given (never
    0), and the answer is only the closest the report comes; a figure it does give is answered."""
    blank = searcher.ask("how many crack houses were actually shut in Lambeth")
    assert blank.table is not None and "not given" in blank.table.text
    assert blank.answered and blank.confidence == "low" and "Lambeth" in blank.reason
    given = searcher.ask("how many closure orders were granted in Lambeth")
    assert given.confidence == "high" and given.table is not None and "4" in given.table.text


def test_a_request_to_compare_rows_is_computed(searcher: Searcher) -> None:
    """'Compare X and Y ...' asks about the rows, not about 'compare': the comparison is computed
    with confidence (the aggregate must pass the decline policy when the table does not lead)."""
    result = searcher.ask("Compare Hackney and Southwark on crackhouses closed")
    assert result.answered and result.confidence == "high" and result.table is not None
    assert "Hackney" in result.table.text and "Southwark" in result.table.text


def test_a_condition_on_two_named_columns_holds_in_both(crackhouses: Table) -> None:
    question = "Which boroughs had three closure orders granted and three crackhouses closed?"
    answer = _ask(question, crackhouses)
    assert answer.rows == ("Brent", "Southwark", "Tower Hamlets")
    assert "Closure order granted exactly 3 and Crackhouse closed exactly 3" in answer.text
    assert "Brent: Closure order granted 3, Crackhouse closed 3" in answer.text


def test_the_most_among_named_rows_is_said(crackhouses: Table) -> None:
    answer = _ask("Out of Hackney, Newham and Southwark, which closed the most crackhouses?", crackhouses)
    assert answer.rows == ("Hackney", "Newham", "Southwark")
    assert answer.text.endswith("Of these, Newham has the most Crackhouse closed (10).")


def test_a_table_printed_the_same_in_several_reports_is_asked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether a table answers depends on its text: copies in other reports are not asked again
    once one found nothing, a different table still is, and an answer cites its own report."""
    from qa import table_answers
    from qa.corpus import Passage

    def table(doc: str, text: str = SEIZURES_TEXT) -> Passage:
        return Passage(id="table-2", doc=doc, kind="table", section="", heading="", text=text)

    other = "Table 3: Detection rates\nOffence Detection rate\nBurglary 12.5%\nRobbery 20%"
    ranked = [table("report-a"), table("report-b"), table("report-c", other), table("report-d")]
    asked: list[str] = []
    real = table_answers.answer_question

    def counted(question: str, table: Table, *, leading: bool = False) -> TableAnswer | None:
        asked.append(table.doc)
        return real(question, table, leading=leading)

    monkeypatch.setattr(table_answers, "answer_question", counted)
    assert table_answers.answer_from_tables("Who was the keynote speaker?", ranked) is None
    # report-a's copy leads (asked as such); report-b's is asked as a later one; report-d's is not.
    assert asked == ["report-a", "report-b", "report-c"]
    asked.clear()
    answer = table_answers.answer_from_tables("Which region had the most heroin seizures?", ranked[1:])
    assert answer is not None and answer.doc == "report-b" and asked == ["report-b"]


def test_conditions_are_read_per_column_or_not_at_all(crackhouses: Table) -> None:
    from qa.table_answers import conditions_by_column

    each = conditions_by_column(
        "Which boroughs had three closure orders granted and more than five crackhouses closed?", crackhouses
    )
    assert each is not None and [(c.label, a) for c, a in each] == [
        ("Closure order granted", Ask("equal", 3)),
        ("Crackhouse closed", Ask("above", 5)),
    ]
    for unclear in (
        "which boroughs had three closure orders granted or three crackhouses closed",
        "which had no closure orders granted but some crackhouses closed",
        "which boroughs had three crackhouses closed",
    ):
        assert conditions_by_column(unclear, crackhouses) is None, unclear


def test_a_named_row_without_a_figure_is_said_not_ranked(crackhouses: Table) -> None:
    answer = _ask("Out of Lambeth, Hackney and Brent, which closed the most crackhouses?", crackhouses)
    assert "Of those with a figure, Hackney has the most Crackhouse closed (4)." in answer.text
    assert "Crackhouse closed not given for Lambeth." in answer.text
