"""A running server picks up a grown library without a restart, and no request fails meanwhile."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from qa.config import Settings
from qa.index import SearchIndex
from tests.conftest import DATA_DIR, REPORT_FILE, start_server

CANNABIS = "How many cannabis factories were found in London?"
HOLLY = "2002-03-12_home-office-holly-royde-conference"


def _ask_until(base_url: str, stop: threading.Event, statuses: list[int], fingerprints: set[str]) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while not stop.is_set():
            response = client.post("/api/ask", json={"question": CANNABIS})
            statuses.append(response.status_code)
            if response.status_code == 200:
                citation = response.json()["citations"][0]
                fingerprints.add(f"{citation['doc']}/{citation['paragraph']}")


def test_add_and_remove_while_serving(tmp_path: Path, settings: Settings, search_index: SearchIndex) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(REPORT_FILE, seeds)
    shutil.copytree(settings.index_dir, tmp_path / "index")  # the seed's index, built once per session
    settings = settings.with_overrides(seeds_dir=seeds, index_dir=tmp_path / "index")
    process, base_url = start_server(settings, extra_env={"QA_RELOAD_INTERVAL": "0.3"})
    stop = threading.Event()
    statuses: list[int] = []
    cited: set[str] = set()
    asker = threading.Thread(target=_ask_until, args=(base_url, stop, statuses, cited))
    try:
        before = httpx.get(f"{base_url}/healthz").json()
        assert before["reports"] == 1
        asker.start()
        copy = tmp_path / f"{HOLLY}.txt"
        shutil.copy(DATA_DIR / "reports" / copy.name, copy)
        env_args = ["--seeds", str(seeds), "--index", str(settings.index_dir)]
        added = subprocess.run(
            [sys.executable, "-m", "qa.cli", *env_args, "add", str(copy)], capture_output=True, text=True
        )
        assert added.returncode == 0, added.stderr
        after = _wait_for(base_url, lambda health: health["reports"] == 2)
        assert after["index"] != before["index"]
        ids = httpx.get(f"{base_url}/api/passages/3").json()
        assert sorted(ids["docs"]) == [HOLLY, "mpa-2005-12-08-drugs-and-crime"]  # 409: which one?
        scoped = httpx.post(f"{base_url}/api/ask", json={"question": CANNABIS, "docs": [HOLLY]}).json()
        assert {c["doc"] for c in scoped["citations"]} == {HOLLY}
        removed = subprocess.run(
            [sys.executable, "-m", "qa.cli", *env_args, "remove", HOLLY],
            capture_output=True,
            text=True,
        )
        assert removed.returncode == 0, removed.stderr
        _wait_for(base_url, lambda health: health["reports"] == 1)
        time.sleep(0.5)
    finally:
        stop.set()
        if asker.is_alive():
            asker.join(timeout=30)
        process.terminate()
        process.wait(timeout=30)
    assert statuses and set(statuses) == {200}, f"some requests failed: {sorted(set(statuses))}"
    assert "mpa-2005-12-08-drugs-and-crime/16" in cited


def _wait_for(base_url: str, ready, timeout: float = 120) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = httpx.get(f"{base_url}/healthz").json()
        if ready(health):
            return health
        time.sleep(0.2)
    raise TimeoutError("the server did not pick up the new index")
