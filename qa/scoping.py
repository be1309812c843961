"""Questions that name a report or a meeting ('in the Riverside paper', 'at the 29 May 2008 meeting')."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from qa.corpus import Corpus, Passage, Report
from qa.text import MONTH_NAMES, STOPWORDS, normalise

# Words every report title or committee name may use: they name no report in particular.
_GENERIC = frozenset(
    "report reports paper meeting mpa authority committee the a an of on and for to in".split()
)
TITLE_MIN_SHARE = 0.75  # a question names a title when it holds this share of the title's own words
TITLE_MIN_WORDS = 2  # ... and at least this many of them
COMMON_SHARE = 0.5  # a word used by more than this share of the library's reports names none of them

_MONTH = "|".join(f"{m[:3]}(?:{m[3:]})?" for m in MONTH_NAMES)
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH})\.?,?\s+((?:19|20)\d\d)\b", re.I)
_MONTH_YEAR = re.compile(rf"\b({_MONTH})\.?,?\s+((?:19|20)\d\d)\b", re.I)


_THIS_REPORT = re.compile(
    r"\b(?:this|the)\s+(?:\w+\s+)?(?:report|document|paper)\b(?!\s+(?:on|about|from|of|by)\s+\w)", re.I
)


@dataclass(frozen=True, kw_only=True)
class Mention:
    """The reports a question names, and the words that named them (left out when ranking)."""

    docs: tuple[str, ...]
    phrases: tuple[str, ...]


class ReportNames:
    """What names each report of a library: its title's own words, its committee, its dates."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        # How many reports use each word anywhere: a word most of the library uses ('police',
        # 'metropolitan') names no report; one only its own report uses ('Riverside') does.
        self._reports_using = Counter(word for r in corpus.reports for word in _words_of(r))
        common = {w for w, n in self._reports_using.items() if n > max(1, COMMON_SHARE * len(corpus.reports))}
        self._titles = {r.slug: _own_words(r.title) - common for r in corpus.reports}
        self._committees = {r.slug: _own_words(r.committee) - common for r in corpus.reports}
        # Indexes, so a question costs its own words and dates, not a pass over the library.
        self._title_index = _index_words(self._titles)
        self._committee_index = _index_words(self._committees)
        self._on_day: dict[date, set[str]] = defaultdict(set)
        self._in_month: dict[tuple[int, int], set[str]] = defaultdict(set)
        for report in corpus.reports:
            for day in {report.date, report.meeting_date} - {None}:
                self._on_day[day].add(report.slug)
                self._in_month[(day.year, day.month)].add(report.slug)
        self._order = {doc: position for position, doc in enumerate(corpus.docs)}

    def mention(self, question: str) -> Mention | None:
        """The reports the question names by title or date (narrowed by committee); None when it
        names none or the library holds one report."""
        if len(self.corpus.reports) < 2:
            return None
        words = set(re.findall(r"[a-z0-9]+", normalise(question)))
        by_title = self._named(words, self._titles, self._title_index)
        by_committee = self._named(words, self._committees, self._committee_index)
        by_date, date_phrases = self._dated(question)
        # A committee meets often and its name is common words: it narrows a title or a date only.
        found = [docs for docs in (by_title, by_date) if docs]
        if not found:
            return self._this_report(question)
        docs = set.intersection(*found) or (by_date or by_title)
        docs = (docs & by_committee) or docs
        ordered = tuple(sorted(docs, key=self._order.__getitem__))
        phrases = [*date_phrases, *self._title_words(words, ordered)]
        return Mention(docs=ordered, phrases=tuple(phrases))

    def _this_report(self, question: str) -> Mention | None:
        """'Who wrote this report?' names no report: across a library it means the default one."""
        if not _THIS_REPORT.search(question):
            return None
        return Mention(docs=(self.corpus.default_doc(),), phrases=())

    def _named(
        self, words: set[str], names: dict[str, frozenset[str]], index: dict[str, set[str]]
    ) -> set[str]:
        """Reports whose name the question holds: most of its own words, or two words that no
        other report's name has ('Riverside Conference' names one report without 'Home Office')."""
        named = set()
        candidates = set().union(*(index.get(word, ()) for word in words))
        for doc in candidates:
            own = names[doc]
            shared = own & words
            distinctive = [word for word in shared if self._reports_using[word] == 1]
            if len(shared) >= TITLE_MIN_WORDS and (
                len(shared) >= TITLE_MIN_SHARE * len(own) or len(distinctive) >= TITLE_MIN_WORDS
            ):
                named.add(doc)
        return named

    def _dated(self, question: str) -> tuple[set[str], list[str]]:
        """Reports whose date or meeting date the question gives: '22 July 2004', 'March 2003'."""
        docs: set[str] = set()
        phrases: list[str] = []
        for match in _DAY_MONTH_YEAR.finditer(question):
            try:
                day = date(int(match.group(3)), _month(match.group(2)), int(match.group(1)))
            except ValueError:  # '31 February 2004' names no day
                continue
            hits = self._on_day.get(day, set())
            docs |= hits
            phrases += [match.group(0)] if hits else []
        if not docs:
            for match in _MONTH_YEAR.finditer(question):
                month, year = _month(match.group(1)), int(match.group(2))
                hits = self._in_month.get((year, month), set())
                docs |= hits
                phrases += [match.group(0)] if hits else []
        return docs, phrases

    def _title_words(self, words: set[str], docs: tuple[str, ...]) -> list[str]:
        """The title and committee words of the named reports that the question uses."""
        named = set().union(*(self._titles[d] | self._committees[d] for d in docs)) if docs else set()
        return sorted(named & words)


def _words_of(report: Report) -> set[str]:
    text = " ".join([report.title, report.committee, *(p.text for p in report.passages)])
    return set(re.findall(r"[a-z0-9]+", normalise(text)))


def _own_words(name: str) -> frozenset[str]:
    return frozenset(
        w for w in re.findall(r"[a-z0-9]+", normalise(name)) if w not in _GENERIC and w not in STOPWORDS
    )


def _month(name: str) -> int:
    return next(i for i, m in enumerate(MONTH_NAMES, start=1) if m.startswith(name.lower()[:3]))


def _index_words(names: dict[str, frozenset[str]]) -> dict[str, set[str]]:
    """Each name word -> the reports whose name has it."""
    index: dict[str, set[str]] = defaultdict(set)
    for doc, own in names.items():
        for word in own:
            index[word].add(doc)
    return index


def section_title(passage: Passage) -> str:
    """A lettered section's title without its letter, singular: 'A. Recommendations' -> 'recommendation';
    '' for a passage that is not a whole section."""
    if passage.kind != "section":
        return ""
    title = re.sub(r"^\s*[A-Z]\d*\.?\s+", "", passage.section)
    return normalise(title).rstrip("s")


def asked_of_default(
    ranked: list[tuple[int, float]], corpus: Corpus, *, gap: float, depth: int
) -> list[tuple[int, float]] | None:
    """A question that names no report and matches a section several reports have alike ('what are
    members asked to do' matches every report's Recommendation, 'who wrote the report' every
    Contact details) is asked of the library's default report, as 'this report' is: its section of
    that title comes first, at the first passage's score. None when the question is not such."""
    if len(corpus.reports) < 2 or not ranked:
        return None
    first, score = ranked[0]
    leading = corpus.passages[first]
    title = section_title(leading)
    default = corpus.default_doc()
    if not title or leading.doc == default:
        return None
    alike = [
        position
        for position, other in ranked[1:depth]
        if other >= score - gap
        and corpus.passages[position].doc != leading.doc
        and section_title(corpus.passages[position]) == title
    ]
    own = next((p for p in corpus.report(default).passages if section_title(p) == title), None)
    if not alike or own is None:
        return None
    return _put_first(ranked, corpus.position(own), score)


def recommendation_first(ranked: list[tuple[int, float]], corpus: Corpus) -> list[tuple[int, float]] | None:
    """'What are members asked to do?': the first-ranked report's recommendation section comes
    first, at the first passage's score. None when it has none, or it already leads."""
    if not ranked:
        return None
    first, score = ranked[0]
    report = corpus.report(corpus.passages[first].doc)
    section = next(
        (p for p in (report.passages if report else []) if section_title(p).startswith("recommendation")),
        None,
    )
    if section is None or corpus.position(section) == first:
        return None
    return _put_first(ranked, corpus.position(section), score)


def author_first(ranked: list[tuple[int, float]], corpus: Corpus) -> list[tuple[int, float]] | None:
    """'Who wrote the report?': the passage of the first-ranked report that names its author
    ('Report author: Jane Doe, Secretariat') comes first, at the first passage's score. None when
    that report gives no author, or the passage naming it already leads."""
    if not ranked:
        return None
    first, score = ranked[0]
    report = corpus.report(corpus.passages[first].doc)
    name = report.author_name if report is not None else ""
    if not name:
        return None
    naming = next((p for p in report.passages if name in p.text), None)
    if naming is None or corpus.position(naming) == first:
        return None
    return _put_first(ranked, corpus.position(naming), score)


def _put_first(ranked: list[tuple[int, float]], position: int, score: float) -> list[tuple[int, float]]:
    """The ranking with this passage first, at the score given; the rest in their order."""
    return [(position, score), *((p, s) for p, s in ranked if p != position)]


def knowing_first(
    ranked: list[tuple[int, float]], corpus: Corpus, knows: Callable[[str], bool], *, gap: float
) -> list[tuple[int, float]] | None:
    """Passages within `gap` of the first, of reports that use every name the question does
    ('Riverside', '2003'), ahead of the rest, each group in rank order: a question about 2003 is not
    answered from a report that never speaks of it when another, ranked close, does. None when no
    close report knows them all, or every close one does (nothing to move)."""
    if not ranked:
        return None
    close = [item for item in ranked if item[1] >= ranked[0][1] - gap]
    docs = {corpus.passages[position].doc for position, _ in close}  # only these need reading
    knowing = {doc for doc in docs if knows(doc)}
    if not knowing or knowing == docs:
        return None
    moved = [item for item in close if corpus.passages[item[0]].doc in knowing]
    return moved + [item for item in ranked if item not in moved]


def without_phrases(question: str, phrases: tuple[str, ...]) -> str:
    """The question without the words that named its report, so they pull no passage up."""
    text = question
    for phrase in sorted(phrases, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(phrase)}\b", " ", text, flags=re.I)
    return " ".join(text.split())
