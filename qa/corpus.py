"""Parse a report's text into citable passages (paragraphs, table, charts, abbreviations)."""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from pathlib import Path

PASSAGE_KINDS = ("paragraph", "table", "chart", "abbreviations", "section")

FURNITURE = {
    "You are in:",
    "Contents",
    "Send an e-mail linking to this page",
    "Feedback",
}

_SECTION_RE = re.compile(r"^([A-Z])\.\s+(\S.*)$")
_QUESTION_RE = re.compile(r"^Q(\d+)\.\s+\S")
_NUMBERED_RE = re.compile(r"^(\d{1,3})\.\s+(\S.*)$")
_BULLET_RE = re.compile(r"^[•\-*·–]\s*(\S.*)$")
_TABLE_RE = re.compile(r"^Table\s+(\d+)\s*:", re.IGNORECASE)
_CHART_RE = re.compile(r"^Chart\s+(\d+)\s*:", re.IGNORECASE)
_META_RE = re.compile(r"^(Report|Date|By)\s*:\s*(.+)$")
_QUOTE_OPENERS = ("“", '"', "‘", "'")


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
class TableRow:
    """One row of a report table, cells kept exactly as printed (an empty cell is '')."""

    cells: tuple[str, ...]
    line: str


@dataclass(frozen=True)
class Abbreviation:
    """A term from the report's list of abbreviations and its expansion."""

    term: str
    expansion: str


@dataclass
class Report:
    """A parsed report: metadata plus its passages in document order."""

    slug: str
    title: str
    number: int | None
    date: date | None
    committee: str
    author: str
    by: str
    passages: list[Passage] = field(default_factory=list)
    table_header: tuple[str, ...] = ()
    table_rows: list[TableRow] = field(default_factory=list)
    abbreviations: list[Abbreviation] = field(default_factory=list)


class ReportFormatError(ValueError):
    """The text does not look like a report this parser understands."""


def normalise_space(text: str) -> str:
    """Collapse runs of whitespace (including no-break spaces) to one space."""
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


def plain_number(digits: str) -> str:
    """Decimal digits of any script as ASCII without leading zeros: '007' and '٧' -> '7'."""
    ascii_digits = "".join(str(unicodedata.decimal(char)) for char in digits)
    return ascii_digits.lstrip("0") or "0"


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


class _Builder:
    """Accumulates lines into passages while the parser walks the report."""

    def __init__(self, slug: str) -> None:
        self.slug = slug
        self.passages: list[Passage] = []
        self.section = ""
        self.heading = ""
        self._open: dict[str, str] | None = None
        self._lines: list[str] = []

    def start(self, pid: str, kind: str, first_line: str | None = None) -> None:
        self.close()
        self._open = {"id": pid, "kind": kind, "section": self.section, "heading": self.heading}
        self._lines = [first_line] if first_line else []

    def add_line(self, line: str) -> None:
        if self._open is None:
            raise ReportFormatError(f"text outside any passage: {line[:60]!r}")
        self._lines.append(line)

    @property
    def is_open(self) -> bool:
        return self._open is not None

    @property
    def open_kind(self) -> str | None:
        return self._open["kind"] if self._open else None

    def close(self) -> None:
        if self._open is None:
            return
        text = "\n".join(line for line in self._lines if line)
        if text:
            ids = {p.id for p in self.passages}
            if self._open["id"] in ids:
                raise ReportFormatError(f"duplicate passage id {self._open['id']!r}")
            self.passages.append(Passage(doc=self.slug, text=text, **self._open))
        self._open = None
        self._lines = []


def _parse_date(value: str) -> date | None:
    for fmt in ("%d %B %Y", "%d %b %Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    return None


def _split_table_row(line: str, columns: int) -> TableRow:
    """Split 'Barking & Dagenham 2 2' into name and cells; irregular rows keep their words."""
    raw = line.replace("\u00a0", " ").rstrip()
    match = re.match(r"^(.*?[A-Za-z&)])\s+(\d+)(?:\s+(\d+))?\s*$", raw)
    if match and columns == 3:
        return TableRow((match.group(1), match.group(2), match.group(3) or ""), normalise_space(raw))
    # Free-text cells such as "3 extensions 3 existing closure orders": split before each number.
    name_match = re.match(r"^(.*?[A-Za-z&)])\s+(\d.*)$", raw)
    if not name_match:
        return TableRow((normalise_space(raw),), normalise_space(raw))
    rest = re.split(r"\s+(?=\d)", name_match.group(2).strip())
    cells = (name_match.group(1), *(normalise_space(cell) for cell in rest))
    return TableRow(cells, normalise_space(raw))


def _split_table_header(line: str) -> tuple[str, ...]:
    known = re.match(r"^(Boroughs?)\s+(.+?\?\S*)\s+(.+)$", line)
    if known:
        return tuple(normalise_space(part) for part in known.groups())
    return (normalise_space(line),)


def _is_abbreviation_term(line: str) -> bool:
    return bool(re.fullmatch(r"[A-Z][A-Za-z0-9&\-]{1,9}", line))


def parse_report(text: str, slug: str) -> Report:
    """Parse a report's plain text into metadata and passages in document order."""
    if not text.strip():
        raise ReportFormatError("the report text is empty")
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    report = Report(slug=slug, title="", number=None, date=None, committee="", author="", by="")
    builder = _Builder(slug)
    letter = ""  # current lettered section, e.g. "B"
    in_table = False
    abbreviation_lines: list[str] = []
    previous_nonblank = ""

    for raw in lines:
        line = normalise_space(raw)
        if not line:
            if in_table and report.table_rows:
                in_table = False
                builder.close()
            continue
        if line in FURNITURE:
            continue
        is_bullet = raw[:1].isspace() and _BULLET_RE.match(line) is not None

        meta = _META_RE.match(line) if not letter else None
        if meta:
            key, value = meta.group(1), meta.group(2).strip()
            if key == "Report":
                report.number = int(plain_number(value)) if value.isdecimal() and len(value) < 7 else None
                report.title = report.title or previous_nonblank
            elif key == "Date":
                report.date = _parse_date(value)
            else:
                report.by = value
            previous_nonblank = line
            continue

        if line == "Summary" and not letter:
            letter = "summary"
            builder.section = "Summary"
            builder.heading = ""
            builder.start("summary", "section")
            continue

        section = _SECTION_RE.match(line)
        if section and not is_bullet and not _NUMBERED_RE.match(line):
            letter = section.group(1)
            in_table = False
            builder.close()
            builder.section, builder.heading = line, ""
            if letter not in {"B", "D"}:
                builder.start(letter, "section")
            continue

        if not letter:
            _read_preamble(report, line)
            previous_nonblank = line
            continue

        if letter == "F" and line == "Supporting material":
            builder.add_line(line)
            continue

        if in_table:
            if not report.table_header:
                report.table_header = _split_table_header(line)
            else:
                report.table_rows.append(_split_table_row(raw, len(report.table_header)))
            builder.add_line(line)
            continue

        if letter == "B":
            _read_body_line(builder, line, is_bullet, abbreviation_lines)
            in_table = builder.open_kind == "table"
            continue
        if letter == "D":
            numbered = _NUMBERED_RE.match(line)
            if numbered:
                number = plain_number(numbered.group(1))
                builder.start(f"D{number}", "paragraph", line[numbered.end(1) + 1 :].strip())
            else:
                builder.add_line(_bullet_text(line) if is_bullet else line)
            continue
        builder.add_line(line if not is_bullet else _bullet_text(line))
        if letter == "F" and line.startswith("Report author:"):
            report.author = line.split(":", 1)[1].strip()

    builder.close()
    report.passages = builder.passages
    report.abbreviations = _pair_abbreviations(abbreviation_lines)
    if not report.passages:
        raise ReportFormatError("no passages found: is this a report text?")
    return report


def _bullet_text(line: str) -> str:
    match = _BULLET_RE.match(line)
    return f"• {match.group(1)}" if match else line


def _read_preamble(report: Report, line: str) -> None:
    committee = re.search(r"meeting of the (.+?) (?:and provides|Committee)", line)
    if committee and not report.committee:
        name = committee.group(1)
        report.committee = name if name.endswith("Committee") else f"{name} Committee"


def _read_body_line(
    builder: _Builder,
    line: str,
    is_bullet: bool,
    abbreviation_lines: list[str],
) -> None:
    """Section B: numbered paragraphs, headings, bullets, quotes, the table, charts, abbreviations."""
    if builder.open_kind == "abbreviations":
        abbreviation_lines.append(line)
        builder.add_line(line)
        return
    numbered = _NUMBERED_RE.match(line)
    if numbered and not is_bullet:
        builder.start(plain_number(numbered.group(1)), "paragraph", numbered.group(2))
        return
    if is_bullet:
        builder.add_line(_bullet_text(line))
        return
    table = _TABLE_RE.match(line)
    if table:
        builder.start(f"table-{plain_number(table.group(1))}", "table", line)
        return
    chart = _CHART_RE.match(line)
    if chart:
        # A chart caption sits where the page put it; its sub-heading is not its topic.
        heading, builder.heading = builder.heading, ""
        builder.start(f"chart-{plain_number(chart.group(1))}", "chart", line)
        builder.close()
        builder.heading = heading
        return
    if line.lower() == "list of abbreviations":
        # The glossary covers the whole report, not the question it happens to follow.
        builder.section, builder.heading = "B. Supporting information", line
        builder.start("abbreviations", "abbreviations")
        return
    if line.startswith(_QUOTE_OPENERS) and builder.open_kind == "paragraph":
        builder.add_line(line)
        return
    # Anything else in section B is a heading: a question (Q1…Q7) opens a new section.
    builder.close()
    if _QUESTION_RE.match(line):
        builder.section, builder.heading = line, ""
    else:
        builder.heading = line


def _pair_abbreviations(lines: list[str]) -> list[Abbreviation]:
    pairs: list[Abbreviation] = []
    index = 0
    while index + 1 < len(lines):
        term, expansion = lines[index], lines[index + 1]
        if not _is_abbreviation_term(term):
            raise ReportFormatError(f"abbreviation list out of step at {term!r}")
        pairs.append(Abbreviation(term, expansion))
        index += 2
    return pairs


# ---------------------------------------------------------------------------
# Sentences: the units an answer is chosen from, with character offsets.

_NO_SPLIT_BEFORE = re.compile(r"(?:\b(?:e\.g|i\.e|etc|Mr|Mrs|Ms|Dr|St|No|vs|approx|Co|Ltd|Inc)|\b[A-Z])\.$")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]*\s+(?=[\"“‘(£A-Z0-9])")


@dataclass(frozen=True)
class Span:
    """A sentence, bullet, table row or abbreviation entry: text[start:end] of its passage."""

    start: int
    end: int
    text: str


def _line_spans(text: str) -> Iterable[tuple[int, int]]:
    offset = 0
    for line in text.split("\n"):
        yield offset, offset + len(line)
        offset += len(line) + 1


def _sentences_in(text: str, start: int, end: int) -> list[Span]:
    spans: list[Span] = []
    chunk = text[start:end]
    begin = 0
    for match in _SENTENCE_END.finditer(chunk):
        if _NO_SPLIT_BEFORE.search(chunk[begin : match.start()]):
            continue
        stop = match.start() + len(match.group(0).rstrip())
        spans.append(Span(start + begin, start + stop, chunk[begin:stop]))
        begin = match.end()
    if begin < len(chunk) and chunk[begin:].strip():
        stop = len(chunk.rstrip())
        spans.append(Span(start + begin, start + stop, chunk[begin:stop]))
    return spans


def passage_spans(passage: Passage) -> list[Span]:
    """Split a passage into answer units: sentences, bullet lines, table rows, abbreviation pairs."""
    text = passage.text
    lines = list(_line_spans(text))
    if passage.kind == "table":
        # The caption and the header are context; each data row is its own unit.
        return [Span(s, e, text[s:e]) for s, e in lines[2:]] or [Span(0, len(text), text)]
    if passage.kind == "abbreviations":
        return [
            Span(lines[i][0], lines[i + 1][1], text[lines[i][0] : lines[i + 1][1]])
            for i in range(0, len(lines) - 1, 2)
        ]
    if passage.kind == "chart":
        return [Span(0, len(text), text)]
    spans: list[Span] = []
    for start, end in lines:
        if text.startswith("• ", start):
            start += 2
        spans.extend(_sentences_in(text, start, end))
    return spans


# ---------------------------------------------------------------------------
# Loading seeds and resolving citation ids.


def seed_digest(paths: Iterable[Path]) -> str:
    """A hash over the seed files' names and bytes: changes whenever a report changes."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def seed_files(seeds_dir: Path) -> list[Path]:
    """The report texts in a seeds folder, sorted by name."""
    if not seeds_dir.is_dir():
        raise FileNotFoundError(f"seeds folder not found: {seeds_dir}")
    files = sorted(p for p in seeds_dir.glob("*.txt") if p.is_file())
    if not files:
        raise FileNotFoundError(f"no report texts (*.txt) in {seeds_dir}")
    return files


def load_report(path: Path) -> Report:
    """Read and parse one report file; its slug is the file name without extension."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ReportFormatError(f"{path.name} is not UTF-8 text") from error
    try:
        return parse_report(text, slug=path.stem)
    except ReportFormatError as error:
        raise ReportFormatError(f"{path.name}: {error}") from error


_REF_PREFIX = re.compile(
    r"^(?:¶\s*|§\s*|paragraphs?\.?\s*|paras?\.?\s*|par\.?\s*|p\.?\s*|no\.?\s*)", re.IGNORECASE
)
_FINANCIAL_REF = re.compile(
    r"^(?:d|financial(?:\s+implications?)?)(?:\s*[.\-]?\s*(?:para(?:graph)?\s*)?)(\d+)$",
    re.IGNORECASE,
)
_NAMED_REF = re.compile(r"^(table|chart)\s*[-_ ]?\s*(\d+)$", re.IGNORECASE)
_SECTION_REF = re.compile(r"^(?:section\s+)?([a-f])$", re.IGNORECASE)


def canonical_id(ref: str) -> str:
    """Normalise how people write a citation: '¶16', 'para 16', 'D 4', 'Table 1' -> '16', 'D4', 'table-1'."""
    ref = unicodedata.normalize("NFKC", ref).strip().strip(".,;:!?").strip()
    ref = re.sub(r"\s+", " ", ref)
    stripped = _REF_PREFIX.sub("", ref, count=1).strip()
    if stripped.isdecimal():
        return plain_number(stripped)
    financial = _FINANCIAL_REF.match(ref)
    if financial:
        return f"D{plain_number(financial.group(1))}"
    named = _NAMED_REF.match(ref)
    if named:
        return f"{named.group(1).lower()}-{plain_number(named.group(2))}"
    section = _SECTION_REF.match(ref)
    if section:
        return section.group(1).upper()
    lowered = ref.lower()
    if lowered in {"summary", "abbreviations", "list of abbreviations", "glossary"}:
        return "abbreviations" if "abbrev" in lowered or lowered == "glossary" else "summary"
    return ref


_LONG_THEN_SHORT = re.compile(r"((?:[A-Z][\w'\-]*\s+(?:and\s+|of\s+|&\s+)?){1,8})\((\w[\w\-]*)\)")
_SHORT_THEN_LONG = re.compile(r"\b([A-Z][A-Z\-]{1,9})\s+\(([A-Z][^()]{3,80})\)")


def acronym_definitions(text: str) -> list[tuple[str, str]]:
    """Acronyms a text defines in passing: 'Problem Drug Users (PDUs)', 'CIDA (Concerted ... Group)'."""
    found: list[tuple[str, str]] = []
    for long, short in _LONG_THEN_SHORT.findall(text):
        letters = short.removesuffix("s").replace("-", "")
        if not letters.isupper() or len(letters) < 2:
            continue
        expansion = _trailing_capitalised(long.split(), len(letters))
        if expansion.count(" ") >= 1:
            found.append((short, expansion))
    found.extend((short, long.strip()) for short, long in _SHORT_THEN_LONG.findall(text))
    return found


def _trailing_capitalised(words: list[str], letters: int) -> str:
    """The last words of a phrase holding `letters` capitalised words (connectives come along)."""
    chosen: list[str] = []
    capitals = 0
    for word in reversed(words):
        chosen.insert(0, word)
        capitals += word[0].isupper()
        if capitals >= letters:
            break
    return " ".join(chosen)


class AmbiguousId(LookupError):
    """A citation id that several reports of the library have: the caller must name the report."""

    def __init__(self, ref: str, docs: list[str]) -> None:
        super().__init__(f"{ref!r} is in several reports: {', '.join(docs)}")
        self.ref = ref
        self.docs = docs


class Corpus:
    """All passages of all reports in document order; every passage is addressed by (doc, id)."""

    def __init__(self, reports: list[Report]) -> None:
        if not reports:
            raise ValueError("a corpus needs at least one report")
        self.reports = reports
        self._reports: dict[str, Report] = {}
        for report in reports:
            if report.slug in self._reports:
                raise ValueError(f"two reports have the doc {report.slug!r}")
            self._reports[report.slug] = report
        self.passages: list[Passage] = [p for r in reports for p in r.passages]
        self._position: dict[tuple[str, str], int] = {}
        self._docs_with_id: dict[str, list[str]] = {}
        self._doc_range: dict[str, tuple[int, int]] = {}
        for position, passage in enumerate(self.passages):
            self._position[(passage.doc, passage.id.lower())] = position
            self._docs_with_id.setdefault(passage.id.lower(), []).append(passage.doc)
            first, _ = self._doc_range.get(passage.doc, (position, position))
            self._doc_range[passage.doc] = (first, position + 1)

    @cached_property
    def acronyms(self) -> dict[str, str]:
        """Acronym -> expansion over the whole library (first report wins); see `acronyms_of`."""
        table: dict[str, str] = {}
        for report in self.reports:
            for short, long in self.acronyms_of(report.slug).items():
                table.setdefault(short, long)
        return table

    @functools.cache  # noqa: B019 - a corpus lives as long as its index; the table is small
    def acronyms_of(self, doc: str) -> dict[str, str]:
        """One report's acronyms: its list of abbreviations, then definitions in its text."""
        report = self._reports[doc]
        table = {entry.term: entry.expansion for entry in report.abbreviations}
        for passage in report.passages:
            for short, long in acronym_definitions(passage.text):
                table.setdefault(short, long)
        return table

    @classmethod
    def from_seeds(cls, seeds_dir: Path) -> Corpus:
        return cls([load_report(path) for path in seed_files(seeds_dir)])

    @property
    def docs(self) -> list[str]:
        return [report.slug for report in self.reports]

    @property
    def ids(self) -> list[str]:
        """Every passage as `doc/id`, in document order: what a saved index must match."""
        return [f"{p.doc}/{p.id}" for p in self.passages]

    def default_doc(self, preferred: str = "") -> str:
        """The report bare routes mean and the chat preselects: `preferred` if loaded, else the first."""
        return preferred if preferred in self._reports else self.reports[0].slug

    def report(self, doc: str) -> Report | None:
        return self._reports.get(doc)

    def passages_of(self, doc: str) -> list[Passage]:
        first, end = self._doc_range.get(doc, (0, 0))
        return self.passages[first:end]

    def doc_range(self, doc: str) -> tuple[int, int]:
        """Positions [first, end) of a report's passages in `passages`."""
        return self._doc_range[doc]

    def position(self, passage: Passage) -> int:
        return self._position[(passage.doc, passage.id.lower())]

    def get(self, doc: str, passage_id: str) -> Passage | None:
        position = self._position.get((doc, passage_id.lower()))
        return None if position is None else self.passages[position]

    def resolve(self, ref: str, doc: str | None = None) -> Passage | None:
        """The passage a citation refers to, or None when no passage has that id.

        Without `doc`, an id that only one report has resolves; one that several have raises
        AmbiguousId naming them."""
        key = canonical_id(ref).lower()
        if doc is not None:
            return self.get(doc, key)
        docs = self._docs_with_id.get(key, [])
        if len(docs) > 1:
            raise AmbiguousId(ref, docs)
        return self.get(docs[0], key) if docs else None

    def docs_with(self, ref: str) -> list[str]:
        """The reports that have a passage with this citation id."""
        return list(self._docs_with_id.get(canonical_id(ref).lower(), []))

    def neighbours(self, passage: Passage) -> tuple[str | None, str | None]:
        """The previous and next passage ids in document order (same report)."""
        position = self.position(passage)
        first, end = self._doc_range[passage.doc]
        prev_id = self.passages[position - 1].id if position > first else None
        next_id = self.passages[position + 1].id if position + 1 < end else None
        return prev_id, next_id

    def report_of(self, passage: Passage) -> Report:
        return self._reports[passage.doc]
