"""Soak: 64 concurrent clients for 60 s against a real `qa serve`, mixing valid requests
(questions, passages, passage pages), invalid and oversized ones (`make soak`; not in `make test`).

Asserts: no 5xx, no connection errors on valid requests, every valid answer is the one its own
question gets when asked alone (no cross-talk between concurrent requests), and server memory
that levels off. Prints the figures. SOAK_CLIENTS and SOAK_SECONDS shorten a run while developing.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from qa.config import Settings
from qa.index import SearchIndex

from .conftest import start_server

pytestmark = pytest.mark.soak

CLIENTS = int(os.environ.get("SOAK_CLIENTS", "64"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
WARM_UP = 0.25  # memory is compared from this fraction of the run on
MAX_GROWTH_MIB = 48  # allowed RSS growth after warm-up (allocator high-water marks, not a leak)

QUESTIONS = [
    "How many cannabis factories were found in London?",
    "What is the CDTB?",
    "How much was the Home Office grant for drug testing?",
    "what does paragraph 38 say",
    "Which borough had the most crack houses closed?",
    "What is this report about?",
    "what are members being asked to do?",
    "What does CJIP stand for?",
    "How many people were tested for drugs on arrest?",
    "What are the race and equality implications?",
    "Who wrote the report?",
    "¶22",
    "table 1",
    "What is Operation Crackdown?",
    "What is the recipe for banana bread?",
    "How are Vietnamese gangs involved in cannabis cultivation?",
]


@dataclass
class Expected:
    first: str
    answered: bool


@dataclass
class Tally:
    started: float = field(default_factory=time.monotonic)
    counts: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # valid questions, seconds
    failures: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(message)
        self.counts["failures"] += 1


@pytest.fixture(scope="module")
def soak_server(settings: Settings, search_index: SearchIndex, tmp_path_factory) -> Iterator[tuple]:  # noqa: ANN001
    root = tmp_path_factory.mktemp("soak")
    own = settings.with_overrides(index_dir=root / "index")
    shutil.copytree(settings.index_dir, own.index_dir)
    log = root / "server.log"
    # No answer cache: every valid question goes through the micro-batcher and the search.
    process, base_url = start_server(own, {"QA_CACHE_SIZE": "0"}, log_path=log)
    yield process, base_url, log
    process.terminate()
    assert process.wait(timeout=30) == 0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def baseline(base_url: str) -> dict[str, Expected]:
    """Each question asked alone, with the smallest and largest top_k: the expected answers."""
    expected = {}
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for question in QUESTIONS:
            answers = [
                client.post("/api/ask", json={"question": question, "top_k": k}).json() for k in (1, 10)
            ]
            firsts = {answer["citations"][0]["paragraph"] for answer in answers}
            assert len(firsts) == 1, f"{question!r}: first citation depends on top_k"
            expected[question] = Expected(firsts.pop(), answers[0]["answered"])
    assert len({e.first for e in expected.values()}) >= 10, "too few distinct answers to see cross-talk"
    return expected


async def oversized_chunks() -> AsyncIterator[bytes]:
    yield b'{"question": "'
    for _ in range(20):
        yield b"x" * 1024


# Invalid requests: (name, request kwargs, expected status).
INVALID: list[tuple[str, Callable[[], dict], int]] = [
    ("empty question", lambda: {"json": {"question": "  "}}, 422),
    ("top_k 0", lambda: {"json": {"question": "cannabis", "top_k": 0}}, 422),
    ("unknown field", lambda: {"json": {"question": "cannabis", "debug": True}}, 422),
    (
        "malformed json",
        lambda: {"content": b'{"question": ', "headers": {"content-type": "application/json"}},
        400,
    ),
    ("wrong type", lambda: {"content": b"question=hi", "headers": {"content-type": "text/plain"}}, 415),
    ("oversized", lambda: {"content": b" " * 20_000, "headers": {"content-type": "application/json"}}, 413),
    (
        "oversized chunked",
        lambda: {"content": oversized_chunks(), "headers": {"content-type": "application/json"}},
        413,
    ),
]


async def one_client(
    base_url: str, expected: dict[str, Expected], ids: list[str], deadline: float, tally: Tally
) -> None:
    rng = random.Random()
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        while time.monotonic() < deadline:
            roll = rng.random()
            if roll < 0.6:
                await ask_valid(client, rng, expected, tally)
            elif roll < 0.65:
                await get_passage(client, rng.choice(ids), tally)
            elif roll < 0.7:
                await get_page(client, rng.choice(ids), tally)
            else:
                await send_invalid(client, rng, ids, tally)


async def ask_valid(
    client: httpx.AsyncClient, rng: random.Random, expected: dict[str, Expected], tally: Tally
) -> None:
    question, top_k = rng.choice(QUESTIONS), rng.randint(1, 10)
    started = time.monotonic()
    try:
        response = await client.post("/api/ask", json={"question": question, "top_k": top_k})
    except httpx.TransportError as error:
        tally.counts["valid connection errors"] += 1
        tally.fail(f"valid ask: {error!r}")
        return
    tally.latencies.append(time.monotonic() - started)
    tally.counts["valid"] += 1
    tally.counts[f"status {response.status_code}"] += 1
    if response.status_code != 200:
        tally.fail(f"valid ask {question!r}: {response.status_code} {response.text[:200]}")
        return
    body = response.json()
    want = expected[question]
    got = (body["question"], body["citations"][0]["paragraph"], body["answered"], len(body["citations"]))
    if got != (question, want.first, want.answered, top_k):
        tally.counts["cross-talk"] += 1
        tally.fail(
            f"{question!r} k={top_k}: got {got}, expected {(question, want.first, want.answered, top_k)}"
        )


async def _get_valid(
    client: httpx.AsyncClient, path: str, label: str, tally: Tally, ok: Callable[[httpx.Response], bool]
) -> None:
    """A valid GET: counted, and failed unless `ok` accepts the response."""
    try:
        response = await client.get(path)
    except httpx.TransportError as error:
        tally.counts["valid connection errors"] += 1
        tally.fail(f"{label}: {error!r}")
        return
    tally.counts["valid"] += 1
    tally.counts[f"status {response.status_code}"] += 1
    if response.status_code != 200 or not ok(response):
        tally.fail(f"{label}: {response.status_code} {response.text[:200]}")


async def get_passage(client: httpx.AsyncClient, passage_id: str, tally: Tally) -> None:
    await _get_valid(
        client,
        f"/api/passages/{passage_id}",
        f"passage {passage_id}",
        tally,
        lambda response: response.json()["id"] == passage_id,
    )


async def get_page(client: httpx.AsyncClient, passage_id: str, tally: Tally) -> None:
    await _get_valid(
        client,
        f"/p/{passage_id}",
        f"page {passage_id}",
        tally,
        lambda response: response.headers["content-type"].startswith("text/html"),
    )


async def send_invalid(client: httpx.AsyncClient, rng: random.Random, ids: list[str], tally: Tally) -> None:
    name, make, status = rng.choice(INVALID)
    tally.counts["invalid"] += 1
    try:
        response = await client.post("/api/ask", **make())
    except httpx.TransportError:
        # The server answers an oversized body before reading it and closes the connection; a
        # client still writing may see that as an error. Allowed for invalid requests only.
        tally.counts["invalid connection errors"] += 1
        return
    tally.counts[f"status {response.status_code}"] += 1
    if response.status_code != status:
        tally.fail(f"{name}: {response.status_code}, expected {status}: {response.text[:200]}")


async def sample_memory(pid: int, deadline: float, samples: list[tuple[float, float]]) -> None:
    started = time.monotonic()
    while time.monotonic() < deadline:
        samples.append((time.monotonic() - started, rss_mib(pid)))
        await asyncio.sleep(1)


async def run_load(
    base_url: str, pid: int, expected: dict[str, Expected], ids: list[str]
) -> tuple[Tally, list]:
    tally, samples = Tally(), []
    deadline = time.monotonic() + SECONDS
    clients = [one_client(base_url, expected, ids, deadline, tally) for _ in range(CLIENTS)]
    await asyncio.gather(sample_memory(pid, deadline, samples), *clients)
    return tally, samples


def quarters(samples: list[tuple[float, float]]) -> list[float]:
    """RSS at the end of each quarter of the run."""
    return [[rss for at, rss in samples if at <= SECONDS * q / 4][-1] for q in range(1, 5)]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def test_soak(soak_server: tuple, capsys: pytest.CaptureFixture) -> None:
    process, base_url, log = soak_server
    expected = baseline(base_url)
    ids = [p["id"] for p in httpx.get(f"{base_url}/api/passages", timeout=30).json()["passages"]]
    rss_start = rss_mib(process.pid)
    tally, samples = asyncio.run(run_load(base_url, process.pid, expected, ids))
    elapsed = time.monotonic() - tally.started
    rss_end = rss_mib(process.pid)
    warm = [rss for at, rss in samples if at >= SECONDS * WARM_UP]
    rss_warm, rss_peak = warm[0], max(warm)

    total = tally.counts["valid"] + tally.counts["invalid"]
    statuses = {k: v for k, v in sorted(tally.counts.items()) if k.startswith("status")}
    latencies = tally.latencies
    figures = (
        f"\nsoak: {CLIENTS} clients for {elapsed:.0f} s: {total} requests ({total / elapsed:.0f}/s), "
        f"{tally.counts['valid']} valid ({tally.counts['valid'] / elapsed:.0f}/s), "
        f"{tally.counts['invalid']} invalid\n"
        f"  statuses {statuses}\n"
        f"  valid connection errors {tally.counts['valid connection errors']}, "
        f"invalid connection errors {tally.counts['invalid connection errors']}, "
        f"cross-talk {tally.counts['cross-talk']}, failures {tally.counts['failures']}\n"
        f"  ask latency ms: p50 {percentile(latencies, 0.5) * 1000:.0f}, "
        f"p90 {percentile(latencies, 0.9) * 1000:.0f}, p99 {percentile(latencies, 0.99) * 1000:.0f}, "
        f"max {max(latencies) * 1000:.0f}, mean {statistics.mean(latencies) * 1000:.0f}\n"
        f"  server RSS MiB: start {rss_start:.0f}, after warm-up {rss_warm:.0f}, peak {rss_peak:.0f}, "
        f"end {rss_end:.0f}; by quarter of the run {' '.join(f'{q:.0f}' for q in quarters(samples))}"
    )
    with capsys.disabled():  # the figures are the point of the run: show them even without -s
        print(figures)
    assert not any(key.startswith("status 5") for key in tally.counts), statuses
    assert tally.counts["valid connection errors"] == 0, tally.failures
    assert tally.counts["cross-talk"] == 0 and tally.counts["failures"] == 0, tally.failures
    assert tally.counts["valid"] > CLIENTS * 5, "the load never got going"
    assert rss_end - rss_warm < MAX_GROWTH_MIB, "server memory kept growing"
    # Still healthy and still right afterwards.
    assert httpx.get(f"{base_url}/healthz", timeout=10).json()["status"] == "ok"
    question = QUESTIONS[0]
    after = httpx.post(f"{base_url}/api/ask", json={"question": question}, timeout=30).json()
    assert after["citations"][0]["paragraph"] == expected[question].first
    server_log = log.read_text()
    assert "Traceback" not in server_log and "Exception in ASGI" not in server_log, server_log[-3000:]
