"""Per-passage facts the decline rules read, computed from the report's text when the index is built."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.corpus import Corpus, Passage, Report
from qa.kinds import counted_words
from qa.query import QueryAnalyzer, labels_in
from qa.tables import read_table
from qa.text import normalise, tokenize, years_in

FEATURES_FILE = "features.json"
FEATURE_VECTORS_FILE = "features.npz"

COMMON_SHARE = 0.25  # stems in this share of passages are what the whole report is about
SELF_WORDS = "report document"  # "is the report's list of background papers empty": about the report
HOME_PLACE_MIN_MENTIONS = 2  # a report's home place is the place it names most, at least this often


class TokenEncoder(Protocol):
    dimension: int

    def encode_tokens(self, texts: list[str], batch_size: int = 32): ...  # noqa: ANN201

    def word_pieces(self, word: str) -> list[str]: ...


@dataclass(frozen=True, kw_only=True)
class PassageFeatures:
    """What the rules need to know about one passage, read from its text once."""

    stems: frozenset[str]  # keyword stems of its section, heading and text
    counted: tuple[str, ...]  # the words its figures count ('officers' in '30,000 police officers')
    counted_stems: frozenset[str]  # their stems, with the expansions of acronyms among them
    counted_tokens: np.ndarray  # MiniLM token vectors of the counted words, read together
    labels: frozenset[str]  # classes and the like it names ('class a')
    years: frozenset[int]  # the years it speaks of (the report's own year always)
    rows: str  # a table's folded text plus the place its rows make up; '' for other passages


@dataclass(frozen=True, kw_only=True)
class CorpusFeatures:
    """Per-passage features plus what holds for the whole corpus."""

    passages: list[PassageFeatures]
    common_stems: frozenset[str]  # words the whole report is about, and words for the report itself
    places: tuple[str, ...]  # place names the reports use: their tables' row names and home places
    place_tokens: np.ndarray  # MiniLM token vectors of those names, as read in a sentence


def folded(text: str) -> str:
    """Text compared for table rows: normalised, '&' read as 'and', spacing collapsed."""
    return " ".join(normalise(text).replace("&", " and ").split())


_IN_PLACE = re.compile(r"\b(?:in|across|throughout|within)\s+([A-Z][a-z]+)\b")


def home_place(report: Report) -> str:
    """The place a report is about: the capitalised name it most often puts after 'in', 'across'...
    ('in Leeds'). A table of its districts makes up that place."""
    counts = Counter(name for p in report.passages for name in _IN_PLACE.findall(p.text))
    named = [(count, name) for name, count in counts.items() if count >= HOME_PLACE_MIN_MENTIONS]
    return max(named)[1] if named else ""


def table_places(report: Report) -> list[str]:
    """Row names of a report's tables that read as one name of letters ('Barnet', not '2005')."""
    tables = [read_table(passage) for passage in report.passages if passage.kind == "table"]
    names = [row.name for table in tables if table is not None for row in table.rows]
    return [name for name in names if re.fullmatch(r"[A-Za-z ]+", name)]


CountedEncoder = Callable[[Corpus, list[list[str]]], list[np.ndarray]]


def compute_features(
    corpus: Corpus, encoder: TokenEncoder, *, encode_counted: CountedEncoder | None = None
) -> CorpusFeatures:
    """Everything per passage the decline rules read; the only model calls search would otherwise
    make at start-up (counted words and place names) are made here, at build time. The index
    passes `encode_counted` to read each report's counted-word vectors from its embedding cache."""
    analyzer = QueryAnalyzer(corpus)
    homes = {report.slug: home_place(report) for report in corpus.reports}
    counted = [counted_words(p) for p in corpus.passages]
    if encode_counted is None:
        counted_tokens = counted_token_vectors(counted, encoder)[1]
    else:
        counted_tokens = encode_counted(corpus, counted)
    passages = [
        _passage_features(corpus, passage, words, tokens, homes, analyzer)
        for passage, words, tokens in zip(corpus.passages, counted, counted_tokens, strict=True)
    ]
    stems = Counter(stem for features in passages for stem in features.stems)
    common = {stem for stem, count in stems.items() if count >= COMMON_SHARE * len(passages)}
    places = sorted({*filter(None, homes.values()), *(n for r in corpus.reports for n in table_places(r))})
    return CorpusFeatures(
        passages=passages,
        common_stems=frozenset(common | set(tokenize(SELF_WORDS))),
        places=tuple(places),
        place_tokens=_place_tokens(places, encoder),
    )


def _passage_features(
    corpus: Corpus,
    passage: Passage,
    counted: list[str],
    counted_tokens: np.ndarray,
    homes: dict[str, str],
    analyzer: QueryAnalyzer,
) -> PassageFeatures:
    report = corpus.report_of(passage)
    present = report.date.year if report.date is not None else None
    expansions = analyzer.expand(" ".join(counted))  # "RSOs" counts officers
    rows = f"{folded(passage.text)} {folded(homes.get(passage.doc, ''))}" if passage.kind == "table" else ""
    return PassageFeatures(
        stems=frozenset(tokenize(f"{passage.section} {passage.heading} {passage.text}")),
        counted=tuple(counted),
        counted_stems=frozenset(tokenize(" ".join([*counted, *expansions]))),
        counted_tokens=counted_tokens,
        labels=frozenset(labels_in(passage.text)),
        years=frozenset(years_in(passage.text, present) | ({present} if present else set())),
        rows=rows.strip(),
    )


def _place_tokens(places: list[str], encoder: TokenEncoder) -> np.ndarray:
    """Token vectors of the places the reports name, each read in a short sentence."""
    if not places:
        return np.zeros((0, encoder.dimension), dtype=np.float32)
    # A neutral sentence, so a place reads as a place whatever a report is about.
    encoded = encoder.encode_tokens([f"people who live in {place}" for place in places])
    rows = [
        tokens[len(tokens) - len(encoder.word_pieces(place.lower())) :]  # the place's own pieces
        for tokens, place in zip(encoded.tokens, places, strict=True)
    ]
    return np.vstack(rows)


def counted_texts(counted: list[list[str]]) -> list[str]:
    """The text encoded for each passage's counted words (what its cache entry is keyed by)."""
    return [" ".join(words) for words in counted]


def counted_token_vectors(
    counted: list[list[str]], encoder: TokenEncoder
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Token vectors of each passage's counted words, read together (one short text a passage),
    with the sentence vectors of the same pass (kept so the embedding cache can store both)."""
    texts = counted_texts(counted)
    # Small batches: one batch of all the texts, padded to the longest, adds ~40 MB of peak memory.
    encoded = encoder.encode_tokens([text or "-" for text in texts], batch_size=4)
    empty = np.zeros((0, encoder.dimension), dtype=np.float32)
    tokens = [tokens if text else empty for tokens, text in zip(encoded.tokens, texts, strict=True)]
    return encoded.vectors, tokens


# ---------------------------------------------------------------------------
# Saving and loading: the facts as JSON, the vectors as one float16 array with offsets.


def save_features(features: CorpusFeatures, folder: Path) -> None:
    facts = {
        "common_stems": sorted(features.common_stems),
        "places": list(features.places),
        "passages": [
            {
                "stems": sorted(p.stems),
                "counted": list(p.counted),
                "counted_stems": sorted(p.counted_stems),
                "labels": sorted(p.labels),
                "years": sorted(p.years),
                "rows": p.rows,
            }
            for p in features.passages
        ],
    }
    (folder / FEATURES_FILE).write_text(json.dumps(facts))
    counted = [p.counted_tokens for p in features.passages]
    offsets = np.cumsum([0] + [len(m) for m in counted])
    dimension = features.place_tokens.shape[1]
    stacked = np.vstack(counted) if counted else np.zeros((0, dimension))
    with open(folder / FEATURE_VECTORS_FILE, "wb") as handle:
        np.savez(
            handle,
            counted=stacked.astype(np.float16),
            offsets=offsets,
            places=features.place_tokens.astype(np.float16),
        )


def load_features(folder: Path) -> CorpusFeatures:
    facts = json.loads((folder / FEATURES_FILE).read_text())
    with np.load(folder / FEATURE_VECTORS_FILE, allow_pickle=False) as data:
        counted, offsets = data["counted"].astype(np.float32), data["offsets"]
        places = data["places"].astype(np.float32)
    rows = facts["passages"]
    if len(offsets) != len(rows) + 1:
        raise ValueError("feature vectors do not match the passages")
    passages = [
        PassageFeatures(
            stems=frozenset(row["stems"]),
            counted=tuple(row["counted"]),
            counted_stems=frozenset(row["counted_stems"]),
            counted_tokens=counted[offsets[i] : offsets[i + 1]],
            labels=frozenset(row["labels"]),
            years=frozenset(row["years"]),
            rows=row["rows"],
        )
        for i, row in enumerate(rows)
    ]
    return CorpusFeatures(
        passages=passages,
        common_stems=frozenset(facts["common_stems"]),
        places=tuple(facts["places"]),
        place_tokens=places,
    )
