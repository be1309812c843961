"""Fast start for the server: torch threads, the model and the saved index loaded side by side, warm-up."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

from qa.config import Settings
from qa.corpus import Corpus
from qa.index import Embedder, SearchIndex, StaleIndex, load_index, open_index, verify_vectors
from qa.search import Searcher
from qa.service import AnswerService

log = logging.getLogger("qa.startup")

WARM_UP_QUESTION = "What does the report recommend?"  # any question: it only warms the model


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, so `taskset` is respected)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def encode_workers(setting: int) -> int:
    """Model calls the server runs at once: the setting, or for 0 one per usable core."""
    return setting if setting > 0 else usable_cores()


def serving_threads(setting: int, workers: int = 1) -> int:
    """Torch threads per model call: the setting, or for 0 every usable core but one shared among
    `workers`, at least 1.

    The event loop (HTTP, JSON, search after the encode) needs a core while the model encodes; torch
    threads sharing a core with it spin and stall each other.
    """
    return setting if setting > 0 else max(1, (usable_cores() - 1) // max(1, workers))


def configure_threads(threads: int) -> None:
    """Intra-op threads for the model; one inter-op thread (a BERT forward has no parallel branches);
    one thread for numpy's and faiss's BLAS (the search after the encode multiplies small matrices,
    and idle OpenBLAS threads spin: they took a core from the model under load)."""
    # Idle OpenMP threads wait passively (see Embedder): read when torch loads, which is here.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel work
        torch.set_num_interop_threads(1)
    threadpool_limits(1, user_api="blas")


def _saved_index(settings: Settings, timings: dict[str, float]) -> SearchIndex | None:
    started = time.perf_counter()
    try:
        return load_index(Corpus.from_seeds(settings.seeds_dir, settings.default_doc), settings)
    except StaleIndex as reason:
        log.warning("saved index not usable (%s); it will be rebuilt", reason)
        return None
    finally:
        timings["index_s"] = time.perf_counter() - started


def _verified(index: SearchIndex, embedder: Embedder) -> SearchIndex | None:
    """The saved index if its stored vectors are this model's for these units (checksums alone
    cannot tell a resealed or hand-edited vector file), else None."""
    try:
        verify_vectors(index, embedder)
    except StaleIndex as reason:
        log.warning("saved index not usable (%s); it will be rebuilt", reason)
        return None
    return index


def load_searcher(settings: Settings, timings: dict[str, float] | None = None) -> Searcher:
    """The model (slow: torch imports) and the saved index (fast) at once; build only if stale."""
    timings = {} if timings is None else timings
    threads = serving_threads(settings.torch_threads, encode_workers(settings.encode_workers))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-index") as pool:
        saved = pool.submit(_saved_index, settings, timings)
        started = time.perf_counter()
        configure_threads(threads)
        embedder = Embedder(settings.resolved_model_path(), threads)
        timings["model_s"] = time.perf_counter() - started
        index = saved.result()
    if index is not None:
        index = _verified(index, embedder)
    if index is None:
        started = time.perf_counter()
        index = open_index(settings, embedder)
        timings["index_s"] += time.perf_counter() - started
    return Searcher(index, embedder)


def load_service(settings: Settings) -> AnswerService:
    """Load the model and the index (building it if needed) and warm the model before serving."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    searcher = load_searcher(settings, timings)
    workers = encode_workers(settings.encode_workers)
    service = AnswerService(
        searcher, settings.batch_max, settings.batch_wait_ms, settings.cache_size, workers=workers
    )
    warm_started = time.perf_counter()
    service.warm_up(WARM_UP_QUESTION)
    # The imports left millions of long-lived objects: collect once now and freeze them, so no
    # full collection walks them in the middle of a request later (a ~0.2 s pause was seen once).
    gc.collect()
    gc.freeze()
    log.info(
        "ready in %.2fs: model %.2fs and index %.2fs side by side, warm-up %.2fs; "
        "%d encode workers of %d torch threads",
        time.perf_counter() - started,
        timings["model_s"],
        timings["index_s"],
        time.perf_counter() - warm_started,
        workers,
        serving_threads(settings.torch_threads, workers),
    )
    return service
