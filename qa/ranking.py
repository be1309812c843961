"""Rank passages: dense and keyword scores per unit, blended per passage, fused, then a token-level rerank."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import faiss
import numpy as np

from qa import ann
from qa.index import SearchIndex
from qa.reading import SUMMARY_ID
from qa.shortlist import at_least, kth_largest, runs


@dataclass(frozen=True, kw_only=True)
class RankingConfig:
    """Scoring knobs, chosen with `qa eval` on the tuning questions (see README)."""

    dense_weight: float = 0.55  # fused = dense_weight * dense + (1 - dense_weight) * keyword
    best_unit_weight: float = 0.4  # a passage's dense score: best unit vs the whole passage
    keyword_best_unit_weight: float = 0.5  # same blend for keyword scores
    keyword_saturation: float = 5.0  # 0: keyword / best keyword; c > 0: keyword / (keyword + c)
    entry_weight: float = 0.85  # acronym entries count this much unless the question asks what one means
    rerank_depth: int = 10  # passages re-scored with token-level matching
    rerank_weight: float = 1.2  # score = fused + this * mean best-token similarity
    # A report's summary restates its paragraphs; where both match, the paragraph that says it in
    # full is the citation (a question about the report as a whole names the summary directly).
    summary_penalty: float = 0.2
    # A question that names no report and ranks the same section of several reports within this gap
    # of the first (among the first `shared_section_depth`) is asked of the default report.
    shared_section_gap: float = 0.1
    shared_section_depth: int = 4
    # Passages within this of the first, of reports that use every name the question does, rank
    # ahead of those whose report never does.
    knowing_gap: float = 0.3


# Units scored by their own dense score; the rest take the last one's score. Every unit of a library
# up to a few hundred reports; past that, sorting every unit cost more than the rest of search.
DENSE_CANDIDATES = 4000


@dataclass(frozen=True, kw_only=True)
class Scope:
    """Some reports of the library: the numbers of their passages and of their units, so search
    scores nothing outside them (and does work in proportion to them, not to the library)."""

    docs: tuple[str, ...]
    pool: np.ndarray  # int64: the positions of the passages in scope, ascending
    ids: np.ndarray  # int64: the numbers of the units in scope, ascending
    passage_count: int  # passages in the whole library

    @property
    def count(self) -> int:
        """Units in scope."""
        return len(self.ids)

    @functools.cached_property
    def passages(self) -> np.ndarray:
        """A bool per passage of the library: in scope or not."""
        mask = np.zeros(self.passage_count, dtype=bool)
        mask[self.pool] = True
        return mask


class DenseScores:
    """Inner products of a question vector with the index's unit vectors, by FAISS's own kernel
    (bit for bit the scores its flat search returns), without its search.

    FAISS's search keeps the best k in a heap: with k = DENSE_CANDIDATES that cost more than the
    inner products themselves (~40% of a 10k-unit library's units pass through the heap). The
    scores are all search needs: the k-th best is a partition away. An index that is not a flat
    inner-product index is searched by FAISS, as before."""

    def __init__(self, dense: faiss.Index) -> None:
        self.index = dense
        self.count = int(dense.ntotal)
        self.dim = int(dense.d)
        flat = isinstance(dense, faiss.IndexFlat) and dense.metric_type == faiss.METRIC_INNER_PRODUCT
        self._vectors = dense.get_xb() if flat and self.count else None  # FAISS's own memory, no copy
        # The same memory as rows of a numpy array (no copy), for a scope's runs of units.
        self._rows = (
            faiss.rev_swig_ptr(self._vectors, self.count * self.dim).reshape(self.count, self.dim)
            if self._vectors is not None
            else np.empty((0, self.dim), dtype=np.float32)
        )

    def scores(self, vector: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        """float32 scores of every unit, or of the units numbered `ids` (int64, in that order)."""
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        if self._vectors is None:
            return self._searched(query, ids)
        out = np.empty(self.count if ids is None else len(ids), dtype=np.float32)
        if ids is None:
            faiss.fvec_inner_products_ny(
                faiss.swig_ptr(out), faiss.swig_ptr(query), self._vectors, self.dim, self.count
            )
        elif len(ids):
            # A scope is whole reports, so its units come in runs of consecutive numbers: each run by
            # the same kernel as the whole library (fvec_inner_products_by_idx runs an OpenMP loop,
            # which made scoped questions slower in the server than FAISS's search had been).
            ids = np.asarray(ids, dtype=np.int64)
            starts = np.flatnonzero(np.diff(ids, prepend=ids[:1] - 2) != 1)
            ends = np.append(starts[1:], len(ids))
            for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
                rows = self._rows[ids[start] : ids[start] + end - start]
                faiss.fvec_inner_products_ny(
                    faiss.swig_ptr(out[start:end]),
                    faiss.swig_ptr(query),
                    faiss.swig_ptr(rows),
                    self.dim,
                    end - start,
                )
        return out

    def nearest(
        self, vector: np.ndarray, ids: np.ndarray | None = None, count: int | None = None
    ) -> np.ndarray:
        """Every unit's score (-1 for those not in `ids`, when given), as FAISS's search for the
        `count` nearest (DENSE_CANDIDATES) left them: past the nearest, a large library's units
        take the last nearest one's score, so no far unit outranks a near one."""
        scores = self.scores(vector, ids)
        nearest = min(len(scores), DENSE_CANDIDATES if count is None else count)
        if nearest < len(scores):  # the k-th best score: from a shortlist, not a sort of every unit
            scores = np.maximum(scores, kth_largest(scores, nearest))
        if ids is None:
            return scores
        every = np.full(self.count, -1.0, dtype=np.float32)
        every[ids] = scores
        return every

    def listed(self, vector: np.ndarray, lists: ann.UnitLists) -> tuple[np.ndarray, np.float32]:
        """Every unit's score read from the lists nearest the question, and the floor: the units
        read keep their scores (past DENSE_CANDIDATES of them, the last nearest one's, as in
        `nearest`); every other unit takes the floor, the lowest score kept. Reading fewer than
        DENSE_CANDIDATES units (a library just past ann.MIN_UNITS) makes the floor the lowest read."""
        found, numbers = lists.scanned(vector)
        if not len(found):
            floor = np.float32(-1.0)
            return np.full(self.count, floor, dtype=np.float32), floor
        floor = np.float32(kth_largest(found, min(len(found), DENSE_CANDIDATES)))  # all read: the lowest
        every = np.full(self.count, floor, dtype=np.float32)
        every[numbers] = np.maximum(found, floor)
        return every, floor

    def _searched(self, query: np.ndarray, ids: np.ndarray | None) -> np.ndarray:
        """Any other FAISS index: every unit (or the scope's) through its own search."""
        wanted = self.count if ids is None else len(ids)
        params = None if ids is None else faiss.SearchParameters(sel=faiss.IDSelectorBatch(ids))
        found, numbers = self.index.search(query.reshape(1, -1), wanted, params=params)
        full = np.zeros(self.count, dtype=np.float32)
        full[numbers[0]] = found[0]
        return full if ids is None else full[ids]


@dataclass(frozen=True, kw_only=True)
class KeywordScores:
    """A question's BM25 score of every unit (0 outside its scope, and for units without its words)."""

    units: np.ndarray


TOP_CANDIDATES = 50  # passages kept in rank order; answers, lookups and the rerank use the first 10


def _no_tables(docs: Collection[str]) -> list[tuple[int, float]]:
    return []


@dataclass(frozen=True, kw_only=True)
class Ranking:
    """The best passages first with their final scores, the unit scores that put them there, and
    the scope's other tables in rank order (a table answer may come from any table it names)."""

    ranked: list[tuple[int, float]]  # (passage position, score): the first TOP_CANDIDATES, and ties
    unit_dense: np.ndarray
    unit_keyword: np.ndarray
    # The scope's tables of some reports that are not in `ranked`, in rank order: scored when asked
    # for, so a question pays for the tables of the reports it leads to, not the library's.
    later_tables: Callable[[Collection[str]], list[tuple[int, float]]] = field(default=_no_tables)


class TokenMatrices(Sequence[np.ndarray]):
    """Each passage's content-token vectors, kept as the index stores them (float16: half the
    memory of a library's largest part) and converted to float32 for the passages a question
    reranks or checks. The last CONVERTED conversions are kept: converting ~10 passages per question
    cost ~2 ms, and the passages that rank high are asked about again and again."""

    CONVERTED = 256  # ~50 MB at most for the seed's passages (~200 KB each as float32)

    def __init__(self, matrices: list[np.ndarray]) -> None:
        self._matrices = matrices
        self._float32 = functools.lru_cache(maxsize=self.CONVERTED)(self._convert)

    def _convert(self, position: int) -> np.ndarray:
        return to_float32(self._matrices[position])

    def __len__(self) -> int:
        return len(self._matrices)

    def __getitem__(self, position: int) -> np.ndarray:  # type: ignore[override]
        return self._float32(int(position))


def to_float32(matrix: np.ndarray) -> np.ndarray:
    """A float32 copy of a float16 matrix: the same values as numpy's `astype` (every float16 is a
    float32 exactly), converted by torch's vectorised kernel, ~15x faster than numpy's (~0.04 vs
    ~0.6 ms for a passage of 800 tokens: most of the rerank on a large library, where the
    conversions of the passages a question reranks rarely hit the cache). Arrays torch cannot
    share without copying (read-only, not contiguous, not float16) go through numpy."""
    if matrix.dtype != np.float16 or not matrix.flags.writeable or not matrix.flags.c_contiguous:
        return matrix.astype(np.float32)
    import torch  # loaded already wherever a model is (imported here: the index alone needs no torch)

    return torch.from_numpy(matrix).float().numpy()


class Ranker:
    """Scores every unit of an index for a question, and every passage from its units (a scope's
    passages only, when the question has one), sorting only a shortlist of them (qa.shortlist)."""

    def __init__(self, index: SearchIndex) -> None:
        self.index = index
        corpus = index.corpus
        self.passage_count = len(corpus.passages)
        self.unit_passage = np.array([u.passage for u in index.units], dtype=np.int64)
        self.is_whole = np.array([u.kind == "passage" for u in index.units])
        self.is_entry = np.array([u.kind == "entry" for u in index.units])
        self._entries = np.flatnonzero(self.is_entry)
        self.unit_starts, self.unit_ends = unit_ranges(self.unit_passage, self.passage_count)
        self.whole_unit = self.unit_passage[self.is_whole]  # the passage of each whole-passage unit
        self._whole_units = np.flatnonzero(self.is_whole)  # their unit numbers (a gather, not a mask)
        # Each passage's whole unit (-1: none), as the full blend reads it (the last, were there two).
        self._whole_of = np.full(self.passage_count, -1, dtype=np.int64)
        self._whole_of[self.whole_unit] = self._whole_units
        self._whole_everywhere = bool((self._whole_of >= 0).all())
        self._one_whole_each = np.array_equal(self.whole_unit, np.arange(self.passage_count))
        self._has_units = self.unit_ends > self.unit_starts
        self._every_passage_has_units = bool(self._has_units.all())  # build_units gives each a whole unit
        kinds = np.array([p.kind for p in corpus.passages])
        self.tables = np.flatnonzero(kinds == "table")
        self._tables_of: dict[str, np.ndarray] = {}
        for doc in corpus.docs:
            first, end = corpus.doc_range(doc)
            self._tables_of[doc] = self.tables[(self.tables >= first) & (self.tables < end)]
        self._docs = frozenset(corpus.docs)
        self.is_summary = np.array([p.id == SUMMARY_ID for p in corpus.passages], dtype=bool)
        self.passage_tokens = TokenMatrices(index.passage_tokens)
        self.dense = DenseScores(index.dense)
        self.lists = index.lists

    def rank(
        self,
        *,
        vector: np.ndarray,
        keyword_tokens: list[str],
        question_tokens: np.ndarray,
        asks_definition: bool,
        config: RankingConfig,
        scope: Scope | None = None,
        keyword: KeywordScores | None = None,
    ) -> Ranking:
        if keyword is None:
            keyword = self.keyword(keyword_tokens, config, scope)
        unit_keyword = keyword.units
        listed = scope is None and self.lists is not None
        if listed:
            unit_dense, floor = self.dense.listed(vector, self.lists)
        else:
            unit_dense = self.dense.nearest(vector, None if scope is None else scope.ids)
        if not asks_definition:
            unit_dense[self._entries] *= config.entry_weight  # a fresh array: weighed in place
        if scope is None or config.keyword_saturation <= 0:
            # Every passage: blending only those with a unit past the floor or a keyword measured
            # slower at 1,000 reports (~1,600 and ~2,000 of 9,710 passages) than one pass over all.
            fused = self.fused_scores(unit_dense, unit_keyword, config)
            top = self.top(fused, scope)
            fused_of: Callable[[np.ndarray], np.ndarray] = fused.__getitem__
            if listed:
                # The lists read the nearest units only: the passages that can be cited (the
                # shortlist, and a table asked for later) are scored again from their units' exact
                # scores, so their order, spans and the checks' figures are those of exact scores.
                fused_of = functools.partial(
                    self._exact_fused,
                    vector=vector,
                    unit_dense=unit_dense,
                    unit_keyword=unit_keyword,
                    floor=floor,
                    asks_definition=asks_definition,
                    config=config,
                )
                top = self._rescored(top, fused_of)
        else:  # a scope's passages alone: the work is the scope's, whatever the library's size
            top = self._top_of(scope.pool, self._fused_at(scope.pool, unit_dense, unit_keyword, config))
            fused_of = functools.partial(
                self._fused_at, unit_dense=unit_dense, unit_keyword=unit_keyword, config=config
            )
        ranked = self.rerank(top, question_tokens, config)
        later = functools.partial(
            self._later_tables, fused_of=fused_of, ranked=frozenset(p for p, _ in top), scope=scope
        )
        return Ranking(ranked=ranked, unit_dense=unit_dense, unit_keyword=unit_keyword, later_tables=later)

    def _exact_fused(
        self,
        positions: np.ndarray,
        *,
        vector: np.ndarray,
        unit_dense: np.ndarray,
        unit_keyword: np.ndarray,
        floor: np.float32,
        asks_definition: bool,
        config: RankingConfig,
    ) -> np.ndarray:
        """The fused scores of the passages at `positions` (ascending) from their units' exact dense
        scores, floored and weighed as `rank` does every unit's; `unit_dense` takes those scores."""
        positions = np.asarray(positions, dtype=np.int64)
        with_units = positions[self._has_units[positions]]
        if len(with_units):
            units, _ = runs(self.unit_starts[with_units], self.unit_ends[with_units])
            scores = np.maximum(self.dense.scores(vector, units), floor)
            if not asks_definition:
                scores[self.is_entry[units]] *= config.entry_weight
            unit_dense[units] = scores
        if config.keyword_saturation > 0:
            return self._fused_at(positions, unit_dense, unit_keyword, config)
        return self.fused_scores(unit_dense, unit_keyword, config)[positions]  # tuning settings only

    def _rescored(
        self, top: list[tuple[int, float]], fused_of: Callable[[np.ndarray], np.ndarray]
    ) -> list[tuple[int, float]]:
        """The shortlist in the order of its passages' scores given by `fused_of`."""
        pool = np.array(sorted(p for p, _ in top), dtype=np.int64)
        return self._top_of(pool, fused_of(pool)) if len(pool) else top

    def scope(self, docs: Sequence[str] | None) -> Scope | None:
        """The units and passages of some reports (None: the whole library). A report's passages,
        and so its units, are one run of positions: a scope costs its reports, not the library."""
        if docs is None or set(docs) >= self._docs:
            return None
        corpus = self.index.corpus
        ranges = sorted({corpus.doc_range(doc) for doc in docs})
        ranges = [(first, end) for first, end in ranges if end > first]
        pool = [np.arange(first, end, dtype=np.int64) for first, end in ranges]
        starts, ends = self.unit_starts, self.unit_ends
        ids = [np.arange(starts[first], ends[end - 1], dtype=np.int64) for first, end in ranges]
        return Scope(docs=tuple(docs), pool=_joined(pool), ids=_joined(ids), passage_count=self.passage_count)

    def unit_scores(
        self, vector: np.ndarray, keyword_tokens: list[str], scope: Scope | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Dense and keyword scores of every unit; outside the scope dense is -1 and keyword 0,
        and dense is not computed for those units."""
        return self.dense_scores(vector, scope), self.keyword_scores(keyword_tokens, scope)

    def dense_scores(self, vector: np.ndarray, scope: Scope | None = None) -> np.ndarray:
        """Each unit's dense score (-1 outside the scope); see DenseScores.nearest."""
        return self.dense.nearest(vector, None if scope is None else scope.ids)

    def keyword(
        self, keyword_tokens: list[str], config: RankingConfig, scope: Scope | None = None
    ) -> KeywordScores:
        """The keyword side of ranking: every unit's BM25 score."""
        return KeywordScores(units=self.keyword_scores(keyword_tokens, scope))

    def keyword_scores(self, keyword_tokens: list[str], scope: Scope | None = None) -> np.ndarray:
        """BM25 scores of every unit (0 outside the scope, and with no keyword)."""
        total = self.dense.count
        if not keyword_tokens:
            return np.zeros(total, dtype=np.float32)
        scores = np.asarray(self.index.keyword.get_scores(keyword_tokens), dtype=np.float32)
        if scope is None:
            return scores
        # The scope's units keep theirs (as BM25's weight mask of 1 and 0 left them, without the mask).
        scoped = np.zeros(total, dtype=np.float32)
        scoped[scope.ids] = scores[scope.ids]
        return scoped

    def passage_scores(self, unit_scores: np.ndarray, best_weight: float) -> np.ndarray:
        """A blend of each passage's best unit and its whole text."""
        if self._one_whole_each:  # a gather, where a scatter into zeros was a second pass
            whole = unit_scores[self._whole_units].astype(np.float32, copy=False)
        else:
            whole = np.zeros(self.passage_count, dtype=np.float32)
            whole[self.whole_unit] = unit_scores[self._whole_units]
        # Units come in passage order: each passage's best unit is a max over its run of units
        # (reduceat: one pass, where np.maximum.at was ~10x slower on a library).
        if self._every_passage_has_units:  # no masks to apply (~0.1 ms of 0.2 over 34k units)
            best = np.maximum(whole, np.maximum.reduceat(unit_scores, self.unit_starts))
        else:
            best = whole.copy()
            has_units = self._has_units
            best[has_units] = np.maximum(
                best[has_units], np.maximum.reduceat(unit_scores, self.unit_starts[has_units])
            )
        return _blend(best, whole, best_weight)

    def passage_scores_at(
        self, positions: np.ndarray, unit_scores: np.ndarray, best_weight: float
    ) -> np.ndarray:
        """`passage_scores` of the passages at `positions` alone (the same values, bit for bit:
        the same maxima and the same float32 blend), reading only their units."""
        positions = np.asarray(positions, dtype=np.int64)
        whole_units = self._whole_of[positions]
        whole = unit_scores[whole_units]
        if not self._whole_everywhere:
            whole = np.where(whole_units >= 0, whole, np.float32(0))
        best = whole.copy()
        has = self._has_units[positions]
        if has.any():
            numbers, offsets = runs(self.unit_starts[positions[has]], self.unit_ends[positions[has]])
            best[has] = np.maximum(whole[has], np.maximum.reduceat(unit_scores[numbers], offsets))
        return _blend(best, whole, best_weight)

    def fuse(
        self,
        unit_dense: np.ndarray,
        unit_keyword: np.ndarray,
        config: RankingConfig,
        scope: Scope | None = None,
    ) -> list[tuple[int, float]]:
        """The best passages (only the scope's), best first, by fused score."""
        return self.top(self.fused_scores(unit_dense, unit_keyword, config), scope)

    def fused_scores(
        self,
        unit_dense: np.ndarray,
        unit_keyword: np.ndarray,
        config: RankingConfig,
        keyword_norm: np.ndarray | None = None,
    ) -> np.ndarray:
        """Dense and saturated keyword scores fused per passage (the keyword side may be given)."""
        dense = self.passage_scores(unit_dense, config.best_unit_weight)
        if keyword_norm is None:
            keyword_norm = self.keyword_passages(unit_keyword, config)
        return config.dense_weight * dense + (1 - config.dense_weight) * keyword_norm

    def keyword_passages(self, unit_keyword: np.ndarray, config: RankingConfig) -> np.ndarray:
        """Each passage's keyword score, saturated (or relative to the best, with no saturation)."""
        keyword = self.passage_scores(unit_keyword, config.keyword_best_unit_weight)
        if config.keyword_saturation > 0:
            return keyword / (keyword + config.keyword_saturation)
        top_keyword = float(keyword.max())
        return keyword / top_keyword if top_keyword > 0 else keyword

    def _fused_at(
        self, positions: np.ndarray, unit_dense: np.ndarray, unit_keyword: np.ndarray, config: RankingConfig
    ) -> np.ndarray:
        """The fused scores of the passages at `positions` alone (saturated keywords only)."""
        dense = self.passage_scores_at(positions, unit_dense, config.best_unit_weight)
        keyword = self.passage_scores_at(positions, unit_keyword, config.keyword_best_unit_weight)
        keyword = keyword / (keyword + config.keyword_saturation)
        return config.dense_weight * dense + (1 - config.dense_weight) * keyword

    def top(
        self, fused: np.ndarray, scope: Scope | None, count: int = TOP_CANDIDATES
    ) -> list[tuple[int, float]]:
        """The first `count` passages of the scope (and any tied with the last), best first, in
        exactly the order a stable sort of every passage gives, without sorting every passage."""
        pool = np.arange(self.passage_count) if scope is None else scope.pool
        return self._top_of(pool, fused[pool], count)

    def _top_of(
        self, pool: np.ndarray, scores: np.ndarray, count: int = TOP_CANDIDATES
    ) -> list[tuple[int, float]]:
        """`top` over the passages of `pool` (ascending) with their fused `scores`."""
        shortlist = at_least(scores, count)  # holds the first `count` and their ties, in pool order
        if shortlist is not None:
            pool, scores = pool[shortlist], scores[shortlist]
        if len(pool) > count:
            # The count-th best score by a sort of the values, not np.partition: a library's fused
            # scores can hold a few values thousands of times (every passage with no keyword and
            # only far units ties), and the partition took ~0.65 ms over 9,710 such passages where
            # the sort takes ~0.06 ms. Either gives the same order statistic.
            threshold = np.sort(scores)[len(pool) - count]
            keep = scores >= threshold  # ties with the last kept: the stable order decides among them
            pool, scores = pool[keep], scores[keep]
        order = np.argsort(-scores, kind="stable")  # pool is in passage order: ties stay in it
        return [(int(p), float(s)) for p, s in zip(pool[order], scores[order], strict=True)]

    def _later_tables(
        self,
        docs: Collection[str],
        *,
        fused_of: Callable[[np.ndarray], np.ndarray],
        ranked: frozenset[int],
        scope: Scope | None,
    ) -> list[tuple[int, float]]:
        """The tables of these reports (in the scope) that are not among the ranked passages, in
        rank order."""
        found = [self._tables_of.get(doc, _EMPTY) for doc in docs]
        tables = np.sort(_joined(found))
        if scope is not None:
            tables = tables[scope.passages[tables]]
        tables = tables[[int(p) not in ranked for p in tables]] if len(tables) else tables
        scores = fused_of(tables)
        order = np.argsort(-scores, kind="stable")
        return [(int(p), float(s)) for p, s in zip(tables[order], scores[order], strict=True)]

    def rerank(
        self, ranked: list[tuple[int, float]], question_tokens: np.ndarray, config: RankingConfig
    ) -> list[tuple[int, float]]:
        """Late interaction: a passage gains by how well each question word finds a close word in it."""
        depth, weight = config.rerank_depth, config.rerank_weight
        if depth <= 0 or weight == 0 or len(question_tokens) == 0:
            return ranked
        head = [
            (
                position,
                score
                + weight * self.token_match(position, question_tokens)
                - config.summary_penalty * self.is_summary[position],
            )
            for position, score in ranked[:depth]
        ]
        head.sort(key=lambda item: item[1], reverse=True)
        return head + ranked[depth:]

    def token_match(self, position: int, question_tokens: np.ndarray) -> float:
        """Mean over question tokens of the best cosine with any token of the passage."""
        return float((question_tokens @ self.passage_tokens[position].T).max(axis=1).mean())


_EMPTY = np.zeros(0, dtype=np.int64)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else _EMPTY


def _blend(best: np.ndarray, whole: np.ndarray, best_weight: float) -> np.ndarray:
    """A passage's score from its best unit and its whole text (float32, element by element)."""
    return best_weight * best + (1 - best_weight) * whole


def unit_ranges(unit_passage: np.ndarray, passages: int) -> tuple[np.ndarray, np.ndarray]:
    """Each passage's units as one run [start, end) (build_units writes them in passage order)."""
    if len(unit_passage) and np.any(np.diff(unit_passage) < 0):
        raise ValueError("units are not in passage order")
    everyone = np.arange(passages)
    return (
        np.searchsorted(unit_passage, everyone, side="left"),
        np.searchsorted(unit_passage, everyone, side="right"),
    )
