"""`qa bench`: build, in-process timings, cold starts and HTTP load against a real server, one run.

Every figure comes from this one run on this machine, so the ratios compare like with like: one
server, with the same settings, for every phase; the concurrencies take turns in alternating rounds
so they all see the same machine; the in-process timings run on the same cores with the same torch
threads. By default nothing is pinned (the load generator is wrk, cheap enough to share the cores;
the CPU each process used is measured per turn); `--layout split` pins the load generator to the
first core and the server to the rest.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks import wrk
from benchmarks.cpu import CpuMeter
from benchmarks.questions import distinct_questions
from benchmarks.report import format_report, summarise_run
from benchmarks.stats import merge_counts, summarise_counts
from qa.config import PROJECT_ROOT, load_settings

RESULTS_FILE = PROJECT_ROOT / "benchmarks" / "results.json"
CACHE_QUESTION = "How many cannabis factories were found in London?"
WARM_UP = "warm-up"  # the unmeasured turn before the rounds


@dataclass(frozen=True)
class Plan:
    """How long each part runs; `quick` is for checking the benchmark itself, not for figures."""

    cold_starts: int = 3
    inproc_questions: int = 200  # half timed as bare encodes, half as asks, alternately
    cache_requests: int = 400
    cache_seconds: float = 3.0  # 400 cached answers take well under a second
    concurrencies: tuple[int, ...] = (1, 4, 16, 64)
    # Each concurrency takes a turn in every round, the order reversed every other round, so all
    # of them see the same machine (this one's speed drifts by 10-20% from one minute to the next).
    # Before the rounds, one unmeasured turn at the highest concurrency (the server's memory grows
    # to its working size for the largest batches then).
    rounds: int = 3
    turn_seconds: float = 5.0
    ramp_seconds: float = 1.0  # a turn's throughput counts the answers after its first second
    turn_requests: int = 1500  # a turn's bound in questions (c=64 answers ~1,000 in 5 s here)
    pause_seconds: float = 1.0  # between turns: answers still in flight must not spill into the next

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            cold_starts=1,
            inproc_questions=30,
            cache_requests=100,
            cache_seconds=1.0,
            rounds=1,
            turn_seconds=2.0,
            ramp_seconds=0.5,
            turn_requests=300,
            pause_seconds=0.5,
        )

    @property
    def load_questions(self) -> int:
        return (len(self.concurrencies) * self.rounds + 1) * self.turn_requests  # + the warm-up turn


@dataclass(frozen=True)
class Pinning:
    server: list[int] | None
    load: list[int] | None
    how: str

    def wrap(self, command: list[str], cpus: list[int] | None) -> list[str]:
        if cpus is None:
            return command
        return ["taskset", "-c", ",".join(map(str, cpus)), *command]


def plan_pinning(layout: str = "shared") -> Pinning:
    """shared: nothing pinned, the server has every core. split: load generator on the first core,
    server on the rest."""
    cpus = sorted(os.sched_getaffinity(0))
    if layout == "shared":
        how = (
            f"not pinned (--layout shared): server, load generator and in-process timings share CPU "
            f"{_cpus(cpus)}; the CPU each used is measured per phase"
        )
        return Pinning(None, None, how)
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return Pinning(None, None, "not pinned (one core or no taskset)")
    load, server = cpus[:1], cpus[1:]
    how = (
        f"--layout split: server (and the in-process timings) on CPU {_cpus(server)}, load generator and "
        f"readiness poller on CPU {_cpus(load)}, with taskset -c; `qa build` unpinned"
    )
    return Pinning(server, load, how)


def _cpus(cpus: list[int]) -> str:
    return ",".join(map(str, cpus))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Workspace:
    """A temporary index folder and the environment every child process runs with."""

    def __init__(self, root: Path) -> None:
        settings = load_settings()
        self.root = root
        self.index_dir = root / "index"
        self.env = {
            **os.environ,
            "QA_SEEDS_DIR": str(settings.seeds_dir),
            "QA_INDEX_DIR": str(self.index_dir),
            "QA_LOG_LEVEL": "warning",  # no access log: it would be timed as server work
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        }

    def qa(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "qa.cli", *args]

    def module(self, name: str, *args: str) -> list[str]:
        return [sys.executable, "-m", name, *args]


def time_build(work: Workspace, timeout: float = 600) -> float:
    started = time.perf_counter()
    command = work.qa("build", "--force")
    subprocess.run(command, env=work.env, check=True, capture_output=True, timeout=timeout)
    return time.perf_counter() - started


def measure_inproc(work: Workspace, pinning: Pinning, count: int) -> dict:
    out = work.root / "inproc.json"
    command = pinning.wrap(work.module("benchmarks.inproc", str(out), str(count)), pinning.server)
    subprocess.run(command, env=work.env, check=True, capture_output=True, timeout=600)
    return json.loads(out.read_text())


class Server:
    """`qa serve` in its own pinned process, timed from the moment it is started."""

    def __init__(self, work: Workspace, pinning: Pinning) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = work.root / f"server-{self.port}.log"
        self._log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.started = time.perf_counter()
        command = pinning.wrap(work.qa("serve", "--port", str(self.port)), pinning.server)
        self.process = subprocess.Popen(command, env=work.env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120) -> float:
        """Seconds from process start to the first 200 from /healthz (polled every 20 ms)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log()}")
            try:
                if self._request("GET", "/healthz")[0] == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"server not ready in {timeout}s: {self.log()}")

    def answer_ms(self, question: str) -> float:
        """Milliseconds for one /api/ask on a fresh connection (stdlib client: no client warm-up)."""
        started = time.perf_counter()
        status, _ = self._request("POST", "/api/ask", {"question": question})
        if status != 200:
            raise RuntimeError(f"/api/ask answered {status}")
        return (time.perf_counter() - started) * 1000

    def _request(self, method: str, path: str, payload: dict | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            body = json.dumps(payload) if payload is not None else None
            connection.request(method, path, body=body, headers={"content-type": "application/json"})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def memory_mb(self) -> dict[str, float]:
        """Peak (VmHWM) and current (VmRSS) resident memory of the server process, in MB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return {
            "peak_rss_mb": round(int(fields["VmHWM"].split()[0]) * 1024 / 1e6, 1),
            "rss_mb": round(int(fields["VmRSS"].split()[0]) * 1024 / 1e6, 1),
        }

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]


def startup_breakdown(log: str) -> str:
    """The server's own 'ready in ...' line (model, index, warm-up seconds)."""
    lines = [line for line in log.splitlines() if "ready in" in line]
    return lines[-1].split("ready in", 1)[1].strip() if lines else ""


def served_stats(log: str) -> dict:
    """The batching and cache counters the server logs when it stops."""
    for line in reversed(log.splitlines()):
        if "served: " in line:
            text = line.split("served: ", 1)[1].replace("'", '"')
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return {}
    return {}


def cold_starts(work: Workspace, pinning: Pinning, plan: Plan, firsts: list[str]) -> tuple[dict, Server]:
    """Start the server `plan.cold_starts` times; the last one is kept running for the load phases."""
    runs = []
    server = None
    for attempt in range(plan.cold_starts):
        server = Server(work, pinning)
        try:
            ready = server.wait_ready()
            first = server.answer_ms(firsts[2 * attempt])
            second = server.answer_ms(firsts[2 * attempt + 1])
            runs.append(
                {
                    "ready_s": round(ready, 3),
                    "first_answer_ms": round(first, 2),
                    "second_answer_ms": round(second, 2),
                }
            )
            runs[-1]["breakdown"] = startup_breakdown(server.log())
            runs[-1].update(server.memory_mb())
        except BaseException:
            server.stop()  # never leave a server behind
            raise
        if attempt < plan.cold_starts - 1:
            server.stop()
    assert server is not None
    return {"runs": runs}, server


def load_phases(plan: Plan, questions: list[str], warmup: list[str]) -> list[dict]:
    """The cache phase, then the rounds of turns, each turn with its own never-asked questions."""
    phases = [
        {
            "name": "cache",
            "concurrency": 1,
            "questions": [CACHE_QUESTION] * plan.cache_requests,
            "max_requests": plan.cache_requests,
            "max_seconds": plan.cache_seconds,
            "warmup": [*warmup, CACHE_QUESTION],
        }
    ]
    turns = [(WARM_UP, max(plan.concurrencies), -1)]
    for number in range(plan.rounds):
        order = plan.concurrencies if number % 2 == 0 else plan.concurrencies[::-1]
        turns += [(f"c{concurrency}", concurrency, number) for concurrency in order]
    for position, (name, concurrency, number) in enumerate(turns):
        start = position * plan.turn_requests
        phases.append(
            {
                "name": name,
                "concurrency": concurrency,
                "round": number,
                "questions": questions[start : start + plan.turn_requests],
                "max_requests": plan.turn_requests,
                "max_seconds": plan.turn_seconds,
                "ramp_seconds": plan.ramp_seconds,
            }
        )
    return phases


def merge_turns(turns: list[dict]) -> dict:
    """One concurrency's turns as one phase: totals, latency over every answer, CPU over all the time."""
    seconds = sum(turn["seconds"] for turn in turns)
    counted = sum(turn["counted"] for turn in turns)
    kinds: Counter = Counter()
    for turn in turns:
        kinds.update(turn["error_kinds"])
    return {
        "name": turns[0]["name"],
        "concurrency": turns[0]["concurrency"],
        "turns": len(turns),
        "requests": sum(turn["requests"] for turn in turns),
        "errors": sum(turn["errors"] for turn in turns),
        "error_kinds": dict(kinds),
        "counted": counted,
        "seconds": round(seconds, 3),
        "rps": round(counted / seconds, 2) if seconds > 0 else 0.0,
        "rps_by_turn": [turn["rps"] for turn in turns],
        "latency_ms": summarise_counts(merge_counts(*(turn["samples"] for turn in turns))),
        "cpu": _merge_cpu([turn["cpu"] for turn in turns]),
    }


def _merge_cpu(readings: list[dict]) -> dict:
    seconds = sum(reading.get("seconds", 0.0) for reading in readings)
    if not seconds:
        return {}
    merged = {"seconds": round(seconds, 2)}
    for key in ("server_cores", "loadgen_cores", "other_cores"):
        merged[key] = round(sum(r[key] * r["seconds"] for r in readings) / seconds, 2)
    return merged


def by_phase(turns: list[dict]) -> list[dict]:
    """Every phase merged from its turns, in order of concurrency, the cache phase after c=1."""
    concurrency = {turn["name"]: turn["concurrency"] for turn in turns if turn["name"] != WARM_UP}
    names = sorted(concurrency, key=lambda name: (concurrency[name], name != "c1"))
    return [merge_turns([turn for turn in turns if turn["name"] == name]) for name in names]


def choose_loadgen(choice: str = "auto") -> str:
    """wrk when installed (it costs the server's cores least), else the asyncio client."""
    if choice == "auto":
        return "wrk" if wrk.available() else "python"
    if choice == "wrk" and not wrk.available():
        raise RuntimeError("wrk is not installed (apt-get install wrk), or use --loadgen python")
    return choice


def describe_loadgen(loadgen: str) -> str:
    if loadgen == "wrk":
        version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split()[:2]
        return f"{' '.join(version)}, one thread, benchmarks/ask.lua (one connection per user)"
    return "benchmarks/loadgen.py: asyncio HTTP/1.1 client in its own process (one connection per user)"


def _generate(work: Workspace, pinning: Pinning, base_url: str, phase: dict, loadgen: str) -> dict:
    """One phase, in the load generator's own process; returns its result."""
    if loadgen == "wrk":
        bodies = work.root / f"bodies-{phase['name']}.jsonl"
        wrk.write_bodies(phase, bodies)
        command = pinning.wrap(wrk.command(base_url, phase, bodies), pinning.load)
    else:
        spec = work.root / f"load-{phase['name']}.json"
        spec.write_text(json.dumps({"base_url": base_url, "phases": [phase]}))
        command = pinning.wrap(work.module("benchmarks.loadgen", str(spec)), pinning.load)
    timeout = phase["max_seconds"] + 120
    done = subprocess.run(command, env=work.env, check=True, capture_output=True, text=True, timeout=timeout)
    return wrk.parse(phase, done.stdout) if loadgen == "wrk" else json.loads(done.stdout)[0]


def run_load(
    work: Workspace, pinning: Pinning, server: Server, phases: list[dict], loadgen: str, pause: float = 0.0
) -> list[dict]:
    """Every phase in turn: its warm-up questions (unmeasured), then the load, with the CPU it took."""
    results = []
    for number, phase in enumerate(phases):
        if number:
            time.sleep(pause)
        for question in phase.get("warmup", []):
            server.answer_ms(question)
        meter = CpuMeter(server.process.pid)
        result = _generate(work, pinning, server.base_url, {**phase, "warmup": []}, loadgen)
        results.append({**result, "round": phase.get("round"), "cpu": meter.read()})
    return results


def machine() -> dict:
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(int(memory) / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def run(plan: Plan, layout: str = "shared", loadgen: str = "auto") -> dict:
    """The whole benchmark; returns everything measured (the summary and the raw figures)."""
    load_before = os.getloadavg()
    pinning = plan_pinning(layout)
    loadgen = choose_loadgen(loadgen)
    settings = load_settings()
    extra = 10 + 2 * plan.cold_starts  # warm-up, then a first and a second answer per cold start
    questions = distinct_questions(plan.load_questions + extra)
    warmup, firsts, questions = questions[:10], questions[10:extra], questions[extra:]
    if pinning.load is not None:
        os.sched_setaffinity(0, pinning.load)  # this process polls /healthz: keep it off the server's core
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as folder:
        work = Workspace(Path(folder))
        build_s = time_build(work)
        inproc = measure_inproc(work, pinning, plan.inproc_questions)
        cold, server = cold_starts(work, pinning, plan, firsts)
        try:
            phases = load_phases(plan, questions, warmup)
            turns = run_load(work, pinning, server, phases, loadgen, plan.pause_seconds)
            memory = server.memory_mb()
        finally:
            server.stop()
        served = served_stats(server.log_path.read_text(encoding="utf-8", errors="replace"))
    raw = {
        "machine": {**machine(), "load_before": [round(x, 2) for x in load_before]},
        "pinning": pinning.how,
        "loadgen": describe_loadgen(loadgen),
        "settings": {
            "batch_max": settings.batch_max,
            "batch_wait_ms": settings.batch_wait_ms,
            "cache_size": settings.cache_size,
            "torch_threads": inproc["torch_threads"],
            "encode_workers": inproc["encode_workers"],
            "switch_interval_ms": settings.switch_interval_ms,
            "http": settings.http,
        },
        "questions": "distinct after normalisation; no question is sent twice outside the cache phase",
        "build_s": round(build_s, 2),
        "inproc": inproc,
        "cold_start": cold,
        "load": by_phase(turns),
        "turns": [{k: v for k, v in turn.items() if k != "samples"} for turn in turns],
        "server_memory": memory,
        "server_counters": served,
    }
    raw["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return {"summary": summarise_run(raw), "raw": raw}


def main(out: Path = RESULTS_FILE, quick: bool = False, layout: str = "shared", loadgen: str = "auto") -> int:
    plan = Plan.quick() if quick else Plan()
    results = run(plan, layout, loadgen)
    print(format_report(results))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")
    return 0 if all(t["met"] for t in results["summary"]["targets"]) else 1
