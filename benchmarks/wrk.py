"""The load generator of choice: wrk (C, ~10 µs of CPU a request) with benchmarks/ask.lua, one phase a run."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from benchmarks.stats import summarise_counts

LUA_SCRIPT = Path(__file__).with_name("ask.lua")


def available() -> bool:
    return shutil.which("wrk") is not None


def write_bodies(phase: dict, path: Path) -> None:
    """One JSON request body a line, each question once: the script sends them in order."""
    questions = phase["questions"][: phase["max_requests"]]
    top_k = phase.get("top_k", 3)
    scope = {"docs": phase["docs"]} if phase.get("docs") else {}  # a scoped question (library mode)
    path.write_text("".join(json.dumps({"question": q, "top_k": top_k, **scope}) + "\n" for q in questions))


def command(base_url: str, phase: dict, bodies: Path) -> list[str]:
    """One wrk thread (plenty at these rates), one connection per simulated user."""
    seconds = max(1, math.ceil(phase["max_seconds"]))
    ramp = str(phase.get("ramp_seconds", 0))
    return [
        *("wrk", "-t1", f"-c{phase['concurrency']}", f"-d{seconds}s", "--timeout", "60s"),
        *("-s", str(LUA_SCRIPT), base_url, "--", str(bodies), ramp),
    ]


def parse(phase: dict, stdout: str) -> dict:
    """The script's JSON line as a phase result (the same fields as benchmarks.loadgen's)."""
    line = next((text for text in reversed(stdout.splitlines()) if text.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {stdout[-500:]!r}")
    counts = json.loads(line)
    answered = counts["good"] + counts["bad"]
    seconds, steady = counts["steady_seconds"], counts["steady"]
    kinds = {"not a 200 with citations": counts["bad"], "socket errors": counts["socket_errors"]}
    samples = [(us / 1000, count) for us, count in counts["latency_us"]]
    return {
        "name": phase["name"],
        "concurrency": phase["concurrency"],
        "requests": answered,
        "errors": counts["bad"] + counts["socket_errors"],
        "error_kinds": {kind: count for kind, count in kinds.items() if count},
        "counted": steady,  # good answers after the ramp, over `seconds`: the throughput
        "seconds": round(seconds, 3),
        "rps": round(steady / seconds, 2) if seconds > 0 and steady else 0.0,
        "latency_ms": summarise_counts(samples),
        "samples": samples,
    }
