"""The benchmark's own logic: distinct questions, percentiles, ratios and targets (not its timings)."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.questions import distinct_questions
from benchmarks.report import format_report, summarise_run
from benchmarks.run import Plan, load_phases, plan_pinning, served_stats, startup_breakdown
from benchmarks.stats import percentile, summarise
from qa.cli import build_parser
from qa.search import normalise_question


def test_distinct_questions_never_repeat_a_cache_key() -> None:
    questions = distinct_questions(9000)
    assert len({normalise_question(q) for q in questions}) == 9000
    assert all(0 < len(q) <= 500 for q in questions)
    assert distinct_questions(50) == questions[:50]  # deterministic


def test_percentiles_are_nearest_rank() -> None:
    samples = [float(x) for x in range(1, 101)]
    assert percentile(samples, 0.5) == 50 and percentile(samples, 0.99) == 99
    assert math.isnan(percentile([], 0.5))
    assert summarise([3.0, 1.0, 2.0]) == {"n": 3, "p50": 2.0, "p90": 3.0, "p99": 3.0, "max": 3.0}


def test_load_phases_use_disjoint_questions() -> None:
    plan = Plan()
    questions = [f"q{i}" for i in range(plan.c1_requests + plan.load_requests * len(plan.concurrencies))]
    phases = load_phases(plan, questions, warmup=["w"])
    sent = [q for p in phases if p["name"] != "cache" for q in p["questions"]]
    assert len(sent) == len(set(sent))
    assert [p["concurrency"] for p in phases] == [1, 1, 4, 16, 64]
    assert all(p["max_requests"] > 0 and p["max_seconds"] > 0 for p in phases)


def test_pinning_keeps_server_and_load_generator_apart() -> None:
    pinning = plan_pinning()
    if pinning.server is not None:
        assert pinning.load is not None and not set(pinning.server) & set(pinning.load)
        assert pinning.wrap(["qa"], pinning.server)[:2] == ["taskset", "-c"]
    assert pinning.wrap(["qa"], None) == ["qa"]


def test_server_log_lines_are_read_back() -> None:
    log = (
        "INFO qa.startup: ready in 3.10s: model 2.80s and index 0.05s side by side, warm-up 0.30s\n"
        "INFO qa.app: served: {'model_calls': 5, 'mean_batch': 2.4}\n"
    )
    assert startup_breakdown(log).startswith("3.10s: model 2.80s")
    assert served_stats(log) == {"model_calls": 5, "mean_batch": 2.4}


def _phase(name: str, concurrency: int, rps: float, p50: float, errors: int = 0) -> dict:
    latency = {"n": 100, "p50": p50, "p90": p50, "p99": p50 * 2, "max": p50 * 3}
    return {"name": name, "concurrency": concurrency, "requests": 100, "errors": errors, "rps": rps,
            "latency_ms": latency, "seconds": 1.0, "error_kinds": {}}  # fmt: skip


def _raw(errors: int = 0, scale: float = 1.0) -> dict:
    return {
        "machine": {
            "cpu": "test",
            "cores": 2,
            "memory_gb": 24,
            "python": "3.11",
            "load_before": [0.1, 0.1, 0.1],
            "load_after": [1.0, 0.5, 0.2],
        },  # fmt: skip
        "pinning": "server on CPU 1",
        "settings": {"torch_threads": 1},
        "questions": "distinct",
        "build_s": 12.0,
        "inproc": {
            "encode_ms": {"p50": 14.0},
            "ask_ms": {"p50": 15.0, "p99": 18.0},
            "after_encode_ms": {"p50": 0.4, "p99": 0.9},
            "batch_encode_ms_per_question": {"8": 5.0, "32": 4.0},
            "torch_threads": 1,
        },
        "cold_start": {
            "runs": [
                {
                    "ready_s": s,
                    "first_answer_ms": 20.0,
                    "second_answer_ms": 18.0,
                    "breakdown": "",
                    "peak_rss_mb": 600.0,
                }
                for s in (4.0, 5.0, 4.5)
            ]
        },  # fmt: skip
        "load": [
            _phase("c1", 1, 60.0, 16.0),
            _phase("cache", 1, 900.0, 1.1),
            _phase("c4", 4, 120.0 * scale, 30.0),
            _phase("c16", 16, 200.0 * scale, 80.0),
            _phase("c64", 64, 240.0 * scale, 260.0, errors),
        ],
        "server_memory": {"peak_rss_mb": 650.0, "rss_mb": 640.0},
        "server_counters": {},
    }


def test_summary_ratios_and_targets() -> None:
    summary = summarise_run(_raw())
    assert summary["http_over_encode"] == pytest.approx(16 / 14, abs=0.01)
    assert summary["best"] == "c64" and summary["throughput_gain"] == 4.0
    assert summary["cold_start_s"] == 4.5 and summary["peak_rss_mb"] == 650.0
    assert all(t["met"] for t in summary["targets"])
    table = format_report({"summary": summary, "raw": _raw()})
    assert "| HTTP p50 (c=1) / bare encode p50 | 1.14× | ≤ 1.5× | met |" in table
    json.dumps(summary)  # what results.json holds


@pytest.mark.parametrize(("errors", "scale"), [(1, 1.0), (0, 0.5)])
def test_errors_or_too_little_gain_miss_the_throughput_target(errors: int, scale: float) -> None:
    summary = summarise_run(_raw(errors, scale))
    throughput = next(t for t in summary["targets"] if t["name"].startswith("best throughput"))
    assert not throughput["met"]
    assert "**missed**" in format_report({"summary": summary, "raw": _raw(errors, scale)})


def test_qa_bench_is_a_command() -> None:
    args = build_parser().parse_args(["bench", "--quick", "--out", "/tmp/x.json"])
    assert args.quick and args.out == "/tmp/x.json" and args.func.__name__ == "cmd_bench"
