"""Shared fixtures: the real model, a real index in a temp folder, the app, a live server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from qa.app import create_app
from qa.config import PROJECT_ROOT, Settings, load_settings
from qa.corpus import Corpus
from qa.index import Embedder, SearchIndex, open_index
from qa.search import Searcher
from qa.service import AnswerService

SEEDS_DIR = PROJECT_ROOT / "seeds"
REPORT_FILE = SEEDS_DIR / "mpa-2005-12-08-drugs-and-crime.txt"
DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return Corpus.from_seeds(SEEDS_DIR)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    index_dir = tmp_path_factory.mktemp("index")
    return load_settings({}).with_overrides(seeds_dir=SEEDS_DIR, index_dir=index_dir)


@pytest.fixture(scope="session")
def embedder(settings: Settings) -> Embedder:
    return Embedder(settings.resolved_model_path())


@pytest.fixture(scope="session")
def search_index(settings: Settings, embedder: Embedder) -> SearchIndex:
    return open_index(settings, embedder)


@pytest.fixture(scope="session")
def searcher(search_index: SearchIndex, embedder: Embedder) -> Searcher:
    return Searcher(search_index, embedder)


@pytest.fixture(scope="session")
def app(settings: Settings, searcher: Searcher):  # noqa: ANN201
    return create_app(settings, service=AnswerService(searcher, cache_size=256))


@pytest.fixture(scope="session")
def client(app) -> Iterator[TestClient]:  # noqa: ANN001
    with TestClient(app) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(base_url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError("server did not become ready")


def start_server(
    settings: Settings,
    extra_env: dict[str, str] | None = None,
    log_path: Path | None = None,
    args: tuple[str, ...] = (),
) -> tuple[subprocess.Popen, str]:
    """`qa serve` in its own process on a free 127.0.0.1 port, using the given index folder.
    Its log goes to `log_path` (never to an unread pipe, which would block it once full)."""
    port = free_port()
    env = {
        **os.environ,
        "QA_SEEDS_DIR": str(settings.seeds_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_LOG_LEVEL": "warning",
        **(extra_env or {}),
    }
    with open(log_path or os.devnull, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "qa.cli", "serve", "--port", str(port), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, process)
    except Exception as error:
        process.kill()
        tail = log_path.read_text()[-2000:] if log_path else ""
        raise RuntimeError(f"{error}\n{tail}") from error
    return process, base_url


@pytest.fixture(scope="session")
def live_server(settings: Settings, search_index: SearchIndex) -> Iterator[str]:
    """A real uvicorn server (`qa serve`) on a free port; the index is already built."""
    process, base_url = start_server(settings)
    yield base_url
    process.terminate()
    process.wait(timeout=30)
