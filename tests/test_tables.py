"""Reading table passages into columns, rows and typed cells (qa.tables)."""

from __future__ import annotations

import pytest

from qa.corpus import Corpus, Passage
from qa.tables import Table, parse_number, read_table, read_table_text, split_header, split_row


def _table(text: str) -> Table:
    table = read_table_text(text, "table-9")
    assert table is not None
    return table


def test_seed_table_columns_rows_blanks_and_text_cells(corpus: Corpus) -> None:
    table = read_table(corpus.resolve("table-1"))
    assert table is not None and table.passage_id == "table-1"
    assert table.caption == "Table 1: Crackhouse data July to September 2005"
    assert [c.name for c in table.columns] == ["Boroughs", "Closure order granted Y?N", "Crackhouse closed"]
    assert [c.label for c in table.columns][1:] == ["Closure order granted", "Crackhouse closed"]
    assert len(table.rows) == 32 and table.row_noun == "boroughs"
    rows = {row.name: row for row in table.rows}
    assert [cell.value for cell in rows["Haringey"].cells] == [17, 17]
    lambeth = rows["Lambeth"].cells
    assert lambeth[0].value == 4 and lambeth[1].missing and lambeth[1].value is None  # blank, not 0
    camden = rows["Camden"].cells
    assert [c.text for c in camden] == ["3 extensions", "3 existing closure orders"]
    assert all(c.is_text and c.value is None for c in camden)
    assert rows["Barnet"].cells[0].value == 0 and not rows["Barnet"].cells[0].missing
    text = corpus.resolve("table-1").text
    assert text[rows["Haringey"].start : rows["Haringey"].end] == "Haringey 17 17"
    assert table.row_text(rows["Lambeth"]) == "Lambeth: Closure order granted 4, Crackhouse closed not given"


def test_other_passages_are_not_tables(corpus: Corpus) -> None:
    assert read_table(corpus.resolve("16")) is None


def test_one_value_column_with_commas_and_a_total_row() -> None:
    table = _table("Table 2: Arrests by area\nArea Arrests\nNorth East 1,204\nSouth 87\nTotal 1,291")
    assert [c.name for c in table.columns] == ["Area", "Arrests"]
    assert [(r.name, r.cells[0].value) for r in table.rows] == [
        ("North East", 1204),
        ("South", 87),
        ("Total", 1291),
    ]
    assert [r.name for r in table.data_rows] == ["North East", "South"]  # the total row is apart
    assert table.row_noun == "areas"  # a singular header, made plural


def test_decimals_percentages_money_and_placeholders() -> None:
    table = _table(
        "Table 3: Costs\nUnit Cost (£000) Change %\n"
        "Dog section £1,250.50 -3.5%\nAir support - 12%\nMarine n/a"
    )
    assert [c.name for c in table.columns] == ["Unit", "Cost (£000)", "Change %"]
    dog, air, marine = table.rows
    assert [c.value for c in dog.cells] == [1250.5, -3.5]
    assert air.cells[0].missing and air.cells[0].text == "-" and air.cells[1].value == 12
    assert marine.cells[0].missing and marine.cells[1].missing and marine.cells[1].text == ""


def test_header_without_a_marker_and_years_as_columns() -> None:
    table = _table("Table 4: Offences\nType of offence 2003 2004 2005\nBurglary 120 110 98\nRobbery 40 45")
    assert [c.name for c in table.columns] == ["Type of offence", "2003", "2004", "2005"]
    assert table.rows[1].cells[2].missing  # a short row: its last cell was left blank
    assert table.row_noun == "type of offences"


def test_rows_named_by_a_number() -> None:
    years = _table("Table 6: Trend\nYear Seizures Arrests\n2003 15 4\n2004 18 6")
    assert [(r.name, [c.value for c in r.cells]) for r in years.rows] == [
        ("2003", [15, 4]),
        ("2004", [18, 6]),
    ]


@pytest.mark.parametrize(
    ("header", "columns", "expected"),
    [
        (
            "Boroughs Closure order granted Y?N Crackhouse closed",
            3,
            ("Boroughs", "Closure order granted Y?N", "Crackhouse closed"),
        ),
        (
            "Region Number of arrests Percentage change",
            3,
            ("Region", "Number of arrests", "Percentage change"),
        ),
        ("Borough Offences 2004 Offences 2005", 3, ("Borough", "Offences 2004", "Offences 2005")),
        ("Force Officers per 1,000 people", 2, ("Force", "Officers per 1,000 people")),
        (
            "Type of drug Seizures Arrests made Charges",
            4,
            ("Type of drug", "Seizures", "Arrests made", "Charges"),
        ),
        ("Area Cost (£000) Staff", 3, ("Area", "Cost (£000)", "Staff")),
        ("Drug Class Y/N Seized", 3, ("Drug", "Class Y/N", "Seized")),
        ("2004 2005", 3, ("", "2004", "2005")),
    ],
)
def test_split_header(header: str, columns: int, expected: tuple[str, ...]) -> None:
    assert split_header(header, columns) == expected


def test_split_row_and_numbers() -> None:
    assert split_row("Kingston upon Thames 0 0") == ("Kingston upon Thames", ["0", "0"])
    assert split_row("Camden 3 extensions 3 existing") == ("Camden", ["3 extensions", "3 existing"])
    assert [parse_number(t) for t in ("1,234", "12.5%", "£3", "(4)", "-2", "3 extensions", "n/a")] == [
        1234,
        12.5,
        3,
        -4,
        -2,
        None,
        None,
    ]


def test_a_table_with_no_rows_is_none() -> None:
    assert read_table_text("Table 7: Empty\nName Value") is None
    assert read_table(Passage("x", "d", "paragraph", "", "", "1 2 3")) is None


def test_pages_and_citations_show_rows_with_their_column_names(corpus: Corpus) -> None:
    from qa.pages import passage_view
    from qa.schemas import table_out

    passage = corpus.resolve("table-1")
    view = passage_view(corpus, passage).table
    assert view is not None and view.header == ("Boroughs", "Closure order granted Y?N", "Crackhouse closed")
    assert ("Lambeth", "4", "") in [cells for cells, _ in view.rows]  # blank stays blank, never 0
    made_up = Passage(
        "table-2", "d", "table", "", "", "Table 2: Seizures\nRegion Cannabis Heroin\nNorth 1,200 45"
    )
    out = table_out(made_up)
    assert out is not None and out.columns == ["Region", "Cannabis", "Heroin"]
    assert out.rows[0].name == "North" and out.rows[0].cells == ["1,200", "45"]
    assert table_out(corpus.resolve("16")) is None
