"""The `qa` command run as a real process against the test index."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

import qa.cli
from qa.client import ServerAsker
from qa.config import Settings
from qa.index import SearchIndex

from .conftest import free_port


def run_qa(settings: Settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`qa` in its own process. QA_PORT is a free port, so no server answers unless one is named
    (another server on 8000 would otherwise answer `qa ask`)."""
    env = {
        **os.environ,
        "QA_SEEDS_DIR": str(settings.seeds_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_PORT": str(free_port()),
    }
    return subprocess.run(
        [sys.executable, "-m", "qa.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def port_of(base_url: str) -> str:
    return base_url.rsplit(":", 1)[1]


def test_ask_json_matches_the_api(settings: Settings, search_index: SearchIndex, client) -> None:  # noqa: ANN001
    question = "How much was the Home Office grant for drug testing?"
    done = run_qa(settings, "ask", question, "-k", "2", "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    api = client.post("/api/ask", json={"question": question, "top_k": 2}).json()
    assert printed["citations"][0]["paragraph"] == "D4"
    for key in ("question", "answered", "answer"):
        assert printed[key] == api[key]
    assert [c["paragraph"] for c in printed["citations"]] == [c["paragraph"] for c in api["citations"]]


def test_ask_prints_readable_answer(settings: Settings, search_index: SearchIndex) -> None:
    done = run_qa(settings, "ask", "What is the CDTB?")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Answer (¶22):")
    assert "[¶22]" in done.stdout
    assert "answered locally in " in done.stdout  # no server on QA_PORT
    assert "Loading weights" not in done.stderr and "DEBUG" not in done.stderr, done.stderr


def test_ask_through_the_server_is_fast_and_says_so(live_server: str, settings: Settings) -> None:
    started = time.perf_counter()
    done = run_qa(settings, "ask", "What is a clean delivery?", "--port", port_of(live_server))
    wall = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Answer (¶7):")
    assert f"answered by the server at {live_server} in " in done.stdout
    assert wall < 3, wall  # no model loaded here: Python, httpx and one request
    printed_ms = float(done.stdout.rsplit(" in ", 1)[1].split(" ms")[0])
    assert printed_ms <= wall * 1000  # the printed time is this command's own, never more than it took


def test_ask_local_answers_in_process_even_with_a_server_up(live_server: str, settings: Settings) -> None:
    done = run_qa(settings, "ask", "What is a clean delivery?", "--local", "--port", port_of(live_server))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Answer (¶7):")
    assert "answered locally in " in done.stdout and "loading the model and index" in done.stdout
    assert "Loading weights" not in done.stderr and "DEBUG" not in done.stderr, done.stderr


def test_ask_through_the_server_reports_refused_input(live_server: str, settings: Settings) -> None:
    done = run_qa(settings, "ask", "x", "-k", "0", "--port", port_of(live_server))
    assert done.returncode == 2
    assert "top_k" in done.stderr and "Traceback" not in done.stderr


def test_chat_through_the_server_answers_a_follow_up(live_server: str, settings: Settings) -> None:
    lines = "What is a clean delivery?\n\nwhat is the CDTB?\nquit\n"
    done = run_qa(settings, "chat", "-k", "1", "--port", port_of(live_server), stdin=lines)
    assert done.returncode == 0, done.stderr
    assert f"answering through the server at {live_server}" in done.stdout
    assert done.stdout.count(f"answered by the server at {live_server}") == 2
    assert "Answer (¶7):" in done.stdout and "Answer (¶22):" in done.stdout
    assert "Traceback" not in done.stderr


def test_chat_local_loads_once_and_keeps_quiet(settings: Settings, search_index: SearchIndex) -> None:
    lines = "What is a clean delivery?\nhow many arrests did that lead to?\nwhat is the CDTB?\n"
    done = run_qa(settings, "chat", "--local", "-k", "1", stdin=lines)
    assert done.returncode == 0, done.stderr
    assert "answering locally (loaded in " in done.stdout
    assert done.stdout.count("answered locally in ") == 3
    assert "Answer (¶7):" in done.stdout and "Answer (¶22):" in done.stdout
    # The follow-up is read after the previous turn in-process too, and says how.
    assert "Read as: How many clean delivery arrests" in done.stdout and "150 persons" in done.stdout
    assert "Loading weights" not in done.stderr and "DEBUG" not in done.stderr, done.stderr


def _fake_server(replies: list[dict], seen: list[dict]) -> httpx.Client:
    """A client whose server records each /api/ask body and answers with the next reply; a body
    with `context` gets a 422 like today's API when `replies` starts with None."""

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        reply = replies.pop(0)
        if reply is None:
            return httpx.Response(422, json={"detail": "context: Extra inputs are not permitted"})
        return httpx.Response(200, json={**reply, "question": body["question"]})

    return httpx.Client(base_url="http://127.0.0.1:9", transport=httpx.MockTransport(handle))


def _reply(paragraph: str, read_as: str | None = None) -> dict:
    citation = {
        "doc": "report",
        "paragraph": paragraph,
        "label": f"¶{paragraph}",
        "section": "S",
        "heading": "H",
        "text": "Passage text.",
        "score": 1.0,
        "url": f"/p/{paragraph}",
    }
    answer = {"text": "Passage text.", "paragraph": paragraph, "start": 0, "end": 13}
    reply = {"answered": True, "answer": answer, "citations": [citation], "took_ms": 5.0}
    return reply | ({"read_as": read_as} if read_as else {})


def test_chat_sends_the_previous_turn_and_prints_how_it_was_read(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[dict] = []
    read_as = "how many arrests did the clean deliveries lead to?"
    client = _fake_server([_reply("7"), _reply("7", read_as), _reply("8")], seen)
    monkeypatch.setattr(qa.cli, "_server_asker", lambda settings: ServerAsker(client))
    monkeypatch.setattr(qa.cli, "_quiet_libraries", lambda: None)  # leaves this process's env alone
    typed = iter(["What is a clean delivery?", "how many arrests did that lead to?", "and then?", "quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(typed))
    assert qa.cli.main(["chat"]) == 0
    assert "context" not in seen[0]
    assert seen[1]["context"] == {"question": "What is a clean delivery?", "doc": "report", "paragraph": "7"}
    assert seen[2]["context"]["question"] == read_as  # a follow-up of a follow-up leans on the reading
    assert f"Read as: {read_as}" in capsys.readouterr().out


def test_chat_works_with_a_server_that_takes_no_context(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[dict] = []
    client = _fake_server([_reply("7"), None, _reply("17"), _reply("18")], seen)
    asker = ServerAsker(client)
    monkeypatch.setattr(qa.cli, "_server_asker", lambda settings: asker)
    monkeypatch.setattr(qa.cli, "_quiet_libraries", lambda: None)
    typed = iter(["What is a clean delivery?", "how many arrests?", "and then?", "quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(typed))
    assert qa.cli.main(["chat"]) == 0
    assert ["context" in body for body in seen] == [False, True, False, False]  # asked once, then not
    assert asker.takes_context is False
    out = capsys.readouterr().out
    assert out.count("Answer (¶") == 3 and "Read as" not in out and "error" not in out


def test_serve_on_a_busy_port_names_the_port_option(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_qa(settings, "serve", "--port", str(port))
    assert done.returncode != 0
    assert (
        done.stderr.strip()
        == f"error: port {port} is in use: try make run PORT={port + 1} (or qa serve --port {port + 1})"
    )
    assert "Traceback" not in done.stderr


def test_bm25s_debug_lines_follow_the_application_level() -> None:
    """bm25s sets its logger to DEBUG on import; qa.index hands the level back (a fresh process:
    this one's bm25s logger was set by `qa.cli.main` above)."""
    script = (
        "import logging; logging.basicConfig(level=logging.INFO); import qa.index; "
        "print(logging.getLogger('bm25s').isEnabledFor(logging.DEBUG))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
