"""The answering service behind the routes: micro-batched encoding and an LRU answer cache."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

from qa.index import Encoded
from qa.search import Result, Searcher, normalise_question

# One model call: something that iterates to one encoding per text, in order (qa.index.Encoded).
Encode = Callable[[Sequence[str]], Iterable[Any]]

# Inside one model call, questions go through the network 16 at a time (sorted by length, so less
# padding): measured ~15% cheaper per question than one pass of 32 on this CPU (README "Performance").
ENCODE_CHUNK = 16
CacheKey = tuple[str, str, int, tuple[str, ...] | None]  # (index fingerprint, question, top_k, docs)


@dataclass
class _Pending:
    text: str
    future: asyncio.Future


class MicroBatcher:
    """Encodes concurrent questions together in one model call, off the event loop.

    A lone question is encoded at once; questions that arrive while the model is busy queue up
    and go in the next call together (up to `max_batch`). When a batch already has company it
    waits at most `max_wait_ms` for more, so the wait only ever applies under load.

    `workers` model calls may run at once, each on its own thread (torch releases the GIL while
    it computes): one a core, with torch single-threaded, uses every core under load without
    OpenMP threads waiting on each other. A batch goes to the lowest-numbered idle worker, so a
    lone question always runs on the same thread; a batch gathered while several workers are idle
    is shared among them (one worker took every burst of 16 while the other sat idle).
    """

    def __init__(
        self, encode: Encode, max_batch: int = 32, max_wait_ms: float = 2.0, workers: int = 1
    ) -> None:
        self._encode = encode
        self.max_batch = max(1, max_batch)
        self.max_wait = max(0.0, max_wait_ms) / 1000
        self.workers = max(1, workers)
        self._queue: asyncio.Queue[_Pending] | None = None
        self._dispatcher: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()  # model calls in flight (asyncio keeps weak refs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executors = [ThreadPoolExecutor(1, f"qa-encode-{n}") for n in range(self.workers)]
        self.batches = 0  # model calls made, for tests, logs and the benchmark
        self.encoded = 0  # questions encoded in those calls
        self.largest = 0  # the biggest batch so far

    @property
    def pending(self) -> int:
        """Questions queued and not yet handed to the model."""
        return self._queue.qsize() if self._queue is not None else 0

    async def encode(self, text: str) -> Any:
        """The vector of one question, encoded together with whatever else is queued."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._dispatcher is None or self._dispatcher.done():
            self._start(loop)
        assert self._queue is not None
        future: asyncio.Future = loop.create_future()
        self._queue.put_nowait(_Pending(text, future))
        return await future

    def encode_now(self, texts: Sequence[str]) -> list[Any]:
        """Encode on every worker thread at once, blocking (warm-up, outside the event loop)."""
        running = [executor.submit(self._encode, list(texts)) for executor in self._executors]
        return [future.result() for future in running]

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        # A new event loop (a test client, a restarted server) gets a fresh queue and dispatcher.
        if self._loop is not loop or self._queue is None:
            self._loop, self._queue = loop, asyncio.Queue()
        self._dispatcher = loop.create_task(self._dispatch(self._queue))

    async def _dispatch(self, queue: asyncio.Queue[_Pending]) -> None:
        """Whenever a worker is idle, hand it the next batch; the lowest-numbered idle one first."""
        loop = asyncio.get_running_loop()
        idle = list(range(self.workers))
        freed = asyncio.Event()
        while True:
            while not idle:
                freed.clear()
                await freed.wait()
            batch = [item for item in await self._collect(queue) if not item.future.done()]
            for share in _shares(batch, len(idle)):  # a burst is spread over every idle worker
                worker = min(idle)
                idle.remove(worker)
                task = loop.create_task(self._run(share, self._executors[worker]))
                self._running.add(task)
                task.add_done_callback(lambda done, n=worker: self._idle_again(done, n, idle, freed))

    def _idle_again(self, task: asyncio.Task, worker: int, idle: list[int], freed: asyncio.Event) -> None:
        self._running.discard(task)
        idle.append(worker)
        freed.set()

    async def _collect(self, queue: asyncio.Queue[_Pending]) -> list[_Pending]:
        batch = [await queue.get()]
        deadline = time.perf_counter() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                batch.append(queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.perf_counter()
            if len(batch) == 1 or remaining <= 0:
                break  # a lone question never waits for company
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self, batch: list[_Pending], executor: ThreadPoolExecutor) -> None:
        """One model call on one worker's thread; its failure goes to every question in it."""
        loop = asyncio.get_running_loop()
        try:
            vectors = await loop.run_in_executor(executor, self._encode, [i.text for i in batch])
        except Exception as error:
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(error)
            return
        self._count(len(batch))
        for item, vector in zip(batch, vectors, strict=True):
            if not item.future.done():
                item.future.set_result(vector)

    def _count(self, size: int) -> None:
        self.batches += 1
        self.encoded += size
        self.largest = max(self.largest, size)

    def close(self) -> None:
        for task in [self._dispatcher, *self._running]:
            if task is not None:
                task.cancel()
        for executor in self._executors:
            executor.shutdown(wait=False, cancel_futures=True)


def _shares(batch: list[_Pending], parts: int) -> list[list[_Pending]]:
    """The batch cut into at most `parts` consecutive shares whose sizes differ by at most one."""
    parts = max(1, min(parts, len(batch)))
    size, extra = divmod(len(batch), parts)
    bounds = [n * size + min(n, extra) for n in range(parts + 1)]
    return [batch[start:end] for start, end in pairwise(bounds) if end > start]  # none if all left


class AnswerCache:
    """A bounded LRU of answers keyed on (index fingerprint, normalised question, top_k)."""

    def __init__(self, size: int) -> None:
        self.size = max(0, size)
        self._items: OrderedDict[CacheKey, Result] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: CacheKey) -> Result | None:
        with self._lock:
            result = self._items.get(key)
            if result is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return result

    def put(self, key: CacheKey, result: Result) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = result
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __contains__(self, key: CacheKey) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        return len(self._items)


class AnswerService:
    """Answers questions for the web layer: cache first, then batched encode, then search.

    Identical questions asked at the same moment share one computation (and one encode).
    """

    def __init__(
        self,
        searcher: Searcher,
        max_batch: int = 32,
        max_wait_ms: float = 2.0,
        cache_size: int = 1024,
        workers: int = 1,
    ):
        self.searcher = searcher
        self.batcher = MicroBatcher(self._encode, max_batch, max_wait_ms, workers)
        self.cache = AnswerCache(cache_size)
        self._inflight: dict[CacheKey, asyncio.Future[Result]] = {}

    @property
    def corpus(self):  # noqa: ANN201 - a Corpus; kept loose so routes need not import corpus
        return self.searcher.corpus

    def _encode(self, texts: Sequence[str]) -> Encoded:
        return self.searcher.encode(texts, batch_size=ENCODE_CHUNK)

    def replace_searcher(self, searcher: Searcher) -> None:
        """Swap in a rebuilt index; cached answers from the old one are dropped."""
        self.searcher = searcher
        self.cache.clear()

    async def ask(self, question: str, k: int, docs: tuple[str, ...] | None = None) -> tuple[Result, bool]:
        """The result for a question (within some reports, or the whole library) and whether it
        came from the cache."""
        searcher = self.searcher
        key = (searcher.fingerprint, normalise_question(question), k, docs)
        cached = self.cache.get(key)
        if cached is not None:
            return cached, True
        running = self._inflight.get(key)
        if running is None:
            running = asyncio.ensure_future(self._compute(searcher, key, question, k, docs))
            self._inflight[key] = running
            running.add_done_callback(lambda done: self._finished(key, done))
        # shield: one asker hanging up must not cancel the answer the others are waiting for.
        return await asyncio.shield(running), False

    async def _compute(
        self, searcher: Searcher, key: CacheKey, question: str, k: int, docs: tuple[str, ...] | None
    ) -> Result:
        started = time.perf_counter()
        # Analysis, encode, search, in turn. Analysing and scoring keywords while the worker
        # encodes measured no faster at c=1: that work is mostly Python, and holding the GIL it
        # slows the model's forward pass.
        query = searcher.analyse(question)
        vector = await self.batcher.encode(query.dense_text)
        result = searcher.answer(query, vector, k, docs=docs)
        took = round((time.perf_counter() - started) * 1000, 3)
        result = replace(result, took_ms=took)
        self.cache.put(key, result)
        return result

    def _finished(self, key: CacheKey, done: asyncio.Future[Result]) -> None:
        if self._inflight.get(key) is done:
            del self._inflight[key]
        if not done.cancelled():
            done.exception()  # retrieved here, so an error nobody waited for is not logged twice

    def warm_up(self, question: str) -> None:
        """Pay the model's first-call costs on its worker threads, at each batch size it will see."""
        searcher = self.searcher
        query = searcher.analyse(question)
        for size in sorted({self.batcher.max_batch, min(8, self.batcher.max_batch), 2, 1}, reverse=True):
            vectors = self.batcher.encode_now([query.dense_text] * size)[0]
        searcher.answer(query, vectors[0], 3)

    def stats(self) -> dict[str, float]:
        batcher = self.batcher
        return {
            "model_calls": batcher.batches,
            "questions_encoded": batcher.encoded,
            "mean_batch": round(batcher.encoded / batcher.batches, 2) if batcher.batches else 0.0,
            "largest_batch": batcher.largest,
            "cache_hits": self.cache.hits,
            "cache_misses": self.cache.misses,
            "cache_entries": len(self.cache),
        }

    def close(self) -> None:
        self.batcher.close()
