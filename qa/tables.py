"""Read a table passage ('caption\\nheader\\nrow...') into columns, rows and typed cells."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from math import comb

from qa.corpus import Passage, line_offsets

# A token that starts a cell: a number as tables print them (£1,200, -3, 12.5%, (4)) or a
# placeholder for "nothing here" (-, –, n/a, ..).
_NUMBER = re.compile(r"[-−+]?[£$€]?\d[\d,]*(?:\.\d+)?%?|\(\d[\d,]*(?:\.\d+)?\)")
_PLACEHOLDER = re.compile(r"[-–—]|n/?a|\.\.|\*", re.IGNORECASE)
# Header tokens that qualify the name before them rather than start a new one: "Y/N", "Y?N",
# "(%)", "(£000)", "%".
_QUALIFIER = re.compile(r"[A-Z]?[?/][A-Z]?|\(.*\)|\[.*\]|[%£$€]\w{0,3}")
# Words that join a name's parts, so a new column never starts or ends on them.
_JOINERS = frozenset("& and of per in on for by to with the a an or from at as".split())
# Rows that add up the others: left out of rankings and sums (their figure is the table's own).
_TOTAL_ROW = re.compile(r"(?:grand\s+)?(?:total|all|overall|sum)\b", re.IGNORECASE)
_MAX_SPLITS = 50_000  # header splits tried before falling back to a greedy split


@dataclass(frozen=True)
class Cell:
    """One cell as printed; `value` is its number, None when blank or not a number."""

    text: str
    value: float | None = None

    @property
    def missing(self) -> bool:
        """Blank or a placeholder such as '-': not given (never read as 0)."""
        return not self.text or _PLACEHOLDER.fullmatch(self.text) is not None

    @property
    def is_text(self) -> bool:
        """Printed but not a number ('3 extensions'): shown as printed, left out of sums."""
        return not self.missing and self.value is None


@dataclass(frozen=True)
class Row:
    """A data row: its name (first column), one cell per value column and where it sits."""

    name: str
    cells: tuple[Cell, ...]
    line: str  # the row as printed
    start: int  # offsets of the line in the passage text
    end: int

    @property
    def is_total(self) -> bool:
        return _TOTAL_ROW.match(self.name) is not None


@dataclass(frozen=True)
class Column:
    """A header name as printed, and its label for answers (without a trailing 'Y/N' marker)."""

    name: str
    label: str


@dataclass(frozen=True)
class Table:
    """A table passage read as data: caption, columns (row-name column first) and rows."""

    passage_id: str
    caption: str
    header: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    doc: str = ""  # the report it is from (passage ids repeat across reports)

    def __hash__(self) -> int:
        # Tables key lru caches (qa/table_answers.py) once per question: hash what names the
        # table, not every cell of every row (equal tables still hash alike).
        return hash((self.doc, self.passage_id, self.caption, self.header))

    @property
    def value_columns(self) -> tuple[Column, ...]:
        return self.columns[1:]

    @property
    def data_rows(self) -> tuple[Row, ...]:
        """Rows that are not totals of the others."""
        return tuple(row for row in self.rows if not row.is_total)

    @property
    def row_noun(self) -> str:
        """What the rows are, from the row-name column's header: 'Districts' -> 'districts'."""
        return plural(self.columns[0].label.lower()) if self.columns[0].label else "rows"

    def row_text(self, row: Row) -> str:
        """'Harehills: Cameras planned 17, Cameras fitted 17' (blanks 'not given')."""
        pairs = zip(self.value_columns, row.cells, strict=True)
        parts = [f"{column.label} {cell_text(cell)}" for column, cell in pairs]
        return f"{row.name}: {', '.join(parts)}"


def cell_text(cell: Cell) -> str:
    return "not given" if cell.missing else cell.text


def plural(noun: str) -> str:
    """A plural for a row-name header that is singular ('district' -> 'districts')."""
    if not noun or noun.endswith("s"):
        return noun
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + ("es" if re.search(r"(?:x|ch|sh)$", noun) else "s")


def singular(noun: str) -> str:
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun


def parse_number(text: str) -> float | None:
    """'1,234' -> 1234, '12.5%' -> 12.5, '£3' -> 3, '(4)' -> -4; anything else -> None."""
    if not _NUMBER.fullmatch(text):
        return None
    negative = text.startswith(("-", "−", "("))
    digits = re.sub(r"[^\d.]", "", text)
    value = float(digits)
    return -value if negative else value


def _is_value_token(token: str) -> bool:
    return bool(_NUMBER.fullmatch(token) or _PLACEHOLDER.fullmatch(token))


def split_row(line: str) -> tuple[str, list[str]]:
    """'Harehills 3 extensions 3 existing camera sites' -> ('Harehills', ['3 extensions', '3 existing
    closure orders']): a cell starts at each number; words after a number stay in its cell."""
    tokens = line.split()
    first = next((i for i, token in enumerate(tokens) if _is_value_token(token)), len(tokens))
    if first == 0 and tokens:
        first = 1  # a row named by a number ('2004 12 15'): its first figure is its name
    cells: list[list[str]] = []
    for token in tokens[first:]:
        if _is_value_token(token) or not cells:
            cells.append([token])
        else:
            cells[-1].append(token)
    return " ".join(tokens[:first]), [" ".join(cell) for cell in cells]


def _cell(text: str) -> Cell:
    return Cell(text, None if _PLACEHOLDER.fullmatch(text or "-") else parse_number(text))


def _value_width(splits: list[list[str]]) -> int:
    """How many value columns: the commonest cell count, the larger on a tie."""
    counts = Counter(len(cells) for cells in splits if cells)
    if not counts:
        return 0
    return max(counts, key=lambda width: (counts[width], width))


def _boundary_score(before: str, after: str) -> int:
    """How much a new column name looks to start at `after` (the token following `before`)."""
    if after.lower() in _JOINERS or before.lower() in _JOINERS:
        return -3
    if _QUALIFIER.fullmatch(after):
        return -2  # "Closure order granted | Y?N": the marker belongs to the name before it
    score = 0
    if after[:1].isupper():
        score += 1
    elif after[:1].islower():
        score -= 1
    if _QUALIFIER.fullmatch(before) or before.endswith((":", "?", ")", ";")):
        score += 1
    if parse_number(before) is not None and parse_number(after) is not None:
        score += 2  # "2004 2005": years side by side are separate columns
    return score


def split_header(header: str, columns: int) -> tuple[str, ...]:
    """Split a header of multi-word names into `columns` names: new names tend to start with a
    capital, not on a joining word nor a 'Y/N'-style marker; ties go to evenly sized value names."""
    tokens = header.split()
    if columns <= 1 or len(tokens) <= 1:
        return (header.strip(), *[""] * (columns - 1)) if columns else ()
    if len(tokens) < columns:
        # Fewer words than columns: the row-name column has no header ("2004 2005" over values).
        return ("", *tokens, *[""] * (columns - 1 - len(tokens)))[:columns]
    if len(tokens) == columns - 1:
        return ("", *tokens)
    scores = [_boundary_score(tokens[i - 1], tokens[i]) for i in range(1, len(tokens))]
    cuts = _best_cuts(scores, columns - 1)
    bounds = [0, *(cut + 1 for cut in cuts), len(tokens)]
    return tuple(" ".join(tokens[a:b]) for a, b in zip(bounds, bounds[1:], strict=False))


def _best_cuts(scores: list[int], count: int) -> tuple[int, ...]:
    def rank(cuts: tuple[int, ...]) -> tuple[int, float]:
        sizes = [b - a for a, b in zip(cuts, (*cuts[1:], len(scores)), strict=True)]
        mean = sum(sizes) / len(sizes)
        return sum(scores[c] for c in cuts), -sum((s - mean) ** 2 for s in sizes)

    positions = range(len(scores))
    options = combinations(positions, count)
    if comb(len(scores), count) > _MAX_SPLITS:
        # Too many splits to try: the best-scoring boundaries, in order.
        return tuple(sorted(sorted(positions, key=lambda p: -scores[p])[:count]))
    return max(options, key=rank)


def _label(name: str) -> str:
    words = name.split()
    while len(words) > 1 and re.fullmatch(r"[A-Z][?/][A-Z]", words[-1]):
        words.pop()
    return " ".join(words)


def read_table_text(text: str, passage_id: str = "", doc: str = "") -> Table | None:
    """Read 'caption\\nheader\\nrow\\nrow...' into a Table; None when it has no data rows."""
    lines = text.split("\n")
    if len(lines) < 3:
        return None
    offsets = line_offsets(text)[2:]
    splits = [split_row(line) for line in lines[2:]]
    width = _value_width([cells for _, cells in splits])
    if width == 0:
        return None
    names = split_header(lines[1], width + 1)
    rows = tuple(
        Row(name, _fit(cells, width), text[start:end], start, end)
        for (name, cells), (start, end) in zip(splits, offsets, strict=True)
    )
    columns = tuple(Column(name, _label(name)) for name in names)
    return Table(passage_id, lines[0], lines[1], columns, rows, doc)


def _fit(cells: list[str], width: int) -> tuple[Cell, ...]:
    """Exactly `width` cells: missing trailing cells are blank (not given); extra text joins the last."""
    if len(cells) > width:
        cells = [*cells[: width - 1], " ".join(cells[width - 1 :])]
    return tuple(_cell(text) for text in [*cells, *[""] * (width - len(cells))])


@lru_cache(maxsize=256)
def read_table(passage: Passage) -> Table | None:
    """The table a table passage holds (read once per passage); None for other passages."""
    if passage.kind != "table":
        return None
    return read_table_text(passage.text, passage.id, passage.doc)
