"""Choose the answer span of a passage: the sentence, row or entry that answers, of the kind asked for."""

from __future__ import annotations

import numpy as np

from qa.corpus import Span, passage_spans
from qa.index import SearchIndex
from qa.kinds import holds_kind
from qa.ranking import unit_ranges


class SpanChooser:
    """Picks, for each cited passage, the unit that best answers the question."""

    def __init__(self, index: SearchIndex, keyword_weight: float = 0.3) -> None:
        self.index = index
        self.keyword_weight = keyword_weight  # answer sentence: dense + this * normalised keyword
        passages = index.corpus.passages
        unit_passage = np.array([u.passage for u in index.units], dtype=np.int64)
        is_whole = np.array([u.kind == "passage" for u in index.units])
        # Each passage's units are one run (one comparison over every unit per passage took
        # seconds at start-up with a thousand reports).
        starts, ends = unit_ranges(unit_passage, len(passages))
        self._answer_units_of = [
            start + np.flatnonzero(~is_whole[start:end]) for start, end in zip(starts, ends, strict=True)
        ]
        self._first_span = [next(iter(passage_spans(p)), Span(0, 0, "")) for p in passages]

    def best_span(
        self, position: int, *, unit_dense: np.ndarray, unit_keyword: np.ndarray, expects: str = ""
    ) -> Span:
        """The unit with the best dense + some keyword score. When the question asks for a number, an
        amount, a date or a person, only units that hold one compete, if the passage has any."""
        candidates = self._answer_units_of[position]
        if len(candidates) == 0:
            return self._first_span[position]
        text = self.index.corpus.passages[position].text
        if expects:
            holding = [u for u in candidates if self._holds(text, int(u), expects)]
            if holding:
                candidates = np.array(holding, dtype=np.int64)
        keyword = unit_keyword[candidates]
        top_keyword = float(keyword.max()) or 1.0
        scores = unit_dense[candidates] + self.keyword_weight * keyword / top_keyword
        best = self.index.units[int(candidates[int(np.argmax(scores))])]
        return Span(best.start, best.end, text[best.start : best.end])

    def _holds(self, text: str, unit: int, expects: str) -> bool:
        piece = self.index.units[unit]
        return holds_kind(text[piece.start : piece.end], expects)
