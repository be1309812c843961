"""`qa bench --library`: build, add, disk, cold start, memory and HTTP latency for libraries of 1, 100
and 1,000 reports, one run.

Each size gets its own synthetic library (benchmarks/library.py) and index folder. Per size, in
order: `qa build --force` from nothing; the in-process timings (bare encode and the flat FAISS search,
as `qa bench` measures them); a cold start of `qa serve`; HTTP at c=1, unscoped and scoped to one
doc, in alternating turns so both see the same machine; one turn each at c=16 and c=64 (the best of
the three is the throughput); the server's RSS; then, with the server stopped, `qa add` of one more
copy (the index is incremental: it must encode that report only).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.cpu import CpuMeter
from benchmarks.library import make_library, write_copy
from benchmarks.library_report import format_library_report, summarise_size
from benchmarks.questions import distinct_questions
from benchmarks.run import (
    Pinning,
    Server,
    Workspace,
    _generate,
    choose_loadgen,
    describe_loadgen,
    machine,
    measure_inproc,
    merge_turns,
    plan_pinning,
    time_build,
)
from qa.config import PROJECT_ROOT

RESULTS_FILE = PROJECT_ROOT / "benchmarks" / "results.library.json"


@dataclass(frozen=True)
class LibraryPlan:
    """What each size runs; `quick` checks the benchmark itself (small libraries, short turns)."""

    sizes: tuple[int, ...] = (1, 100, 1000)
    inproc_questions: int = 100
    rounds: int = 2  # rounds of (unscoped c=1, scoped c=1), the order reversed every other round
    turn_seconds: float = 5.0
    turn_requests: int = 600
    throughput: tuple[int, ...] = (16, 64)  # one turn each; the best of these and c=1 is reported
    pause_seconds: float = 1.0

    @classmethod
    def quick(cls) -> LibraryPlan:
        return cls(sizes=(1, 20), inproc_questions=30, rounds=1, turn_seconds=2.0, turn_requests=200)

    @property
    def questions_per_size(self) -> int:
        return (2 * self.rounds + len(self.throughput)) * self.turn_requests


def library_workspace(root: Path, seeds: Path) -> Workspace:
    """A Workspace whose children read the synthetic library instead of the seeds folder."""
    work = Workspace(root)
    work.env["QA_SEEDS_DIR"] = str(seeds)
    work.env["QA_RELOAD_INTERVAL"] = "0"  # the add runs with the server stopped anyway
    return work


def folder_mb(folder: Path) -> float:
    files = [path for path in folder.rglob("*") if path.is_file()] if folder.is_dir() else []
    return round(sum(path.stat().st_size for path in files) / 1e6, 2)


def disk_usage(index_dir: Path) -> dict[str, float]:
    """The served index (the build folder and the reports' segments), and the per-report embedding
    cache beside it (only a segment written again reads it)."""
    manifest = json.loads((index_dir / "manifest.json").read_text())
    segments = sum(folder_mb(index_dir / "segments" / s["name"]) for s in manifest.get("segments", []))
    return {
        "index_mb": round(folder_mb(index_dir / manifest["build"]) + segments, 2),
        "cache_mb": folder_mb(index_dir / "cache"),
    }


_ADDED = re.compile(r"\(model ([\d.]+)s, index ([\d.]+)s; (\d+) texts encoded\)")


def time_add(work: Workspace, report: Path) -> dict:
    """`qa add` of one report as a whole process, and its own split: model load, index update, and
    how many texts the model encoded."""
    started = time.perf_counter()
    done = subprocess.run(
        work.qa("add", str(report)), env=work.env, check=True, capture_output=True, text=True, timeout=900
    )
    seconds = time.perf_counter() - started
    match = _ADDED.search(done.stdout)
    if match is None:
        raise RuntimeError(f"qa add printed no timings: {done.stdout[-500:]!r}")
    return {
        "process_s": round(seconds, 2),
        "model_s": float(match.group(1)),
        "index_s": float(match.group(2)),
        "texts_encoded": int(match.group(3)),
    }


def report_units(seeds: Path, doc: str) -> int:
    """How many units (and so texts to embed) one report has: what an incremental add encodes."""
    from qa.corpus import Corpus, load_report
    from qa.index import build_units

    return len(build_units(Corpus([load_report(seeds / f"{doc}.txt")])))


def latency_phases(plan: LibraryPlan, questions: list[str], scope: list[str]) -> list[dict]:
    """Rounds of unscoped and scoped c=1 turns (alternating order), then the throughput turns."""
    turns: list[tuple[str, int, list[str] | None]] = []
    for number in range(plan.rounds):
        pair = [("c1", 1, None), ("c1-scoped", 1, scope)]
        turns += pair if number % 2 == 0 else pair[::-1]
    turns += [(f"c{c}", c, None) for c in plan.throughput]
    phases = []
    for position, (name, concurrency, docs) in enumerate(turns):
        start = position * plan.turn_requests
        phases.append(
            {
                "name": name,
                "concurrency": concurrency,
                "questions": questions[start : start + plan.turn_requests],
                "max_requests": plan.turn_requests,
                "max_seconds": plan.turn_seconds,
                "ramp_seconds": 1.0 if concurrency > 1 else 0.0,
                **({"docs": docs} if docs else {}),
            }
        )
    return phases


def serve_and_load(
    work: Workspace, pinning: Pinning, plan: LibraryPlan, loadgen: str, scope: list[str]
) -> dict:
    """One cold start, the latency and throughput turns, and the server's memory afterwards."""
    questions = distinct_questions(plan.questions_per_size + 12)
    warmup, questions = questions[:12], questions[12:]
    server = Server(work, pinning)
    try:
        ready = server.wait_ready(timeout=300)
        first_ms = server.answer_ms(warmup[0])
        for question in warmup[1:]:
            server.answer_ms(question)
        turns = []
        for phase in latency_phases(plan, questions, scope):
            meter = CpuMeter(server.process.pid)
            turn = _generate(work, pinning, server.base_url, phase, loadgen)
            turns.append({**turn, "cpu": meter.read()})
            time.sleep(plan.pause_seconds)
        memory = server.memory_mb()
    finally:
        server.stop()
    names = dict.fromkeys(turn["name"] for turn in turns)
    load = [merge_turns([turn for turn in turns if turn["name"] == name]) for name in names]
    return {"ready_s": round(ready, 3), "first_answer_ms": round(first_ms, 2), "load": load, **memory}


def measure_size(root: Path, size: int, plan: LibraryPlan, pinning: Pinning, loadgen: str) -> dict:
    seeds = root / "seeds"
    docs = make_library(seeds, size)
    extra = root / "extra"
    added = write_copy(extra, size)  # the next copy: what `qa add` adds
    work = library_workspace(root, seeds)
    started = time.perf_counter()
    build_s = time_build(work, timeout=3600)  # 1,000 reports: ~20k units, minutes on 2 busy cores
    manifest = json.loads((work.index_dir / "manifest.json").read_text())
    inproc = measure_inproc(work, pinning, plan.inproc_questions)
    served = serve_and_load(work, pinning, plan, loadgen, scope=[docs[0]])
    disk = disk_usage(work.index_dir)
    add = time_add(work, extra / f"{added}.txt")
    add["report_units"] = report_units(seeds, added)
    return {
        "reports": size,
        "passages": len(manifest["passages"]),
        "units": manifest["units"],
        "scope": [docs[0]],
        "build_s": round(build_s, 2),
        "inproc": inproc,
        "served": served,
        "disk": disk,
        "add": add,
        "seconds": round(time.perf_counter() - started, 1),
    }


def run(
    plan: LibraryPlan, layout: str = "shared", loadgen: str = "auto", partial: Path | None = None
) -> dict:
    """Every size in turn; after each, what is measured so far is written to `partial`."""
    pinning = plan_pinning(layout)
    loadgen = choose_loadgen(loadgen)
    started = time.perf_counter()
    load_before = os.getloadavg()
    sizes = []
    for size in plan.sizes:
        with tempfile.TemporaryDirectory(prefix=f"qa-bench-library-{size}-") as folder:
            result = measure_size(Path(folder), size, plan, pinning, loadgen)
        sizes.append({**result, "summary": summarise_size(result)})
        print(f"library of {size}: done in {result['seconds']:.0f}s", flush=True)
        if partial is not None:
            partial.write_text(json.dumps({"sizes": sizes}, indent=1) + "\n", encoding="utf-8")
    return {
        "machine": {**machine(), "load_before": [round(x, 2) for x in load_before]},
        "pinning": pinning.how,
        "loadgen": describe_loadgen(loadgen),
        "sizes": sizes,
        "total_s": round(time.perf_counter() - started, 1),
    }


def main(
    out: Path = RESULTS_FILE,
    quick: bool = False,
    layout: str = "shared",
    loadgen: str = "auto",
    sizes: tuple[int, ...] = (),
) -> int:
    plan = LibraryPlan.quick() if quick else LibraryPlan()
    if sizes:
        plan = replace(plan, sizes=sizes)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = run(plan, layout, loadgen, partial=out)
    report = format_library_report(results)
    print(report["text"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**results, "targets": report["targets"]}, indent=1) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")
    return 0 if all(target["met"] for target in report["targets"]) else 1
