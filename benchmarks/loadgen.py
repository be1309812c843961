"""The load generator: an async httpx client in its own process, bounded in requests and seconds.

Run by `benchmarks.run` as `python -m benchmarks.loadgen SPEC.json` (pinned away from the server);
prints one JSON object with the results of every phase in the spec.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from benchmarks.stats import summarise


@dataclass
class Phase:
    """One measured run: `concurrency` clients sending `questions` in order, until either bound."""

    name: str
    concurrency: int
    questions: list[str]
    max_requests: int
    max_seconds: float
    top_k: int = 3
    warmup: list[str] = field(default_factory=list)  # sent first, one at a time, not measured


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    sent: int = 0


async def _ask(client: httpx.AsyncClient, url: str, question: str, top_k: int) -> str | None:
    """Send one question; None if it was answered correctly, else what went wrong."""
    try:
        response = await client.post(url, json={"question": question, "top_k": top_k})
    except httpx.HTTPError as error:
        return type(error).__name__
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    body = response.json()
    if body.get("question") != question:
        return "answer for another question"
    if len(body.get("citations") or []) != top_k:
        return "wrong number of citations"
    return None


async def run_phase(base_url: str, phase: Phase) -> dict:
    url = f"{base_url}/api/ask"
    limits = httpx.Limits(max_connections=phase.concurrency, max_keepalive_connections=phase.concurrency)
    tally = Tally()
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        for question in phase.warmup:
            await _ask(client, url, question, phase.top_k)
        questions = iter(phase.questions)
        started = time.perf_counter()
        deadline = started + phase.max_seconds

        async def client_loop() -> None:
            while tally.sent < phase.max_requests and time.perf_counter() < deadline:
                question = next(questions, None)
                if question is None:
                    return
                tally.sent += 1
                sent_at = time.perf_counter()
                problem = await _ask(client, url, question, phase.top_k)
                tally.latencies_ms.append((time.perf_counter() - sent_at) * 1000)
                if problem:
                    tally.errors[problem] += 1

        await asyncio.gather(*(client_loop() for _ in range(phase.concurrency)))
        elapsed = time.perf_counter() - started
    done = len(tally.latencies_ms)
    errors = sum(tally.errors.values())
    return {
        "name": phase.name,
        "concurrency": phase.concurrency,
        "requests": done,
        "errors": errors,
        "error_kinds": dict(tally.errors),
        "seconds": round(elapsed, 3),
        "rps": round((done - errors) / elapsed, 2) if elapsed > 0 else 0.0,
        "latency_ms": summarise(tally.latencies_ms),
    }


async def run_all(spec: dict) -> list[dict]:
    return [await run_phase(spec["base_url"], Phase(**phase)) for phase in spec["phases"]]


def main(argv: list[str]) -> int:
    with open(argv[0], encoding="utf-8") as handle:
        spec = json.load(handle)
    if not spec["base_url"].startswith(("http://127.0.0.1:", "http://localhost:")):
        print("the load generator only targets 127.0.0.1", file=sys.stderr)
        return 2
    print(json.dumps(asyncio.run(run_all(spec))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
