"""Search over the real index: known answers, fusion, lookups, and recall on our question set."""

from __future__ import annotations

import pytest

from qa.evaluate import evaluate, load_questions
from qa.search import Searcher

from .conftest import DATA_DIR


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How many cannabis factories were found in London?", "16"),
        ("What is the CDTB?", "22"),
        ("NEW-ADAM programme findings", "26"),
        ("£6.1 million grant", "D4"),
        ("Haringey crackhouse closures", "table-1"),
        ("What does CJIP stand for?", "28 abbreviations"),
    ],
)
def test_known_answers_rank_first(searcher: Searcher, question: str, expected: str) -> None:
    result = searcher.ask(question, k=3)
    assert result.hits[0].passage.id in expected.split()
    assert result.answered


def test_hits_are_ranked_and_carry_scores(searcher: Searcher) -> None:
    hits = searcher.search("cannabis factories", k=5)
    assert len(hits) == 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.passage.id for h in hits}) == 5


def test_answer_span_is_a_verbatim_sentence_of_the_passage(searcher: Searcher) -> None:
    hit = searcher.ask("How many cannabis factories were found in London?").answer
    assert hit is not None
    assert hit.passage.text[hit.span.start : hit.span.end] == hit.span.text
    assert "300 of the factories" in hit.span.text


def test_citation_lookup_puts_the_named_passage_first(searcher: Searcher) -> None:
    result = searcher.ask("what does paragraph 38 say", k=3)
    assert result.lookup and result.answered
    assert result.hits[0].passage.id == "38"


def test_off_topic_question_is_declined(searcher: Searcher) -> None:
    assert not searcher.ask("Who won the football world cup in 1966?").answered


def test_recall_on_our_question_set(searcher: Searcher) -> None:
    report = evaluate(searcher, load_questions(DATA_DIR / "questions.jsonl"), "questions.jsonl")
    assert report.answerable >= 60 and report.offtopic >= 10
    assert report.recall_at_3 >= 0.90, report.misses
