"""Ranking: dense and keyword scores blended per passage, fused, and reranked by token matches."""

from __future__ import annotations

import numpy as np

from qa.ranking import TOP_CANDIDATES, Ranker, RankingConfig, Scope
from qa.search import Searcher


def test_passage_scores_blend_best_unit_and_whole_passage(searcher: Searcher) -> None:
    ranker = searcher.ranker
    scores = np.zeros(len(ranker.unit_passage), dtype=np.float32)
    whole = int(np.flatnonzero(ranker.is_whole)[0])
    part = int(np.flatnonzero((ranker.unit_passage == ranker.unit_passage[whole]) & ~ranker.is_whole)[0])
    scores[whole], scores[part] = 0.2, 1.0
    blended = ranker.passage_scores(scores, best_weight=0.4)
    assert blended[ranker.unit_passage[whole]] == np.float32(0.4 * 1.0 + 0.6 * 0.2)


def test_fused_ranking_is_best_first_and_covers_every_passage(searcher: Searcher) -> None:
    query = searcher.analyse("cannabis factories in London")
    encoded = searcher.encode([query.dense_text])
    ranking = searcher.rank(query, encoded)
    scores = [score for _, score in ranking.ranked]
    assert TOP_CANDIDATES <= len(ranking.ranked) < len(searcher.corpus.passages)  # only the best are kept
    assert scores[:10] == sorted(scores[:10], reverse=True)
    assert searcher.corpus.passages[ranking.ranked[0][0]].id == "16"
    # Past the rerank, exactly the order a stable sort of every passage's fused score gives.
    ranker, config = searcher.ranker, searcher.config.ranking
    dense, keyword = ranker.unit_scores(encoded.vectors[0], query.tokens)
    if not query.asks_definition:
        dense = np.where(ranker.is_entry, dense * config.entry_weight, dense)
    fused = ranker.fused_scores(dense, keyword, config)
    full = [int(p) for p in np.argsort(-fused, kind="stable")]
    kept = [p for p, _ in ranking.ranked]
    assert kept[config.rerank_depth :] == full[config.rerank_depth : len(kept)]
    assert set(kept[: config.rerank_depth]) == set(full[: config.rerank_depth])


def test_rerank_off_keeps_the_fused_order(searcher: Searcher) -> None:
    ranker: Ranker = searcher.ranker
    query = searcher.analyse("cannabis factories in London")
    encoded = searcher.encode([query.dense_text])
    dense, keyword = ranker.unit_scores(encoded.vectors[0], query.tokens)
    config = RankingConfig(rerank_weight=0.0)
    fused = ranker.fuse(dense, keyword, config)
    assert ranker.rerank(fused, encoded.tokens[0], config) == fused


def test_a_large_library_scores_units_past_the_nearest_at_the_last_nearest_score(search_index) -> None:  # noqa: ANN001
    """Past DENSE_CANDIDATES units, FAISS returns the nearest only; the others take the last score,
    so no far unit outranks a near one and nothing is sorted twice."""
    import numpy as np

    from qa import ranking
    from qa.ranking import Ranker

    ranker = Ranker(search_index)
    vector = search_index.unit_vectors()[5]
    exact, _ = ranker.unit_scores(vector, [])
    original = ranking.DENSE_CANDIDATES
    ranking.DENSE_CANDIDATES = 40
    try:
        approximate, _ = ranker.unit_scores(vector, [])
    finally:
        ranking.DENSE_CANDIDATES = original
    nearest = np.argsort(-exact)[:40]
    assert np.allclose(approximate[nearest], exact[nearest])
    floor = np.sort(exact)[::-1][39]
    others = np.setdiff1d(np.arange(len(exact)), nearest)
    assert np.allclose(approximate[others], floor) and (exact[others] <= floor + 1e-6).all()


def _faiss_nearest(index, vector: np.ndarray, ids: np.ndarray | None, count: int) -> np.ndarray:  # noqa: ANN001
    """What unit_scores did with FAISS's search: the `count` nearest (of the scope, through its ID
    selector), and every other unit of the scope at the last nearest one's score; -1 outside."""
    import faiss

    total = index.ntotal
    wanted = total if ids is None else len(ids)
    nearest = min(wanted, count)
    params = None if ids is None else faiss.SearchParameters(sel=faiss.IDSelectorBatch(ids))
    scores, found = index.search(vector.reshape(1, -1), nearest, params=params)
    unit_dense = np.full(total, -1.0, dtype=np.float32)
    if nearest < wanted:
        unit_dense[slice(None) if ids is None else ids] = scores[0][-1]
    unit_dense[found[0]] = scores[0]
    return unit_dense


def test_dense_scores_are_faiss_search_bit_for_bit() -> None:
    """The inner products by FAISS's kernel, and the k-th best by a partition, leave every unit the
    very score FAISS's top-k search gave it: whole library, a scope, and past the nearest."""
    import faiss

    from qa.ranking import DenseScores

    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((3000, 384)).astype(np.float32)
    vectors[1500:1600] = vectors[:100]  # identical units (copies of a report) tie exactly
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(384)
    index.add(vectors)
    dense = DenseScores(index)
    scope = np.sort(rng.choice(3000, size=700, replace=False)).astype(np.int64)
    for vector in [*vectors[:3], *rng.standard_normal((5, 384)).astype(np.float32)]:
        for count in (40, 2000, 4000):
            for ids in (None, scope):
                expected = _faiss_nearest(index, vector, ids, count)
                assert np.array_equal(dense.nearest(vector, ids, count), expected)


def test_dense_scores_search_any_other_index_with_faiss() -> None:
    """An index that is not flat inner-product (no raw vectors to read) is searched by FAISS."""
    import faiss

    from qa.ranking import DenseScores

    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((500, 384)).astype(np.float32)
    flat = faiss.IndexFlatIP(384)
    flat.add(vectors)
    mapped = faiss.IndexIDMap(faiss.IndexFlatIP(384))
    mapped.add_with_ids(vectors, np.arange(500, dtype=np.int64))
    scope = np.arange(100, 300, dtype=np.int64)
    for ids in (None, scope):
        expected = _faiss_nearest(flat, vectors[0], ids, 50)
        assert np.allclose(DenseScores(mapped).nearest(vectors[0], ids, 50), expected, atol=1e-6)


def test_float16_token_vectors_convert_to_exactly_numpys_float32() -> None:
    """torch's conversion gives numpy's values bit for bit, for every float16 there is but NaN
    (subnormals, zeros of both signs, infinities; torch quiets a signalling NaN, and token vectors
    hold none), and read-only or strided arrays still convert."""
    from qa.ranking import TokenMatrices, to_float32

    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    every = every[~np.isnan(every)].reshape(-1, 10)  # 63,490 values
    fast = to_float32(every.copy())
    assert fast.dtype == np.float32 and fast.flags.c_contiguous
    assert np.array_equal(fast.view(np.uint32), every.astype(np.float32).view(np.uint32))
    frozen = every.copy()
    frozen.flags.writeable = False
    assert np.array_equal(to_float32(frozen).view(np.uint32), every.astype(np.float32).view(np.uint32))
    strided = every[:, ::2]
    assert np.array_equal(to_float32(strided).view(np.uint32), strided.astype(np.float32).view(np.uint32))
    matrices = TokenMatrices([every[:10].copy(), every[10:12].copy()])
    assert np.array_equal(matrices[1], every[10:12].astype(np.float32), equal_nan=True)


def test_mapped_token_vectors_take_the_fast_conversion(search_index) -> None:  # noqa: ANN001
    """The saved index maps its token vectors copy-on-write: writable, so torch converts them
    without a copy, and to the same float32 values numpy gives."""
    matrix = search_index.passage_tokens[0]
    assert matrix.dtype == np.float16 and matrix.flags.writeable and matrix.flags.c_contiguous
    ranker = Ranker(search_index)
    assert np.array_equal(ranker.passage_tokens[0], matrix.astype(np.float32))


def test_top_keeps_the_stable_order_when_scores_tie_by_the_thousand(searcher: Searcher) -> None:
    """A library's fused scores may hold a few values many times over: the first passages and
    every passage tied with the last are exactly those of a stable sort of every passage."""
    ranker = searcher.ranker
    rng = np.random.default_rng(11)
    for values in (3, 7, 60):
        fused = rng.choice(rng.random(values).astype(np.float32), size=ranker.passage_count)
        for count in (1, 5, TOP_CANDIDATES):
            full = np.argsort(-fused, kind="stable")
            last = fused[full[count - 1]]
            expected = [int(p) for p in full if fused[p] >= last]
            assert [p for p, _ in ranker.top(fused, None, count)] == expected


def test_passage_scores_without_masks_equal_the_masked_path(searcher: Searcher) -> None:
    """Every passage has units, so the blend skips the masks: the values are those of the masked
    path, which stays for an index with a passage without units."""
    ranker = searcher.ranker
    assert ranker._every_passage_has_units
    scores = np.random.default_rng(5).random(len(ranker.unit_passage)).astype(np.float32)
    fast = ranker.passage_scores(scores, 0.4)
    ranker._every_passage_has_units = False
    try:
        masked = ranker.passage_scores(scores, 0.4)
    finally:
        ranker._every_passage_has_units = True
    assert np.array_equal(fast, masked)


def test_passage_scores_of_some_passages_are_those_of_every_passage(searcher: Searcher) -> None:
    ranker = searcher.ranker
    rng = np.random.default_rng(17)
    scores = rng.random(len(ranker.unit_passage)).astype(np.float32)
    every = ranker.passage_scores(scores, 0.4)
    for positions in (
        np.arange(ranker.passage_count),
        np.sort(rng.choice(ranker.passage_count, 9, replace=False)),
    ):
        assert np.array_equal(ranker.passage_scores_at(positions, scores, 0.4), every[positions])


def _full_ranking(ranker: Ranker, query, encoded, config: RankingConfig, scope: Scope | None):  # noqa: ANN001, ANN202
    """What ranking did before shortlists: every passage blended and sorted, every table scored."""
    unit_dense = ranker.dense.nearest(encoded.vectors[0], None if scope is None else scope.ids)
    mask = None if scope is None else scope.passages[ranker.unit_passage].astype(np.float32)
    unit_keyword = np.asarray(
        ranker.index.keyword.get_scores(query.tokens, weight_mask=mask), dtype=np.float32
    )
    if not query.asks_definition:
        unit_dense = np.where(ranker.is_entry, unit_dense * config.entry_weight, unit_dense)
    fused = ranker.fused_scores(unit_dense, unit_keyword, config)
    pool = np.arange(ranker.passage_count) if scope is None else np.flatnonzero(scope.passages)
    order = pool[np.argsort(-fused[pool], kind="stable")]
    last = fused[order[min(len(order), TOP_CANDIDATES) - 1]]
    top = [(int(p), float(fused[p])) for p in order if fused[p] >= last]
    ranked = ranker.rerank(top, encoded.tokens[0], config)
    tables = [int(t) for t in ranker.tables if int(t) in set(pool.tolist()) - {p for p, _ in top}]
    later = [(t, float(fused[t])) for t in sorted(tables, key=lambda t: -fused[t])]
    return ranked, unit_dense, unit_keyword, later


def test_shortlisted_ranking_is_the_full_ranking_bit_for_bit(searcher: Searcher) -> None:
    """Blending a scope's passages alone, sorting only a shortlist and scoring later tables when
    asked for ranks every passage as blending and sorting them all did: whole library (with and
    without a floor), a scope of some passages, a question asking what an acronym means."""
    from qa import ranking

    ranker, config = searcher.ranker, searcher.config.ranking
    docs = tuple(searcher.corpus.docs)
    half = np.arange(0, ranker.passage_count, 2, dtype=np.int64)
    units = np.flatnonzero(np.isin(ranker.unit_passage, half)).astype(np.int64)
    scopes = [None, Scope(docs=docs, pool=half, ids=units, passage_count=ranker.passage_count)]
    questions = ["How much did the drug treatment cost?", "What does DIP stand for?", "Who wrote the report?"]
    original = ranking.DENSE_CANDIDATES
    try:
        for candidates in (original, 40, 100):
            ranking.DENSE_CANDIDATES = candidates
            for question in questions:
                query = searcher.analyse(question)
                encoded = searcher.encode([query.dense_text])[0]
                for scope in scopes:
                    got = searcher.rank(query, encoded, scope)
                    ranked, unit_dense, unit_keyword, later = _full_ranking(
                        ranker, query, encoded, config, scope
                    )
                    assert got.ranked == ranked
                    assert np.array_equal(got.unit_dense, unit_dense)
                    assert np.array_equal(got.unit_keyword, unit_keyword)
                    assert got.later_tables(docs) == later
    finally:
        ranking.DENSE_CANDIDATES = original
