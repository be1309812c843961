"""Read an MPA committee report page into metadata, sections and citable passages."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from dateutil import parser as dateparser

PASSAGE_KINDS = ("paragraph", "table", "chart", "abbreviations", "section")
SUMMARY_ID = "summary"  # the text before the first lettered section, with or without a heading

# Page furniture of the archive template: navigation above the report, links below it.
FURNITURE = {
    "You are in:",
    "Contents",
    "Send an e-mail linking to this page",
    "Feedback",
}
FOOTER = "Send an e-mail linking to this page"

_SECTION_RE = re.compile(r"^([A-Z])\.\s+(\S.*)$")
_QUESTION_RE = re.compile(r"^Q(\d+)\.\s+\S")
_NUMBERED_RE = re.compile(r"^(\d{1,3})\.\s+(\S.*)$")
_DECIMAL_RE = re.compile(r"^(\d{1,3}\.\d{1,3})\.?\s+(\S.*)$")
_BULLET_RE = re.compile(r"^[•\-*·–▪◦‣○●]\s*(\S.*)$")
_TABLE_RE = re.compile(r"^Table\s+(\d+)\s*:", re.IGNORECASE)
_CHART_RE = re.compile(r"^Chart\s+(\d+)\s*:", re.IGNORECASE)
_META_RE = re.compile(r"^(Report|Meeting(?: date)?|Date|By)\s*:\s*(.*\S)\s*$", re.IGNORECASE)
# Another "Key: value" line inside the header block ("Agenda item: 5"): read past, with a warning.
_OTHER_FIELD_RE = re.compile(r"^[A-Z]\w*(?: \w+){0,2}:\s*\S.{0,60}$")  # a short key and value
_BARE_REPORT_RE = re.compile(r"^Report\s+(\S+(?:\s+\S+){0,5})$", re.IGNORECASE)
_DESCRIPTION_RE = re.compile(
    r"^(?:This\s+)?Report\s+(.{1,40}?)\s+(?:of|for)\s+the\s+(.+?)\s+meeting\s+of\s+the\s+(.+)$", re.IGNORECASE
)
_WARNING_RE = re.compile(r"^Warning\s*:", re.IGNORECASE)
_SEE_ALSO_RE = re.compile(r"^See the .* website for further information\.?$", re.IGNORECASE)
_AUTHOR_RE = re.compile(r"^Report authors?(?:\(s\))?\s*:\s*(\S.*)$", re.IGNORECASE)
_AUTHOR_SENTENCE_RE = re.compile(r"^The author of (?:the|this) report is (.+?)\.?$", re.IGNORECASE)
_DATE_RE = re.compile(
    r"\b\d{1,2}(?:st|nd|rd|th)?\s+[A-Za-z]{3,9}\.?,?\s+\d{2,4}\b"  # 8 December 2005, 19 Apr 01
    r"|\b[A-Za-z]{3,9}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}\b"  # December 8, 2005
    r"|\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"  # 2005-12-08, 8/12/2005, 8.12.05
)
_QUOTE_OPENERS = ("“", '"', "‘", "'")
_LIST_ITEM_RE = re.compile(r"^(?:\(?(?:[a-z]|[ivx]{1,5}|\d{1,2})\)\s|[a-z])")
_HEADING_MAX_WORDS = 30
_UNFINISHED = {"that", "to", "and", "or", "of", "the", "a", "an"}  # a line ending so goes on below
_SECTION_TITLE_MAX_WORDS = 8
_NAME_JOINERS = {"and", "&", "of", "the", "for", "on", "in"}


@dataclass(frozen=True)
class Passage:
    """One citable unit of a report: its id is what readers cite."""

    id: str
    doc: str
    kind: str
    section: str
    heading: str
    text: str

    @property
    def label(self) -> str:
        return passage_label(self.id)


@dataclass(frozen=True)
class Abbreviation:
    """A term from the report's list of abbreviations and its expansion."""

    term: str
    expansion: str


@dataclass(frozen=True)
class Section:
    """A lettered section as the page prints it: 'D' and 'Financial implications'."""

    letter: str
    title: str


@dataclass(frozen=True)
class ParseWarning:
    """A line the parser read with a guess: where it is, what it says and why it was flagged."""

    line: int
    text: str
    why: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.why}: {self.text[:80]!r}"


@dataclass
class Report:
    """A parsed report: metadata plus its passages in document order."""

    slug: str
    title: str = ""
    number: str = ""  # as printed: "13", "6b", "late urgent paper a"
    date: date | None = None
    committee: str = ""
    meeting: str = ""  # the page's "Meeting:" line, when it has one
    meeting_date: date | None = None
    author: str = ""
    by: str = ""
    sections: list[Section] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    abbreviations: list[Abbreviation] = field(default_factory=list)
    warnings: list[ParseWarning] = field(default_factory=list)

    @property
    def author_name(self) -> str:
        """The author without their role: 'Jane Doe, Director of ...' -> 'Jane Doe'."""
        return self.author.split(",")[0].strip()


class ReportFormatError(ValueError):
    """The text does not look like a report this parser understands."""


class NotAReport(ReportFormatError):
    """The file is not a report at all (empty, binary, not UTF-8, no report structure).

    The message is a one-line reason; `load_reports` skips such files and carries on.
    """


def normalise_space(text: str) -> str:
    """Collapse runs of whitespace (including no-break spaces) to one space."""
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


def plain_number(digits: str) -> str:
    """Decimal digits of any script as ASCII without leading zeros: '007' and '٧' -> '7'."""
    ascii_digits = "".join(str(unicodedata.decimal(char)) for char in digits)
    return ascii_digits.lstrip("0") or "0"


def printed_number(number: str) -> str:
    """A paragraph number as cited: '07' -> '7', '1.01' -> '1.1'."""
    return ".".join(plain_number(part) for part in number.split("."))


def passage_label(passage_id: str) -> str:
    """How a citation is shown to a reader: ¶16, D4, Table 1, Chart 2, Summary."""
    if passage_id.isdigit():
        return f"¶{passage_id}"
    if passage_id.startswith("table-"):
        return f"Table {passage_id.split('-', 1)[1]}"
    if passage_id.startswith("chart-"):
        return f"Chart {passage_id.split('-', 1)[1]}"
    if passage_id in {"summary", "abbreviations"}:
        return passage_id.capitalize()
    return passage_id


# ---------------------------------------------------------------------------
# Loading files.


def load_report(path: Path) -> Report:
    """Read and parse one report file; its slug is the file name without extension."""
    data = path.read_bytes()
    if b"\0" in data:
        raise NotAReport(f"{path.name}: binary data (NUL bytes), not a report page")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise NotAReport(f"{path.name}: not UTF-8 text") from error
    try:
        return parse_report(text, slug=path.stem)
    except NotAReport as error:
        raise NotAReport(f"{path.name}: {error}") from error


def load_reports(paths: Iterable[Path]) -> tuple[list[Report], list[tuple[Path, str]]]:
    """Parse every file; those that are not reports are skipped as (path, one-line reason)."""
    reports: list[Report] = []
    skipped: list[tuple[Path, str]] = []
    for path in paths:
        try:
            reports.append(load_report(path))
        except NotAReport as error:
            skipped.append((path, str(error).removeprefix(f"{path.name}: ")))
        except OSError as error:
            skipped.append((path, error.strerror or str(error)))
    return reports, skipped


# ---------------------------------------------------------------------------
# Parsing.


def parse_report(text: str, slug: str) -> Report:
    """Parse a report's plain text into metadata, sections and passages in document order.

    Raises NotAReport (a ReportFormatError) when the text is not a report; anything else a
    report holds is read, with the lines read by a guess listed in `report.warnings`.
    """
    if not text.strip():
        raise NotAReport("the report text is empty")
    if "\0" in text:
        raise NotAReport("binary data (NUL bytes), not a report page")
    raw_lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    report = Report(slug=slug)
    lines = [normalise_space(line) for line in raw_lines]
    body_start = _read_header(lines, report)
    _Reader(report, raw_lines, lines, body_start).read()
    report.warnings.sort(key=lambda warning: warning.line)
    if not report.passages:
        raise NotAReport("no report text after the header")
    return report


def _is_section_line(line: str) -> bool:
    match = _SECTION_RE.match(line)
    if not match:
        return False
    title = match.group(2)
    # "A. Recommendation", not a sentence that starts with an initial ("J. Smith said that ...").
    return (
        title[:1].isupper()
        and len(title.split()) <= _SECTION_TITLE_MAX_WORDS
        and not title.endswith((".", ",", ";"))
    )


def _meta(line: str, first: bool) -> tuple[str, str] | None:
    """('report'|'meeting'|'date'|'by', value) for a header line; a bare 'Report 6' only opens the block."""
    match = _META_RE.match(line)
    if match:
        return match.group(1).lower(), match.group(2)
    bare = _BARE_REPORT_RE.match(line) if first else None
    if bare and not _DESCRIPTION_RE.match(line) and " meeting " not in f" {line.lower()} ":
        return "report", bare.group(1)
    return None


def _is_header_furniture(line: str) -> bool:
    return (
        line in FURNITURE
        or bool(_WARNING_RE.match(line) or _SEE_ALSO_RE.match(line) or _DESCRIPTION_RE.match(line))
        or bool(_BULLET_RE.match(line))  # the breadcrumb list under "You are in:"
    )


def _read_header(lines: list[str], report: Report) -> int:
    """Read the page header into `report`; returns the index of the first body line."""
    first_section = next((i for i, line in enumerate(lines) if _is_section_line(line)), len(lines))
    meta_at = next((i for i in range(first_section) if _meta(lines[i], first=True)), None)
    if meta_at is None:
        if first_section == len(lines):
            raise NotAReport("no report header (Report:, Date:) and no lettered sections")
        report.warnings.append(ParseWarning(1, lines[0], "no Report:/Date: header lines"))
        start = 0
        while start < first_section and (not lines[start] or _is_header_furniture(lines[start])):
            _read_description(lines[start], report)
            start += 1
        return start
    end = _read_meta_block(lines, meta_at, report)
    _read_title_and_preamble(lines, meta_at, report)
    return end


def _read_meta_block(lines: list[str], start: int, report: Report) -> int:
    index, last = start, start
    while index < len(lines):
        line = lines[index]
        if line:
            meta = _meta(line, first=index == start)
            if meta is not None:
                _set_meta(report, *meta, line_number=index + 1)
            elif index == last + 1 and _OTHER_FIELD_RE.match(line) and not _is_section_line(line):
                why = "header field not understood (not in any passage)"
                report.warnings.append(ParseWarning(index + 1, line, why))
            else:
                break
            last = index
        index += 1
    return last + 1


def _set_meta(report: Report, key: str, value: str, line_number: int) -> None:
    if key == "report":
        report.number = value
    elif key == "by":
        report.by = value
    elif key == "date":
        report.date = parse_date(value)
        if report.date is None:
            report.warnings.append(ParseWarning(line_number, value, "date not understood"))
    elif key == "meeting date":
        report.meeting_date = parse_date(value) or report.meeting_date
    else:
        report.meeting = value
        report.meeting_date = parse_date(value) or report.meeting_date
        name = _DATE_RE.sub("", value).strip(" ,;-–")
        report.committee = name or report.committee


def _read_title_and_preamble(lines: list[str], meta_at: int, report: Report) -> None:
    before = [i for i in range(meta_at) if lines[i]]
    if before and not _is_header_furniture(lines[before[-1]]):
        report.title = lines[before.pop()]
    else:
        report.warnings.append(ParseWarning(meta_at + 1, lines[meta_at], "no title line above the header"))
    for index in before:
        line = lines[index]
        if _is_header_furniture(line):
            _read_description(line, report)
        else:
            why = "header line not understood (not in any passage)"
            report.warnings.append(ParseWarning(index + 1, line, why))


def _read_description(line: str, report: Report) -> None:
    """'Report 13 of the 8 December 2005 meeting of the X Committee and ...' -> committee, meeting date."""
    match = _DESCRIPTION_RE.match(line)
    if not match:
        return
    report.meeting_date = report.meeting_date or parse_date(match.group(2))
    report.committee = report.committee or _committee_name(match.group(3))


def _committee_name(text: str) -> str:
    """The capitalised name that opens `text`: 'Co-ordination and Policing Committee and sets out' -> ..."""
    words: list[str] = []
    given = text.split()
    for position, word in enumerate(given):
        bare = word.strip(",;")
        # A lower-case first word belongs to the name when a capitalised one follows ("full Authority").
        leading = position == 0 and len(given) > 1 and given[1][:1].isupper()
        if not bare or not (bare[0].isupper() or bare.lower() in _NAME_JOINERS or leading):
            break
        words.append(word)
        if word.endswith(";"):
            break
    while words and words[-1].strip(",;").lower() in _NAME_JOINERS:
        words.pop()
    while words and words[0].lower() in _NAME_JOINERS:
        words.pop(0)
    return " ".join(words).strip(",; ")


def parse_date(value: str) -> date | None:
    """The first date written in `value`: '8 December 2005', '03 October 2003', '22 Jul 2004', '19 Apr 01'."""
    match = _DATE_RE.search(value)
    if not match:
        return None
    try:
        return dateparser.parse(match.group(0), dayfirst=True).date()
    except (ValueError, OverflowError, TypeError):
        return None


# ---------------------------------------------------------------------------
# The body: lettered sections, paragraphs, headings, lists, tables, charts.


class _Ids:
    """Hands out ids unique within one report (ignoring case, as citations are resolved)."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def take(self, wanted: str) -> str:
        candidate, suffix = wanted, 1
        while candidate.lower() in self._used:
            suffix += 1
            candidate = f"{wanted}-{suffix}"
        self._used.add(candidate.lower())
        return candidate

    def __contains__(self, pid: str) -> bool:
        return pid.lower() in self._used


@dataclass
class _Draft:
    """A passage before its id is final: paragraph ids depend on the report's whole numbering."""

    wanted: str  # the id it asks for: "C", "table-2", or a paragraph's printed number
    kind: str
    section: str
    heading: str
    line: int = 0  # index of its first line, for warnings
    letter: str = ""  # its lettered section
    sequence: int | None = None  # for paragraphs: which run of numbering it belongs to
    text: str = ""


class _Builder:
    """Accumulates lines into passages while the parser walks the report."""

    def __init__(self) -> None:
        self.drafts: list[_Draft] = []
        self.section = ""
        self.heading = ""
        self._open: _Draft | None = None
        self._lines: list[str] = []

    def start(self, wanted: str, kind: str, first_line: str | None = None, **where: object) -> None:
        self.close()
        self._open = _Draft(wanted=wanted, kind=kind, section=self.section, heading=self.heading, **where)
        self._lines = [first_line] if first_line else []

    def add_line(self, line: str) -> None:
        self._lines.append(line)

    @property
    def has_lead_in(self) -> bool:
        """Does a line of the open passage end with ':' (so the lines after it are its list)?"""
        return any(line.endswith(":") for line in self._lines)

    @property
    def open_kind(self) -> str | None:
        return self._open.kind if self._open else None

    def close(self) -> None:
        if self._open is None:
            return
        self._open.text = "\n".join(line for line in self._lines if line)
        if self._open.text:
            self.drafts.append(self._open)
        self._open = None
        self._lines = []


@dataclass
class _SectionState:
    """The lettered section being read: its letter and how its paragraph numbers are cited."""

    letter: str = ""
    line: str = "Summary"
    sequence: int | None = None  # the run of numbering its paragraphs belong to, once it has one


class _Reader:
    """Walks the body lines once; every line lands in a passage (or is a heading of one)."""

    def __init__(self, report: Report, raw: list[str], lines: list[str], start: int) -> None:
        self.report = report
        self.raw, self.lines, self.start = raw, lines, start
        self.builder = _Builder()
        self.builder.section = "Summary"
        self.section = _SectionState()
        self.letters_seen: set[str] = set()
        # Runs of numbering: a section whose first number is not above the run's highest starts a new run.
        self.sequence = -1
        self.highest = 0  # the highest paragraph number (its whole part) of the current run
        self.open_number: int | None = None  # the number of the last paragraph opened, if a whole number
        self.in_table = False
        self.table_index = 0
        self.table_lines = 0  # lines read under the open table's caption
        self.abbreviation_lines: list[tuple[int, str]] = []  # (line index, text)
        self.after_footer = False
        body = lines[start:]
        nonblank = [i for i, line in enumerate(body) if line]
        # Some pages put every paragraph on its own line with no blank line between.
        self.single_newline = bool(nonblank) and all(body[i] for i in range(nonblank[0], nonblank[-1] + 1))

    # -- helpers over the line list

    def _starts_block(self, index: int) -> bool:
        return self.single_newline or index == self.start or not self.lines[index - 1]

    def _next_nonblank(self, index: int) -> int | None:
        return next((i for i in range(index + 1, len(self.lines)) if self.lines[i]), None)

    def _indented(self, index: int) -> bool:
        return self.raw[index][:1].isspace()

    def _paragraph_number(self, index: int) -> tuple[str, str] | None:
        """(number, text) when the line opens a paragraph; indented or lower-case items are list items.

        A lower-case item still opens a paragraph when it is the next number after the open one
        ("4. the ..." after paragraph 3): "1. members note ..." under a lead-in is a list.
        """
        if self._indented(index):
            return None
        line = self.lines[index]
        match = _NUMBERED_RE.match(line)
        if match and (not match.group(2)[:1].islower() or self._continues_numbering(match.group(1))):
            return match.group(1), match.group(2)
        decimal = _DECIMAL_RE.match(line)
        if decimal and (decimal.group(2)[:1].isupper() or decimal.group(2).startswith(_QUOTE_OPENERS)):
            return decimal.group(1), decimal.group(2)
        return None

    def _continues_numbering(self, number: str) -> bool:
        follows = self.open_number is not None and int(plain_number(number)) == self.open_number + 1
        return follows and self.builder.open_kind == "paragraph"

    def _is_bullet(self, index: int) -> bool:
        line = self.lines[index]
        return bool(_BULLET_RE.match(line)) and (self._indented(index) or line.startswith(("•", "·")))

    def _is_heading(self, index: int) -> bool:
        """A line on its own, just above a numbered paragraph, is that paragraph's sub-heading."""
        line = self.lines[index]
        following = self._next_nonblank(index)
        return (
            self._starts_block(index)
            and following is not None
            and self._paragraph_number(following) is not None
            and not line.endswith(":")
            and line.split()[-1].lower() not in _UNFINISHED  # "That" opens a list, it heads nothing
            and not _LIST_ITEM_RE.match(line)  # "b) the last item." ends a list, it heads nothing
            and len(line.split()) <= _HEADING_MAX_WORDS
        )

    def warn(self, index: int, why: str) -> None:
        self.report.warnings.append(ParseWarning(index + 1, self.lines[index], why))

    # -- the walk

    def read(self) -> None:
        body_started = False
        for index in range(self.start, len(self.lines)):
            line = self.lines[index]
            if not line:
                self._blank()
                continue
            if line == FOOTER:
                self.after_footer = True
                continue
            if self.after_footer:
                if line in FURNITURE:
                    continue
                self.warn(index, "text after the page footer (read as report text)")
            if not body_started and line.lower() == "summary":
                body_started = True
                continue  # the Summary heading: what follows is the summary passage
            body_started = True
            self._line(index)
        self._finish()

    def _blank(self) -> None:
        # A blank line ends a table once it has a header and a row (blanks under the caption do not).
        if self.in_table and self.table_lines >= 2:
            self.in_table = False
            self.builder.close()

    def _line(self, index: int) -> None:
        line = self.lines[index]
        if not self._indented(index) and _is_section_line(line) and self._starts_block(index):
            self._start_section(index)
            return
        if self.builder.open_kind == "abbreviations" and not self._leaves_abbreviations(index):
            self.abbreviation_lines.append((index, line))
            self.builder.add_line(line)
            return
        if self.in_table and not self._ends_table(index):
            self._table_line(index)
            return
        self.in_table = False
        numbered = self._paragraph_number(index)
        if numbered:
            self._start_paragraph(index, *numbered)
        elif self._is_bullet(index):
            self._add_to_open(index, _bullet_text(line))
        elif self._caption(index):
            pass
        elif _QUESTION_RE.match(line) and not self._indented(index):
            self.builder.close()
            self.builder.section, self.builder.heading = line, ""
        elif line.startswith(_QUOTE_OPENERS) and self.builder.open_kind == "paragraph":
            self.builder.add_line(line)
        elif not self._indented(index) and self._is_heading(index):
            self.builder.close()
            self.builder.heading = line
        else:
            self._unnumbered(index)
        self._read_author(line)

    def _leaves_abbreviations(self, index: int) -> bool:
        return self._paragraph_number(index) is not None or bool(_QUESTION_RE.match(self.lines[index]))

    def _start_section(self, index: int) -> None:
        match = _SECTION_RE.match(self.lines[index])
        assert match is not None
        letter, title = match.group(1), match.group(2)
        if letter in self.letters_seen:
            self.warn(index, f"section letter {letter} used twice (its passages take the next free id)")
        self.letters_seen.add(letter)
        self.report.sections.append(Section(letter=letter, title=title.removesuffix(":").strip()))
        self.builder.close()
        self.in_table = False
        self.section = _SectionState(letter=letter, line=self.lines[index])
        self.builder.section, self.builder.heading = self.lines[index], ""

    def _start_paragraph(self, index: int, number: str, text: str) -> None:
        number = printed_number(number)
        whole = int(number.split(".")[0])
        if self.section.sequence is None:
            if self.sequence < 0 or whole <= self.highest:
                self.sequence, self.highest = self.sequence + 1, 0
            self.section.sequence = self.sequence
        self.highest = max(self.highest, whole)
        self.open_number = whole if "." not in number else None
        where = {"line": index, "letter": self.section.letter, "sequence": self.section.sequence}
        self.builder.start(number, "paragraph", text, **where)

    def _unnumbered(self, index: int) -> None:
        """Unnumbered text: continues the passage it follows, or opens the section's own passage."""
        if not self._continues_open(index):
            self._open_unnumbered()
        self.builder.add_line(self.lines[index])

    def _continues_open(self, index: int) -> bool:
        kind = self.builder.open_kind
        if kind is None or kind == "chart":
            return False
        if kind == "section" or not self._starts_block(index) or self._indented(index):
            return True
        # After a paragraph: its list ("... as follows:" then lines, or "(a) ...", "b) ...", "i) ...").
        listed = self.builder.has_lead_in or bool(_LIST_ITEM_RE.match(self.lines[index]))
        return kind == "paragraph" and listed

    def _open_unnumbered(self) -> None:
        base = self.section.letter or SUMMARY_ID
        self.builder.start(base, "section")

    def _add_to_open(self, index: int, text: str) -> None:
        if self.builder.open_kind is None or self.builder.open_kind in {"chart", "table"}:
            self._open_unnumbered()
        self.builder.add_line(text)

    def _caption(self, index: int) -> bool:
        """Table and chart captions and the list of abbreviations each open their own passage."""
        line = self.lines[index]
        if self._indented(index):
            return False
        table = _TABLE_RE.match(line)
        if table:
            self.builder.start(f"table-{plain_number(table.group(1))}", "table", line)
            self.in_table, self.table_index, self.table_lines = True, self.table_index + 1, 0
            return True
        chart = _CHART_RE.match(line)
        if chart:
            # A chart caption sits where the page put it; its sub-heading is not its topic.
            heading, self.builder.heading = self.builder.heading, ""
            self.builder.start(f"chart-{plain_number(chart.group(1))}", "chart", line)
            self.builder.close()
            self.builder.heading = heading
            return True
        if line.lower() == "list of abbreviations":
            # The glossary covers the whole report, not the question it happens to follow.
            self.builder.section, self.builder.heading = self.section.line, line
            self.builder.start("abbreviations", "abbreviations")
            return True
        return False

    def _ends_table(self, index: int) -> bool:
        line = self.lines[index]
        return (
            (_is_section_line(line) and self._starts_block(index))
            or self._paragraph_number(index) is not None
            or bool(_QUESTION_RE.match(line) or _TABLE_RE.match(line) or _CHART_RE.match(line))
        )

    def _table_line(self, index: int) -> None:
        """The line under a caption is the header, then one row a line (qa/tables.py reads columns)."""
        self.table_lines += 1
        self.builder.add_line(self.lines[index])

    def _read_author(self, line: str) -> None:
        if self.report.author:
            return
        match = _AUTHOR_RE.match(line) or _AUTHOR_SENTENCE_RE.match(line)
        if match:
            self.report.author = match.group(1).strip().removesuffix(".")

    def _finish(self) -> None:
        self.builder.close()
        self.report.passages = self._passages(self.builder.drafts)
        self.report.abbreviations = self._pair_abbreviations()

    def _passages(self, drafts: list[_Draft]) -> list[Passage]:
        """Final ids, in page order: the longest run of numbering keeps the printed numbers.

        Every other run (numbering that starts again in another section, such as a short
        numbered list of recommendations before the main paragraphs, or 1-4 again under a
        later section) is cited with its section's letter: D1, D2.
        """
        runs: dict[int, int] = {}
        for draft in drafts:
            if draft.sequence is not None:
                runs[draft.sequence] = runs.get(draft.sequence, 0) + 1
        main = max(sorted(runs), key=lambda run: runs[run], default=None)
        ids = _Ids()
        passages: list[Passage] = []
        for draft in drafts:
            wanted = draft.wanted
            if draft.sequence is not None and draft.sequence != main:
                wanted = f"{draft.letter}{wanted}"
            pid = ids.take(wanted)
            if pid != wanted and draft.kind == "paragraph":
                self.warn(draft.line, f"paragraph number {wanted} used twice: cited as {pid}")
            passages.append(
                Passage(
                    id=pid,
                    doc=self.report.slug,
                    kind=draft.kind,
                    section=draft.section,
                    heading=draft.heading,
                    text=draft.text,
                )
            )
        return passages

    def _pair_abbreviations(self) -> list[Abbreviation]:
        lines = self.abbreviation_lines
        pairs: list[Abbreviation] = []
        for position in range(0, len(lines) - 1, 2):
            (index, term), (_, expansion) = lines[position], lines[position + 1]
            if not _is_abbreviation_term(term):
                self.warn(index, "list of abbreviations out of step (the rest is kept as text)")
                break
            pairs.append(Abbreviation(term, expansion))
        return pairs


def _bullet_text(line: str) -> str:
    match = _BULLET_RE.match(line)
    return f"• {match.group(1)}" if match else line


def _is_abbreviation_term(line: str) -> bool:
    return bool(re.fullmatch(r"[A-Z][A-Za-z0-9&\-]{1,9}", line))
