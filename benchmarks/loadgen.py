"""The load generator: an asyncio HTTP/1.1 client in its own process, bounded in requests and seconds.

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

from benchmarks.stats import counted, summarise


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
    ramp_seconds: float = 0.0  # answers before this are left out of the throughput
    round: int = 0  # which round of turns (qa bench), for the record
    docs: list[str] | None = None  # the reports each question is scoped to (qa bench --library)


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    sent: int = 0
    counted: int = 0  # good answers after the ramp
    last_answer: float = 0.0


class Connection:
    """One keep-alive HTTP/1.1 connection: a thin client, so the load generator costs ~0.1 ms a request.

    (httpx's pool was measured to cap out near 180 requests/s and to slow down as connections
    grow, which would have measured the client, not the server.)
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, payload: dict) -> tuple[int, bytes]:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        body = json.dumps(payload).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        header = await self._reader.readuntil(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = 0
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"connection" and value.strip().lower() == b"close":
                self._writer.close()
        return status, await self._reader.readexactly(length)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def _ask(
    connection: Connection, question: str, top_k: int, docs: list[str] | None = None
) -> str | None:
    """Send one question; None if it was answered correctly, else what went wrong."""
    payload = {"question": question, "top_k": top_k, **({"docs": docs} if docs else {})}
    try:
        status, raw = await asyncio.wait_for(connection.post_json("/api/ask", payload), 60)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as error:
        connection.close()
        return type(error).__name__
    if status != 200:
        return f"HTTP {status}"
    body = json.loads(raw)
    if body.get("question") != question:
        return "answer for another question"
    if len(body.get("citations") or []) != top_k:
        return "wrong number of citations"
    return None


async def run_phase(base_url: str, phase: Phase) -> dict:
    host, port = base_url.removeprefix("http://").split(":")
    connections = [Connection(host, int(port)) for _ in range(phase.concurrency)]
    tally = Tally()
    for question in phase.warmup:
        await _ask(connections[0], question, phase.top_k)
    questions = iter(phase.questions)
    started = time.perf_counter()
    deadline = started + phase.max_seconds

    async def client_loop(connection: Connection) -> None:
        while tally.sent < phase.max_requests and time.perf_counter() < deadline:
            question = next(questions, None)
            if question is None:
                return
            tally.sent += 1
            sent_at = time.perf_counter()
            problem = await _ask(connection, question, phase.top_k, phase.docs)
            tally.last_answer = time.perf_counter()
            tally.latencies_ms.append((tally.last_answer - sent_at) * 1000)
            if problem:
                tally.errors[problem] += 1
            elif tally.last_answer >= started + phase.ramp_seconds:
                tally.counted += 1

    await asyncio.gather(*(client_loop(c) for c in connections))
    steady = tally.last_answer - started - phase.ramp_seconds
    for connection in connections:
        connection.close()
    done = len(tally.latencies_ms)
    errors = sum(tally.errors.values())
    return {
        "name": phase.name,
        "concurrency": phase.concurrency,
        "requests": done,
        "errors": errors,
        "error_kinds": dict(tally.errors),
        "counted": tally.counted,
        "seconds": round(steady, 3),
        "rps": round(tally.counted / steady, 2) if steady > 0 and tally.counted else 0.0,
        "latency_ms": summarise(tally.latencies_ms),
        "samples": counted(round(ms, 3) for ms in tally.latencies_ms),
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
