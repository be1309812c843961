"""The `qa` command run as a real process against the test index."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from qa.config import Settings
from qa.index import SearchIndex


def run_qa(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "QA_SEEDS_DIR": str(settings.seeds_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "qa.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ask_json_matches_the_api(settings: Settings, search_index: SearchIndex, client) -> None:  # noqa: ANN001
    question = "How much was the Home Office grant for drug testing?"
    done = run_qa(settings, "ask", question, "-k", "2", "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    api = client.post("/api/ask", json={"question": question, "top_k": 2}).json()
    assert printed["citations"][0]["paragraph"] == "D4"
    for key in ("question", "answered", "answer"):
        assert printed[key] == api[key]
    assert [c["paragraph"] for c in printed["citations"]] == [c["paragraph"] for c in api["citations"]]


def test_ask_prints_readable_answer(settings: Settings, search_index: SearchIndex) -> None:
    done = run_qa(settings, "ask", "What is the CDTB?")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Answer (¶22):")
    assert "[¶22]" in done.stdout


@pytest.mark.parametrize(("args", "needle"), [(["ask", "  "], "empty"), (["ask", "x", "-k", "0"], "top_k")])
def test_ask_rejects_bad_input(settings: Settings, args: list[str], needle: str) -> None:
    done = run_qa(settings, *args)
    assert done.returncode == 2
    assert needle in done.stderr and "Traceback" not in done.stderr


def test_eval_prints_figures_and_json(settings: Settings, search_index: SearchIndex, tmp_path) -> None:  # noqa: ANN001
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"q": "cannabis factories in London", "gold": ["16"], "abstain": false, "type": "fact"}\n'
        '{"q": "who won the 1966 world cup", "gold": [], "abstain": true, "type": "offtopic"}\n'
    )
    done = run_qa(settings, "eval", str(questions))
    assert done.returncode == 0, done.stderr
    assert "recall@1 1.000" in done.stdout and "off-topic declined 1.000" in done.stdout
    done = run_qa(settings, "eval", "--json", str(questions))
    report = json.loads(done.stdout)[0]
    assert report["recall_at_3"] == 1.0 and report["answerable"] == 1 and report["offtopic"] == 1


def test_eval_reports_a_bad_question_file(settings: Settings, tmp_path) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "no gold"}\n')
    done = run_qa(settings, "eval", str(bad))
    assert done.returncode == 2 and "bad.jsonl line 1" in done.stderr


def test_serve_refuses_public_bind_without_flag(settings: Settings) -> None:
    done = run_qa(settings, "serve", "--host", "0.0.0.0")
    assert done.returncode == 2 and "--public" in done.stderr


def test_serve_refuses_missing_seeds(settings: Settings, tmp_path) -> None:  # noqa: ANN001
    env_settings = settings.with_overrides(seeds_dir=tmp_path / "none")
    done = run_qa(env_settings, "serve")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "seeds folder not found" in done.stderr
