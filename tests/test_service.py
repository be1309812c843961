"""The answering service: micro-batching, the answer cache, shared in-flight answers, warm-up."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from qa.index import Encoded, SearchIndex
from qa.search import Searcher, normalise_question
from qa.service import AnswerCache, AnswerService, MicroBatcher

from .aio import run_async

CANNABIS = "How many cannabis factories were found in London?"


class FakeModel:
    """Records every call; vector i of a call is [number of the text, length of the text].

    With `hold_first`, the first call blocks until `release()`, so questions pile up behind it
    exactly as they do behind a busy model.
    """

    def __init__(self, hold_first: bool = False, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.threads: list[str] = []  # the thread each call ran on
        self.fail = fail
        self.busy = threading.Event()  # set once the first call has started
        self._gate = threading.Event()
        if not hold_first:
            self._gate.set()

    def release(self) -> None:
        self._gate.set()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.threads.append(threading.current_thread().name)
        self.busy.set()
        assert self._gate.wait(60), "the test never released the first model call"
        if self.fail:
            raise RuntimeError("model broke")
        return np.array([[float(t.split()[-1]), float(len(t))] for t in texts], dtype=np.float32)


async def _pile_up(batcher: MicroBatcher, model: FakeModel, texts: list[str]) -> list[object]:
    """Ask the first question, and the rest while the model is busy with it; then let it finish."""
    asks = [asyncio.ensure_future(batcher.encode(texts[0]))]
    while not model.busy.is_set():
        await asyncio.sleep(0.005)
    asks += [asyncio.ensure_future(batcher.encode(text)) for text in texts[1:]]
    while batcher.pending < len(texts) - 1:
        await asyncio.sleep(0.005)
    model.release()
    return await asyncio.gather(*asks, return_exceptions=True)


def test_concurrent_questions_share_model_calls_and_each_gets_its_own_vector() -> None:
    model = FakeModel(hold_first=True)
    batcher = MicroBatcher(model, max_batch=32, max_wait_ms=2)
    texts = [f"question number {i}" for i in range(20)]

    vectors = run_async(asyncio.wait_for(_pile_up(batcher, model, texts), 60))
    for i, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
        assert vector.tolist() == [float(i), float(len(text))]
    assert [len(call) for call in model.calls] == [1, 19]
    assert batcher.batches == 2 and batcher.encoded == 20 and batcher.largest == 19
    batcher.close()


def test_batches_never_exceed_max_batch() -> None:
    model = FakeModel(hold_first=True)
    batcher = MicroBatcher(model, max_batch=4, max_wait_ms=2)

    texts = [f"q {i}" for i in range(10)]
    vectors = run_async(asyncio.wait_for(_pile_up(batcher, model, texts), 60))
    assert [v[0] for v in vectors] == list(range(10))
    assert [len(call) for call in model.calls] == [1, 4, 4, 1]
    batcher.close()


def test_questions_asked_at_the_same_moment_go_in_one_call() -> None:
    model = FakeModel()
    batcher = MicroBatcher(model, max_batch=32, max_wait_ms=2)

    async def scenario() -> list[np.ndarray]:
        return await asyncio.gather(*(batcher.encode(f"together {i}") for i in range(12)))

    vectors = run_async(scenario())
    assert [v[0] for v in vectors] == list(range(12))
    assert [len(call) for call in model.calls] == [12]
    batcher.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_lone_question_does_not_wait_for_company(workers: int) -> None:
    """With a ten-minute max wait, lone questions still go straight to the model, one call each."""
    model = FakeModel()
    batcher = MicroBatcher(model, max_batch=32, max_wait_ms=600_000, workers=workers)

    async def scenario() -> None:
        for i in range(3):
            vector = await asyncio.wait_for(batcher.encode(f"alone {i}"), timeout=60)
            assert vector[0] == i

    run_async(scenario())
    assert model.calls == [["alone 0"], ["alone 1"], ["alone 2"]]
    assert {name.rsplit("_", 1)[0] for name in model.threads} == {"qa-encode-0"}  # always the first worker
    batcher.close()


def test_a_model_failure_reaches_every_waiting_question_and_the_batcher_recovers() -> None:
    model = FakeModel(hold_first=True, fail=True)
    batcher = MicroBatcher(model, max_batch=32, max_wait_ms=2)

    async def scenario() -> list[object]:
        outcomes = await _pile_up(batcher, model, [f"q {i}" for i in range(5)])
        assert [len(call) for call in model.calls] == [1, 4]
        model.fail = False
        outcomes.append(await batcher.encode("q 7"))
        return outcomes

    outcomes = run_async(scenario())
    assert all(isinstance(o, RuntimeError) for o in outcomes[:5])
    assert outcomes[5][0] == 7
    batcher.close()


def test_the_batcher_works_across_event_loops() -> None:
    """A restarted server (or a second test client) runs a new loop; the batcher follows it."""
    model = FakeModel()
    batcher = MicroBatcher(model)
    assert run_async(batcher.encode("first 1"))[0] == 1
    assert run_async(batcher.encode("second 2"))[0] == 2
    batcher.close()


def test_two_workers_encode_two_batches_at_once_each_question_getting_its_own_vector() -> None:
    model = FakeModel(hold_first=True)
    batcher = MicroBatcher(model, max_batch=4, max_wait_ms=2, workers=2)
    texts = [f"q {i}" for i in range(9)]

    async def scenario() -> list[np.ndarray]:
        asks = [asyncio.ensure_future(batcher.encode(texts[0]))]
        while not model.busy.is_set():
            await asyncio.sleep(0.005)
        asks += [asyncio.ensure_future(batcher.encode(text)) for text in texts[1:]]
        while len(model.calls) < 2:  # the second worker starts a batch while the first is still busy
            await asyncio.sleep(0.005)
        model.release()
        return await asyncio.gather(*asks)

    vectors = run_async(asyncio.wait_for(scenario(), 60))
    assert [v[0] for v in vectors] == list(range(9))
    assert [len(call) for call in model.calls[:2]] == [1, 4]
    # The last 4 go to whichever worker is idle first, or are shared if both are idle by then.
    assert sorted(len(call) for call in model.calls[2:]) in ([4], [2, 2])
    assert len(set(model.threads[:2])) == 2  # the two calls in flight together ran on two threads
    assert batcher.encoded == 9
    batcher.close()


def test_a_burst_is_shared_among_idle_workers() -> None:
    model = FakeModel()
    batcher = MicroBatcher(model, max_batch=32, max_wait_ms=2, workers=2)

    async def scenario() -> list[np.ndarray]:
        return await asyncio.gather(*(batcher.encode(f"together {i}") for i in range(13)))

    vectors = run_async(scenario())
    assert [v[0] for v in vectors] == list(range(13))
    assert sorted(len(call) for call in model.calls) == [6, 7]
    assert len(set(model.threads)) == 2
    batcher.close()


def test_the_embedder_gives_the_same_vectors_from_threads_running_at_once(searcher: Searcher) -> None:
    """Encode workers share one model (only its tokenizer is locked) while search splits words on
    the event loop: answers must not mix and nothing may fail."""
    embedder = searcher.embedder
    questions = [f"How many cannabis factories were found in London in year {n}?" for n in range(24)]
    alone = embedder.encode_tokens(questions, batch_size=16)
    pieces = embedder.word_pieces("junkies")
    halves = [questions[:12], questions[12:]] * 3
    with ThreadPoolExecutor(max_workers=3) as pool:
        words = pool.submit(lambda: [embedder.word_pieces("junkies") for _ in range(300)])
        together = list(pool.map(lambda texts: embedder.encode_tokens(texts, batch_size=16), halves))
        assert all(split == pieces for split in words.result())
    for half, encoded in zip(halves, together, strict=True):
        expected = alone.vectors[[questions.index(q) for q in half]]
        assert np.allclose(encoded.vectors, expected, atol=1e-5)
        assert encoded.pieces == [alone.pieces[questions.index(q)] for q in half]


def test_cache_evicts_the_least_recently_used_answer(searcher: Searcher) -> None:
    result = searcher.ask(CANNABIS)
    cache = AnswerCache(2)
    a, b, c = (("f", "a", 3), ("f", "b", 3), ("f", "c", 3))
    cache.put(a, result)
    cache.put(b, result)
    assert cache.get(a) is result  # a is now the most recently used
    cache.put(c, result)
    assert len(cache) == 2
    assert a in cache and c in cache and b not in cache
    assert cache.get(b) is None
    assert (cache.hits, cache.misses) == (1, 1)


def test_cache_of_size_zero_keeps_nothing(searcher: Searcher) -> None:
    cache = AnswerCache(0)
    cache.put(("f", "a", 3), searcher.ask(CANNABIS))
    assert len(cache) == 0 and cache.get(("f", "a", 3)) is None


def test_a_repeated_question_is_answered_from_the_cache(searcher: Searcher) -> None:
    service = AnswerService(searcher, cache_size=8)

    async def scenario() -> None:
        first, cached = await service.ask(CANNABIS, 3)
        assert not cached
        again, cached = await service.ask("  how MANY cannabis factories were found in london ", 3)
        assert cached and again is first
        other_k, cached = await service.ask(CANNABIS, 5)
        assert not cached and len(other_k.hits) == 5

    run_async(scenario())
    assert service.batcher.encoded == 2  # the cached answer needed no model call
    assert service.cache.hits == 1
    service.close()


def test_identical_questions_asked_together_share_one_encode(searcher: Searcher) -> None:
    service = AnswerService(searcher, cache_size=8)

    async def scenario() -> list:
        return await asyncio.gather(*(service.ask(CANNABIS, 3) for _ in range(6)))

    answers = run_async(scenario())
    assert service.batcher.encoded == 1
    assert all(result is answers[0][0] for result, _ in answers)
    service.close()


def _rebuilt(index: SearchIndex, fingerprint: str) -> SearchIndex:
    return dataclasses.replace(index, manifest={**index.manifest, "fingerprint": fingerprint})


def test_a_new_index_invalidates_cached_answers(searcher: Searcher, search_index: SearchIndex) -> None:
    service = AnswerService(searcher, cache_size=8)
    rebuilt = Searcher(_rebuilt(search_index, "rebuilt-index"), searcher.embedder)

    async def scenario() -> None:
        await service.ask(CANNABIS, 3)
        assert (await service.ask(CANNABIS, 3))[1]
        service.replace_searcher(rebuilt)
        assert len(service.cache) == 0
        result, cached = await service.ask(CANNABIS, 3)
        assert not cached and result.hits[0].passage.id == "16"

    run_async(scenario())
    service.close()


def test_cache_keys_carry_the_index_fingerprint(searcher: Searcher, search_index: SearchIndex) -> None:
    """Even an answer cached for the old index while the swap happens is never served for the new one."""
    service = AnswerService(searcher, cache_size=8)
    run_async(service.ask(CANNABIS, 3))
    service.searcher = Searcher(_rebuilt(search_index, "another-index"), searcher.embedder)  # no clear()
    _, cached = run_async(service.ask(CANNABIS, 3))
    assert not cached
    assert (searcher.fingerprint, normalise_question(CANNABIS), 3, None) in service.cache
    assert ("another-index", normalise_question(CANNABIS), 3, None) in service.cache
    service.close()


def test_warm_up_runs_on_the_model_thread_and_leaves_no_trace(searcher: Searcher) -> None:
    threads: list[str] = []

    class Spy(Searcher):
        def encode(self, texts: Sequence[str], batch_size: int = 32) -> Encoded:
            threads.append(threading.current_thread().name)
            return super().encode(texts, batch_size)

    spy = Spy(searcher.index, searcher.embedder)
    service = AnswerService(spy, max_batch=8, cache_size=8, workers=2)
    service.warm_up(CANNABIS)
    assert {name.rsplit("_", 1)[0] for name in threads} == {"qa-encode-0", "qa-encode-1"}  # every worker
    assert service.batcher.batches == 0 and len(service.cache) == 0
    service.close()


def test_stats_count_model_calls_and_cache_hits(searcher: Searcher) -> None:
    service = AnswerService(searcher, cache_size=8)

    async def scenario() -> None:
        await asyncio.gather(*(service.ask(f"cannabis factories {i}", 3) for i in range(3)))
        await service.ask("cannabis factories 0", 3)

    run_async(scenario())
    stats = service.stats()
    assert stats["questions_encoded"] == 3 and stats["cache_hits"] == 1 and stats["cache_entries"] == 3
    assert 1 <= stats["model_calls"] <= 3
    service.close()


def test_the_service_answers_as_the_searcher_does(searcher: Searcher) -> None:
    """Analysed, encoded on a worker and answered, within docs or not: the same result as
    Searcher.ask."""
    service = AnswerService(searcher, cache_size=0)
    doc = searcher.corpus.docs[0]
    questions = [CANNABIS, "What does paragraph 16 say?", "Who wrote the report?", "total of Table 1"]

    async def scenario() -> list:
        return [await service.ask(q, 3, docs=docs) for q in questions for docs in (None, (doc,))]

    served = [result for result, _ in run_async(scenario())]
    direct = [searcher.ask_many([q], 3, docs=docs)[0] for q in questions for docs in (None, (doc,))]
    for got, expected in zip(served, direct, strict=True):
        assert dataclasses.replace(got, took_ms=0) == dataclasses.replace(expected, took_ms=0)
    service.close()
