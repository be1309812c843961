"""Pick up a rebuilt index while serving: watch the manifest, load the new index beside the old, swap."""

from __future__ import annotations

import logging
import threading
import time

from qa.config import Settings
from qa.corpus import Corpus
from qa.index import StaleIndex, load_index, read_manifest, verify_vectors
from qa.search import Searcher
from qa.service import AnswerService

log = logging.getLogger("qa.reload")


class IndexWatcher:
    """Polls the saved manifest; when its fingerprint changes, loads that index in this thread and
    swaps it into the service in one assignment. Requests already running finish on the index they
    started with, so none fails and none sees half of an update."""

    def __init__(self, service: AnswerService, settings: Settings) -> None:
        self.service = service
        self.settings = settings
        self.reloads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qa-reload", daemon=True)

    def start(self) -> IndexWatcher:
        if self.settings.reload_interval > 0:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.reload_interval):
            try:
                self.check()
            except Exception:  # never let the watcher die: the service keeps its current index
                serving = self.service.searcher.fingerprint
                log.exception("reloading the index failed; still serving %s", serving)

    def check(self) -> bool:
        """Load and swap in the saved index if it is not the one being served. True if swapped."""
        try:
            fingerprint = str(read_manifest(self.settings.index_dir).get("fingerprint"))
        except StaleIndex:
            return False  # no index on disk (being rebuilt, or removed): keep serving this one
        if fingerprint == self.service.searcher.fingerprint:
            return False
        started = time.perf_counter()
        embedder = self.service.searcher.embedder
        try:
            index = load_index(
                Corpus.from_seeds(self.settings.seeds_dir, self.settings.default_doc), self.settings
            )
            verify_vectors(index, embedder)
        except (StaleIndex, OSError, ValueError) as reason:
            # Often a build still under way (seeds changed, manifest not yet): try again next time.
            log.info("index %s not loaded yet (%s)", fingerprint, reason)
            return False
        self.service.replace_searcher(Searcher(index, embedder))
        self.reloads += 1
        log.info(
            "now serving index %s: %d reports, %d passages (loaded in %.2fs)",
            index.fingerprint,
            len(index.corpus.reports),
            len(index.corpus.passages),
            time.perf_counter() - started,
        )
        return True
