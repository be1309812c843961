"""Answer spans: the sentence of each cited passage that holds the kind of answer asked for."""

from __future__ import annotations

import pytest

from qa.kinds import holds_kind
from qa.search import Searcher


@pytest.mark.parametrize(
    ("text", "kind", "holds"),
    [
        ("The grant to the MPS was £6.1 million this financial year.", "money", True),
        ("The Central Drug Trafficking Database has been financed by Home Office funding.", "money", False),
        ("This will run out in July 2006.", "date", True),
        ("after Recommendation 61 of the Inquiry", "number", False),
        ("seventy-two (72) officers", "number", True),
        ("said Assistant Commissioner Ghaffur", "person", True),
        ("anything at all", "", True),
        ("members note the appointment of Jane Doe as Vice Chairman of the Authority", "person", True),
        ("taken in consultation with John Smith, as Deputy Chair.", "person", True),
        ("with the approval of Jane Doe as one of the Deputy Chairs", "person", True),
        ("the Chairs of the committees", "person", False),
        ("The author is Ann Lee, Director of Communications", "person", True),
        ("The Metropolitan Police Service as a whole", "person", False),  # no role after 'as'
        ("funded by the Home Office", "person", False),
        ("warning us for the last two years", "duration", True),
        ("orders last from 6 months to 3 years", "duration", True),
        ("until the next Annual Meeting", "duration", True),
        ("3 extensions 3 existing closure orders", "duration", False),
        ("to be extended by up to 30 sites", "duration", False),
        ("figures are reported to the committee quarterly", "frequency", True),
        ("the group will report to the Board twice a year", "frequency", True),
        ("to meet on a regular cycle", "frequency", True),
        ("the committee approved the indicators", "frequency", False),
    ],
)
def test_what_kind_of_answer_a_text_holds(text: str, kind: str, holds: bool) -> None:
    assert holds_kind(text, kind) is holds


def test_amount_question_gets_the_sentence_with_the_amount(searcher: Searcher) -> None:
    result = searcher.ask("How much was the Home Office grant?")
    assert result.answered and result.answer is not None
    assert "£" in result.answer.span.text, result.answer.span.text


def test_every_cited_passage_gets_a_sentence_of_the_kind_asked_for(searcher: Searcher) -> None:
    result = searcher.ask("When will the CDTB run out of funding?", k=3)
    by_id = {hit.passage.id: hit.span.text for hit in result.hits}
    assert "D1" in by_id and "July 2006" in by_id["D1"], by_id
    for hit in result.hits:
        if holds_kind(hit.passage.text, "date"):
            assert holds_kind(hit.span.text, "date"), (hit.passage.id, hit.span.text)


def test_span_without_a_kind_is_the_best_matching_sentence(searcher: Searcher) -> None:
    hit = searcher.ask("How many cannabis factories were found in London?").answer
    assert hit is not None and "300 of the factories" in hit.span.text
    assert hit.passage.text[hit.span.start : hit.span.end] == hit.span.text
