"""Follow-up questions read in context, by rule: each rule on the seed report and on made-up turns."""

from __future__ import annotations

import pytest

from qa.corpus import Corpus
from qa.followup import Turn, about, example_candidates, lookup_example, next_steps, read_in_context

DOC = "mpa-2005-12-08-drugs-and-crime"


def read(corpus: Corpus, question: str, previous: str, paragraph: str | None = None) -> str | None:
    return read_in_context(question, Turn(previous, DOC, paragraph), corpus)


@pytest.mark.parametrize(
    ("previous", "paragraph", "question", "expected"),
    [
        (
            "What is a clean delivery?",
            "7",
            "how many arrests did that lead to?",
            "How many clean delivery arrests were there?",
        ),
        (
            "What is the Central Task Force?",
            "6",
            "where is it based?",
            "Where is the Central Task Force based?",
        ),
        ("What is a clean delivery?", "7", "what does that mean?", "What does the clean delivery mean?"),
        (
            "What does paragraph 4 say?",
            "4",
            "how many officers does it have?",
            "How many officers does the Middle Market Drugs Project have?",
        ),  # the passage's heading
        (
            "How many crackhouses were closed in Haringey?",
            "table-1",
            "what about Lambeth?",
            "How many crackhouses were closed in Lambeth?",
        ),
        (
            "How many tonnes of steel were sold in York?",
            None,
            "and in Leeds?",
            "How many tonnes of steel were sold in Leeds?",
        ),
        (
            "How many tonnes of steel were sold?",
            None,
            "what about copper?",
            "How many tonnes of copper were sold?",
        ),
        ("How many shops opened in 2019?", None, "what about 2021?", "How many shops opened in 2021?"),
        ("How many shops opened?", None, "and in 2021?", "How many shops opened in 2021?"),
        ("What is a clean delivery?", "7", "why?", "¶7"),
        ("What is a clean delivery?", "7", "Tell me more.", "¶7"),
        ("What is a clean delivery?", "7", "the next paragraph", "¶8"),
        ("What is a clean delivery?", "7", "previous one", "¶6"),
        ("What is a clean delivery?", "27", "what comes next?", "Table 1"),
        ("What is a clean delivery?", "7", "who wrote it?", "Who wrote the report?"),
    ],
)
def test_follow_ups_are_rewritten(
    corpus: Corpus, previous: str, paragraph: str | None, question: str, expected: str
) -> None:
    assert read(corpus, question, previous, paragraph) == expected


@pytest.mark.parametrize(
    "question",
    [
        "How many cannabis factories were found in London?",
        "What does paragraph 22 say?",
        "And how many cannabis factories were found?",
        "Is it true that the MPS has 30,000 police officers and 15,000 police staff?",
        "How many staff does that unit have?",  # 'that unit' names its own subject
        "What is the Drugs Directorate?",
    ],
)
def test_a_question_that_stands_on_its_own_is_unchanged(corpus: Corpus, question: str) -> None:
    assert read(corpus, question, "What is a clean delivery?", "7") is None


def test_nothing_to_lean_on(corpus: Corpus) -> None:
    assert read_in_context("why?", None, corpus) is None
    assert read(corpus, "why?", "What is a clean delivery?", None) is None  # no passage cited
    assert read(corpus, "what does it cost?", "", None) is None  # no subject anywhere


def test_examples_and_next_steps_come_from_the_report(corpus: Corpus) -> None:
    headings = {p.heading for p in corpus.passages}
    candidates = example_candidates(corpus)
    assert candidates and all(any(h and h.lower() in q.lower() for h in headings) for q in candidates)
    assert about("Hydroponic cultivation of Cannabis") == (
        "What does the report say about hydroponic cultivation of Cannabis?"
    )
    assert about("Central Task Force") == "What does the report say about the Central Task Force?"
    assert lookup_example(corpus) == "What does paragraph 24 say?"
    steps = next_steps([corpus.resolve("7"), corpus.resolve("2")], corpus, "What is a clean delivery?")
    assert steps[0].label == "Next: ¶8 · Territorial Policing" and steps[0].question == "¶8"
    assert len(steps) <= 3 and len({s.question for s in steps}) == len(steps)
