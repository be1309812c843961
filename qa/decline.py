"""The decline policy: small named rules that decline a question or lower the confidence of its answer."""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np

from qa.corpus import passage_spans
from qa.features import CorpusFeatures, common_stems, counted_stems, folded
from qa.index import Embedder, Encoded
from qa.kinds import KIND_NAMES, holds_kind
from qa.query import OPEN_END, Query, QueryAnalyzer
from qa.text import MONTH_NAMES, months_in, singular_acronyms, tokenize, years_in
from qa.thesaurus import report_terms

DECLINED, HIGH, LOW = "declined", "high", "low"
# A capitalised name after in/at/across/from: 'in Northtown', 'at Upper and Lower Town'.
_LOCATIVE_NAME = re.compile(
    r"\b(?:in|at|across|from)\s+(?:the\s+)?([A-Z][a-z]+(?:\s+(?:and\s+|&\s+|upon\s+)?[A-Z][a-z]+)*)"
)


@dataclass(frozen=True, kw_only=True)
class DeclineThresholds:
    """Every threshold of the policy, in one place; chosen with `qa eval` on the tuning questions."""

    answer_min_score: float = 0.8  # decline when the first passage's final score is below this
    high_min_score: float = 1.1  # below this (and above the last) the answer is only the closest passage
    place_min_similarity: float = 0.5  # a word after "in" this close to a place the report names is a place
    asked_min_similarity: float = 0.45  # a passage token this close to a question word mentions it
    counted_min_similarity: float = 0.5  # a counted word this close to the question's is what it counts
    # When the first passage is declined, a runner-up within this much of its score that passes
    # every rule answers instead: "how many sites" ranks the paragraph about the scheme first and
    # the next one, which gives the number, a little lower.
    runner_up_max_gap: float = 0.1
    runner_up_depth: int = 3  # passages considered, the first included
    # Few passages name a person: for "who was appointed", one that does, a little further behind,
    # is still the likelier answer (library tuning: R@1 0.767 -> 0.777, no off-topic answered).
    person_runner_up_max_gap: float = 0.3
    person_runner_up_depth: int = 5
    # A first passage this far ahead of every other is an answer even where its score alone is
    # only loosely close: on the tuning questions, scores of 0.9-1.2 were right about half the time
    # with a smaller lead, and nine times in ten with this one.
    clear_lead: float = 0.15


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """What a rule looks at: the analysed question, its encoding, and the first passage."""

    query: Query
    encoded: Encoded
    position: int  # of the first passage in the corpus
    score: float  # its final score
    kind: str  # its kind ("paragraph", "table", ...)
    lead: float = 0.0  # how far its score is ahead of the best other passage's (below 0: behind)
    text: str  # its text


class Reader:
    """Reads a passage for a question word, from the features saved with the index."""

    def __init__(
        self,
        *,
        features: CorpusFeatures,
        passage_tokens: Sequence[np.ndarray],
        embedder: Embedder,
        analyzer: QueryAnalyzer,
    ) -> None:
        self.features = features
        self.passage_tokens = passage_tokens  # each passage's token vectors (float32 when read)
        self.embedder = embedder
        self.analyzer = analyzer

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - a reader lives as long as its index
    def about(self, doc: str) -> frozenset[str]:
        """Stems every passage of a report answers to: its title's, the words it uses throughout,
        and those the whole library uses throughout ('report')."""
        corpus = self.analyzer.corpus
        first, end = corpus.doc_range(doc)
        report = corpus.report(doc)
        title = set(tokenize(report.title)) if report is not None else set()
        return frozenset(self.features.common_stems | common_stems(self.features.passages[first:end]) | title)

    def word_stems(self, word: str) -> set[str]:
        """A question word's stems, with the report's terms for it and its acronym's expansion."""
        return set(tokenize(" ".join([word, *report_terms(word), *self.analyzer.expand(word.upper())])))

    def word_vectors(self, word: str, encoded: Encoded) -> np.ndarray:
        """The question's token vectors for one of its words (none if the word is not found)."""
        pieces = encoded.pieces[0] if encoded.pieces else []
        return encoded.tokens[0][piece_rows(pieces, self.embedder.word_pieces(word))]

    def mentions(self, position: int, word: str, encoded: Encoded, min_similarity: float) -> bool:
        """Does the passage name this question word, or a word the model finds close to it here?"""
        stems = self.word_stems(word)
        passage = self.features.passages[position]
        doc = self.analyzer.corpus.passages[position].doc
        if stems & self.about(doc) or shares_stem(stems, passage.stems):
            return True  # named here (or by a word of the same root), or what the whole report is about
        vectors = self.word_vectors(word, encoded)
        if len(vectors) == 0:
            return True  # nothing to compare (the word is all stop pieces)
        return mean_best_cosine(vectors, self.passage_tokens[position]) >= min_similarity

    def counts(self, position: int, word: str, encoded: Encoded, min_similarity: float) -> bool:
        """Is one of the passage's figures a count of this question word (or of a word close to it)?"""
        passage = self.features.passages[position]
        stems, counted = self.word_stems(word), self.counted_stems(position)
        if shares_stem(stems, set(counted)) or any(clipped(stem, c) for stem in stems for c in counted):
            return True
        vectors = self.word_vectors(word, encoded)
        if len(vectors) == 0 or len(passage.counted_tokens) == 0:
            return len(vectors) == 0
        return mean_best_cosine(vectors, passage.counted_tokens) >= min_similarity

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - a reader lives as long as its index
    def counted_stems(self, position: int) -> frozenset[str]:
        """The passage's counted words as stems, with the library's expansions of its acronyms."""
        return counted_stems(self.features.passages[position].counted, self.analyzer.expand)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - a reader lives as long as its index
    def names_someone(self, position: int) -> bool:
        """Does the passage name, without a title, someone the library names as a person (read at
        build): a report's author ('Jane Doe, Director of ...'), or a name given with a title?"""
        text = self.analyzer.corpus.passages[position].text
        return any(name in text for name in self.features.people)

    def is_place(self, word: str, encoded: Encoded, min_similarity: float) -> bool:
        """Does the model read this question word as a place, like the places the report names?"""
        vectors = self.word_vectors(word, encoded)
        places = self.features.place_tokens
        if len(vectors) == 0 or len(places) == 0:
            return False
        return mean_best_cosine(vectors, places) >= min_similarity

    def names_place(self, position: int, question: str) -> bool:
        """Does the passage name a place the question does not: one the library names (a table's
        rows, a report's home place), or a capitalised name after in/at/across/from?"""
        text = self.analyzer.corpus.passages[position].text
        folded_text, asked = folded(text), folded(question)
        if any(place in folded_text and place not in asked for place in self._folded_places):
            return True
        return any(folded(name) not in asked for name in _LOCATIVE_NAME.findall(text))

    @functools.cached_property
    def _folded_places(self) -> tuple[str, ...]:
        return tuple(f for f in (folded(place) for place in self.features.places) if f)

    def relative_years(self, position: int, offset: int | None) -> tuple[int, int] | None:
        """'this year' asked of this passage: its report's year (plus the offset), if dated."""
        year = self._report_year(position)
        return None if offset is None or year is None else (year + offset, year + offset)

    def figure_years(self, position: int, kind: str) -> list[set[int]]:
        """The years each sentence of the passage that holds a figure of this kind speaks of
        ('this financial year' read against the report's date); [] when none holds one."""
        passage, year = self.analyzer.corpus.passages[position], self._report_year(position)
        return [years_in(span.text, year) for span in passage_spans(passage) if holds_kind(span.text, kind)]

    def report_months(self, position: int) -> set[int]:
        """The months the passage's report is dated and met in."""
        corpus = self.analyzer.corpus
        report = corpus.report_of(corpus.passages[position])
        return {day.month for day in (report.date, report.meeting_date) if day is not None}

    def _report_year(self, position: int) -> int | None:
        corpus = self.analyzer.corpus
        dated = corpus.report_of(corpus.passages[position]).date
        return dated.year if dated is not None else None

    def has_row(self, position: int, name: str) -> bool:
        """Does this table name the place, or is it the place the table's rows make up?"""
        return folded(name) in self.features.passages[position].rows

    def words_around(self, position: int) -> frozenset[str]:
        """Stems a passage answers to (qa.features.words_around): saved with the index (reading
        them took ~0.4 ms a passage, paid by the first question that checked each passage)."""
        return self.features.passages[position].around

    def speaks_of(self, position: int, years: tuple[int, int]) -> bool:
        """Does the passage speak of a year in this span? The report's own year always counts: a
        report dated 2005 describes 2005 wherever it does not say otherwise."""
        first, last = years
        return any(first <= year <= last for year in self.features.passages[position].years)


# ---------------------------------------------------------------------------
# The rules. Each finds what is wrong (the words for its reason) or nothing.


@dataclass(frozen=True, kw_only=True)
class Rule(ABC):
    """One check: its name, its own switch, the threshold it reads (if any), and its reason."""

    name: str
    reason: str  # a template; {what} is filled with what the check found
    enabled: bool = True
    outcome: str = DECLINED  # DECLINED, or LOW: answered, but only as the closest passage
    # Whether a runner-up close behind may answer when this rule declines the first passage: true
    # of what one passage lacks and the next may hold (a figure, a date), not of the question itself.
    runner_up_may_answer: bool = False
    runner_up_reach: tuple[str, str] = ("runner_up_max_gap", "runner_up_depth")  # thresholds: gap, depth
    # Whether its doubt is of the period the passage speaks of, which an answer computed over a
    # table keeps (a doubt of the match, a computed answer settles).
    doubts_period: bool = False
    threshold: ClassVar[str | None] = None  # the DeclineThresholds field it reads

    @abstractmethod
    def finds(self, reader: Reader, evidence: Evidence, thresholds: DeclineThresholds) -> str:
        """What is wrong, as words for the reason; '' when the passage passes this check."""

    def limit(self, thresholds: DeclineThresholds) -> float | None:
        return getattr(thresholds, self.threshold) if self.threshold else None


@dataclass(frozen=True, kw_only=True)
class UnknownName(Rule):
    """A capitalised name or a year the report never uses ('in Leeds', 'in 2010')."""

    def finds(self, reader: Reader, evidence: Evidence, thresholds: DeclineThresholds) -> str:
        # Judged by the candidate passage's own report: another report of the library naming
        # Leeds does not make this one speak of it.
        analyzer = reader.analyzer
        doc = analyzer.corpus.passages[evidence.position].doc
        return listed(analyzer.unknown_in(doc, evidence.query.names))


@dataclass(frozen=True, kw_only=True)
class UnknownPlace(Rule):
    """A lowercase word after in/at/from the report never uses and the model reads as a place."""

    threshold: ClassVar[str | None] = "place_min_similarity"

    def finds(self, reader: Reader, evidence: Evidence, thresholds: DeclineThresholds) -> str:
        query = evidence.query
        named = {name.lower() for name in query.unknown_names}
        places = [
            word
            for word in query.placed
            if word not in named and reader.is_place(word, evidence.encoded, thresholds.place_min_similarity)
        ]
        return listed(places)


@dataclass(frozen=True, kw_only=True)
class MissingRow(Rule):
    """The first passage is a table with no row for the place the question names."""

    def finds(self, reader: Reader, evidence: Evidence, thresholds: DeclineThresholds) -> str:
        if evidence.kind != "table":
            return ""
        query = evidence.query
        return listed([name for name in query.named_places if not reader.has_row(evidence.position, name)])


@dataclass(frozen=True, kw_only=True)
class MissingAnswerKind(Rule):
    """The question asks for a kind of answer (a number, an amount, a date, a name) the passage lacks."""

    kind: str

    def finds(self, reader: Reader, evidence: Evidence, thresholds: DeclineThresholds) -> str:
        if evidence.query.expects != self.kind or holds_kind(evidence.text, self.kind):
            return ""
        if self.kind == "person" and reader.names_someone(evidence.position):
            return ""
        return KIND_NAMES[self.kind]


@dataclass(frozen=True, kw_only=True)
class OtherLabel(Rule):
    """A class or similar label the question names ('class C') that is not the passage's own."""

    def finds(self, reader: Reader, evidence: Evidence, thresholds: DeclineThresholds) -> str:
        labels = evidence.query.labels
        if not labels or set(labels) & reader.features.passages[evidence.position].labels:
            return ""
        return listed([label.title() for label in labels])


@dataclass(frozen=True, kw_only=True)
class NameElsewhere(Rule):
    """A place the question names ('in Kent') that the closest passage does not: it may speak
    of somewhere else. The report's own place and header (title, committee, author) are everywhere."""

    def finds(self, reader: Reader, evidence: Evidence, thresholds: DeclineThresholds) -> str:
        words = reader.words_around(evidence.position)
        missing = [
            place
            for place in evidence.query.named_places
            if (forms := _forms(place)) and not forms <= words and not any(w.isdigit() for w in forms)
        ]
        return listed(missing)


@dataclass(frozen=True, kw_only=True)
class AcronymUnmentioned(Rule):
    """An acronym the question names ('the XPR scheme', 'XPRs') and the passage's report prints,
    that the passage never mentions, by itself or its expansion: it may speak of a sibling thing
    ('the ZPR scheme')."""

    def finds(self, reader: Reader, evidence: Evidence, thresholds: DeclineThresholds) -> str:
        doc = reader.analyzer.corpus.passages[evidence.position].doc
        words, everywhere = reader.words_around(evidence.position), reader.about(doc)
        missing = []
        for name in evidence.query.acronyms:
            acronym = singular_acronyms(name)
            if not reader.analyzer.writes(doc, acronym):
                continue  # initials the report never prints: its passages say the name in full
            forms = _forms(acronym)
            if forms <= words or forms <= everywhere:
                continue
            if any(_forms(long) <= words for long in reader.analyzer.expand(acronym)):
                continue
            missing.append(name)
        return listed(missing)


def _forms(name: str) -> frozenset[str]:
    """A name's words and stems ('Hammersmith & Fulham' -> hammersmith, fulham)."""
    return frozenset(tokenize(re.sub(r"[^\w\s]", " ", name)))


@dataclass(frozen=True, kw_only=True)
class OtherYears(Rule):
    """The question asks about years the passage does not speak of."""

    def finds(self, reader: Reader, evidence: Evidence, thresholds: DeclineThresholds) -> str:
        years = evidence.query.years
        if not years or reader.speaks_of(evidence.position, years):
            return ""
        return years_text(years)


@dataclass(frozen=True, kw_only=True)
class OtherMonths(Rule):
    """The question asks about months ('in April') and the passage names only others ('July to
    September'): its figures may be of another period. A passage naming no month passes, and so
    does the month its report is dated (or met) in."""

    def finds(self, reader: Reader, evidence: Evidence, thresholds: DeclineThresholds) -> str:
        asked = evidence.query.months
        if not asked:
            return ""
        given = months_in(evidence.text)
        # The report's own month, like its year, is spoken of wherever it says nothing else.
        if not given or asked & (given | reader.report_months(evidence.position)):
            return ""
        return listed([MONTH_NAMES[month - 1].title() for month in sorted(asked)])


@dataclass(frozen=True, kw_only=True)
class Unmentioned(Rule):
    """The passage never mentions the thing asked about (the last asked word) or half the asked words.
    With `partly`, any asked word it never mentions (a missing modifier: 'the national strategy')."""

    partly: bool = False
    words_of: str = "asked"  # the Query field read: "asked", or "predicate" (of a yes/no question)
    threshold: ClassVar[str | None] = "asked_min_similarity"

    def finds(self, reader: Reader, evidence: Evidence, thresholds: DeclineThresholds) -> str:
        asked = getattr(evidence.query, self.words_of)
        missing = [
            word
            for word in asked
            if not reader.mentions(evidence.position, word, evidence.encoded, thresholds.asked_min_similarity)
        ]
        if not missing:
            return ""
        if self.partly or asked[-1] in missing or 2 * len(missing) >= len(asked):
            return listed(missing)
        return ""


@dataclass(frozen=True, kw_only=True)
class Uncounted(Rule):
    """'How many X': none of the passage's figures counts X ('30,000 police officers' counts officers)."""

    threshold: ClassVar[str | None] = "counted_min_similarity"

    def finds(self, reader: Reader, evidence: Evidence, thresholds: DeclineThresholds) -> str:
        query = evidence.query
        if query.expects != "number" or not query.asked:
            return ""
        limit = thresholds.counted_min_similarity
        if any(reader.counts(evidence.position, word, evidence.encoded, limit) for word in query.asked):
            return ""
        return listed(query.asked)


@dataclass(frozen=True, kw_only=True)
class FigureOtherYear(Rule):
    """'How much funding in 2010/11': every figure the passage gives is of another year ('£2.5
    million this financial year'), though the passage may name the year asked about elsewhere."""

    def finds(self, reader: Reader, evidence: Evidence, thresholds: DeclineThresholds) -> str:
        query = evidence.query
        asked = query.years or reader.relative_years(evidence.position, query.relative_year)
        if query.expects not in ("number", "money") or not asked or evidence.kind == "table":
            return ""
        first, last = asked
        sentences = reader.figure_years(evidence.position, query.expects)
        if not sentences or any(not years or any(first <= y <= last for y in years) for years in sentences):
            return ""
        return years_text(asked)


@dataclass(frozen=True, kw_only=True)
class NoPlace(Rule):
    """'Which borough ...': the passage names no place beyond those the question names."""

    def finds(self, reader: Reader, evidence: Evidence, thresholds: DeclineThresholds) -> str:
        query = evidence.query
        if query.expects != "place" or reader.names_place(evidence.position, query.question):
            return ""
        return "place"


@dataclass(frozen=True, kw_only=True)
class LowScore(Rule):
    """The first passage's final score is below a threshold ('nothing close', or only loosely close)."""

    score_threshold: str = "answer_min_score"
    lead_threshold: str = ""  # a passage at least this far ahead of the rest is not found low

    def finds(self, reader: Reader, evidence: Evidence, thresholds: DeclineThresholds) -> str:
        if self.lead_threshold and evidence.lead >= getattr(thresholds, self.lead_threshold):
            return ""
        return "low" if evidence.score < getattr(thresholds, self.score_threshold) else ""

    def limit(self, thresholds: DeclineThresholds) -> float | None:
        return getattr(thresholds, self.score_threshold)


def default_rules() -> tuple[Rule, ...]:
    """The rules in the order they are checked; the first that finds something gives the reason."""
    return (
        UnknownName(name="unknown_name", reason="The report never mentions {what}."),
        UnknownPlace(name="unknown_place", reason="The report never mentions {what}."),
        MissingRow(name="missing_row", reason="The closest passage is a table with no row for {what}."),
        *(
            MissingAnswerKind(
                name=f"no_{kind}",
                kind=kind,
                runner_up_may_answer=True,
                runner_up_reach=("person_runner_up_max_gap", "person_runner_up_depth")
                if kind == "person"
                else ("runner_up_max_gap", "runner_up_depth"),
                reason="The closest passage gives no {what} to answer with.",
            )
            for kind in ("number", "money", "date", "person", "duration", "frequency")
        ),
        OtherLabel(name="other_label", reason="The closest passage never mentions {what}."),
        NameElsewhere(
            name="name_elsewhere",
            outcome=LOW,
            reason="The closest passage does not mention {what}, so it may not answer for it.",
        ),
        AcronymUnmentioned(
            name="acronym_unmentioned",
            outcome=LOW,
            reason="The closest passage does not mention {what}, so it may not answer for it.",
        ),
        OtherYears(name="other_years", reason="The closest passage says nothing about {what}."),
        OtherMonths(
            name="other_months",
            outcome=LOW,
            doubts_period=True,
            reason="The closest passage speaks of other months than {what}, so it may not answer for them.",
        ),
        Unmentioned(name="unmentioned", reason="The closest passage never mentions {what}."),
        Uncounted(
            name="uncounted",
            runner_up_may_answer=True,
            reason="The closest passage gives no figure for {what}.",
        ),
        LowScore(name="nothing_close", reason="No passage of the report is close enough to the question."),
        Unmentioned(
            name="partly_mentioned",
            partly=True,
            outcome=LOW,
            reason="The closest passage never mentions {what}, so it may not answer exactly.",
        ),
        FigureOtherYear(
            name="figure_other_year",
            outcome=LOW,
            doubts_period=True,
            reason="The closest passage gives figures for years other than {what}, so it may not answer it.",
        ),
        NoPlace(
            name="no_place",
            outcome=LOW,
            reason="The closest passage names no other {what}, so it may not say which.",
        ),
        Unmentioned(
            name="predicate_unmentioned",
            words_of="predicate",
            outcome=LOW,
            reason="The closest passage never mentions {what}, so it may not say whether that is so.",
        ),
        LowScore(
            name="loosely_close",
            score_threshold="high_min_score",
            lead_threshold="clear_lead",
            outcome=LOW,
            reason="The closest passage is only loosely related to the question, so it may not answer it.",
        ),
    )


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The outcome for one question: answered with high or low confidence, or declined, and why."""

    answered: bool
    confidence: str  # HIGH, LOW, or "" when declined
    reason: str = ""  # why it was declined, or why the answer may not be exact
    rule: str = ""  # the rule that gave the reason


ANSWERED = Verdict(answered=True, confidence=HIGH)
RUNNER_UP = (
    "The passage closest to the question does not give what it asks for; this one, ranked near it, does."
)


@dataclass(frozen=True, kw_only=True)
class DeclinePolicy:
    """The rules, each with its own switch, and the thresholds they read."""

    rules: tuple[Rule, ...] = field(default_factory=default_rules)
    thresholds: DeclineThresholds = field(default_factory=DeclineThresholds)

    @property
    def names(self) -> list[str]:
        return [rule.name for rule in self.rules]

    def switched(self, on: Iterable[str] | None = None, off: Iterable[str] = ()) -> DeclinePolicy:
        """A copy with only the rules named in `on` enabled (all if None), then those in `off` disabled."""
        on_names = set(self.names if on is None else on)
        off_names = set(off)
        unknown = (on_names | off_names) - set(self.names)
        if unknown:
            raise KeyError(f"no decline rule {sorted(unknown)[0]!r}")
        rules = tuple(
            replace(rule, enabled=rule.name in on_names and rule.name not in off_names) for rule in self.rules
        )
        return replace(self, rules=rules)

    def with_thresholds(self, **changes: float) -> DeclinePolicy:
        return replace(self, thresholds=replace(self.thresholds, **changes))

    @property
    def depth(self) -> int:
        """How many ranked passages `choose` may read: the furthest any enabled runner-up may come
        from, and two at least (a first passage's lead is over the second)."""
        reaches = [
            rule.runner_up_reach[1] for rule in self.rules if rule.enabled and rule.runner_up_may_answer
        ]
        return max([2, *(int(getattr(self.thresholds, name)) for name in reaches)])

    def choose(
        self,
        reader: Reader,
        candidates: Sequence[Evidence],
        continuation: Callable[[], Evidence | None] = lambda: None,
    ) -> tuple[Evidence, Verdict]:
        """Which passage answers, and how: the first of `candidates` (the best ranked), unless a
        declining rule stops it and a runner-up close behind, or the `continuation` (the paragraph
        after the first, which goes on with its subject: 'the scheme is to be extended by 30
        sites'; read only when needed), passes the policy."""
        first = candidates[0]
        verdict = self.judge(reader, first)
        if verdict.answered or not self._rule(verdict.rule).runner_up_may_answer:
            return first, verdict
        gap, depth = (getattr(self.thresholds, name) for name in self._rule(verdict.rule).runner_up_reach)
        close = [e for e in candidates[1 : int(depth)] if e.score >= first.score - gap]
        for evidence in [*close, continuation()]:
            if evidence is not None and self.judge(reader, evidence).answered:
                # Only the closest the report comes: the passage nearest the question lacks what it
                # asks for, and this one holds it.
                return evidence, Verdict(answered=True, confidence=LOW, reason=RUNNER_UP, rule=verdict.rule)
        return first, verdict

    def doubts_period(self, name: str) -> bool:
        """Does the rule of this name doubt the period a passage speaks of?"""
        return any(rule.name == name and rule.doubts_period for rule in self.rules)

    def _rule(self, name: str) -> Rule:
        return next(rule for rule in self.rules if rule.name == name)

    def judge(self, reader: Reader, evidence: Evidence) -> Verdict:
        """Decline at the first declining rule that finds something; else answer, with low confidence
        if a confidence rule finds something."""
        low: Verdict | None = None
        for rule in self.rules:
            if not rule.enabled or (rule.outcome == LOW and low is not None):
                continue
            found = rule.finds(reader, evidence, self.thresholds)
            if not found:
                continue
            reason = rule.reason.format(what=found)
            if rule.outcome == DECLINED:
                return Verdict(answered=False, confidence="", reason=reason, rule=rule.name)
            low = Verdict(answered=True, confidence=LOW, reason=reason, rule=rule.name)
        return low or ANSWERED


# ---------------------------------------------------------------------------
# Small helpers shared with the rules.


def shares_stem(stems: set[str], others: set[str] | frozenset[str]) -> bool:
    """A stem in both sets, or two of the same root ('seized' and 'seizures' stem apart)."""
    return bool(stems & others) or any(same_root(stem, other) for stem in stems for other in others)


def same_root(stem: str, other: str, most_extra: int = 2) -> bool:
    """'seiz' and 'seizur': one stem (of 4+ letters) starts the other, with a short ending left."""
    short, long = sorted((stem, other), key=len)
    return len(short) >= 4 and long.startswith(short) and len(long) - len(short) <= most_extra


def clipped(short: str, whole: str) -> bool:
    """'kilo' of 'kilogram', 'info' of 'information': a word clipped to its first 4+ letters."""
    return len(short) >= 4 and len(whole) > len(short) and whole.startswith(short)


def mean_best_cosine(tokens: np.ndarray, others: np.ndarray) -> float:
    """Mean over `tokens` of each one's best cosine with any of `others` (rows are normalised)."""
    return float((tokens @ others.T).max(axis=1).mean())


def piece_rows(pieces: list[str], word: list[str]) -> list[int]:
    """Where a word's pieces sit in a question's content pieces (first occurrence), else []."""
    for start in range(len(pieces) - len(word) + 1):
        if pieces[start : start + len(word)] == word:
            return list(range(start, start + len(word)))
    return []


def years_text(years: tuple[int, int]) -> str:
    first, last = years
    if first == last:
        return str(first)
    if last == OPEN_END:
        return f"{first} or later"
    return f"{last} or earlier" if first == 0 else f"{first} to {last}"


def listed(words: list[str]) -> str:
    """'a', or 'a' or 'b', or 'a', 'b' or 'c'; '' for no words."""
    quoted = [f"'{word}'" for word in words]
    if len(quoted) <= 1:
        return "".join(quoted)
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"
