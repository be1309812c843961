"""Answer questions: a thin front over query analysis, ranking, answer spans and the decline policy."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

from qa.corpus import Passage, Span
from qa.decline import HIGH, LOW, DeclinePolicy, Evidence, Reader
from qa.index import Embedder, Encoded, SearchIndex
from qa.query import Expansions, Query, QueryAnalyzer
from qa.ranking import KeywordScores, Ranker, Ranking, RankingConfig, Scope
from qa.scoping import asked_of_default, author_first, knowing_first, recommendation_first
from qa.spans import SpanChooser
from qa.table_answers import TableAnswer, answer_from_tables
from qa.text import normalise


@dataclass(frozen=True, kw_only=True)
class SearchConfig:
    """Every knob of search, by concern: ranking, the report's expansions, the decline policy."""

    ranking: RankingConfig = field(default_factory=RankingConfig)
    expansions: Expansions = field(default_factory=Expansions)
    declines: DeclinePolicy = field(default_factory=DeclinePolicy)
    span_keyword_weight: float = 0.3  # answer sentence: dense + this * normalised keyword

    def with_changes(self, **changes: object) -> SearchConfig:
        """A copy with knobs changed by name, wherever they live ('dense_weight', 'answer_min_score')."""
        parts = {"ranking": self.ranking, "expansions": self.expansions}
        updated: dict[str, dict[str, object]] = {"ranking": {}, "expansions": {}, "thresholds": {}}
        own: dict[str, object] = {}
        for name, value in changes.items():
            part = next((p for p, obj in parts.items() if name in _field_names(obj)), None)
            if part is None and name in _field_names(self.declines.thresholds):
                part = "thresholds"
            if part is None:
                own[name] = value
            else:
                updated[part][name] = value
        return replace(
            self,
            ranking=replace(self.ranking, **updated["ranking"]),
            expansions=replace(self.expansions, **updated["expansions"]),
            declines=self.declines.with_thresholds(**updated["thresholds"]),  # type: ignore[arg-type]
            **own,  # type: ignore[arg-type]
        )


def _field_names(obj: object) -> set[str]:
    return {f.name for f in fields(obj)}  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True)
class Hit:
    """One ranked passage with the scores that put it there and its best answer unit."""

    passage: Passage
    score: float
    dense: float
    keyword: float
    span: Span


@dataclass(frozen=True, kw_only=True)
class Result:
    """What search found for one question: answered with high or low confidence, or declined."""

    question: str
    answered: bool
    hits: list[Hit]
    confidence: str = ""  # "high", "low" (the closest the report comes), or "" when declined
    lookup: bool = False  # the question named a passage ("paragraph 38")
    took_ms: float = 0.0
    reason: str = ""  # why it was declined, or why a low-confidence answer may not answer exactly
    rule: str = ""  # the decline rule that gave the reason
    table: TableAnswer | None = None  # an answer computed over a table (qa.table_answers)

    @property
    def answer(self) -> Hit | None:
        return self.hits[0] if self.answered and self.hits else None


class Searcher:
    """Answers questions over one SearchIndex: the front of analysis, ranking, spans and declines."""

    def __init__(self, index: SearchIndex, embedder: Embedder, config: SearchConfig | None = None):
        self.index = index
        self.embedder = embedder
        self.config = config or SearchConfig()
        self.corpus = index.corpus
        self.analyzer = QueryAnalyzer(
            index.corpus,
            self.config.expansions,
            is_dictionary_word=self._is_dictionary_word,
            vocabularies=index.features.vocabularies,
        )
        self.ranker = Ranker(index)
        self.spans = SpanChooser(index, self.config.span_keyword_weight)
        self.reader = Reader(
            features=index.features,
            passage_tokens=self.ranker.passage_tokens,
            embedder=embedder,
            analyzer=self.analyzer,
        )

    @property
    def fingerprint(self) -> str:
        return self.index.fingerprint

    def set_config(self, config: SearchConfig) -> None:
        self.config = config
        self.analyzer.options = config.expansions
        self.spans.keyword_weight = config.span_keyword_weight

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Encoded:
        """One model call for several questions: sentence vectors plus token vectors."""
        return self.embedder.encode_tokens(texts, batch_size=batch_size)

    def ask(self, question: str, k: int = 3) -> Result:
        return self.ask_many([question], k)[0]

    def ask_many(
        self,
        questions: Sequence[str],
        k: int = 3,
        vectors: Encoded | None = None,
        docs: Sequence[str] | None = None,
    ) -> list[Result]:
        """Answer several questions with one model call (vectors may be precomputed), within
        `docs` when given."""
        started = time.perf_counter()
        queries = [self.analyzer.analyse(q) for q in questions]
        if vectors is None:
            vectors = self.encode([q.dense_text for q in queries])
        results = [
            self.answer(query, vector, k, docs=docs) for query, vector in zip(queries, vectors, strict=True)
        ]
        elapsed = (time.perf_counter() - started) * 1000 / max(len(questions), 1)
        return [replace(result, took_ms=round(elapsed, 3)) for result in results]

    def search(self, question: str, k: int = 3) -> list[Hit]:
        return self.ask(question, k).hits

    def analyse(self, question: str) -> Query:
        return self.analyzer.analyse(question)

    def answer(self, query: Query, encoded: Encoded, k: int, docs: Sequence[str] | None = None) -> Result:
        """Choose the route for an analysed, embedded question, within `docs` when given: the
        passage it names, an answer computed over a table, or the passages that rank first,
        answered or declined by the policy. Each route reads as many passages as the policy does,
        however few citations (`k`) are asked for: what a question gets does not depend on `k`."""
        scope = self.ranker.scope(_narrowed(docs, query.named_docs))
        ranking = self.rank(
            query, encoded, scope, self.ranker.keyword(query.tokens, self.config.ranking, scope)
        )
        ranking = self._by_structure(query, ranking, unscoped=docs is None and not query.named_docs)
        cited = self._cited_in(query, scope)
        if cited is not None:
            lookup = self.lookup(query, ranking, k, cited)
            # "the total in Table 1": a question that names a table is computed over it.
            first = replace(ranking, ranked=[(cited, 1.0)] + [r for r in ranking.ranked if r[0] != cited])
            computed = (
                self.table_answer(query, encoded, first, lookup, k)
                if self.corpus.passages[cited].kind == "table"
                else None
            )
            return computed or lookup
        result = self.passage_answer(query, encoded, ranking, k)
        return self.table_answer(query, encoded, ranking, result, k) or result

    def rank(
        self, query: Query, encoded: Encoded, scope: Scope | None = None, keyword: KeywordScores | None = None
    ) -> Ranking:
        return self.ranker.rank(
            vector=encoded.vectors[0],
            keyword_tokens=query.tokens,
            question_tokens=encoded.tokens[0],
            asks_definition=query.asks_definition,
            config=self.config.ranking,
            scope=scope,
            keyword=keyword,
        )

    def _by_structure(self, query: Query, ranking: Ranking, *, unscoped: bool) -> Ranking:
        """The ranking reordered by what the reports' structure says answers (qa.scoping): a
        section every report has alike goes to the default report; reports that use the
        question's names come first; 'who wrote it' and 'what are members asked to do' go to the
        first report's author line and recommendation."""
        config, corpus, ranked = self.config.ranking, self.corpus, ranking.ranked
        if unscoped:
            gap, depth = config.shared_section_gap, config.shared_section_depth
            ranked = asked_of_default(ranked, corpus, gap=gap, depth=depth) or ranked
        if query.names and len(corpus.reports) > 1:
            knows = functools.partial(self._knows_names, query)
            ranked = knowing_first(ranked, corpus, knows, gap=config.knowing_gap) or ranked
        if query.asks_author:
            ranked = author_first(ranked, corpus) or ranked
        if query.asks_recommendation:
            ranked = recommendation_first(ranked, corpus) or ranked
        return ranking if ranked is ranking.ranked else replace(ranking, ranked=ranked)

    def _knows_names(self, query: Query, doc: str) -> bool:
        return not self.analyzer.unknown_in(doc, query.names)

    def _cited_in(self, query: Query, scope: Scope | None) -> int | None:
        """The position of the passage the question names, in the scope's report when it has one."""
        if query.cited is None:
            return None
        if scope is not None and not scope.passages[self.corpus.position(query.cited)]:
            in_scope = [d for d in scope.docs if self.corpus.get(d, query.cited.id) is not None]
            return self.corpus.position(self.corpus.get(in_scope[0], query.cited.id)) if in_scope else None
        return self.corpus.position(query.cited)

    def table_answer(
        self, query: Query, encoded: Encoded, ranking: Ranking, result: Result, k: int
    ) -> Result | None:
        """An aggregate question over a table that ranks high is answered by computing over it; a
        decline over a name, year or label the table lacks stands, and so does one the table
        itself gets ('how many days' of a table that counts closures)."""
        # The ranked passages, then the other tables of the reports that rank first: a library's
        # tables elsewhere are not read for every question.
        depth = self.config.declines.depth  # what is read does not depend on k
        leading = {self.corpus.passages[p].doc for p, _ in ranking.ranked[:depth]}
        later = ranking.later_tables(leading)
        ranked = ranking.ranked + later
        passages = [self.corpus.passages[p] for p, _ in ranked]
        computed = answer_from_tables(query.question, passages, top=depth)
        if computed is None:
            return None
        named = query.unknown_names or query.placed or query.named_places or query.years or query.labels
        leads = result.answered and bool(result.hits) and computed.is_from(result.hits[0].passage)
        if not (leads or computed.aggregate and not (not result.answered and named)):
            return None
        position, score = next((p, s) for p, s in ranked if computed.is_from(self.corpus.passages[p]))
        verdict = None
        if computed.aggregate and not leads:
            verdict = self.config.declines.judge(self.reader, self._evidence(query, encoded, position, score))
            if not verdict.answered:
                return None
        table_hit = replace(self._hit(position, score, ranking, query), span=computed.span)
        hits = [table_hit, *(hit for hit in result.hits if not computed.is_from(hit.passage))][:k]
        if computed.aggregate:
            # Computed from the table, so sure of its arithmetic; but a table of another period
            # than the one asked about stays only the closest the report comes.
            judged = verdict or result
            doubted = judged.confidence == LOW and self.config.declines.doubts_period(judged.rule)
            return Result(
                question=query.question,
                answered=True,
                confidence=LOW if doubted else HIGH,
                hits=hits,
                table=computed,
                reason=judged.reason if doubted else "",
                rule=judged.rule if doubted else "",
            )
        if computed.not_given:  # the row is there, the figure asked for is blank: not given, not 0
            reason = f"The table gives no figure for {computed.not_given}: it is left blank."
            return replace(result, hits=hits, table=computed, answered=True, confidence=LOW, reason=reason)
        # A row read for a question the table only loosely matches is still only the closest.
        return replace(result, hits=hits, table=computed)

    def lookup(self, query: Query, ranking: Ranking, k: int, cited: int) -> Result:
        """The question named a passage ('paragraph 38'): it comes first, then the best ranked."""
        ranked = [(cited, 1.0)] + [(p, score) for p, score in ranking.ranked if p != cited]
        hits = [self._hit(p, score, ranking, query) for p, score in ranked[:k]]
        return Result(question=query.question, answered=True, confidence=HIGH, hits=hits, lookup=True)

    def passage_answer(self, query: Query, encoded: Encoded, ranking: Ranking, k: int) -> Result:
        """The best ranked passages; the policy says whether the first answers, and how surely."""
        considered = ranking.ranked[: self._depth(k)]
        if not considered:
            return Result(question=query.question, answered=False, hits=[], reason=NOTHING_CLOSE)
        scores = [score for _, score in considered]
        candidates = [
            self._evidence(query, encoded, p, score, lead=_lead(scores, i))
            for i, (p, score) in enumerate(considered)
        ]
        hits = [self._hit(p, score, ranking, query) for p, score in considered[:k]]
        chosen, verdict = self.config.declines.choose(
            self.reader, candidates, lambda: self._continuation(query, encoded, ranking, hits[0].passage)
        )
        hits = self._first(chosen, hits, ranking, query)[:k]
        return Result(
            question=query.question,
            answered=verdict.answered,
            confidence=verdict.confidence,
            hits=hits,
            reason=verdict.reason,
            rule=verdict.rule,
        )

    def _depth(self, k: int) -> int:
        """How many ranked passages a route reads: those the policy may choose from, or `k` if more."""
        return max(k, self.config.declines.depth)

    def _continuation(
        self, query: Query, encoded: Encoded, ranking: Ranking, first: Passage
    ) -> Evidence | None:
        """The paragraph after the first passage in its section, if it ranks at all."""
        position = self.corpus.position(first) + 1
        if position >= len(self.corpus.passages):
            return None
        following = self.corpus.passages[position]
        if following.doc != first.doc or following.section != first.section or following.kind != "paragraph":
            return None
        score = next((score for p, score in ranking.ranked if p == position), None)
        return None if score is None else self._evidence(query, encoded, position, score)

    def _first(self, chosen: Evidence, hits: list[Hit], ranking: Ranking, query: Query) -> list[Hit]:
        """The hits with the chosen passage first (added if it was not among them)."""
        at = next(
            (i for i, hit in enumerate(hits) if self.corpus.position(hit.passage) == chosen.position), None
        )
        if at is None:
            return [self._hit(chosen.position, chosen.score, ranking, query), *hits]
        return [hits[at], *hits[:at], *hits[at + 1 :]]

    def _evidence(
        self, query: Query, encoded: Encoded, position: int, score: float, *, lead: float = 0.0
    ) -> Evidence:
        passage = self.corpus.passages[position]
        return Evidence(
            query=query,
            encoded=encoded,
            position=position,
            score=score,
            kind=passage.kind,
            text=passage.text,
            lead=lead,
        )

    def _hit(self, position: int, score: float, ranking: Ranking, query: Query) -> Hit:
        units = slice(self.ranker.unit_starts[position], self.ranker.unit_ends[position])
        return Hit(
            passage=self.corpus.passages[position],
            score=round(score, 4),
            dense=round(float(ranking.unit_dense[units].max()), 4),
            keyword=round(float(ranking.unit_keyword[units].max()), 4),
            span=self.spans.best_span(
                position,
                unit_dense=ranking.unit_dense,
                unit_keyword=ranking.unit_keyword,
                expects=query.expects,
            ),
        )

    def _is_dictionary_word(self, word: str) -> bool:
        """An English word: one whole piece of the model's vocabulary ('prescription', not 'recomend')."""
        return len(self.embedder.word_pieces(word)) == 1


def _lead(scores: list[float], at: int) -> float:
    """How far the score at `at` is ahead of the best of the others (a lone passage leads by 0)."""
    others = scores[:at] + scores[at + 1 :]
    return scores[at] - max(others) if others else 0.0


def _narrowed(docs: Sequence[str] | None, named: tuple[str, ...]) -> Sequence[str] | None:
    """The reports to search: those asked for, narrowed to those the question names (if any left)."""
    if not named:
        return docs
    if docs is None:
        return named
    both = [doc for doc in docs if doc in named]
    return both or docs


NOTHING_CLOSE = "No passage of the report is close enough to the question."


def normalise_question(question: str) -> str:
    """The form of a question used as a cache key: case, spacing and punctuation folded."""
    return re.sub(r"[\s?!.]+", " ", normalise(question)).strip()
