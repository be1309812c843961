"""Question files for `qa eval`: how a question's report is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.evaluate import QuestionFileError, load_questions


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    return path


def test_a_question_naming_no_report_gets_the_default_doc(tmp_path: Path) -> None:
    rows = [
        {"q": "a", "gold": ["1"], "abstain": False, "doc": "report-a"},
        {"q": "b", "gold": [], "abstain": True, "doc": ""},
        {"q": "c", "gold": [], "abstain": True, "doc": None},
        {"q": "d", "gold": ["2"], "abstain": False},
    ]
    questions = load_questions(_write(tmp_path / "q.jsonl", rows), default_doc="seed")
    assert [q.doc for q in questions] == ["report-a", "seed", "seed", "seed"]
    assert [q.doc for q in load_questions(tmp_path / "q.jsonl")] == ["report-a", None, None, None]


def test_a_malformed_line_names_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"q": "a", "gold": [], "abstain": true}\n{"q": "b"}\n', encoding="utf-8")
    with pytest.raises(QuestionFileError, match=r"bad\.jsonl line 2"):
        load_questions(path)
