"""A real `qa serve` under faults: damaged index at start, slow and vanishing clients, raw-socket
abuse, connection flooding, refusing bad seeds, and SIGTERM with a request in flight."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from qa.app import SECURITY_HEADERS
from qa.config import Settings
from qa.corpus import Corpus
from qa.index import SearchIndex, load_index

from .conftest import start_server
from .test_cli import run_qa
from .test_index import permute_vectors, resealed

HEAD_TIMEOUT = 4
BODY_TIMEOUT = 8
MAX_CONNECTIONS = 48
# Questions whose first citation is known; answers are checked against these after the rebuild.
KNOWN = {
    "How many cannabis factories were found in London?": "16",
    "What is the CDTB?": "22",
    "How much was the Home Office grant for drug testing?": "D4",
    "what does paragraph 38 say": "38",
}


@dataclass
class Server:
    process: subprocess.Popen
    base_url: str
    log: Path
    settings: Settings

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.base_url)
        return parts.hostname or "127.0.0.1", parts.port or 80

    def log_text(self) -> str:
        return self.log.read_text()


@pytest.fixture(scope="module", params=["httptools", "h11"])
def hard_server(
    request: pytest.FixtureRequest,
    settings: Settings,
    search_index: SearchIndex,
    tmp_path_factory,  # noqa: ANN001
) -> Iterator[Server]:
    """`qa serve --public` on 0.0.0.0 over a copy of the index whose vectors were put in the
    wrong order and the manifest's checksums recomputed (the damage checksums cannot see), with
    short timeouts and a small connection cap so the limits can be seen; once with each of the
    two guarded HTTP protocols (QA_HTTP)."""
    root = tmp_path_factory.mktemp(f"hard-{request.param}")
    own = settings.with_overrides(index_dir=root / "index")
    shutil.copytree(settings.index_dir, own.index_dir)
    resealed(permute_vectors)(own)
    env = {
        "QA_HOST": "0.0.0.0",
        "QA_HEAD_TIMEOUT": str(HEAD_TIMEOUT),
        "QA_BODY_TIMEOUT": str(BODY_TIMEOUT),
        "QA_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        "QA_CACHE_SIZE": "0",
        "QA_HTTP": request.param,
    }
    log = root / "server.log"
    process, base_url = start_server(own, env, log_path=log, args=("--public",))
    yield Server(process, base_url, log, own)
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=30)


# ---------------------------------------------------------------------------
# Raw HTTP helpers.


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.address[1]), timeout=30)


def ask_head(length: int) -> bytes:
    return (
        "POST /api/ask HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one response: status, lower-cased headers, body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def closed_by_server(sock: socket.socket) -> bool:
    """Wait (up to the socket timeout) for the server to close the connection."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def assert_json_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> str:
    assert status == expected, body
    assert headers["content-type"] == "application/json"
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value
    return json.loads(body)["detail"]


def first_citation(base_url: str, question: str) -> str:
    response = httpx.post(f"{base_url}/api/ask", json={"question": question}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["question"] == question
    return response.json()["citations"][0]["paragraph"]


# ---------------------------------------------------------------------------
# Starting over damaged files; binding.


def test_server_started_on_damaged_files_rebuilds_and_cites_correctly(hard_server: Server) -> None:
    log = hard_server.log_text()
    assert "rebuilding index: stored vectors do not match the units" in log
    assert {question: first_citation(hard_server.base_url, question) for question in KNOWN} == KNOWN
    rebuilt = load_index(Corpus.from_seeds(hard_server.settings.seeds_dir), hard_server.settings)
    assert len(rebuilt.units) == rebuilt.dense.ntotal  # the rebuilt files on disk are whole


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp) listening on `port`."""
    addresses = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            addresses.add(address)
    return addresses


def test_public_flag_binds_every_interface(hard_server: Server) -> None:
    assert _listening(hard_server.address[1]) == {"00000000"}  # 0.0.0.0


def test_default_bind_is_loopback_only(live_server: str) -> None:
    assert _listening(urlsplit(live_server).port or 0) == {"0100007F"}  # 127.0.0.1


# ---------------------------------------------------------------------------
# Slow, silent and vanishing clients do not hold up anyone else.


def test_slow_bodies_get_408_while_others_are_answered(hard_server: Server) -> None:
    body = json.dumps({"question": "How many cannabis factories were found in London?"}).encode()
    slow = [connect(hard_server) for _ in range(20)]
    for sock in slow:
        sock.sendall(ask_head(len(body)) + body[:12])  # ...and the rest never comes
    started = time.monotonic()
    assert {question: first_citation(hard_server.base_url, question) for question in KNOWN} == KNOWN
    others_done = time.monotonic() - started
    for sock in slow:
        detail = assert_json_error(*read_response(sock), expected=408)
        assert f"within {BODY_TIMEOUT} s" in detail
        sock.close()
    assert others_done < BODY_TIMEOUT  # answered while the slow bodies were still pending


def test_slow_and_silent_heads_are_dropped_while_others_are_answered(hard_server: Server) -> None:
    silent = [connect(hard_server) for _ in range(10)]
    partial = [connect(hard_server) for _ in range(10)]
    for sock in partial:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")  # no blank line: the head never ends
    trickler = connect(hard_server)
    trickler.sendall(b"GET /healthz HTTP/1.1\r\n")
    started = time.monotonic()
    assert first_citation(hard_server.base_url, "What is the CDTB?") == "22"
    assert time.monotonic() - started < HEAD_TIMEOUT
    trickler.settimeout(1)
    with pytest.raises(OSError):  # a header line a second does not keep the connection open
        for n in range(HEAD_TIMEOUT * 5):
            trickler.sendall(f"X-Slow-{n}: 1\r\n".encode())
            if not trickler.recv(1):
                raise ConnectionResetError("closed")
    assert time.monotonic() - started < HEAD_TIMEOUT * 3
    for sock in silent + partial:
        assert closed_by_server(sock)
        sock.close()
    trickler.close()


def _recv_or_timeout(sock: socket.socket) -> bytes:
    try:
        return sock.recv(1)
    except TimeoutError:
        return b"?"  # still open


def test_clients_vanishing_mid_request_do_not_hurt_the_server(hard_server: Server) -> None:
    body = json.dumps({"question": "What is the role of the CDTB in drug testing?"}).encode()
    for _ in range(30):  # whole request sent, gone before the answer
        with connect(hard_server) as sock:
            sock.sendall(ask_head(len(body)) + body)
    for _ in range(10):  # gone halfway through the body
        with connect(hard_server) as sock:
            sock.sendall(ask_head(len(body)) + body[:10])
    for _ in range(10):  # gone halfway through the head
        with connect(hard_server) as sock:
            sock.sendall(b"POST /api/ask HTTP/1.1\r\nContent-")
    assert {question: first_citation(hard_server.base_url, question) for question in KNOWN} == KNOWN
    assert httpx.get(f"{hard_server.base_url}/healthz", timeout=10).json()["status"] == "ok"
    log = hard_server.log_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log


def test_connection_flood_is_capped_with_a_json_503(hard_server: Server) -> None:
    flood = [connect(hard_server) for _ in range(MAX_CONNECTIONS)]
    with connect(hard_server) as extra:
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        detail = assert_json_error(*read_response(extra), expected=503)
    assert "connection limit" in detail
    for sock in flood:
        sock.close()
    deadline = time.monotonic() + 30
    while True:  # closed connections free their slots at once
        try:
            if httpx.get(f"{hard_server.base_url}/healthz", timeout=10).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# Oversized and malformed requests at the socket level.


def test_declared_oversized_body_is_refused_before_it_is_sent(hard_server: Server) -> None:
    with connect(hard_server) as sock:
        sock.sendall(ask_head(10_000_000))  # no body follows: the answer must not wait for it
        sock.settimeout(5)
        detail = assert_json_error(*read_response(sock), expected=413)
    assert "16384 bytes" in detail


def test_chunked_oversized_body_is_refused_midstream(hard_server: Server) -> None:
    with connect(hard_server) as sock:
        sock.sendall(
            b"POST /api/ask HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for _ in range(17):
            sock.sendall(b"400\r\n" + b"x" * 1024 + b"\r\n")  # 17 KiB, and no final chunk
        sock.settimeout(5)
        assert_json_error(*read_response(sock), expected=413)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 20_000,  # a head growing past 16 KiB
        b"NONSENSE\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: -5\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 64 + b"\r\n\r\n",  # TLS on plain HTTP
    ],
    ids=["huge head", "garbage", "negative length", "tls hello"],
)
def test_malformed_http_gets_a_json_400(hard_server: Server, request_bytes: bytes) -> None:
    with connect(hard_server) as sock:
        sock.sendall(request_bytes)
        detail = assert_json_error(*read_response(sock), expected=400)
    assert detail.startswith("malformed HTTP request")


# ---------------------------------------------------------------------------
# Refusing to start on bad reports.


@pytest.mark.parametrize(
    ("make_seeds", "reason"),
    [
        (lambda d: (d / "report.txt").write_bytes(b""), "report.txt: the report text is empty"),
        (lambda d: (d / "report.txt").write_bytes(b"\xff\xfe\x00bad"), "report.txt: binary data (NUL bytes)"),
        (lambda d: (d / "report.txt").write_text("a shopping list\neggs\n"), "report.txt: no report header"),
        (lambda d: (d / "report.md").write_text("not a .txt"), "no report texts"),
        (lambda d: d.rmdir() or d.write_text("a file"), "seeds folder not found"),
    ],
    ids=["empty", "not utf-8", "not a report", "no txt files", "not a folder"],
)
def test_serve_refuses_unreadable_seeds_with_one_line(
    settings: Settings, tmp_path: Path, make_seeds, reason: str
) -> None:  # noqa: ANN001
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    make_seeds(seeds)
    done = run_qa(settings.with_overrides(seeds_dir=seeds), "serve")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot read the reports:"), done.stderr
    assert reason in lines[0]


def test_build_refuses_unreadable_seeds_without_a_traceback(settings: Settings, tmp_path: Path) -> None:
    done = run_qa(settings.with_overrides(seeds_dir=tmp_path / "absent", index_dir=tmp_path / "i"), "build")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "seeds folder not found" in done.stderr


# ---------------------------------------------------------------------------
# Graceful shutdown (last: it stops the module's server).


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_expect_continue_heads_and_keep_alive_still_work(hard_server: Server) -> None:
    """The response's head is held to go out with its body (qa/serve.py): a '100 Continue' is not
    held, a response with no body (HEAD) is sent whole, and the connection serves the next one."""
    body = json.dumps({"question": "What is the CDTB?"}).encode()
    with connect(hard_server) as sock:
        sock.sendall(ask_head(len(body))[:-2] + b"Expect: 100-continue\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n")  # before any body is sent
        sock.sendall(body)
        status, _, answer = read_response(sock)
        assert status == 200 and json.loads(answer)["citations"]
        sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 ")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        status, _, health = read_response(sock)
        assert status == 200 and json.loads(health)["status"] == "ok"


def test_sigterm_finishes_the_request_in_flight_and_exits_0(hard_server: Server) -> None:
    question = "How many cannabis factories were found in London?"
    body = json.dumps({"question": question}).encode()
    in_flight = connect(hard_server)
    in_flight.sendall(ask_head(len(body)) + body[:10])
    # Answered after the first request's bytes were sent, so the server has read its head.
    assert httpx.get(f"{hard_server.base_url}/healthz", timeout=10).status_code == 200
    hard_server.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + BODY_TIMEOUT / 2
    while not _refused(hard_server.address[1]):  # shutting down: no new connections
        assert time.monotonic() < deadline, "the server kept accepting after SIGTERM"
        time.sleep(0.02)
    in_flight.sendall(body[10:])
    status, headers, payload = read_response(in_flight)
    assert status == 200, payload
    assert json.loads(payload)["citations"][0]["paragraph"] == KNOWN[question]
    assert hard_server.process.wait(timeout=30) == 0
    assert "Traceback" not in hard_server.log_text()
