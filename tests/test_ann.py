"""A large library's unit lists: what a question reads of them, how ranking uses them, and how they
are saved, reused and checked with the index (a fake model for the storage tests)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa import ann, ranking
from qa.config import Settings
from qa.corpus import Corpus
from qa.index import LISTS_FILE, LISTS_TRAINED_ON, StaleIndex, load_index, open_index, refresh_index
from qa.ranking import Ranker, RankingConfig
from qa.search import Searcher
from tests.conftest import DATA_DIR, REPORT_FILE
from tests.test_segments import SECOND, FakeEmbedder, library  # noqa: F401 (a fixture)

THIRD = DATA_DIR / "reports" / "2010-01-28_the-mpa-monitoring-officer.txt"


def _unit_vectors(count: int, dimension: int = 32, seed: int = 5) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_lists_are_about_the_square_root_of_the_units_and_start_at_min_units() -> None:
    assert ann.list_count(34_105) == 185
    assert ann.list_count(1) == 1
    assert not ann.needs_lists(ann.MIN_UNITS - 1)
    assert ann.needs_lists(ann.MIN_UNITS)


def test_training_is_seeded_and_saved_centroids_serve_while_the_library_is_alike() -> None:
    vectors = _unit_vectors(900)
    first, second = ann.train_centroids(vectors), ann.train_centroids(vectors)
    assert np.array_equal(first, second)
    assert first.shape == (ann.list_count(900), 32)
    assert ann.reusable(first, trained_on=900, units=900 + 20, dimension=32)
    assert ann.reusable(first, trained_on=900, units=720, dimension=32)  # a fifth removed
    assert not ann.reusable(first, trained_on=900, units=1200, dimension=32)  # grew by a third
    assert not ann.reusable(first, trained_on=900, units=600, dimension=32)  # a third removed
    assert not ann.reusable(first, trained_on=900, units=900, dimension=64)
    assert not ann.reusable(None, trained_on=900, units=900, dimension=32)


def test_a_question_reads_the_units_of_its_nearest_lists_with_exact_scores() -> None:
    vectors = _unit_vectors(2_000)
    lists = ann.UnitLists(ann.train_centroids(vectors), vectors)
    question = vectors[7] + 0.1 * vectors[8]
    question /= np.linalg.norm(question)
    scores, numbers = lists.scanned(question)
    assert 0 < len(numbers) < len(vectors)  # only some lists are read
    assert len(np.unique(numbers)) == len(numbers)
    assert np.allclose(scores, vectors[numbers] @ question, atol=1e-5)
    assert 7 in numbers.tolist()  # the unit nearest the question is in the nearest list
    lists.index.nprobe = lists.count  # every list: every unit
    _, numbers = lists.scanned(question)
    assert sorted(numbers.tolist()) == list(range(len(vectors)))


def _with_lists(searcher: Searcher, *, every_list: bool) -> Ranker:
    vectors = searcher.ranker.dense._rows
    lists = ann.UnitLists(ann.train_centroids(vectors), vectors)
    if every_list:
        lists.index.nprobe = lists.count
    return Ranker(dataclasses.replace(searcher.index, lists=lists))


def _ranked(searcher: Searcher, ranker: Ranker, question: str, config: RankingConfig | None = None):  # noqa: ANN202
    query = searcher.analyse(question)
    encoded = searcher.encode([query.dense_text])
    return ranker.rank(
        vector=encoded.vectors[0],
        keyword_tokens=query.tokens,
        question_tokens=encoded.tokens[0],
        asks_definition=query.asks_definition,
        config=config or searcher.config.ranking,
    )


QUESTIONS = ("cannabis factories in London", "What does DIP stand for?", "how many crack houses were closed")


@pytest.mark.parametrize("question", QUESTIONS)
def test_ranking_through_every_list_is_the_exact_ranking(searcher: Searcher, question: str) -> None:
    exact = _ranked(searcher, searcher.ranker, question)
    listed = _ranked(searcher, _with_lists(searcher, every_list=True), question)
    assert [p for p, _ in listed.ranked] == [p for p, _ in exact.ranked]
    assert np.allclose([s for _, s in listed.ranked], [s for _, s in exact.ranked], atol=1e-5)


@pytest.mark.parametrize("candidates", [50, 200])
def test_through_every_list_units_past_the_nearest_take_the_same_floor(
    searcher: Searcher, monkeypatch: pytest.MonkeyPatch, candidates: int
) -> None:
    """With fewer nearest units than the library has (every library with lists), reading every
    list gives the exact path's floor, unit scores, order and later tables."""
    monkeypatch.setattr(ranking, "DENSE_CANDIDATES", candidates)
    listed_ranker = _with_lists(searcher, every_list=True)
    for question in QUESTIONS:
        exact = _ranked(searcher, searcher.ranker, question)
        listed = _ranked(searcher, listed_ranker, question)
        assert [p for p, _ in listed.ranked] == [p for p, _ in exact.ranked]
        assert np.allclose([s for _, s in listed.ranked], [s for _, s in exact.ranked], atol=1e-5)
        docs = searcher.corpus.docs
        later_exact, later_listed = exact.later_tables(docs), listed.later_tables(docs)
        assert [p for p, _ in later_listed] == [p for p, _ in later_exact]
        assert np.allclose([s for _, s in later_listed], [s for _, s in later_exact], atol=1e-5)
        cited = [p for p, _ in listed.ranked] + [p for p, _ in later_listed]
        for position in cited:
            units = slice(listed_ranker.unit_starts[position], listed_ranker.unit_ends[position])
            assert np.allclose(listed.unit_dense[units], exact.unit_dense[units], atol=1e-5)


def test_a_question_that_reads_nothing_has_a_floor_below_every_score(searcher: Searcher) -> None:
    ranker = _with_lists(searcher, every_list=False)
    ranker.lists.index.reset()  # type: ignore[union-attr]  # empty lists: a question reads nothing
    ranked = _ranked(searcher, ranker, QUESTIONS[0])
    assert ranked.ranked  # ranked by keywords, with every listed passage scored exactly
    position = ranked.ranked[0][0]
    units = slice(ranker.unit_starts[position], ranker.unit_ends[position])
    assert (ranked.unit_dense[units] > -1.0).all()


def test_keywords_relative_to_the_best_rank_alike_through_the_lists(searcher: Searcher) -> None:
    """With no keyword saturation (a tuning setting) the shortlist is scored again the same way."""
    config = dataclasses.replace(searcher.config.ranking, keyword_saturation=0.0)
    exact = _ranked(searcher, searcher.ranker, QUESTIONS[0], config)
    listed = _ranked(searcher, _with_lists(searcher, every_list=True), QUESTIONS[0], config)
    assert [p for p, _ in listed.ranked] == [p for p, _ in exact.ranked]
    assert np.allclose([s for _, s in listed.ranked], [s for _, s in exact.ranked], atol=1e-5)


@pytest.mark.parametrize("question", QUESTIONS)
def test_the_shortlist_read_from_some_lists_is_scored_exactly(searcher: Searcher, question: str) -> None:
    """Past the lists, the shortlisted passages' units carry their exact scores, floored as every
    unit read from the lists is (spans and checks read them), and their order is that of those."""
    ranker = _with_lists(searcher, every_list=False)
    assert ranker.lists is not None and ranker.lists.index.nprobe < ranker.lists.count
    listed = _ranked(searcher, ranker, question)
    query = searcher.analyse(question)
    vector = searcher.encode([query.dense_text]).vectors[0]
    _, floor = ranker.dense.listed(vector, ranker.lists)
    expected = np.maximum(ranker.dense.scores(vector), floor)
    if not query.asks_definition:
        expected = np.where(ranker.is_entry, expected * searcher.config.ranking.entry_weight, expected)
    positions = [p for p, _ in listed.ranked]
    for position in positions:
        units = slice(ranker.unit_starts[position], ranker.unit_ends[position])
        assert np.allclose(listed.unit_dense[units], expected[units], atol=1e-5)
    rerank_depth = searcher.config.ranking.rerank_depth
    after = [s for _, s in listed.ranked[rerank_depth:]]
    assert after == sorted(after, reverse=True)
    exact = _ranked(searcher, searcher.ranker, question)
    assert positions[0] == exact.ranked[0][0]  # the seed's own questions keep their first passage


@pytest.fixture()
def lists_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every library is large enough for unit lists."""
    monkeypatch.setattr(ann, "MIN_UNITS", 1)


def _refreshed_with(library: Settings, *reports: Path) -> dict:  # noqa: F811
    for report in reports:
        shutil.copy(report, library.seeds_dir)
    return refresh_index(library, FakeEmbedder())


@pytest.mark.usefixtures("lists_everywhere")
def test_a_large_library_saves_its_centroids_and_an_add_reuses_them(library: Settings) -> None:  # noqa: F811
    with_lists = _refreshed_with(library)  # saved without lists: written again with them
    assert LISTS_FILE in with_lists["files"]
    index = load_index(Corpus.from_seeds(library.seeds_dir), library)
    assert index.lists is not None and index.lists.count == ann.list_count(with_lists["units"])
    # One more, short report, within a quarter of the units: the same centroids, so no other
    # question's candidates move.
    added = _refreshed_with(library, THIRD)
    assert added["fingerprint"] != with_lists["fingerprint"]
    assert added["units"] <= with_lists["units"] * ann.RETRAIN_CHANGE
    assert added["files"][LISTS_FILE] == with_lists["files"][LISTS_FILE]
    assert added[LISTS_TRAINED_ON] == with_lists["units"]
    assert load_index(Corpus.from_seeds(library.seeds_dir), library).lists is not None


@pytest.mark.usefixtures("lists_everywhere")
def test_missing_or_damaged_centroids_make_the_index_stale(library: Settings) -> None:  # noqa: F811
    manifest = _refreshed_with(library, SECOND)
    path = library.index_dir / manifest["build"] / LISTS_FILE
    corpus = Corpus.from_seeds(library.seeds_dir)
    np.save(path, np.zeros((3, 384), dtype=np.float32), allow_pickle=False)
    with pytest.raises(StaleIndex, match="checksum"):
        load_index(corpus, library)
    path.unlink()
    with pytest.raises(StaleIndex, match="missing"):
        load_index(corpus, library)
    index = open_index(library, FakeEmbedder())  # rebuilt, its centroids written anew
    assert index.lists is not None
    assert load_index(corpus, library).fingerprint == index.fingerprint


def test_a_large_library_saved_without_lists_is_written_again_with_them(
    library: Settings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An index saved before its size had lists (or with another MIN_UNITS) is rebuilt from its
    segments, so every library of a size is searched alike; and one that shrinks loses them."""
    shutil.copy(SECOND, library.seeds_dir)
    manifest = refresh_index(library, FakeEmbedder())
    assert LISTS_FILE not in manifest["files"]
    monkeypatch.setattr(ann, "MIN_UNITS", 1)
    corpus = Corpus.from_seeds(library.seeds_dir)
    with pytest.raises(StaleIndex, match="no unit lists") as stale:
        load_index(corpus, library)
    assert stale.value.segments_sound
    model = FakeEmbedder()
    rebuilt = refresh_index(library, model)
    assert LISTS_FILE in rebuilt["files"] and rebuilt[LISTS_TRAINED_ON] == rebuilt["units"]
    assert load_index(corpus, library).lists is not None
    assert not any("Holly Royde" in text for text in model.texts)  # no report embedded again
    monkeypatch.setattr(ann, "MIN_UNITS", 10**9)
    assert LISTS_FILE not in refresh_index(library, FakeEmbedder())["files"]


@pytest.mark.usefixtures("lists_everywhere")
def test_a_library_that_shrank_by_more_than_a_quarter_is_clustered_again(library: Settings) -> None:  # noqa: F811
    first = _refreshed_with(library, SECOND, THIRD)
    (library.seeds_dir / REPORT_FILE.name).unlink()  # the longest report: most of the units go
    shrunk = refresh_index(library, FakeEmbedder())
    assert shrunk["units"] * ann.RETRAIN_CHANGE < first["units"]
    assert shrunk[LISTS_TRAINED_ON] == shrunk["units"]
    assert shrunk["files"][LISTS_FILE] != first["files"][LISTS_FILE]
    index = load_index(Corpus.from_seeds(library.seeds_dir), library)
    assert index.lists is not None and index.lists.count == ann.list_count(shrunk["units"])


def test_a_small_library_has_no_lists(library: Settings) -> None:  # noqa: F811
    manifest = refresh_index(library, FakeEmbedder())
    assert LISTS_FILE not in manifest["files"]
    assert load_index(Corpus.from_seeds(library.seeds_dir), library).lists is None
