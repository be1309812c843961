"""Ranking: dense and keyword scores blended per passage, fused, and reranked by token matches."""

from __future__ import annotations

import numpy as np

from qa.ranking import TOP_CANDIDATES, Ranker, RankingConfig
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
