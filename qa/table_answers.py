"""Answer aggregate questions (most, top N, total, how many above/zero, compare) by computing over a table."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz, process

from qa.corpus import Passage, Span
from qa.tables import Cell, Column, Row, Table, cell_text, read_table, singular
from qa.text import normalise, tokenize

FUZZY_MIN = 85  # rapidfuzz ratio at which two words (or a row name and question words) are one
_NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
_N = r"(\d+(?:\.\d+)?|" + "|".join(_NUMBER_WORDS) + r")"
# "the second highest": the top two, the second of which answers.
_ORDINALS = {"second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5, "5th": 5}
_NTH = r"(" + "|".join(_ORDINALS) + r")"
# "the total, not counting Northtown": rows the question leaves out of what it asks.
_EXCLUDING = re.compile(
    r"\b(?:excluding|except(?:\s+for)?|not\s+counting|ignoring|leaving\s+out|other\s+than|apart\s+from)\b",
    re.I,
)


@dataclass(frozen=True)
class TableAnswer:
    """A computed answer: its text (the table's own names and cells), the table and the rows used."""

    text: str
    passage_id: str
    rows: tuple[str, ...]
    operation: str  # a short note of what was computed: "most Cameras fitted"
    span: Span  # where in the table passage to point: the first row used (else the caption)
    aggregate: bool = True  # computed over rows; False for one row's values
    doc: str = ""  # the report the table is from
    not_given: str = ""  # the asked cell the table leaves blank: "Arrests for Southtown"

    def is_from(self, passage: Passage) -> bool:
        return passage.id == self.passage_id and passage.doc == self.doc


@dataclass(frozen=True)
class Ask:
    """What a question asks of a table, read from its words alone."""

    operation: str  # compare, top, bottom, equal, above, below, text, missing, zero, most, least, total
    number: float | None = None
    inclusive: bool = False  # "at least 3" / "at most 3"


# Question words -> operations, tried in this order (general English, deliberately small).
_ASKS: tuple[tuple[str, str, bool], ...] = (
    ("compare", r"\b(?:compare|comparison|versus|vs)\b|\bdifference between\b", False),
    ("top", rf"\btop\s+{_N}\b|\b{_N}\s+(?:highest|largest|biggest|most)\b", False),
    ("bottom", rf"\bbottom\s+{_N}\b|\b{_N}\s+(?:lowest|smallest|fewest|least)\b", False),
    ("top", rf"\b{_NTH}\s+(?:highest|largest|biggest|greatest|most)\b", False),
    ("bottom", rf"\b{_NTH}\s+(?:lowest|smallest|fewest|least)\b", False),
    ("equal", rf"\b(?:exactly|precisely|just|only)\s+{_N}\b|\bequal\s+to\s+{_N}\b", False),
    ("above", rf"\bat\s+least\s+{_N}\b|\b{_N}\s+or\s+more\b", True),
    (
        "above",
        rf"\b(?:more|greater|higher|larger|bigger)\s+than\s+{_N}\b|\b(?:over|above|exceed\w*)\s+{_N}\b",
        False,
    ),
    ("below", rf"\bat\s+most\s+{_N}\b|\b{_N}\s+or\s+(?:fewer|less)\b", True),
    ("below", rf"\b(?:fewer|less|lower|smaller)\s+than\s+{_N}\b", False),
    ("below", rf"\b(?:under|below)\s+{_N}\b", False),
    (
        "text",
        r"\b(?:(?:not|n't|aren't|isn't)\s+(?:\w+\s+)?(?:a\s+)?(?:number|numbers|numeric|figures?)"
        r"|non-?numeric|in words|as text)\b",
        False,
    ),
    (
        "missing",
        r"\b(?:no (?:figure|number|data)|not (?:given|recorded|stated)|blank|missing"
        r"|nothing (?:shown|given|entered|recorded|filled in)|(?:is|are|was|were|left) empty"
        r"|empty (?:cells?|entries))\b",
        False,
    ),
    ("zero", r"\b(?:no|zero|none|nil|without)\b|\bn[o']t\b(?:\s+\w+){0,2}\s+any\b", False),
    ("any", r"\bany\b", False),
    ("most", r"\b(?:most|highest|largest|greatest|biggest|maximum|max|top|leading)\b", False),
    ("least", r"\b(?:least|fewest|lowest|smallest|minimum|min|bottom)\b", False),
    ("total", r"\b(?:total|totals|altogether|in all|all together|combined|sum|overall|add up)\b", False),
    # "which districts had three closures": a count given plainly is that count exactly (last, so
    # "the most" or "the total" of such rows is still what is asked); not a year, a share, a
    # multiple or a magnitude ("had 2005 figures", "had one of the most", "had 3 times more").
    (
        "equal",
        rf"\b(?:had|has|have|got|recorded|saw)\s+(?!(?:1[89]|20)\d\d\b){_N}\s+"
        r"(?!(?:or|of|to|times|per|percent|million|thousand|billion|bn|years?|months?)\b)[a-z]",
        False,
    ),
)
_HOW_MANY = re.compile(r"\bhow (?:many|much)\b|\bwhat (?:number|amount)\b", re.I)
_HOW_MANY_OF = re.compile(r"\bhow many (\w+)", re.I)  # "how many districts ...": what is counted


def read_ask(question: str) -> Ask | None:
    """The first operation the question's words ask for, with its number; None if none."""
    text = normalise(question)
    for operation, pattern, inclusive in _ASKS:
        match = re.search(pattern, text)
        if match:
            found = next((group for group in match.groups() if group), None)
            return Ask(operation, _number(found) if found else None, inclusive)
    return None


def _number(word: str) -> float:
    return float(_ORDINALS.get(word, _NUMBER_WORDS.get(word, word)))


# ---------------------------------------------------------------------------
# What the question names: rows, columns, the table itself.


@lru_cache(maxsize=4096)  # a question's stems are read once per table it is asked of
def _stems(text: str) -> tuple[str, ...]:
    """Content stems, and each pair of words joined ('speed cameras' -> 'speedcamera')."""
    words = re.findall(r"[a-z]+", normalise(text))
    joined = [a + b for a, b in zip(words, words[1:], strict=False)]
    return tuple(tokenize(" ".join(words)) + tokenize(" ".join(joined)))


def _matches(stems: Sequence[str], words: Sequence[str]) -> int:
    """How many of `stems` one of `words` matches: the same word, one a stem of the other ('seiz'
    and 'seizur'), or a misspelling (both five letters or more, rapidfuzz ratio FUZZY_MIN)."""
    if not stems or not words:
        return 0
    # Every pair at once (rapidfuzz's C loop and numpy); Python only for the few that may be stems.
    close = process.cdist(stems, words, scorer=fuzz.ratio, score_cutoff=FUZZY_MIN, dtype=np.float64)
    sizes = np.array([len(stem) for stem in stems])
    lengths = np.array([len(word) for word in words])
    short = np.minimum.outer(sizes, lengths)
    same = (close >= FUZZY_MIN) & (short >= 5)  # a misspelling
    # A stem of the other (within two letters): the first four letters must agree.
    heads = np.equal.outer(np.array([a[:4] for a in stems]), np.array([b[:4] for b in words]))
    maybe = heads & ~same & (short >= 4) & (np.abs(np.subtract.outer(sizes, lengths)) <= 2)
    for i, j in zip(*np.nonzero(maybe), strict=True):
        a, b = stems[i], words[j]
        same[i, j] = b.startswith(a) if len(a) <= len(b) else a.startswith(b)
    exact = set(words)
    return sum(bool(row.any()) or stem in exact for stem, row in zip(stems, same, strict=True))


def _folded(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", normalise(text).replace("&", " and ")))


def named_rows(question: str, table: Table) -> list[Row]:
    """Rows the question names, in the order it names them ('&' read as 'and', small misspellings
    forgiven); a longer name wins over one inside it ('Kingston upon Thames' over 'Thames')."""
    rows = _folded_names(table)
    return [rows[number][0] for number in _named_row_numbers(question, _names_by_length(table))]


# Keyed by the row names, not the table: tables whose rows have the same names (a report's table
# repeated in another report, a layout every issue of a series prints) are matched once per question.
@lru_cache(maxsize=1024)
def _named_row_numbers(
    question: str, names_by_length: tuple[tuple[int, tuple[int, ...], tuple[str, ...]], ...]
) -> tuple[int, ...]:
    """The numbers of the rows `named_rows` finds, from the table's names grouped by length."""
    words = _folded(question).split()
    found: list[tuple[int, int, int]] = []  # (first word, end, row number) of each name found
    for length, numbers, names in names_by_length:
        windows = [" ".join(words[start : start + length]) for start in range(len(words) - length + 1)]
        if not windows:
            continue
        # Every name of this many words against every window at once (rapidfuzz's C loop).
        scores = process.cdist(names, windows, scorer=fuzz.ratio, score_cutoff=90, dtype=np.float64)
        named: set[int] = set()
        for at, start in np.argwhere(scores >= 90):  # by name, then window: each name's first
            window = windows[start]
            if at not in named and (window == names[at] or len(window) >= 5):
                named.add(at)
                found.append((int(start), int(start) + length, numbers[at]))
    kept = [item for item in found if not any(_inside(item, other) for other in found)]
    return tuple(
        item[2] for item in sorted(kept, key=lambda item: (item[0], item[2]))
    )  # by place, then table order


def _inside(item: tuple[int, int, int], other: tuple[int, int, int]) -> bool:
    """Is this name's place in the question within another, longer name's?"""
    return other[0] <= item[0] and item[1] <= other[1] and other[1] - other[0] > item[1] - item[0]


@lru_cache(maxsize=4096)
def _column_stems(column: Column) -> tuple[str, ...]:
    return tuple(_stems(column.label))


def named_columns(table: Table, stems: Sequence[str]) -> list[Column]:
    """Every value column the question's words name (any share of its words), in table order."""
    return [
        column
        for column in table.value_columns
        if (words := _column_stems(column)) and _matches(words, stems) > 0
    ]


def best_column(table: Table, stems: Sequence[str]) -> Column | None:
    """The value column the question's words name best (share of the column's words matched);
    with no column named, the only value column; else None (which one is unclear)."""
    scored = []
    for column in table.value_columns:
        words = _column_stems(column)
        share = _matches(words, stems) / len(words) if words else 0.0
        scored.append((share, column))
    scored.sort(key=lambda item: -item[0])
    if scored and scored[0][0] > 0 and (len(scored) == 1 or scored[0][0] > scored[1][0]):
        return scored[0][1]
    if len(table.value_columns) == 1:
        return table.value_columns[0]
    return None


def is_about(table: Table, stems: Sequence[str]) -> bool:
    """Do the question's words name the table: its caption, a column or what its rows are?"""
    return _names_caption(tuple(stems), _caption_stems(table))


@lru_cache(maxsize=1024)  # by the caption's words: tables with the same caption are checked once
def _names_caption(stems: tuple[str, ...], caption: tuple[str, ...]) -> bool:
    return _matches(stems, caption) > 0


# What a table's names read as, worked out once per table rather than once per question.
@lru_cache(maxsize=1024)
def _folded_names(table: Table) -> tuple[tuple[Row, tuple[str, ...]], ...]:
    return tuple((row, tuple(_folded(row.name).split())) for row in table.data_rows)


@lru_cache(maxsize=1024)
def _names_by_length(table: Table) -> tuple[tuple[int, tuple[int, ...], tuple[str, ...]], ...]:
    """The row names grouped by their number of words: (words, row numbers, names joined)."""
    groups: dict[int, list[tuple[int, str]]] = {}
    for number, (_, name) in enumerate(_folded_names(table)):
        if name:
            groups.setdefault(len(name), []).append((number, " ".join(name)))
    return tuple(
        (length, tuple(n for n, _ in items), tuple(name for _, name in items))
        for length, items in groups.items()
    )


@lru_cache(maxsize=1024)
def _caption_stems(table: Table) -> tuple[str, ...]:
    return tuple(_stems(" ".join([table.caption, table.header])))


@lru_cache(maxsize=4096)
def _name_stems(name: str) -> frozenset[str]:
    return frozenset(_stems(name))


# ---------------------------------------------------------------------------
# Computing.


@dataclass(frozen=True)
class _Values:
    """One column over the data rows: numbers, blanks and text cells apart."""

    column: Column
    numbers: list[tuple[Row, float]]
    blank: list[Row]
    text: list[tuple[Row, Cell]]


def _values(table: Table, column: Column, rows: Sequence[Row] | None = None) -> _Values:
    index = table.value_columns.index(column)
    numbers, blank, text = [], [], []
    for row in table.data_rows if rows is None else rows:
        cell = row.cells[index]
        if cell.missing:
            blank.append(row)
        elif cell.value is None:
            text.append((row, cell))
        else:
            numbers.append((row, cell.value))
    return _Values(column, numbers, blank, text)


def _notes(values: _Values, *, labelled: bool = False) -> str:
    """Blanks 'not given' and text cells as printed, left out (an answer never reads them as 0);
    `labelled`: text cells name their column (an answer over several columns)."""
    notes = []
    if values.blank:
        notes.append(f"{values.column.label} not given for {_names(values.blank)}.")
    if values.text:
        printed = ", ".join(f'{row.name} "{cell.text}"' for row, cell in values.text)
        which = f"{values.column.label} not" if labelled else "Not"
        notes.append(f"{which} a number, so left out: {printed}.")
    return (" " + " ".join(notes)) if notes else ""


def _names(rows: Sequence[Row]) -> str:
    return ", ".join(row.name for row in rows)


def _shown(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}".rstrip("0").rstrip(".")


def _of_rows(table: Table, count: int | None = None) -> str:
    """'32 districts' with the table's own word for its rows."""
    total = len(table.data_rows) if count is None else count
    noun = table.row_noun
    return f"{total} {singular(noun) if total == 1 else noun}"


def _cell_of(table: Table, row: Row, column: Column) -> str:
    return cell_text(row.cells[table.value_columns.index(column)])


def _extreme(table: Table, values: _Values, ask: Ask) -> TableAnswer | None:
    if not values.numbers:
        return None
    pick = max if ask.operation == "most" else min
    best = pick(value for _, value in values.numbers)
    rows = [row for row, value in values.numbers if value == best]
    word = "most" if ask.operation == "most" else "least"
    of = f"{values.column.label} of {_of_rows(table)}"
    if len(rows) == 1:
        text = f"{table.row_text(rows[0])} (the {word} {of})."
    else:  # a tie: the names, and the figure they share
        text = f"{_names(rows)}: {_cell_of(table, rows[0], values.column)} each (the joint {word} {of})."
    text += _notes(values)
    return _answer(table, text, rows, f"{word} {values.column.label}")


def _ranked(table: Table, values: _Values, ask: Ask) -> TableAnswer | None:
    count = int(ask.number or 0)
    if count < 1 or not values.numbers:
        return None
    ordered = sorted(values.numbers, key=lambda item: item[1], reverse=ask.operation == "top")
    cut = ordered[min(count, len(ordered)) - 1][1]
    # Rows tied with the last place are all shown: leaving one out would be arbitrary.
    kept = [
        (row, value) for row, value in ordered if (value >= cut if ask.operation == "top" else value <= cut)
    ]
    listed = ", ".join(f"{row.name} {_cell_of(table, row, values.column)}" for row, _ in kept)
    tied = f" ({len(kept)} shown: tied at {_shown(cut)})" if len(kept) > count else ""
    word = "Top" if ask.operation == "top" else "Bottom"
    text = f"{word} {count} {table.row_noun} for {values.column.label}: {listed}{tied}.{_notes(values)}"
    return _answer(table, text, [row for row, _ in kept], f"{word.lower()} {count} {values.column.label}")


def _total(table: Table, values: _Values, ask: Ask) -> TableAnswer | None:
    if not values.numbers:
        return None
    total = sum(value for _, value in values.numbers)
    rows = [row for row, _ in values.numbers]
    text = (
        f"{values.column.label}: {_shown(total)} in total, adding {len(rows)} of {_of_rows(table)}."
        f"{_printed_total(table, values.column)}{_notes(values)}"
    )
    return _answer(table, text, rows, f"total {values.column.label}")


def _total_of(table: Table, values: _Values) -> TableAnswer | None:
    """The total over the rows the question names ('in Harehills and Headingley')."""
    if not values.numbers:
        return None
    total = _shown(sum(value for _, value in values.numbers))
    rows = [row for row, _ in values.numbers]
    text = f"{values.column.label}: {total} in total for {_names(rows)}.{_notes(values)}"
    return _answer(table, text, rows, f"total {values.column.label} of the named rows")


def _printed_total(table: Table, column: Column) -> str:
    totals = [row for row in table.rows if row.is_total]
    return "".join(f" The table's {row.name} row gives {_cell_of(table, row, column)}." for row in totals)


_CONDITIONS: dict[tuple[str, bool], tuple[str, Callable[[float, float], bool]]] = {
    ("above", False): ("more than", lambda value, n: value > n),
    ("above", True): ("at least", lambda value, n: value >= n),
    ("below", False): ("fewer than", lambda value, n: value < n),
    ("below", True): ("at most", lambda value, n: value <= n),
    ("zero", False): ("", lambda value, n: value == 0),
    ("equal", False): ("exactly", lambda value, n: value == n),
}


def _missing(table: Table, column: Column | None) -> TableAnswer | None:
    """Rows whose cell is blank: 'not given', never read as 0 (the named column's, else any)."""
    named = column is not None and bool(_values(table, column).blank)
    columns = [column] if named else list(table.value_columns)
    blanks = [(row, column) for column in columns for row in _values(table, column).blank]
    if not blanks:
        return None
    listed = "; ".join(table.row_text(row) for row in dict.fromkeys(row for row, _ in blanks))
    labels = ", ".join(dict.fromkeys(column.label for _, column in blanks))
    text = f"{labels} not given for {len(blanks)} of {_of_rows(table)}: {listed}."
    return _answer(table, text, [row for row, _ in blanks], f"rows with {labels} not given")


def _text_cells(table: Table) -> TableAnswer | None:
    """Cells printed as words, not numbers ('3 extensions'), in every column, shown as printed:
    answers leave them out of sums, so a reader can see each one."""
    found = [
        (row, column, cell) for column in table.value_columns for row, cell in _values(table, column).text
    ]
    if not found:
        return None
    listed = "; ".join(f'{row.name}: {column.label} "{cell.text}"' for row, column, cell in found)
    rows = list(dict.fromkeys(row for row, _, _ in found))
    text = f"Not a plain number in {len(rows)} of {_of_rows(table)}: {listed}."
    return _answer(table, text, rows, "cells that are not numbers")


def _meeting(table: Table, values: _Values, ask: Ask) -> TableAnswer | None:
    meeting = _meeting_rows(values, ask)
    rows = [row for row, _ in meeting]
    condition = _condition(values.column, ask)
    # Above or below a value, each row's own figure is shown; 'exactly 2' and 'none' say it already.
    if ask.operation in {"above", "below"}:
        listed = ", ".join(f"{row.name} {_shown(value)}" for row, value in meeting)
    else:
        listed = _names(rows)
    listed = f": {listed}" if rows else ""
    text = f"{len(rows)} of {_of_rows(table)} had {condition}{listed}.{_notes(values)}"
    return _answer(table, text, rows, f"rows with {condition}")


def conditions_by_column(question: str, table: Table) -> list[tuple[Column, Ask]] | None:
    """'had three X and more than five Y': one condition per clause joined by 'and', each naming
    its own column alone; None unless every clause does (an 'or', a 'but', a clause with no
    condition or no column of its own, or two clauses on one column: which is meant is unclear)."""
    text = normalise(question)
    if re.search(r"\b(?:or|but)\b", text):
        return None
    clauses = re.split(r"\s+and\s+", text)
    if len(clauses) < 2:
        return None
    found: list[tuple[Column, Ask]] = []
    for position, clause in enumerate(clauses):
        ask = read_ask(clause)
        if ask is None and position > 0 and (bare := re.match(rf"\s*{_N}\s+[a-z]", clause)):
            ask = Ask("equal", _number(bare.group(1)))  # "... and three arrests": the verb is shared
        columns = named_columns(table, _stems(clause))
        if ask is None or (ask.operation, ask.inclusive) not in _CONDITIONS or len(columns) != 1:
            return None
        found.append((columns[0], ask))
    return found if len({column.label for column, _ in found}) == len(found) else None


def _meeting_each(table: Table, conditions: list[tuple[Column, Ask]]) -> TableAnswer:
    """'Which districts had three closures and more than five arrests': rows meeting each column's
    own condition; a blank or a word cell in any of them does not meet it."""
    values = [_values(table, column) for column, _ in conditions]
    meeting = [
        {row for row, _ in _meeting_rows(v, ask)} for v, (_, ask) in zip(values, conditions, strict=True)
    ]
    rows = [row for row in table.data_rows if all(row in rows_met for rows_met in meeting)]
    condition = " and ".join(_condition(column, ask) for column, ask in conditions)
    listed = f": {'; '.join(table.row_text(row) for row in rows)}" if rows else ""
    notes = "".join(_notes(v, labelled=True) for v in values)
    text = f"{len(rows)} of {_of_rows(table)} had {condition}{listed}.{notes}"
    return _answer(table, text, rows, f"rows with {condition}")


def _meeting_rows(values: _Values, ask: Ask) -> list[tuple[Row, float]]:
    """The rows whose figure meets the asked condition ('more than 5'), with their figures."""
    _, test = _CONDITIONS[(ask.operation, ask.inclusive)]
    number = ask.number or 0.0
    return [(row, value) for row, value in values.numbers if test(value, number)]


def _condition(column: Column, ask: Ask) -> str:
    """The condition as the answer words it: 'Closures more than 5', 'Arrests exactly 0'."""
    words, _ = _CONDITIONS[(ask.operation, ask.inclusive)]
    return f"{column.label} {words} {_shown(ask.number or 0.0)}".replace("  ", " ")


def _compare(table: Table, rows: list[Row], column: Column | None, ask: Ask | None = None) -> TableAnswer:
    text = "; ".join(table.row_text(row) for row in rows) + "."
    if column is not None and ask is not None and ask.operation in {"most", "least"}:
        text += _extreme_of(table, rows, column, most=ask.operation == "most")
    if column is not None and len(rows) == 2:
        first, second = (row.cells[table.value_columns.index(column)] for row in rows)
        if first.value is not None and second.value is not None and first.value != second.value:
            higher = rows[0] if first.value > second.value else rows[1]
            gap = _shown(abs(first.value - second.value))
            text += f" {higher.name} has {gap} more {column.label}."
    return _answer(table, text, rows, "compare " + " and ".join(row.name for row in rows))


def _extreme_of(table: Table, rows: list[Row], column: Column, *, most: bool) -> str:
    """'Of these, Northtown has the most X (12).': among the named rows, by their own figures."""
    named = _values(table, column, rows)
    values = named.numbers
    if len(values) < 2:
        return ""
    best = max(value for _, value in values) if most else min(value for _, value in values)
    leaders = [row.name for row, value in values if value == best]
    word = "most" if most else "least"
    who = leaders[0] + " has" if len(leaders) == 1 else " and ".join(leaders) + " have"
    # A named row with a blank or a word cell is not ranked: said, never read as 0.
    these = "these" if len(values) == len(rows) else "those with a figure"
    return f" Of {these}, {who} the {word} {column.label} ({_shown(best)}).{_notes(named)}"


def _answer(
    table: Table, text: str, rows: Sequence[Row], operation: str, *, aggregate: bool = True
) -> TableAnswer:
    start, end = (rows[0].start, rows[0].end) if rows else (0, len(table.caption))
    line = rows[0].line if rows else table.caption
    return TableAnswer(
        text=text,
        passage_id=table.passage_id,
        rows=tuple(row.name for row in rows),
        operation=operation,
        span=Span(start, end, line),
        aggregate=aggregate,
        doc=table.doc,
    )


_BY_OPERATION: dict[str, Callable[[Table, _Values, Ask], TableAnswer | None]] = {
    "most": _extreme,
    "least": _extreme,
    "top": _ranked,
    "bottom": _ranked,
    "total": _total,
    "above": _meeting,
    "below": _meeting,
    "zero": _meeting,
    "equal": _meeting,
}


_OVER_ROWS = {"most", "least", "top", "bottom"}  # still ranked over all rows when one row is named


def answer_question(question: str, table: Table, *, leading: bool = False) -> TableAnswer | None:
    """Compute the answer to an aggregate question over this table; None when the question is not
    one (or names nothing of the table). `leading`: the table is the passage search ranked first,
    so a plain 'how many <column>' is read as its total and a named row as that row's values."""
    question, excluded = _without_excluded(question, table)
    stems = _stems(question)
    rows = named_rows(question, table)
    if not rows and not is_about(table, stems):
        return None
    ask = read_ask(question)
    column = best_column(table, [s for s in stems if not _names_row(s, rows)])
    if len(rows) >= 2 and ask is not None and ask.operation == "total" and column is not None:
        return _total_of(table, _values(table, column, rows))
    if len(rows) >= 2:
        return _compare(table, rows, column, ask)
    if len(rows) == 1 and (ask is None or ask.operation not in _OVER_ROWS):
        answer = _answer(
            table, table.row_text(rows[0]) + ".", rows, f"values of {rows[0].name}", aggregate=False
        )
        if column is not None and rows[0].cells[table.value_columns.index(column)].missing:
            return replace(answer, not_given=f"{column.label} for {rows[0].name}")
        return answer
    if ask is None and leading and column is not None and _HOW_MANY.search(question):
        ask = Ask("total")
    if ask is not None and (
        ask.operation == "any" or ask.operation == "total" and _counts_rows(question, table)
    ):
        ask = Ask("above", 0)  # "how many districts fitted cameras": the rows with more than none
    if ask is not None and ask.operation == "missing":
        return _missing(table, column)  # blanks in whichever column has them, if none is named
    if ask is not None and ask.operation == "text":
        return _text_cells(table)
    if not rows and not excluded and (conditions := conditions_by_column(question, table)):
        return _meeting_each(table, conditions)
    if ask is None or ask.operation == "compare" or column is None:
        return None
    kept = [row for row in table.data_rows if row not in excluded] if excluded else None
    answer = _BY_OPERATION[ask.operation](table, _values(table, column, kept), ask)
    if answer is None or not excluded:
        return answer
    return replace(answer, text=f"{answer.text} Left out, as asked: {_names(excluded)}.")


def _without_excluded(question: str, table: Table) -> tuple[str, list[Row]]:
    """The question without the rows it leaves out ('not counting Northtown'), and those rows."""
    match = _EXCLUDING.search(question)
    if match is None:
        return question, []
    clause = re.split(r"[,;:?()]", question[match.end() :], maxsplit=1)[0]
    excluded = named_rows(clause, table)
    if not excluded:
        return question, []
    rest = question[match.end() + len(clause) :]
    return question[: match.start()] + rest, excluded


def _counts_rows(question: str, table: Table) -> bool:
    """Does 'how many X' count the table's rows ('how many districts') rather than a column?"""
    counted = _HOW_MANY_OF.search(question)
    return bool(counted) and _matches(_stems(counted.group(1)), _stems(table.row_noun)) > 0


def _names_row(stem: str, rows: Sequence[Row]) -> bool:
    return any(stem in _name_stems(row.name) for row in rows)


def answer_from_tables(question: str, ranked: Sequence[Passage], *, top: int = 3) -> TableAnswer | None:
    """The first table, in rank order, over which the question is an aggregate question. Tables in
    the top `top` passages come first; any other table counts when the question names it."""
    tables = [p for p in ranked[:top] if p.kind == "table"] + [p for p in ranked[top:] if p.kind == "table"]
    # Whether a table answers depends on its text alone (its report and id only label the answer),
    # so a table printed the same in several reports is asked once: a library's copies of one
    # table can fill the candidates (~5 tables asked per question at 1,000 reports, ~0.18 ms each).
    unanswered: set[tuple[str, bool]] = set()
    for passage in tables:
        asked = (passage.text, passage is ranked[0])
        if asked in unanswered:
            continue
        table = read_table(passage)
        answer = table and answer_question(question, table, leading=asked[1])
        if answer:
            return answer
        unanswered.add(asked)
    return None
