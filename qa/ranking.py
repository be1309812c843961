"""Rank passages: dense and keyword scores per unit, blended per passage, fused, then a token-level rerank."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import faiss
import numpy as np

from qa.index import SearchIndex
from qa.reading import SUMMARY_ID


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
    """Some reports of the library: their units (numbers and mask) and passages (mask), so search
    scores nothing outside them."""

    docs: tuple[str, ...]
    passages: np.ndarray  # bool per passage
    units: np.ndarray  # bool per unit
    ids: np.ndarray  # int64: the numbers of the units in scope, ascending
    count: int  # units in scope


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
        if nearest < len(scores):  # the k-th best score: a partition, not a sort
            floor = np.partition(scores, len(scores) - nearest)[len(scores) - nearest]
            scores = np.maximum(scores, floor)
        if ids is None:
            return scores
        every = np.full(self.count, -1.0, dtype=np.float32)
        every[ids] = scores
        return every

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
    """A question's BM25 score of every unit, and the saturated keyword score of every passage:
    they need no vector, so the server works them out while the model encodes the question."""

    units: np.ndarray
    passages: np.ndarray


TOP_CANDIDATES = 50  # passages kept in rank order; answers, lookups and the rerank use the first 10


@dataclass(frozen=True, kw_only=True)
class Ranking:
    """The best passages first with their final scores, the unit scores that put them there, and
    the scope's other tables in rank order (a table answer may come from any table it names)."""

    ranked: list[tuple[int, float]]  # (passage position, score): the first TOP_CANDIDATES, and ties
    unit_dense: np.ndarray
    unit_keyword: np.ndarray
    later_tables: list[tuple[int, float]] = field(default_factory=list)  # tables past `ranked`


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
    """Scores every unit of an index for a question, and every passage from its units."""

    def __init__(self, index: SearchIndex) -> None:
        self.index = index
        self.passage_count = len(index.corpus.passages)
        self.unit_passage = np.array([u.passage for u in index.units], dtype=np.int64)
        self.is_whole = np.array([u.kind == "passage" for u in index.units])
        self.is_entry = np.array([u.kind == "entry" for u in index.units])
        self.unit_starts, self.unit_ends = unit_ranges(self.unit_passage, self.passage_count)
        self.whole_unit = self.unit_passage[self.is_whole]  # the passage of each whole-passage unit
        self._whole_units = np.flatnonzero(self.is_whole)  # their unit numbers (a gather, not a mask)
        self._has_units = self.unit_ends > self.unit_starts
        self._every_passage_has_units = bool(self._has_units.all())  # build_units gives each a whole unit
        kinds = np.array([p.kind for p in index.corpus.passages])
        self.tables = np.flatnonzero(kinds == "table")
        self.is_summary = np.array([p.id == SUMMARY_ID for p in index.corpus.passages], dtype=bool)
        self.passage_tokens = TokenMatrices(index.passage_tokens)
        self.dense = DenseScores(index.dense)

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
        unit_dense = self.dense_scores(vector, scope)
        unit_keyword = keyword.units
        if not asks_definition:
            unit_dense = np.where(self.is_entry, unit_dense * config.entry_weight, unit_dense)
        fused = self.fused_scores(unit_dense, unit_keyword, config, keyword.passages)
        top = self.top(fused, scope)
        ranked = self.rerank(top, question_tokens, config)
        later = self.later_tables(fused, {p for p, _ in top}, scope)
        return Ranking(ranked=ranked, unit_dense=unit_dense, unit_keyword=unit_keyword, later_tables=later)

    def scope(self, docs: Sequence[str] | None) -> Scope | None:
        """The units and passages of some reports (None: the whole library)."""
        corpus = self.index.corpus
        if docs is None or set(docs) >= set(corpus.docs):
            return None
        passages = np.zeros(self.passage_count, dtype=bool)
        for doc in docs:
            first, end = corpus.doc_range(doc)
            passages[first:end] = True
        units = passages[self.unit_passage]
        ids = np.flatnonzero(units).astype(np.int64)
        return Scope(docs=tuple(docs), passages=passages, units=units, ids=ids, count=len(ids))

    def unit_scores(
        self, vector: np.ndarray, keyword_tokens: list[str], scope: Scope | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Dense and keyword scores of every unit; outside the scope dense is -1 and keyword 0,
        and neither is computed for those units (unit numbers, BM25's weight mask)."""
        return self.dense_scores(vector, scope), self.keyword_scores(keyword_tokens, scope)

    def dense_scores(self, vector: np.ndarray, scope: Scope | None = None) -> np.ndarray:
        """Each unit's dense score (-1 outside the scope); see DenseScores.nearest."""
        return self.dense.nearest(vector, None if scope is None else scope.ids)

    def keyword(
        self, keyword_tokens: list[str], config: RankingConfig, scope: Scope | None = None
    ) -> KeywordScores:
        """The keyword side of ranking: every unit's BM25 score and every passage's blend of them."""
        units = self.keyword_scores(keyword_tokens, scope)
        return KeywordScores(units=units, passages=self.keyword_passages(units, config))

    def keyword_scores(self, keyword_tokens: list[str], scope: Scope | None = None) -> np.ndarray:
        """BM25 scores of every unit (0 outside the scope, and with no keyword)."""
        total = self.dense.count
        if keyword_tokens:
            mask = None if scope is None else scope.units.astype(np.float32)
            unit_keyword = np.asarray(
                self.index.keyword.get_scores(keyword_tokens, weight_mask=mask), dtype=np.float32
            )
        else:
            unit_keyword = np.zeros(total, dtype=np.float32)
        return unit_keyword

    def passage_scores(self, unit_scores: np.ndarray, best_weight: float) -> np.ndarray:
        """A blend of each passage's best unit and its whole text."""
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
        return best_weight * best + (1 - best_weight) * whole

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

    def top(
        self, fused: np.ndarray, scope: Scope | None, count: int = TOP_CANDIDATES
    ) -> list[tuple[int, float]]:
        """The first `count` passages of the scope (and any tied with the last), best first, in
        exactly the order a stable sort of every passage gives, without sorting every passage."""
        pool = np.arange(self.passage_count) if scope is None else np.flatnonzero(scope.passages)
        scores = fused[pool]
        if len(pool) > count:
            # The count-th best score by a sort of the values, not np.partition: a library's fused
            # scores can hold a few values thousands of times (every passage with no keyword and
            # only far units ties), and the partition took ~0.65 ms over 9,710 such passages where
            # the sort takes ~0.06 ms. Either gives the same order statistic.
            threshold = np.sort(scores)[len(pool) - count]
            keep = scores >= threshold  # ties with the last kept: the stable order decides among them
            pool, scores = pool[keep], scores[keep]
        order = np.argsort(-scores, kind="stable")  # pool is in passage order: ties stay in it
        return [(int(p), float(fused[p])) for p in pool[order]]

    def later_tables(
        self, fused: np.ndarray, ranked: set[int], scope: Scope | None
    ) -> list[tuple[int, float]]:
        """The scope's tables that are not among the ranked passages, in rank order."""
        tables = self.tables if scope is None else self.tables[scope.passages[self.tables]]
        tables = np.array([p for p in tables if int(p) not in ranked], dtype=np.int64)
        order = np.argsort(-fused[tables], kind="stable")
        return [(int(p), float(fused[p])) for p in tables[order]]

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


def unit_ranges(unit_passage: np.ndarray, passages: int) -> tuple[np.ndarray, np.ndarray]:
    """Each passage's units as one run [start, end) (build_units writes them in passage order)."""
    if len(unit_passage) and np.any(np.diff(unit_passage) < 0):
        raise ValueError("units are not in passage order")
    everyone = np.arange(passages)
    return (
        np.searchsorted(unit_passage, everyone, side="left"),
        np.searchsorted(unit_passage, everyone, side="right"),
    )
