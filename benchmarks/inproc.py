"""In-process timings, run in their own (pinned) process: bare encode, ask, and the search after it.

`python -m benchmarks.inproc OUT.json [N]` loads the model and index exactly as the server does
(same torch threads for the same cores) and writes p50/p99 of each step over N distinct questions.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from benchmarks.questions import distinct_questions
from benchmarks.stats import summarise
from qa.config import load_settings
from qa.service import ENCODE_CHUNK
from qa.startup import encode_workers, load_searcher, serving_threads


def _timed(step: Callable[[str], object], questions: list[str]) -> list[float]:
    samples = []
    for question in questions:
        started = time.perf_counter()
        step(question)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure(count: int = 150) -> dict:
    settings = load_settings()
    searcher = load_searcher(settings)
    model = searcher.embedder.model
    questions = distinct_questions(count + 20)
    warm, measured = questions[:20], questions[20:]
    for question in warm:
        searcher.ask(question)
    # Interleaved, question by question, so both see the same machine (a drift would skew the ratio).
    encode, ask = _interleaved(
        lambda q: model.encode([q], normalize_embeddings=True), lambda q: searcher.ask(q, 3), measured
    )
    prepared = [(searcher.analyse(q), searcher.encode([searcher.analyse(q).dense_text])[0]) for q in measured]
    after = _timed_pairs(searcher, prepared)
    batches = {size: _batch_cost(model, measured, size) for size in (8, 32)}
    dense = _dense_search_cost(searcher, [vector for _, vector in prepared])
    workers = encode_workers(settings.encode_workers)
    return {
        "questions": len(measured),
        "torch_threads": serving_threads(settings.torch_threads, workers),
        "encode_workers": workers,
        "encode_ms": summarise(encode),
        "ask_ms": summarise(ask),
        "after_encode_ms": summarise(after),
        "units": int(searcher.index.dense.ntotal),
        "dense_search_ms": summarise(dense),  # the flat FAISS search over every unit, alone
        "batch_encode_ms_per_question": batches,
        # The server's ceiling: every encode worker encoding a batch of 32 at the same time.
        "parallel_encode_ms_per_question": _parallel_cost(model, measured, 32, workers),
    }


def _interleaved(
    first: Callable[[str], object], second: Callable[[str], object], questions: list[str]
) -> tuple[list[float], list[float]]:
    """`first` on even questions, `second` on odd ones, alternating: both see the same machine."""
    one: list[float] = []
    two: list[float] = []
    for position, question in enumerate(questions):
        if position % 2 == 0:
            one += _timed(first, [question])
        else:
            two += _timed(second, [question])
    return one, two


def _timed_pairs(searcher, prepared: list) -> list[float]:  # noqa: ANN001 - a Searcher
    samples = []
    for query, vector in prepared:
        started = time.perf_counter()
        searcher.answer(query, vector, 3)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _dense_search_cost(searcher, vectors: list) -> list[float]:  # noqa: ANN001 - a Searcher
    """Milliseconds of one exhaustive FAISS search over every unit (what a flat index costs)."""
    dense, samples = searcher.index.dense, []
    for encoded in vectors:
        started = time.perf_counter()
        dense.search(encoded.vectors[:1], dense.ntotal)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _batch_cost(model, questions: list[str], size: int, rounds: int = 4) -> float:  # noqa: ANN001
    """Milliseconds per question when `size` questions are encoded in one call, in passes of
    ENCODE_CHUNK as the server does (median round)."""
    costs = []
    for start in range(rounds):
        batch = [questions[(start * size + i) % len(questions)] for i in range(size)]
        started = time.perf_counter()
        model.encode(batch, batch_size=min(size, ENCODE_CHUNK), normalize_embeddings=True)
        costs.append((time.perf_counter() - started) * 1000 / size)
    return round(sorted(costs)[len(costs) // 2], 3)


def _parallel_cost(model, questions: list[str], size: int, workers: int, rounds: int = 3) -> float:  # noqa: ANN001
    """Wall milliseconds per question while `workers` threads each encode batches of `size` at once."""
    batches = [[questions[(n * size + i) % len(questions)] for i in range(size)] for n in range(workers)]

    def encode(batch: list[str]) -> None:
        for _ in range(rounds):
            model.encode(batch, batch_size=ENCODE_CHUNK, normalize_embeddings=True)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda b: model.encode(b[:2]), batches))  # each thread's first call, untimed
        started = time.perf_counter()
        list(pool.map(encode, batches))
    return round((time.perf_counter() - started) * 1000 / (workers * size * rounds), 3)


def main(argv: list[str]) -> int:
    count = int(argv[1]) if len(argv) > 1 else 150
    result = measure(count)
    with open(argv[0], "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
