"""Answer questions: fuse dense and keyword scores, rerank, decline or pick the answer sentence."""

from __future__ import annotations

import difflib
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import faiss
import numpy as np

from qa.corpus import Corpus, Passage, Span, passage_spans
from qa.index import Embedder, Encoded, SearchIndex
from qa.query import OPEN_END, Expansions, Query, QueryAnalyzer, labels_in
from qa.table_answers import TableAnswer, answer_from_tables
from qa.tables import read_table
from qa.text import MONTH_NAMES, STOPWORDS, YEAR, normalise, tokenize, years_in
from qa.thesaurus import report_terms


@dataclass(frozen=True)
class SearchConfig:
    """Scoring knobs, chosen with `qa eval` on the tuning questions (see README)."""

    dense_weight: float = 0.55  # fused = dense_weight * dense + (1 - dense_weight) * keyword
    best_unit_weight: float = 0.4  # a passage's dense score: best unit vs the whole passage
    keyword_best_unit_weight: float = 0.5  # same blend for keyword scores
    answer_min_score: float = 0.8  # decline when the first passage's final score is below this
    decline_unknown_names: bool = True  # decline questions naming places/years the report never does
    decline_missing_quantity: bool = True  # decline "how many/how much" when the passage has no number
    decline_unmentioned: bool = True  # decline when the passage never names what the question asks about
    decline_other_years: bool = True  # decline "... in 2004" when the passage speaks of other years
    asked_min_similarity: float = 0.45  # ...unless a passage word is this close to it in context
    span_keyword_weight: float = 0.3  # answer sentence: dense + this * normalised keyword
    keyword_saturation: float = 5.0  # 0: keyword / best keyword; c > 0: keyword / (keyword + c)
    entry_weight: float = 0.85  # acronym entries count this much unless the question asks what one means
    rerank_depth: int = 10  # passages re-scored with token-level matching
    rerank_weight: float = 1.2  # score = fused + this * mean best-token similarity
    expand_dense: bool = True  # append acronym expansions to the text that is embedded
    expand_keyword: bool = False  # add acronym expansions to the keyword query
    everyday_dense: bool = True  # append the report's words for slang ("junkies") to the embedded text
    everyday_keyword: bool = True  # and add them to the keyword query

    def expansions(self) -> Expansions:
        return Expansions(self.expand_dense, self.expand_keyword, self.everyday_dense, self.everyday_keyword)


@dataclass(frozen=True)
class Scope:
    """Some reports of the library: which passages and units are in, and FAISS's selector for them."""

    passages: np.ndarray  # bool per passage
    units: np.ndarray  # bool per unit
    selector: faiss.IDSelector
    count: int


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
    reason: str = ""  # why it was declined, in words; empty when answered
    table: TableAnswer | None = None  # an answer computed over a table (qa.table_answers)

    @property
    def answer(self) -> Hit | None:
        return self.hits[0] if self.answered and self.hits else None


# ---------------------------------------------------------------------------
# What a passage must hold to answer what the question expects.

_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    "seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|"
    "million|dozen|half"
)
_HAS_NUMBER = re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.I)
# "Recommendation 61", "Chart 3", "section 8": numbers that label something rather than count it.
_LABEL_NUMBER = re.compile(
    r"\b(?:recommendation|paragraph|para|chart|table|section|report|paper|question|q|scd|phase|article|"
    r"schedule|part|page|level|tier|category|grade|class)\s*['‘’]?\d+(?:\s*\(\d+\))?",
    re.I,
)
_HAS_PERSON = re.compile(  # a title and a name: "Assistant Commissioner Ghaffur", "Sir Ian Blair"
    r"\b(?:Sir|Lord|Lady|Baroness|Dame|Mr|Mrs|Ms|Miss|Dr|Professor|Commissioner|Secretary|Minister|"
    r"Mayor|Chair|Chairman|Director|Commander|Superintendent|Inspector|Sergeant|Constable)\.?\s+"
    r"(?!(?:Sir|Lord|Commissioner|Secretary|Minister|Director|Inspector|Sergeants?|Constables?|"
    r"General|Team|Unit|Office|Department|Directorate)\b)[A-Z][a-z][A-Za-z'\-]+"
)
_HAS_MONEY = re.compile(r"£|\b(?:million|billion|pounds)\b", re.I)
_HAS_DATE = re.compile(rf"\b{YEAR}\b|\b(?:{'|'.join(MONTH_NAMES)}|spring|summer|autumn|winter)\b", re.I)


_COUNT = re.compile(rf"\d[\d,.]*%?|{_NUMBER_WORDS}", re.I)
_YEAR_NUMBER = re.compile(YEAR)
_WORD_OR_NUMBER = re.compile(r"£?\d[\d,.]*%?|[A-Za-z][A-Za-z'\-]*|\(\d+\)")


def counted_words(passage: Passage, after: int = 3, before: int = 1) -> list[str]:
    """What a passage's figures count: the content words next to each number, in its sentence
    ('30,000 police officers' -> police, officers; 'companies (of which there are 950 in London)'
    -> companies, london). A table counts what its caption and header name."""
    if passage.kind == "table":
        return _WORD_OR_NUMBER.findall(" ".join(passage.text.split("\n")[:2]))
    words: list[str] = []
    for sentence in re.split(r"(?<=[.;:!?])\s+|\n", _LABEL_NUMBER.sub(" ", passage.text)):
        tokens = _WORD_OR_NUMBER.findall(sentence)
        for position, token in enumerate(tokens):
            if _COUNT.fullmatch(token) and not _YEAR_NUMBER.fullmatch(token):
                words += _content_words(tokens[position + 1 :], after)
                words += _content_words(tokens[:position][::-1], before)
    return words


def _content_words(tokens: list[str], most: int) -> list[str]:
    words = [t for t in tokens if not (_COUNT.fullmatch(t) or t[0] in "(£" or t.lower() in STOPWORDS)]
    return words[:most]


def passage_can_answer(passage: Passage, expects: str) -> bool:
    """A passage with no number cannot say how many; one with no amount cannot say what it cost."""
    if expects == "money":
        return _HAS_MONEY.search(passage.text) is not None
    if expects == "number":
        return _HAS_NUMBER.search(_LABEL_NUMBER.sub(" ", passage.text)) is not None
    if expects == "person":
        return _HAS_PERSON.search(passage.text) is not None
    if expects == "date":
        return _HAS_DATE.search(passage.text) is not None
    return True


# ---------------------------------------------------------------------------
# Scoring.


class Searcher:
    """Ranks passages for questions over one SearchIndex."""

    def __init__(self, index: SearchIndex, embedder: Embedder, config: SearchConfig | None = None):
        self.index = index
        self.embedder = embedder
        self.config = config or SearchConfig()
        self.corpus = index.corpus
        self.analyzer = QueryAnalyzer(index.corpus, self.config.expansions())
        self._unit_passage = np.array([u.passage for u in index.units], dtype=np.int64)
        self._is_whole = np.array([u.kind == "passage" for u in index.units])
        self._is_entry = np.array([u.kind == "entry" for u in index.units])
        self._spans = [passage_spans(p) for p in self.corpus.passages]
        positions = range(len(self.corpus.passages))
        self._units_of = [np.flatnonzero(self._unit_passage == p) for p in positions]
        self._answer_units_of = [units[~self._is_whole[units]] for units in self._units_of]
        # Stored as float16 to keep the index small; converted once here, not per question.
        self._passage_tokens = [m.astype(np.float32) for m in index.passage_tokens]
        passages = self.corpus.passages
        self._passage_stems = [set(tokenize(f"{p.section} {p.heading} {p.text}")) for p in passages]
        # Words the whole report is about, and the words a question uses for the report itself.
        self._common_stems = _common_stems(self._passage_stems, COMMON_SHARE) | set(tokenize(SELF_WORDS))
        self._passage_words = [sorted(set(re.findall(r"[a-z]{5,}", normalise(p.text)))) for p in passages]
        self._place_tokens = _place_tokens(index.corpus, embedder)
        counted = [counted_words(p) for p in passages]
        self._counted_stems = [
            set(tokenize(" ".join([*words, *self.analyzer.expand(" ".join(words))]))) for words in counted
        ]  # "BOCUs" counts boroughs: an acronym brings its expansion
        self._counted_tokens = _counted_tokens(counted, embedder)
        self._passage_labels = [set(labels_in(p.text)) for p in passages]
        self._folded_passages = [_folded(p.text) for p in passages]
        present = {r.slug: r.date.year for r in self.corpus.reports if r.date is not None}
        self._passage_years = [
            years_in(p.text, present.get(p.doc)) | ({present[p.doc]} if p.doc in present else set())
            for p in passages
        ]

    @property
    def fingerprint(self) -> str:
        return self.index.fingerprint

    def set_config(self, config: SearchConfig) -> None:
        self.config = config
        self.analyzer.options = config.expansions()

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
        return [_with_time(result, elapsed) for result in results]

    def search(self, question: str, k: int = 3) -> list[Hit]:
        return self.ask(question, k).hits

    def analyse(self, question: str) -> Query:
        return self.analyzer.analyse(question)

    def answer(self, query: Query, encoded: Encoded, k: int, docs: Sequence[str] | None = None) -> Result:
        """Rank passages for an analysed question whose text is already embedded; `docs` limits it
        to those reports."""
        scope = self._scope(docs)
        unit_dense, unit_keyword = self._unit_scores(query, encoded.vectors[0], scope)
        if not query.asks_definition:
            unit_dense = np.where(self._is_entry, unit_dense * self.config.entry_weight, unit_dense)
        ranked = self._rank(unit_dense, unit_keyword)
        if scope is not None:
            ranked = [(p, score) for p, score in ranked if scope.passages[p]]
        ranked = self._rerank(ranked, encoded.tokens[0])
        if query.cited is not None:
            cited = self.corpus.passages.index(query.cited)
            ranked = [(cited, 1.0)] + [(p, score) for p, score in ranked if p != cited]
        hits = [self._hit(p, score, unit_dense, unit_keyword) for p, score in ranked[:k]]
        if query.cited is not None:
            return Result(query.question, True, hits, lookup=True)
        reason = self._decline_reason(query, ranked[0][0], hits[0], encoded) if hits else _NOTHING_CLOSE
        # --- Tables as data (qa.table_answers): an aggregate question is answered by computing over
        # the table, which is cited first. A decline over a name, year or label the table lacks stands.
        computed = answer_from_tables(query.question, [self.corpus.passages[p] for p, _ in ranked], top=k)
        named = query.unknown_names or query.placed or query.named_places or query.years or query.labels
        leads = not reason and computed.is_from(hits[0].passage) if computed else False
        if computed and (leads or computed.aggregate and not (reason and named)):
            position, score = next((p, s) for p, s in ranked if computed.is_from(self.corpus.passages[p]))
            table_hit = replace(self._hit(position, score, unit_dense, unit_keyword), span=computed.span)
            hits = [table_hit, *(hit for hit in hits if not computed.is_from(hit.passage))][:k]
            return Result(query.question, True, hits, table=computed)
        # --- end tables as data.
        return Result(query.question, not reason, hits, reason=reason)

    def _scope(self, docs: Sequence[str] | None) -> Scope | None:
        """The units and passages of some reports, as FAISS selector and masks (None: all)."""
        if docs is None or set(docs) >= set(self.corpus.docs):
            return None
        passages = np.zeros(len(self.corpus.passages), dtype=bool)
        for doc in docs:
            first, end = self.corpus.doc_range(doc)
            passages[first:end] = True
        units = passages[self._unit_passage]
        ids = np.flatnonzero(units).astype(np.int64)
        return Scope(passages=passages, units=units, selector=faiss.IDSelectorBatch(ids), count=len(ids))

    def _unit_scores(
        self, query: Query, vector: np.ndarray, scope: Scope | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        total = self.index.dense.ntotal
        unit_dense = np.full(total, -1.0, dtype=np.float32)
        if scope is None:
            scores, ids = self.index.dense.search(vector.reshape(1, -1), total)
        else:  # FAISS scores only the scope's units
            params = faiss.SearchParameters(sel=scope.selector)
            scores, ids = self.index.dense.search(vector.reshape(1, -1), scope.count, params=params)
        unit_dense[ids[0]] = scores[0]
        if query.tokens:
            weights = None if scope is None else scope.units.astype(np.float32)
            unit_keyword = np.asarray(
                self.index.keyword.get_scores(query.tokens, weight_mask=weights), dtype=np.float32
            )
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
        return _mean_best_cosine(question_tokens, self._passage_tokens[position])

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

    def _decline_reason(self, query: Query, position: int, top: Hit, encoded: Encoded) -> str:
        """Why the first passage does not answer the question, in words; '' when it does."""
        checks = (
            self._unknown_reason,
            self._missing_row_reason,
            self._answer_kind_reason,
            self._label_reason,
            self._year_reason,
            self._unmentioned_reason,
            self._uncounted_reason,
        )
        for check in checks:
            reason = check(query, position, encoded)
            if reason:
                return reason
        return "" if top.score >= self.config.answer_min_score else _NOTHING_CLOSE

    def _unknown_reason(self, query: Query, position: int, encoded: Encoded) -> str:
        if not self.config.decline_unknown_names:
            return ""
        named = {name.lower() for name in query.unknown_names}
        places = [w for w in query.placed if w not in named and self.is_place(w, encoded)]
        if query.unknown_names or places:
            return f"The report never mentions {_listed(query.unknown_names + places)}."
        return ""

    def _missing_row_reason(self, query: Query, position: int, encoded: Encoded) -> str:
        if not self.config.decline_unknown_names or self.corpus.passages[position].kind != "table":
            return ""
        missing = [name for name in query.named_places if not self._has_row(position, name)]
        return f"The closest passage is a table with no row for {_listed(missing)}." if missing else ""

    def _answer_kind_reason(self, query: Query, position: int, encoded: Encoded) -> str:
        passage = self.corpus.passages[position]
        if not self.config.decline_missing_quantity or passage_can_answer(passage, query.expects):
            return ""
        return f"The closest passage gives no {_EXPECTED_NAMES[query.expects]} to answer with."

    def _label_reason(self, query: Query, position: int, encoded: Encoded) -> str:
        if not self.config.decline_unmentioned or not query.labels:
            return ""
        if set(query.labels) & self._passage_labels[position]:
            return ""
        return f"The closest passage never mentions {_listed([label.title() for label in query.labels])}."

    def _year_reason(self, query: Query, position: int, encoded: Encoded) -> str:
        if not self.config.decline_other_years or not query.years or self.speaks_of(position, query.years):
            return ""
        return f"The closest passage says nothing about {_years_text(query.years)}."

    def _unmentioned_reason(self, query: Query, position: int, encoded: Encoded) -> str:
        if not self.config.decline_unmentioned:
            return ""
        missing = [word for word in query.asked if not self.mentions(position, word, encoded)]
        if missing and (query.asked[-1] in missing or 2 * len(missing) >= len(query.asked)):
            return f"The closest passage never mentions {_listed(missing)}."
        return ""

    def _uncounted_reason(self, query: Query, position: int, encoded: Encoded) -> str:
        """'How many X': one of the passage's figures must count X ('30,000 police officers')."""
        if not self.config.decline_missing_quantity or query.expects != "number":
            return ""
        if not query.asked or any(self.counts(position, word, encoded) for word in query.asked):
            return ""
        return f"The closest passage gives no figure for {_listed(query.asked)}."

    def counts(self, position: int, word: str, encoded: Encoded) -> bool:
        """Is one of the passage's figures a count of this question word (or of a word close to it)?"""
        if _shares_stem(self._word_stems(word), self._counted_stems[position]):
            return True
        vectors = self._word_vectors(word, encoded)
        counted = self._counted_tokens[position]
        if len(vectors) == 0 or len(counted) == 0:
            return len(vectors) == 0
        return _mean_best_cosine(vectors, counted) >= COUNTED_MIN_SIMILARITY

    def _word_stems(self, word: str) -> set[str]:
        """A question word's stems, with the report's terms for it and its acronym's expansion."""
        return set(tokenize(" ".join([word, *report_terms(word), *self.analyzer.expand(word.upper())])))

    def _has_row(self, position: int, name: str) -> bool:
        """Does this table have a row for the place, or is the place the report's own area (named all
        over it: the whole its rows make up)?"""
        table = read_table(self.corpus.passages[position])
        folded = _folded(name)
        if table is not None and any(_folded(row.name) == folded for row in table.rows):
            return True
        pattern = re.compile(rf"\b{re.escape(folded)}\b")
        named_in = sum(pattern.search(text) is not None for text in self._folded_passages)
        return named_in >= WHOLE_PLACE_SHARE * len(self._folded_passages)

    def speaks_of(self, position: int, years: tuple[int, int]) -> bool:
        """Does the passage speak of a year in this span? The report's own year always counts: a
        report dated 2005 describes 2005 wherever it does not say otherwise."""
        first, last = years
        return any(first <= year <= last for year in self._passage_years[position])

    def is_place(self, word: str, encoded: Encoded) -> bool:
        """Does the model read this question word as a place, like the boroughs the report names?"""
        vectors = self._word_vectors(word, encoded)
        if len(vectors) == 0 or len(self._place_tokens) == 0:
            return False
        return _mean_best_cosine(vectors, self._place_tokens) >= PLACE_MIN_SIMILARITY

    def mentions(self, position: int, word: str, encoded: Encoded) -> bool:
        """Does the passage name this question word, or a word the model finds close to it here?"""
        stems = self._word_stems(word)
        if stems & self._common_stems or _shares_stem(stems, self._passage_stems[position]):
            return True  # named here (or by a word of the same root), or what the whole report is about
        if len(word) >= 7 and difflib.get_close_matches(word, self._passage_words[position], 1, 0.85):
            return True  # a misspelling of one of its words ('methamfetamine')
        vectors = self._word_vectors(word, encoded)
        if len(vectors) == 0:
            return True  # nothing to compare (the word is all stop pieces)
        return _mean_best_cosine(vectors, self._passage_tokens[position]) >= self.config.asked_min_similarity

    def _word_vectors(self, word: str, encoded: Encoded) -> np.ndarray:
        """The question's token vectors for one of its words (none if the word is not found)."""
        pieces = encoded.pieces[0] if encoded.pieces else []
        return encoded.tokens[0][_piece_rows(pieces, self.embedder.word_pieces(word))]


COMMON_SHARE = 0.25
SELF_WORDS = "report document"  # "is the report's list of background papers empty": about the report
PLACE_MIN_SIMILARITY = 0.5  # a word after "in" this close to a borough is a place (chosen on tuning)
COUNTED_MIN_SIMILARITY = 0.5  # a question word this close to a counted word is what it counts
_PLACED_NAME = re.compile(r"\b(?:in|across|throughout)\s+([A-Z][a-z]+(?:\s[A-Z][a-z]+)*)")
WHOLE_PLACE_SHARE = 0.1  # a place named in this share of passages is the report's own area


def _place_tokens(corpus: Corpus, embedder: Embedder) -> np.ndarray:
    """Token vectors of the places the report names: the row names of its tables (names in letters;
    a table whose rows are not places adds its row names all the same) and the capitalised names it
    puts after 'in', 'across' or 'throughout' (months aside)."""
    tables = [read_table(passage) for passage in corpus.passages]
    names = [row.name for table in tables if table is not None for row in table.rows]
    names += [name for p in corpus.passages for name in _PLACED_NAME.findall(p.text)]
    months = {month.lower() for month in MONTH_NAMES}
    places = sorted({n for n in names if re.fullmatch(r"[A-Z][A-Za-z ]+", n) and n.lower() not in months})
    encoded = embedder.encode_tokens([f"drug crime in {place}" for place in places])
    rows = [
        tokens[len(tokens) - len(embedder.word_pieces(place.lower())) :]  # the place's own pieces
        for tokens, place in zip(encoded.tokens, places, strict=True)
    ]
    return np.vstack(rows) if rows else np.zeros((0, embedder.dimension), dtype=np.float32)


def _counted_tokens(counted: list[list[str]], embedder: Embedder) -> list[np.ndarray]:
    """Token vectors of each passage's counted words, read together (one short text a passage)."""
    texts = [" ".join(words) for words in counted]
    # Small batches: one batch of all 61 texts, padded to the longest, adds ~40 MB of peak memory.
    encoded = embedder.encode_tokens([text or "-" for text in texts], batch_size=4)
    empty = np.zeros((0, embedder.dimension), dtype=np.float32)
    return [tokens if text else empty for tokens, text in zip(encoded.tokens, texts, strict=True)]


_NOTHING_CLOSE = "No passage of the report is close enough to the question."
_EXPECTED_NAMES = {"number": "number", "money": "amount of money", "date": "date", "person": "person's name"}


def _shares_stem(stems: set[str], others: set[str]) -> bool:
    """A stem in both sets, or two of the same root ('seized' and 'seizures' stem apart)."""
    return bool(stems & others) or any(_same_root(stem, other) for stem in stems for other in others)


def _same_root(stem: str, other: str, most_extra: int = 2) -> bool:
    """'seiz' and 'seizur': one stem (of 4+ letters) starts the other, with a short ending left."""
    short, long = sorted((stem, other), key=len)
    return len(short) >= 4 and long.startswith(short) and len(long) - len(short) <= most_extra


def _folded(text: str) -> str:
    """Text compared for table rows: normalised, '&' read as 'and', spacing collapsed."""
    return " ".join(normalise(text).replace("&", " and ").split())


def _years_text(years: tuple[int, int]) -> str:
    first, last = years
    if first == last:
        return str(first)
    if last == OPEN_END:
        return f"{first} or later"
    return f"{last} or earlier" if first == 0 else f"{first} to {last}"


def _listed(words: list[str]) -> str:
    quoted = [f"'{word}'" for word in words]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _common_stems(passage_stems: list[set[str]], share: float) -> set[str]:
    """Stems found in at least this share of the passages: what the whole report is about."""
    counts = Counter(stem for stems in passage_stems for stem in stems)
    return {stem for stem, count in counts.items() if count >= share * len(passage_stems)}


def _mean_best_cosine(tokens: np.ndarray, others: np.ndarray) -> float:
    """Mean over `tokens` of each one's best cosine with any of `others` (rows are normalised)."""
    return float((tokens @ others.T).max(axis=1).mean())


def _piece_rows(pieces: list[str], word: list[str]) -> list[int]:
    """Where a word's pieces sit in a question's content pieces (first occurrence), else []."""
    for start in range(len(pieces) - len(word) + 1):
        if pieces[start : start + len(word)] == word:
            return list(range(start, start + len(word)))
    return []


def _with_time(result: Result, took_ms: float) -> Result:
    return replace(result, took_ms=round(took_ms, 3))


def normalise_question(question: str) -> str:
    """The form of a question used as a cache key: case, spacing and punctuation folded."""
    return re.sub(r"[\s?!.]+", " ", normalise(question)).strip()
