"""Measure retrieval quality on a question file: recall@k, MRR, abstention, answer accuracy."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qa.search import Result, Searcher


@dataclass(frozen=True)
class Question:
    """One labelled question: the passage ids that answer it, or none (abstain)."""

    q: str
    gold: list[str]
    abstain: bool
    type: str = "other"


@dataclass
class Miss:
    question: str
    type: str
    gold: list[str]
    got: list[str]
    answered: bool
    answer: str | None
    confidence: str = ""


@dataclass
class Report:
    """The figures `qa eval` prints, per file."""

    file: str
    answerable: int = 0
    offtopic: int = 0
    recall_at_1: float = 0.0
    recall_at_3: float = 0.0
    recall_at_5: float = 0.0
    mrr: float = 0.0
    answer_correct: float = 0.0
    offtopic_declined: float = 0.0
    answerable_declined: float = 0.0
    # The three outcomes: answered with high confidence, answered as the closest passage, declined.
    answerable_high: float = 0.0
    answerable_low: float = 0.0
    offtopic_high: float = 0.0
    offtopic_low: float = 0.0
    by_type: dict[str, dict[str, float]] = field(default_factory=dict)
    misses: list[Miss] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class QuestionFileError(ValueError):
    """A question file line is not valid JSON of the expected shape."""


def load_questions(path: Path) -> list[Question]:
    questions: list[Question] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            questions.append(
                Question(row["q"], list(row["gold"]), bool(row["abstain"]), row.get("type", "other"))
            )
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise QuestionFileError(f"{path.name} line {number}: {error}") from error
    return questions


def _rank_of_first_gold(result: Result, gold: list[str]) -> int | None:
    for rank, hit in enumerate(result.hits, start=1):
        if hit.passage.id in gold:
            return rank
    return None


def evaluate(searcher: Searcher, questions: list[Question], name: str = "", depth: int = 5) -> Report:
    """Run every question through the searcher and score the results against the gold ids."""
    results = searcher.ask_many([q.q for q in questions], k=depth)
    report = Report(file=name)
    type_counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for question, result in zip(questions, results, strict=True):
        outcome = _outcome(result)
        counts = type_counts[question.type]
        counts["n"] += 1
        for name in OUTCOMES:
            counts[name] += outcome == name
        if question.abstain:
            report.offtopic += 1
            report.offtopic_declined += outcome == "declined"
            report.offtopic_high += outcome == "high"
            report.offtopic_low += outcome == "low"
            if result.answered:
                report.misses.append(_miss(question, result))
            continue
        report.answerable += 1
        rank = _rank_of_first_gold(result, question.gold)
        answer_ok = result.answered and result.hits[0].passage.id in question.gold
        report.recall_at_1 += rank == 1
        report.recall_at_3 += rank is not None and rank <= 3
        report.recall_at_5 += rank is not None and rank <= 5
        report.mrr += 1 / rank if rank else 0.0
        report.answer_correct += answer_ok
        report.answerable_declined += outcome == "declined"
        report.answerable_high += outcome == "high"
        report.answerable_low += outcome == "low"
        counts["r@1"] += rank == 1
        counts["r@3"] += rank is not None and rank <= 3
        if rank != 1 or not result.answered:
            report.misses.append(_miss(question, result))
    _finalise(report, type_counts)
    return report


OUTCOMES = ("high", "low", "declined")


def _outcome(result: Result) -> str:
    """One of OUTCOMES: answered with high confidence, as the closest passage (low), or declined."""
    if not result.answered:
        return "declined"
    return "low" if result.confidence == "low" else "high"


def _miss(question: Question, result: Result) -> Miss:
    return Miss(
        question=question.q,
        type=question.type,
        gold=question.gold,
        got=[hit.passage.id for hit in result.hits],
        answered=result.answered,
        answer=result.hits[0].span.text if result.answered and result.hits else None,
        confidence=result.confidence,
    )


def _finalise(report: Report, type_counts: dict[str, dict[str, float]]) -> None:
    answerable = max(report.answerable, 1)
    for name in (
        "recall_at_1",
        "recall_at_3",
        "recall_at_5",
        "mrr",
        "answer_correct",
        "answerable_declined",
        "answerable_high",
        "answerable_low",
    ):
        setattr(report, name, round(getattr(report, name) / answerable, 4))
    for name in ("offtopic_declined", "offtopic_high", "offtopic_low"):
        setattr(report, name, round(getattr(report, name) / max(report.offtopic, 1), 4))
    for kind, counts in sorted(type_counts.items()):
        n = counts.pop("n")
        report.by_type[kind] = {
            "n": n,
            **{key: round(value / n, 3) for key, value in counts.items()},
        }


def format_report(report: Report, show_misses: bool = True) -> str:
    """A terminal-friendly summary of one evaluation."""
    lines = [
        f"== {report.file}: {report.answerable} answerable, {report.offtopic} off-topic",
        f"recall@1 {report.recall_at_1:.3f}   recall@3 {report.recall_at_3:.3f}   "
        f"recall@5 {report.recall_at_5:.3f}   MRR {report.mrr:.3f}",
        f"answer paragraph correct {report.answer_correct:.3f}   "
        f"off-topic declined {report.offtopic_declined:.3f}   "
        f"answerable wrongly declined {report.answerable_declined:.3f}",
        "",
        f"{'':<14}{'n':>5}{'R@1':>7}{'R@3':>7}{'high':>7}{'low':>7}{'declined':>10}",
        _outcome_row(
            "answerable",
            report.answerable,
            report.recall_at_1,
            report.recall_at_3,
            (report.answerable_high, report.answerable_low, report.answerable_declined),
        ),
        _outcome_row(
            "off-topic",
            report.offtopic,
            None,
            None,
            (report.offtopic_high, report.offtopic_low, report.offtopic_declined),
        ),
        *(
            _outcome_row(
                f"  {kind}",
                figures["n"],
                figures.get("r@1"),
                figures.get("r@3"),
                tuple(figures.get(name, 0.0) for name in OUTCOMES),
            )
            for kind, figures in report.by_type.items()
        ),
    ]
    if show_misses and report.misses:
        lines.append(f"misses ({len(report.misses)}):")
        for miss in report.misses:
            verdict = f"answered ({miss.confidence})" if miss.answered else "declined"
            lines.append(f"  [{miss.type}] {miss.question!r} gold={miss.gold} got={miss.got} {verdict}")
    return "\n".join(lines)


def _outcome_row(
    label: str, n: float, r1: float | None, r3: float | None, outcomes: tuple[float, ...]
) -> str:
    """One line of the outcomes table: R@1 and R@3 where they apply, then high / low / declined."""
    recall = "".join(f"{value:>7.3f}" if value is not None else f"{'-':>7}" for value in (r1, r3))
    high, low, declined = outcomes
    return f"{label:<14}{n:>5.0f}{recall}{high:>7.3f}{low:>7.3f}{declined:>10.3f}"
