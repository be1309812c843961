"""Parse a report's text into citable passages (paragraphs, table, charts, abbreviations)."""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

# The parser lives in qa/reading.py; its names are re-exported here for existing callers.
from qa.reading import (  # noqa: F401
    FURNITURE,
    PASSAGE_KINDS,
    Abbreviation,
    NotAReport,
    ParseWarning,
    Passage,
    Report,
    ReportFormatError,
    Section,
    load_report,
    load_reports,
    normalise_space,
    parse_date,
    parse_report,
    passage_label,
    plain_number,
    printed_number,
)

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


def line_offsets(text: str) -> list[tuple[int, int]]:
    """[start, end) of each line of a passage text."""
    return list(_line_spans(text))


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


_REF_PREFIX = re.compile(
    # A lower-case 'p' only: 'p16' is paragraph 16, while 'P16' is paragraph 16 of a section P.
    r"^(?:¶\s*|§\s*|paragraphs?\.?\s*|paras?\.?\s*|par\.?\s*|(?-i:p)\.?\s*|no\.?\s*)",
    re.IGNORECASE,
)
_NAMED_REF = re.compile(r"^(table|chart)\s*[-_ ]?\s*(\d+)$", re.IGNORECASE)
_SECTION_REF = re.compile(r"^(?:section\s+)?([a-z])$", re.IGNORECASE)
# 'D4', 'D 4', 'd.4', 'D para 4', 'section D 4', 'B1.2': a section letter and a printed number.
_LETTER_REF = re.compile(
    r"^(?:section\s+)?([a-z])\s*\.?\s*(?:para(?:graph)?s?\.?\s*)?(\d+(?:\.\d+)*)$", re.IGNORECASE
)
_DECIMAL_REF = re.compile(r"^\d+(?:\.\d+)+$")
# 'financial implications 4', 'section background papers': a section's title, maybe a number.
_TITLE_REF = re.compile(
    r"^(?:section\s+)?(.*?[^\W\d_].*?)(?:\s*[.\-]?\s*(?:para(?:graph)?s?\.?\s*)?(\d+(?:\.\d+)*))?$"
)


def canonical_id(ref: str, sections: Iterable[Section] = ()) -> str:
    """Normalise how people write a citation: '¶12', 'para 12', 'C 3', 'Table 2' -> '12', 'C3', 'table-2'.

    With a report's `sections`, a section named by its title resolves to its letter:
    'financial implications 4' -> 'D4' in a report whose section D is "Financial implications".
    """
    ref = unicodedata.normalize("NFKC", ref).strip().strip(".,;:!?").strip()
    ref = re.sub(r"\s+", " ", ref)
    stripped = _REF_PREFIX.sub("", ref, count=1).strip()
    if stripped.isdecimal():
        return plain_number(stripped)
    if _DECIMAL_REF.match(stripped):
        return printed_number(stripped)
    lettered = _LETTER_REF.match(ref)
    if lettered:
        return f"{lettered.group(1).upper()}{printed_number(lettered.group(2))}"
    named = _NAMED_REF.match(ref)
    if named:
        return f"{named.group(1).lower()}-{plain_number(named.group(2))}"
    section = _SECTION_REF.match(ref)
    if section:
        return section.group(1).upper()
    lowered = ref.lower()
    if lowered in {"summary", "abbreviations", "list of abbreviations", "glossary"}:
        return "abbreviations" if "abbrev" in lowered or lowered == "glossary" else "summary"
    return _section_title_ref(ref, sections) or ref


def _section_title_ref(ref: str, sections: Iterable[Section]) -> str | None:
    """'financial implications 4' -> 'D4' when one of `sections` is titled that way (or starts so)."""
    match = _TITLE_REF.match(ref)
    if not match:
        return None
    title, number = match.group(1).lower().strip(" .-"), match.group(2)
    for section in sections:
        printed = normalise_space(section.title).lower()
        if title == printed or (len(title) >= 4 and printed.startswith(f"{title}")):
            return f"{section.letter}{printed_number(number)}" if number else section.letter
    return None


_LONG_THEN_SHORT = re.compile(r"((?:[A-Z][\w'\-]*\s+(?:and\s+|of\s+|&\s+)?){1,8})\((\w[\w\-]*)\)")
_SHORT_THEN_LONG = re.compile(r"\b([A-Z][A-Z\-]{1,9})\s+\(([A-Z][^()]{3,80})\)")


def report_acronyms(report: Report) -> dict[str, str]:
    """A report's acronyms: its list of abbreviations, then definitions in its text."""
    table = {entry.term: entry.expansion for entry in report.abbreviations}
    for passage in report.passages:
        for short, long in acronym_definitions(passage.text):
            table.setdefault(short, long)
    return table


def acronym_definitions(text: str) -> list[tuple[str, str]]:
    """Acronyms a text defines in passing: 'Road Safety Officers (RSOs)', 'PCSO (Police Community ...)'."""
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


DEFAULT_FILE = "DEFAULT"  # in a seeds folder: the doc of the library's default report, one line


def default_in(seeds_dir: Path) -> str:
    """The doc a seeds folder's DEFAULT file names, or '' when it has none."""
    try:
        return (seeds_dir / DEFAULT_FILE).read_text(encoding="utf-8").strip()[:200]
    except (OSError, UnicodeDecodeError):
        return ""


class AmbiguousId(LookupError):
    """A citation id that several reports of the library have: the caller must name the report."""

    def __init__(self, ref: str, docs: list[str]) -> None:
        super().__init__(f"{ref!r} is in several reports: {', '.join(docs)}")
        self.ref = ref
        self.docs = docs


class Corpus:
    """All passages of all reports in document order; every passage is addressed by (doc, id)."""

    def __init__(self, reports: list[Report], default: str = "") -> None:
        if not reports:
            raise ValueError("a corpus needs at least one report")
        self.reports = reports
        self._default = default
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
        """One report's acronyms (`report_acronyms`)."""
        return report_acronyms(self._reports[doc])

    @classmethod
    def from_seeds(cls, seeds_dir: Path, default: str = "") -> Corpus:
        """Every report in the folder; files that are not reports are skipped (logged), not fatal.
        The default report is `default`, else the doc named in the folder's DEFAULT file."""
        reports, skipped = load_reports(seed_files(seeds_dir))
        for path, reason in skipped:
            logging.getLogger(__name__).warning("skipped %s: %s", path.name, reason)
        if not reports:
            reasons = "; ".join(reason for _, reason in skipped)
            raise NotAReport(f"no report could be read in {seeds_dir}: {reasons}")
        return cls(reports, default=default or default_in(seeds_dir))

    @property
    def docs(self) -> list[str]:
        return [report.slug for report in self.reports]

    @property
    def ids(self) -> list[str]:
        """Every passage as `doc/id`, in document order: what a saved index must match."""
        return [f"{p.doc}/{p.id}" for p in self.passages]

    def default_doc(self, preferred: str = "") -> str:
        """The report bare routes mean, the chat preselects and 'this report' means across the
        library: `preferred` if loaded, else the corpus's default, else the first report."""
        for doc in (preferred, self._default):
            if doc in self._reports:
                return doc
        return self.reports[0].slug

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
        if doc is None and len(self.reports) == 1:
            doc = self.reports[0].slug
        if doc is not None:
            report = self._reports.get(doc)
            if report is None:
                return None
            # 'P16' is paragraph 16 of a section P where the report has one, else paragraph 16.
            sections = report.sections
            candidates = (canonical_id(ref, sections=sections), canonical_id(ref.lower(), sections=sections))
            return next(filter(None, (self.get(doc, c) for c in candidates)), None)
        key = canonical_id(ref).lower()
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
