"""Measure retrieval quality on a question file: recall@k, MRR, abstention, answer accuracy."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qa.corpus import Passage
from qa.search import Result, Searcher


@dataclass(frozen=True)
class Question:
    """One labelled question: the passage ids that answer it, or none (abstain)."""

    q: str
    gold: list[str]
    abstain: bool
    type: str = "other"
    doc: str | None = None  # the report the gold ids are in; None: any report (a one-report set)
    expect: str | None = None  # the report's words the answer should hold ("150 people")


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
    with_expected: int = 0  # answerable questions that say which words the answer should hold
    answer_holds_expected: float = 0.0
    # The three outcomes: answered with high confidence, answered as the closest passage, declined.
    answerable_high: float = 0.0
    answerable_low: float = 0.0
    offtopic_high: float = 0.0
    offtopic_low: float = 0.0
    by_type: dict[str, dict[str, float]] = field(default_factory=dict)
    by_doc: dict[str, dict[str, float]] = field(default_factory=dict)
    misses: list[Miss] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class QuestionFileError(ValueError):
    """A question file line is not valid JSON of the expected shape."""


def load_questions(path: Path, default_doc: str | None = None) -> list[Question]:
    """The questions of a JSONL file; those that name no report get `default_doc`."""
    questions: list[Question] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            questions.append(
                Question(
                    q=row["q"],
                    gold=list(row["gold"]),
                    abstain=bool(row["abstain"]),
                    type=row.get("type", "other"),
                    doc=row.get("doc") or default_doc or None,  # "" and null alike: no report named
                    expect=row.get("expect"),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise QuestionFileError(f"{path.name} line {number}: {error}") from error
    return questions


def _is_gold(question: Question, passage: Passage) -> bool:
    """A citation counts only when both its report and its paragraph are the question's."""
    return passage.id in question.gold and (question.doc is None or passage.doc == question.doc)


def _rank_of_first_gold(result: Result, question: Question) -> int | None:
    for rank, hit in enumerate(result.hits, start=1):
        if _is_gold(question, hit.passage):
            return rank
    return None


def _holds_expected(expect: str, text: str) -> bool:
    """Every word and number of the expected answer is in the answer text (case and commas aside)."""
    words = re.findall(r"[a-z0-9£%.]+", expect.lower().replace(",", ""))
    found = set(re.findall(r"[a-z0-9£%.]+", text.lower().replace(",", "")))
    return all(word.strip(".") in {f.strip(".") for f in found} for word in words if word.strip("."))


def evaluate(
    searcher: Searcher, questions: list[Question], name: str = "", depth: int = 5, scoped: bool = False
) -> Report:
    """Run every question through the searcher and score the results against the gold ids; with
    `scoped`, each question with a doc is asked of that report alone."""
    results = _ask(searcher, questions, depth, scoped)
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
        rank = _rank_of_first_gold(result, question)
        answer_ok = result.answered and _is_gold(question, result.hits[0].passage)
        if question.expect is not None:
            report.with_expected += 1
            report.answer_holds_expected += result.answered and _holds_expected(
                question.expect, _answer_text(result)
            )
        if question.doc is not None:
            per_doc = report.by_doc.setdefault(question.doc, {"n": 0, "r@1": 0, "r@3": 0})
            per_doc["n"] += 1
            per_doc["r@1"] += rank == 1
            per_doc["r@3"] += rank is not None and rank <= 3
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


def _ask(searcher: Searcher, questions: list[Question], depth: int, scoped: bool) -> list[Result]:
    if not scoped:
        return searcher.ask_many([q.q for q in questions], k=depth)
    results: dict[int, Result] = {}
    by_doc: dict[str | None, list[int]] = defaultdict(list)
    for position, question in enumerate(questions):
        by_doc[question.doc].append(position)
    for doc, positions in by_doc.items():
        docs = None if doc is None else [doc]
        answers = searcher.ask_many([questions[p].q for p in positions], k=depth, docs=docs)
        results.update(zip(positions, answers, strict=True))
    return [results[p] for p in range(len(questions))]


def _answer_text(result: Result) -> str:
    """What the reader is shown as the answer: a computed table answer or the chosen sentence."""
    if result.answered and result.table is not None:
        return result.table.text
    top = result.answer
    return "" if top is None else top.span.text


def _cited(passage: Passage, with_doc: bool) -> str:
    return f"{passage.doc}/{passage.id}" if with_doc else passage.id


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
        got=[
            hit.passage.id if question.doc is None else f"{hit.passage.doc}/{hit.passage.id}"
            for hit in result.hits
        ],
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
    report.answer_holds_expected = round(report.answer_holds_expected / max(report.with_expected, 1), 4)
    for counts in report.by_doc.values():
        n = counts["n"]
        counts["r@1"], counts["r@3"] = round(counts["r@1"] / n, 3), round(counts["r@3"] / n, 3)
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
        f"answer holds the expected words {report.answer_holds_expected:.3f} (of {report.with_expected})",
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
    if report.by_doc:
        lines.append("by report (doc and paragraph must both match):")
        lines += [
            f"  {doc}: {figures['n']:.0f} questions, R@1 {figures['r@1']:.2f}, R@3 {figures['r@3']:.2f}"
            for doc, figures in sorted(report.by_doc.items())
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
