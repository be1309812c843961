"""Per-passage facts the decline rules read, computed from the report's text when the index is built."""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from qa.corpus import Passage, Report, report_acronyms
from qa.kinds import counted_words, people_named
from qa.query import labels_in
from qa.tables import read_table
from qa.text import normalise, tokenize, years_in

COMMON_SHARE = 0.25  # stems in this share of passages are what the whole report is about
COMMON_MIN_PASSAGES = 3  # and in this many at least: in a four-passage report, one is a quarter
SELF_WORDS = "report document"  # "is the report's list of background papers empty": about the report
HOME_PLACE_MIN_MENTIONS = 2  # a report's home place is the place it names most, at least this often


class TokenEncoder(Protocol):
    dimension: int

    def encode_tokens(self, texts: list[str], batch_size: int = 32): ...  # noqa: ANN201

    def word_pieces(self, word: str) -> list[str]: ...


@dataclass(frozen=True, kw_only=True)
class PassageFeatures:
    """What the rules need to know about one passage, read from its text (and its report's) once."""

    stems: frozenset[str]  # keyword stems of its section, heading and text
    counted: tuple[str, ...]  # the words its figures count ('officers' in '30,000 police officers')
    counted_tokens: np.ndarray  # MiniLM token vectors of the counted words, read together
    labels: frozenset[str]  # classes and the like it names ('class a')
    years: frozenset[int]  # the years it speaks of (the report's own year always)
    rows: str  # a table's folded text plus the place its rows make up; '' for other passages
    people: tuple[str, ...]  # names it gives as people's: after a title, or its report's author
    around: frozenset[str]  # stems it answers to (words_around)


@dataclass(frozen=True, kw_only=True)
class CorpusFeatures:
    """Per-passage features plus what holds for the whole corpus."""

    passages: list[PassageFeatures]
    common_stems: frozenset[str]  # words the whole report is about, and words for the report itself
    places: tuple[str, ...]  # place names the reports use: their tables' row names and home places
    place_tokens: np.ndarray  # MiniLM token vectors of those names, as read in a sentence
    people: frozenset[str] = frozenset()  # names the library gives as people's (its passages' people)
    # Each report's words and stems (qa.query.report_vocabulary), saved in its segment.
    vocabularies: dict[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)


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


def words_around(passage: Passage, report: Report, acronyms: dict[str, str], home: str) -> frozenset[str]:
    """Stems a passage answers to: its own, its acronyms' expansions ('RSO' brings Road
    Intervention Programme), and what names its whole report (title, committee, home place)."""
    expansions = [long for short, long in acronyms.items() if short in passage.text]
    header = [report.title, report.committee, report.by, report.author, home]
    text = " ".join([passage.section, passage.heading, passage.text, *expansions, *header])
    return frozenset(tokenize(re.sub(r"[^\w\s]", " ", text)))


def report_features(report: Report, counted_tokens: list[np.ndarray]) -> list[PassageFeatures]:
    """Each passage's features: they depend on its report alone, so a report's are computed (and
    saved in its index segment) once. `counted_tokens`: the vectors of each passage's counted words."""
    home = home_place(report)
    present = report.date.year if report.date is not None else None
    acronyms = report_acronyms(report)
    return [
        PassageFeatures(
            stems=frozenset(tokenize(f"{passage.section} {passage.heading} {passage.text}")),
            counted=tuple(counted_words(passage)),
            counted_tokens=tokens,
            labels=frozenset(labels_in(passage.text)),
            years=frozenset(years_in(passage.text, present) | ({present} if present else set())),
            rows=f"{folded(passage.text)} {folded(home)}".strip() if passage.kind == "table" else "",
            people=people_named(passage.text, report.author_name),
            around=words_around(passage, report, acronyms, home),
        )
        for passage, tokens in zip(report.passages, counted_tokens, strict=True)
    ]


def report_places(report: Report) -> list[str]:
    """The places a report names: its home place and its tables' row names."""
    home = home_place(report)
    return sorted({*([home] if home else []), *table_places(report)})


def corpus_features(
    passages: list[PassageFeatures],
    places: list[str],
    place_tokens: np.ndarray,
    vocabularies: dict[str, tuple[frozenset[str], frozenset[str]]] | None = None,
) -> CorpusFeatures:
    """The library's features from its passages' and its places' (what the whole library is about
    is counted here, when the index is loaded, so adding a report reads no other report)."""
    return CorpusFeatures(
        passages=passages,
        common_stems=frozenset(common_stems(passages) | set(tokenize(SELF_WORDS))),
        places=tuple(places),
        place_tokens=place_tokens,
        people=frozenset(name for features in passages for name in features.people),
        vocabularies=vocabularies or {},
    )


def common_stems(passages: Sequence[PassageFeatures]) -> set[str]:
    """Stems used throughout these passages: in a quarter of them, and in a few at least (in a
    four-passage report, one passage is a quarter)."""
    stems = Counter(stem for features in passages for stem in features.stems)
    least = max(COMMON_MIN_PASSAGES, COMMON_SHARE * len(passages))
    return {stem for stem, count in stems.items() if count >= least}


def counted_stems(counted: tuple[str, ...], expand: Callable[[str], list[str]]) -> frozenset[str]:
    """The stems of a passage's counted words, with the expansions of acronyms among them ("RSOs"
    counts officers). Acronyms are the library's: read with the analyser, not saved per report."""
    return frozenset(tokenize(" ".join([*counted, *expand(" ".join(counted))])))


def place_tokens(places: list[str], encoder: TokenEncoder) -> np.ndarray:
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
# Saving and loading: a passage's facts as JSON (its vectors are saved beside, as float16).


def passage_facts(features: PassageFeatures) -> dict:
    return {
        "stems": sorted(features.stems),
        "counted": list(features.counted),
        "labels": sorted(features.labels),
        "years": sorted(features.years),
        "rows": features.rows,
        "people": list(features.people),
        "around": sorted(features.around),
    }


def from_facts(facts: dict, counted_tokens: np.ndarray) -> PassageFeatures:
    # Stems are interned: read from JSON, each passage's would be its own copies of the same few
    # thousand words (~30 MB of strings at 1,000 reports).
    return PassageFeatures(
        stems=frozenset(map(sys.intern, facts["stems"])),
        counted=tuple(facts["counted"]),
        counted_tokens=counted_tokens,
        labels=frozenset(facts["labels"]),
        years=frozenset(facts["years"]),
        rows=facts["rows"],
        people=tuple(facts["people"]),
        around=frozenset(map(sys.intern, facts["around"])),
    )
