"""Distinct, realistic questions for the load phases: the question files, reworded by templates."""

from __future__ import annotations

import json
import random
from pathlib import Path

from qa.config import PROJECT_ROOT
from qa.search import normalise_question

QUESTION_FILES = [
    PROJECT_ROOT / "tests" / "data" / "questions.jsonl",
    PROJECT_ROOT / "tests" / "data" / "questions.holdout.jsonl",
]

# How people actually phrase the same question; every combination is a distinct cache key.
PREFIXES = [
    "",
    "According to the report, ",
    "In the MPA drugs and crime report, ",
    "Quick question: ",
    "Could you tell me: ",
    "I'd like to know: ",
    "From the report: ",
    "Briefly, ",
    "For a briefing note: ",
    "Please answer: ",
    "Can you check: ",
    "One more: ",
]
SUFFIXES = ["", " Please cite the paragraph.", " Thanks.", " (2005 report)", " What does it say?"]


def base_questions(files: list[Path] | None = None) -> list[str]:
    """Every question of the evaluation files, in file order."""
    questions: list[str] = []
    for path in files or QUESTION_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                questions.append(json.loads(line)["q"])
    return questions


def distinct_questions(count: int, seed: int = 5) -> list[str]:
    """`count` questions that are all different after normalisation (so none is a cache hit).

    Deterministic for a seed; the base questions come first (in a shuffled order), then their
    reworded forms, so any prefix of the list is spread over the whole report.
    """
    bases = base_questions()
    random.Random(seed).shuffle(bases)
    seen: set[str] = set()
    found: list[str] = []
    for prefix in PREFIXES:
        for suffix in SUFFIXES:
            for base in bases:
                question = f"{prefix}{_lower_first(base) if prefix else base}{suffix}"
                key = normalise_question(question)
                if key in seen or len(question) > 500:
                    continue
                seen.add(key)
                found.append(question)
                if len(found) == count:
                    return found
    raise ValueError(f"only {len(found)} distinct questions can be made; asked for {count}")


def _lower_first(question: str) -> str:
    """'How many...' -> 'how many...', but 'MPS budget' stays as it is."""
    if question[:2].isupper():
        return question
    return question[:1].lower() + question[1:]
