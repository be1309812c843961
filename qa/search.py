"""Answer questions: understand the query, fuse dense and keyword scores, pick the answer sentence."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.corpus import Corpus, Passage, Span, canonical_id, passage_spans
from qa.index import Embedder, Encoded, SearchIndex
from qa.text import normalise, tokenize


@dataclass(frozen=True)
class SearchConfig:
    """Scoring knobs, chosen with `qa eval` on the tuning questions (see README)."""

    dense_weight: float = 0.55  # fused = dense_weight * dense + (1 - dense_weight) * keyword
    best_unit_weight: float = 0.4  # a passage's dense score: best unit vs the whole passage
    keyword_best_unit_weight: float = 0.5  # same blend for keyword scores
    answer_min_score: float = 0.8  # decline when the first passage's final score is below this
    decline_unknown_names: bool = True  # decline questions naming places/years the report never does
    decline_missing_quantity: bool = True  # decline "how many/how much" when the passage has no number
    span_keyword_weight: float = 0.3  # answer sentence: dense + this * normalised keyword
    keyword_saturation: float = 5.0  # 0: keyword / best keyword; c > 0: keyword / (keyword + c)
    entry_weight: float = 0.85  # acronym entries count this much unless the question asks what one means
    rerank_depth: int = 10  # passages re-scored with token-level matching
    rerank_weight: float = 1.2  # score = fused + this * mean best-token similarity
    expand_dense: bool = True  # append acronym expansions to the text that is embedded
    expand_keyword: bool = False  # add acronym expansions to the keyword query


@dataclass(frozen=True)
class Hit:
    """One ranked passage with the scores that put it there and its best answer unit."""

    passage: Passage
    score: float
    dense: float
    keyword: float
    span: Span


@dataclass(frozen=True)
class Result:
    """What search found for one question."""

    question: str
    answered: bool
    hits: list[Hit]
    lookup: bool = False  # the question named a passage ("paragraph 38")
    took_ms: float = 0.0

    @property
    def answer(self) -> Hit | None:
        return self.hits[0] if self.answered and self.hits else None


@dataclass(frozen=True)
class Query:
    """A question prepared for search: text to embed, keyword tokens, any named passage."""

    question: str
    dense_text: str
    tokens: list[str]
    cited: Passage | None = None
    expansions: list[str] = field(default_factory=list)
    unknown_names: list[str] = field(default_factory=list)  # names and years the report never uses
    asks_definition: bool = False  # "what does X stand for", "meaning of X", or just "X"
    expects: str = ""  # "number" or "money" when the question asks for one


# ---------------------------------------------------------------------------
# Query understanding.

_ASKS_QUANTITY = re.compile(
    r"\b(?:how (?:many|much|long|often|old)|what (?:percentage|proportion|share|number|age))\b", re.I
)
_ASKS_MONEY = re.compile(r"\b(?:costs?|budgets?|salary|salaries|prices?|fees?|spend|spent)\b", re.I)
_ASKS_WHAT_THE = re.compile(r"\bwhat (?:is|was|are|were) the\b", re.I)
_HAS_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|thirty|hundred|thousand|"
    r"million|half|dozen)\b",
    re.I,
)
_HAS_MONEY = re.compile(r"£|\bmillion\b|\bfund(?:ed|ing)\b|\bbudget", re.I)


def expected_answer(question: str) -> str:
    """What kind of answer a question asks for: 'money', 'number' or '' (anything)."""
    asks_amount = _ASKS_QUANTITY.search(question) or _ASKS_WHAT_THE.search(question)
    if asks_amount and _ASKS_MONEY.search(question):
        return "money"
    return "number" if _ASKS_QUANTITY.search(question) else ""


def passage_can_answer(passage: Passage, expects: str) -> bool:
    """A passage with no number cannot say how many; one with no amount cannot say what it cost."""
    if expects == "money":
        return _HAS_MONEY.search(passage.text) is not None
    if expects == "number":
        return _HAS_NUMBER.search(passage.text) is not None
    return True


_DEFINITION = re.compile(
    r"\b(?:stand|stands|mean|means|meaning|acronym|abbreviat\w*|short for|full form|defin\w*)\b", re.I
)

# How readers name a passage inside a question; each pattern yields a citation id.
_CITATION_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bfinancial implications?\s*(?:para(?:graph)?\s*)?(\d)\b", re.I), "D{}"),
    (re.compile(r"\bpara(?:graph)?\s*(\d)\s+(?:of|in)\s+(?:the\s+)?financial implications\b", re.I), "D{}"),
    (re.compile(r"(?:¶|§)\s*(\d{1,3})\b"), "{}"),
    (re.compile(r"\bpara(?:graph)?s?\.?\s*(?:no\.?\s*)?(\d{1,3})\b", re.I), "{}"),
    (re.compile(r"\b(?:table|chart)\s*[-_ ]?\s*\d\b", re.I), "{0}"),
    (re.compile(r"\bsection\s+([A-F])\b(?!\s*\d)"), "{}"),
    (re.compile(r"^\s*([A-F]|D\d|summary|abbreviations)\s*[?.!]?\s*$", re.I), "{}"),
    (re.compile(r"^\s*(\d{1,3})\s*[?.!]?\s*$"), "{}"),
]


class QueryAnalyzer:
    """Turns a reader's question into a Query using only what the report itself says."""

    def __init__(self, corpus: Corpus, config: SearchConfig | None = None) -> None:
        self.corpus = corpus
        self.config = config or SearchConfig()
        self.acronyms = corpus.acronyms
        body = " ".join(p.text for p in corpus.passages)
        self._lower_words = set(re.findall(r"\b[a-z]+\b", body))
        headings = " ".join(f"{p.section} {p.heading}" for p in corpus.passages)
        self._known_words = set(re.findall(r"[a-z0-9]+", normalise(f"{body} {headings}")))

    def cited_passage(self, question: str) -> Passage | None:
        for pattern, template in _CITATION_PATTERNS:
            match = pattern.search(question)
            if match:
                ref = template.format(match.group(match.lastindex or 0))
                passage = self.corpus.resolve(canonical_id(ref))
                if passage is not None:
                    return passage
        return None

    def expand(self, question: str) -> list[str]:
        """Expansions of the acronyms a question uses ('CDTB' -> 'Central Drug Trafficking Database')."""
        found: list[str] = []
        for word in re.findall(r"[A-Za-z][A-Za-z\-]+", question):
            for candidate in (word, word.upper(), f"{word.upper()}S", word.upper().removesuffix("S")):
                if candidate not in self.acronyms:
                    continue
                if word.islower() and word in self._lower_words:
                    continue  # an ordinary word the report also uses ("dip" would be DIP)
                expansion = self.acronyms[candidate]
                if expansion not in found:
                    found.append(expansion)
                break
        return found

    def unknown_names(self, question: str) -> list[str]:
        """Capitalised words (not opening the question) and years that appear nowhere in the report.

        A question about Birmingham, Scotland or 2010 is not answered by a London report from 2005,
        however close its other words come.
        """
        words = re.findall(r"[A-Za-z0-9][A-Za-z0-9'\-]*", question)
        unknown = []
        for position, word in enumerate(words):
            is_year = re.fullmatch(r"(?:1[89]|20)\d\d", word) is not None
            is_name = position > 0 and word[0].isupper() and not word.isupper()
            if not (is_year or is_name):
                continue
            forms = set(re.findall(r"[a-z0-9]+", normalise(word.removesuffix("'s"))))
            if forms and not forms & self._known_words:
                unknown.append(word)
        return unknown

    def analyse(self, question: str) -> Query:
        expansions = self.expand(question)
        dense_text = question
        if self.config.expand_dense and expansions:
            dense_text = f"{question} " + " ".join(f"({e})" for e in expansions)
        keyword_text = question
        if self.config.expand_keyword and expansions:
            keyword_text = f"{question} " + " ".join(expansions)
        tokens = tokenize(keyword_text)
        return Query(
            question,
            dense_text,
            tokens,
            self.cited_passage(question),
            expansions,
            self.unknown_names(question),
            self.asks_definition(question, expansions),
            expected_answer(question),
        )

    def asks_definition(self, question: str, expansions: list[str]) -> bool:
        """'What does X stand for', 'meaning of X', or a question that is just an acronym."""
        if _DEFINITION.search(question):
            return True
        return bool(expansions) and len(tokenize(question)) <= 1


# ---------------------------------------------------------------------------
# Scoring.


class Searcher:
    """Ranks passages for questions over one SearchIndex."""

    def __init__(self, index: SearchIndex, embedder: Embedder, config: SearchConfig | None = None):
        self.index = index
        self.embedder = embedder
        self.config = config or SearchConfig()
        self.corpus = index.corpus
        self.analyzer = QueryAnalyzer(index.corpus, self.config)
        self._unit_passage = np.array([u.passage for u in index.units], dtype=np.int64)
        self._is_whole = np.array([u.kind == "passage" for u in index.units])
        self._is_entry = np.array([u.kind == "entry" for u in index.units])
        self._spans = [passage_spans(p) for p in self.corpus.passages]
        positions = range(len(self.corpus.passages))
        self._units_of = [np.flatnonzero(self._unit_passage == p) for p in positions]
        self._answer_units_of = [units[~self._is_whole[units]] for units in self._units_of]
        # Stored as float16 to keep the index small; converted once here, not per question.
        self._passage_tokens = [m.astype(np.float32) for m in index.passage_tokens]

    @property
    def fingerprint(self) -> str:
        return self.index.fingerprint

    def set_config(self, config: SearchConfig) -> None:
        self.config = config
        self.analyzer.config = config

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Encoded:
        """One model call for several questions: sentence vectors plus token vectors."""
        return self.embedder.encode_tokens(texts, batch_size=batch_size)

    def ask(self, question: str, k: int = 3) -> Result:
        return self.ask_many([question], k)[0]

    def ask_many(self, questions: Sequence[str], k: int = 3, vectors: Encoded | None = None) -> list[Result]:
        """Answer several questions with one model call (vectors may be precomputed)."""
        started = time.perf_counter()
        queries = [self.analyzer.analyse(q) for q in questions]
        if vectors is None:
            vectors = self.encode([q.dense_text for q in queries])
        results = [self.answer(query, vector, k) for query, vector in zip(queries, vectors, strict=True)]
        elapsed = (time.perf_counter() - started) * 1000 / max(len(questions), 1)
        return [_with_time(result, elapsed) for result in results]

    def search(self, question: str, k: int = 3) -> list[Hit]:
        return self.ask(question, k).hits

    def analyse(self, question: str) -> Query:
        return self.analyzer.analyse(question)

    def answer(self, query: Query, encoded: Encoded, k: int) -> Result:
        """Rank passages for an analysed question whose text is already embedded."""
        unit_dense, unit_keyword = self._unit_scores(query, encoded.vectors[0])
        if not query.asks_definition:
            unit_dense = np.where(self._is_entry, unit_dense * self.config.entry_weight, unit_dense)
        ranked = self._rerank(self._rank(unit_dense, unit_keyword), encoded.tokens[0])
        if query.cited is not None:
            cited = self.corpus.passages.index(query.cited)
            ranked = [(cited, 1.0)] + [(p, score) for p, score in ranked if p != cited]
        hits = [self._hit(p, score, unit_dense, unit_keyword) for p, score in ranked[:k]]
        if query.cited is not None:
            return Result(query.question, True, hits, lookup=True)
        answered = bool(hits) and self._should_answer(query, hits[0])
        return Result(query.question, answered, hits)

    def _unit_scores(self, query: Query, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = self.index.dense.ntotal
        scores, ids = self.index.dense.search(vector.reshape(1, -1), total)
        unit_dense = np.empty(total, dtype=np.float32)
        unit_dense[ids[0]] = scores[0]
        if query.tokens:
            unit_keyword = np.asarray(self.index.keyword.get_scores(query.tokens), dtype=np.float32)
        else:
            unit_keyword = np.zeros(total, dtype=np.float32)
        return unit_dense, unit_keyword

    def _passage_scores(self, unit_scores: np.ndarray, best_weight: float) -> np.ndarray:
        count = len(self.corpus.passages)
        whole = np.zeros(count, dtype=np.float32)
        whole[self._unit_passage[self._is_whole]] = unit_scores[self._is_whole]
        best = whole.copy()
        np.maximum.at(best, self._unit_passage, unit_scores)
        return best_weight * best + (1 - best_weight) * whole

    def _rank(self, unit_dense: np.ndarray, unit_keyword: np.ndarray) -> list[tuple[int, float]]:
        config = self.config
        dense = self._passage_scores(unit_dense, config.best_unit_weight)
        keyword = self._passage_scores(unit_keyword, config.keyword_best_unit_weight)
        if config.keyword_saturation > 0:
            keyword_norm = keyword / (keyword + config.keyword_saturation)
        else:
            top_keyword = float(keyword.max())
            keyword_norm = keyword / top_keyword if top_keyword > 0 else keyword
        fused = config.dense_weight * dense + (1 - config.dense_weight) * keyword_norm
        order = np.argsort(-fused, kind="stable")
        return [(int(p), float(fused[p])) for p in order]

    def _rerank(
        self, ranked: list[tuple[int, float]], question_tokens: np.ndarray
    ) -> list[tuple[int, float]]:
        """Late interaction: a passage gains by how well each question word finds a close word in it."""
        depth, weight = self.config.rerank_depth, self.config.rerank_weight
        if depth <= 0 or weight == 0 or len(question_tokens) == 0:
            return ranked
        head = [
            (position, score + weight * self.token_match(position, question_tokens))
            for position, score in ranked[:depth]
        ]
        head.sort(key=lambda item: item[1], reverse=True)
        return head + ranked[depth:]

    def token_match(self, position: int, question_tokens: np.ndarray) -> float:
        """Mean over question tokens of the best cosine with any token of the passage."""
        similarities = question_tokens @ self._passage_tokens[position].T
        return float(similarities.max(axis=1).mean())

    def _hit(self, position: int, score: float, unit_dense: np.ndarray, unit_keyword: np.ndarray) -> Hit:
        units = self._units_of[position]
        return Hit(
            passage=self.corpus.passages[position],
            score=round(score, 4),
            dense=round(float(unit_dense[units].max()), 4),
            keyword=round(float(unit_keyword[units].max()), 4),
            span=self._best_span(position, unit_dense, unit_keyword),
        )

    def _best_span(self, position: int, unit_dense: np.ndarray, unit_keyword: np.ndarray) -> Span:
        """The sentence, row or entry of the passage that best answers (dense + some keyword)."""
        candidates = self._answer_units_of[position]
        if len(candidates) == 0:
            spans = self._spans[position]
            return spans[0] if spans else Span(0, 0, "")
        keyword = unit_keyword[candidates]
        top_keyword = float(keyword.max()) or 1.0
        scores = unit_dense[candidates] + self.config.span_keyword_weight * keyword / top_keyword
        best = self.index.units[int(candidates[int(np.argmax(scores))])]
        text = self.corpus.passages[position].text
        return Span(best.start, best.end, text[best.start : best.end])

    def _should_answer(self, query: Query, top: Hit) -> bool:
        if self.config.decline_unknown_names and query.unknown_names:
            return False
        if self.config.decline_missing_quantity and not passage_can_answer(top.passage, query.expects):
            return False
        return top.score >= self.config.answer_min_score


def _with_time(result: Result, took_ms: float) -> Result:
    return Result(result.question, result.answered, result.hits, result.lookup, round(took_ms, 3))


def normalise_question(question: str) -> str:
    """The form of a question used as a cache key: case, spacing and punctuation folded."""
    return re.sub(r"[\s?!.]+", " ", normalise(question)).strip()
