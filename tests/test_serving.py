"""The service under concurrent HTTP load, and readiness: /healthz 503 until the model is warm."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

import qa.app
from qa.app import SECURITY_HEADERS, create_app
from qa.config import Settings
from qa.index import Encoded
from qa.search import Searcher
from qa.serve import limit_malloc_arenas, serve
from qa.service import AnswerService
from qa.startup import encode_workers, serving_threads

from .aio import run_async
from .conftest import DATA_DIR, free_port


def clear_questions(searcher: Searcher, count: int = 20) -> dict[str, str]:
    """Questions from the tuning file whose best passage wins by a clear margin -> that passage."""
    chosen: dict[str, str] = {}
    for line in (DATA_DIR / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        question = json.loads(line)["q"]
        hits = searcher.ask(question, 3).hits
        if hits[0].score - hits[1].score >= 0.03:
            chosen[question] = hits[0].passage.id
        if len(chosen) == count:
            break
    assert len(chosen) == count
    return chosen


class HeldSearcher(Searcher):
    """A real searcher whose first model call waits for `release()`, so requests pile up behind it."""

    def __init__(self, searcher: Searcher) -> None:
        super().__init__(searcher.index, searcher.embedder)
        self.busy = threading.Event()
        self._gate = threading.Event()
        self.calls: list[int] = []

    def release(self) -> None:
        self._gate.set()

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Encoded:
        self.calls.append(len(texts))
        self.busy.set()
        assert self._gate.wait(60), "the test never released the model"
        return super().encode(texts, batch_size)


@pytest.fixture()
def threaded_server(settings: Settings, searcher: Searcher) -> Iterator[tuple[str, AnswerService]]:
    """The real app under a real uvicorn in a thread, so the test can see the service's counters."""
    service = AnswerService(HeldSearcher(searcher), max_batch=32, max_wait_ms=2, cache_size=64)
    app = create_app(settings, service=service)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", service
    server.should_exit = True
    thread.join(timeout=30)


async def _ask_all(base_url: str, questions: list[str]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        return await asyncio.gather(*(client.post("/api/ask", json={"question": q}) for q in questions))


def test_concurrent_http_questions_are_batched_and_each_gets_its_own_answer(
    threaded_server: tuple[str, AnswerService], searcher: Searcher
) -> None:
    base_url, service = threaded_server
    held: HeldSearcher = service.searcher  # type: ignore[assignment]
    expected = clear_questions(searcher)
    questions = list(expected)

    async def scenario() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

            def ask(question: str) -> asyncio.Future:
                return asyncio.ensure_future(client.post("/api/ask", json={"question": question}))

            first = ask(questions[0])
            while not held.busy.is_set():
                await asyncio.sleep(0.005)
            rest = [ask(q) for q in questions[1:]]
            while service.batcher.pending < len(rest):
                await asyncio.sleep(0.005)
            held.release()
            return await asyncio.gather(first, *rest)

    responses = run_async(asyncio.wait_for(scenario(), 120))
    for question, response in zip(questions, responses, strict=True):
        assert response.status_code == 200
        body = response.json()
        assert body["question"] == question
        assert body["citations"][0]["paragraph"] == expected[question], question
        if body["answered"]:
            assert body["answer"]["paragraph"] == expected[question]
    assert held.calls == [1, 19]  # 20 requests, 2 model calls
    assert service.batcher.batches == 2


def test_live_server_gives_each_concurrent_question_its_answer(live_server: str, searcher: Searcher) -> None:
    expected = clear_questions(searcher)
    responses = run_async(_ask_all(live_server, list(expected)))
    for (question, paragraph), response in zip(expected.items(), responses, strict=True):
        assert response.status_code == 200
        assert response.json()["question"] == question
        assert response.json()["citations"][0]["paragraph"] == paragraph


def test_healthz_is_503_until_the_service_is_loaded(
    settings: Settings, searcher: Searcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    go = threading.Event()

    def slow_load(_settings: Settings) -> AnswerService:
        assert go.wait(60)
        return AnswerService(searcher)

    monkeypatch.setattr(qa.app, "load_service", slow_load)
    with TestClient(create_app(settings)) as client:
        starting = client.get("/healthz")
        assert starting.status_code == 503
        assert starting.json() == {"status": "starting", "detail": "loading"}
        assert client.post("/api/ask", json={"question": "cannabis"}).status_code == 503
        go.set()
        deadline = time.monotonic() + 60
        while client.get("/healthz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.get("/healthz").json()["index"] == searcher.fingerprint
        assert client.post("/api/ask", json={"question": "cannabis factories"}).status_code == 200


def test_healthz_stays_503_when_loading_fails(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_load(_settings: Settings) -> AnswerService:
        raise RuntimeError("index damaged")

    monkeypatch.setattr(qa.app, "load_service", broken_load)
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 60
        while client.app.state.load_error is None and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.02)
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["detail"] == "the index failed to load"


@pytest.mark.parametrize(
    ("setting", "cores", "workers", "threads"),
    [(3, 2, 2, 3), (0, 2, 2, 1), (0, 2, 1, 1), (0, 1, 1, 1), (0, 8, 1, 7), (0, 8, 8, 1), (0, 8, 2, 3)],
)
def test_serving_threads_share_all_cores_but_one_among_the_encode_workers(
    monkeypatch: pytest.MonkeyPatch, setting: int, cores: int, workers: int, threads: int
) -> None:
    monkeypatch.setattr("qa.startup.usable_cores", lambda: cores)
    assert serving_threads(setting, workers) == threads


@pytest.mark.parametrize(("setting", "cores", "workers"), [(0, 2, 2), (0, 1, 1), (3, 2, 3)])
def test_encode_workers_default_to_one_per_core(
    monkeypatch: pytest.MonkeyPatch, setting: int, cores: int, workers: int
) -> None:
    monkeypatch.setattr("qa.startup.usable_cores", lambda: cores)
    assert encode_workers(setting) == workers


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("post", "/api/ask", {"json": {"question": "cannabis factories"}}, 200),
        ("get", "/healthz", {}, 200),
        ("get", "/api/passages/nope", {}, 404),
        ("post", "/api/ask", {"json": {"question": ""}}, 422),
        ("post", "/api/ask", {"content": b"q=1", "headers": {"content-type": "text/plain"}}, 415),
        ("get", "/api/ask", {}, 405),
    ],
)
def test_security_headers_on_every_answer(
    client: TestClient, method: str, path: str, kwargs: dict, status: int
) -> None:
    """The headers middleware is plain ASGI (for speed); it must still cover every response."""
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert response.headers.get_list("x-frame-options") == ["DENY"]


def test_docs_pages_go_without_the_csp(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


def test_serve_shortens_the_gil_switch_interval(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Encode workers wait for the GIL between operations: `qa serve` makes those waits short."""
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)
    monkeypatch.setattr("qa.serve.limit_malloc_arenas", lambda arenas: False)  # not in the test process
    before = sys.getswitchinterval()
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        assert serve(settings.with_overrides(switch_interval_ms=0.5, port=free_port())) == 0
        assert sys.getswitchinterval() == pytest.approx(0.0005)
    finally:
        sys.setswitchinterval(before)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def test_malloc_arenas_are_capped_only_when_asked() -> None:
    assert limit_malloc_arenas(0) is False
    script = "from qa.serve import limit_malloc_arenas; print(limit_malloc_arenas(1))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(platform.libc_ver()[0] == "glibc")  # in a fresh process: no threads yet


def test_serve_says_ready_exactly_when_healthz_turns_200(settings: Settings, search_index, tmp_path) -> None:  # noqa: ANN001
    """`ready: <url>` on stdout, never before /healthz answers 200; no DEBUG line at INFO."""
    port = free_port()
    env = {
        **os.environ,
        "QA_SEEDS_DIR": str(settings.seeds_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_LOG_LEVEL": "info",
    }
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "qa.cli", "serve", "--port", str(port)],
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}"
    statuses: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            said_ready = "ready: " in out.read_text()  # read first: once printed, /healthz must be 200
            try:
                statuses.append(httpx.get(f"{url}/healthz", timeout=2).status_code)
            except httpx.TransportError:
                statuses.append(0)
            if said_ready:
                break
            time.sleep(0.05)
        assert said_ready, err.read_text()[-2000:]
        assert statuses[-1] == 200
        assert 503 in statuses  # it was seen loading, so the line came with the change
    finally:
        process.terminate()
        process.wait(timeout=30)
    ready_lines = [line for line in out.read_text().splitlines() if line.startswith("ready")]
    assert ready_lines == [f"ready: {url}/"]
    log = err.read_text()
    assert "Application startup complete" not in log and "Uvicorn running on" not in log
    assert not [line for line in log.splitlines() if line.startswith("DEBUG")], log
    assert "Loading weights" not in log


class _Transport:
    """Records the writes a response cycle makes."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_a_response_head_goes_out_with_its_body_in_one_write() -> None:
    from qa.serve import HeadWithBody

    transport = _Transport()
    cycle = HeadWithBody(transport)  # type: ignore[arg-type]
    cycle.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # the client awaits it: written at once
    cycle.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    cycle.write(b"{}")
    cycle.write(b"HTTP/1.1 is in the body")  # the head was written: anything later is body
    assert transport.writes[1:] == [
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
        b"HTTP/1.1 is in the body",
    ]
    assert not cycle.is_closing()  # anything else is the connection's transport

    closing = _Transport()
    cycle = HeadWithBody(closing)  # type: ignore[arg-type]
    cycle.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 9\r\n\r\n")
    cycle.close()  # a response given up after its head: the head still goes out, then the close
    assert closing.writes == [b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 9\r\n\r\n"]
    assert closing.closed


def test_a_held_head_is_not_written_to_a_closed_connection() -> None:
    """The client left before the body: closing must not write to the closed transport (uvloop's
    raises), and a second close is harmless."""
    from qa.serve import HeadWithBody

    class Gone:
        writes: list[bytes] = []
        closed = 0

        def is_closing(self) -> bool:
            return True

        def write(self, data: bytes) -> None:
            self.writes.append(data)

        def close(self) -> None:
            self.closed += 1

    gone = Gone()
    held = HeadWithBody(gone)  # type: ignore[arg-type]
    held.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    held.close()
    held.close()
    assert gone.writes == [] and gone.closed == 2
