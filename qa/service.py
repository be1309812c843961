"""The answering service behind the routes: micro-batched encoding and an LRU answer cache."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from qa.search import Result, Searcher, normalise_question

Encode = Callable[[Sequence[str]], np.ndarray]


@dataclass
class _Pending:
    text: str
    future: asyncio.Future


class MicroBatcher:
    """Encodes concurrent questions together in one model call, off the event loop.

    A lone question is encoded at once; questions that arrive while the model is busy queue up
    and go in the next call together (up to `max_batch`). When a batch already has company it
    waits at most `max_wait_ms` for more, so the wait only ever applies under load.
    """

    def __init__(self, encode: Encode, max_batch: int = 32, max_wait_ms: float = 2.0) -> None:
        self._encode = encode
        self.max_batch = max(1, max_batch)
        self.max_wait = max(0.0, max_wait_ms) / 1000
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-encode")
        self.batches = 0  # model calls made, for tests and the benchmark
        self.encoded = 0

    async def encode(self, text: str) -> np.ndarray:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._run())
        future: asyncio.Future = loop.create_future()
        await self._queue.put(_Pending(text, future))
        return await future

    async def _collect(self) -> list[_Pending]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        deadline = time.perf_counter() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.perf_counter()
            if len(batch) == 1 or remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [item for item in await self._collect() if not item.future.cancelled()]
            if not batch:
                continue
            try:
                vectors = await loop.run_in_executor(self._executor, self._encode, [i.text for i in batch])
            except Exception as error:  # hand the failure to every waiting request
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            self.batches += 1
            self.encoded += len(batch)
            for item, vector in zip(batch, vectors, strict=True):
                if not item.future.done():
                    item.future.set_result(vector)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)


class AnswerCache:
    """A bounded LRU of answers keyed on (index fingerprint, normalised question, top_k)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str, int], Result] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, str, int]) -> Result | None:
        with self._lock:
            result = self._items.get(key)
            if result is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return result

    def put(self, key: tuple[str, str, int], result: Result) -> None:
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

    def __len__(self) -> int:
        return len(self._items)


class AnswerService:
    """Answers questions for the web layer: cache first, then batched encode, then search."""

    def __init__(
        self,
        searcher: Searcher,
        max_batch: int = 32,
        max_wait_ms: float = 2.0,
        cache_size: int = 1024,
    ):
        self.searcher = searcher
        self.batcher = MicroBatcher(searcher.encode, max_batch, max_wait_ms)
        self.cache = AnswerCache(cache_size)

    @property
    def corpus(self):  # noqa: ANN201 - a Corpus; kept loose so routes need not import corpus
        return self.searcher.corpus

    def replace_searcher(self, searcher: Searcher) -> None:
        """Swap in a rebuilt index; cached answers from the old one are dropped."""
        self.searcher = searcher
        self.cache.clear()

    async def ask(self, question: str, k: int) -> tuple[Result, bool]:
        """The result for a question and whether it came from the cache."""
        searcher = self.searcher
        key = (searcher.fingerprint, normalise_question(question), k)
        cached = self.cache.get(key)
        if cached is not None:
            return cached, True
        started = time.perf_counter()
        query = searcher.analyse(question)
        vector = await self.batcher.encode(query.dense_text)
        result = searcher.answer(query, vector, k)
        took = (time.perf_counter() - started) * 1000
        result = Result(result.question, result.answered, result.hits, result.lookup, round(took, 3))
        self.cache.put(key, result)
        return result, False

    def close(self) -> None:
        self.batcher.close()
