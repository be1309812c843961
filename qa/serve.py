"""Run the app under uvicorn with the connection limits and timeouts from the settings."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import json
import logging
import signal
import socket
import sys
from collections.abc import Callable
from http import HTTPStatus

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from qa.app import SECURITY_HEADERS, create_app
from qa.config import Settings


class _Guards:
    """Three guards for the open web, shared by both of uvicorn's HTTP/1.1 protocols.

    - A deadline for each request head: uvicorn closes idle keep-alive connections but waits
      forever for a client that connects and sends its headers slowly or not at all (slowloris).
      The deadline starts on connect and again after each response.
    - A cap on open connections, answered with a JSON 503 (uvicorn's own limit answers in text).
    - Malformed HTTP (bad request line, headers over the size limit) answered with a JSON 400.
    """

    head_timeout: float = 10.0
    max_connections: int = 0  # 0: no cap
    _head_deadline: asyncio.TimerHandle | None = None
    # Provided by the uvicorn protocol this is mixed into.
    connections: set
    cycle: object
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    timeout_keep_alive_handler: Callable[[], None]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        if self.max_connections and len(self.connections) > self.max_connections:
            self._refuse(503, "the server is at its connection limit; try again shortly")
            return
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        super().connection_lost(exc)  # type: ignore[misc]

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, f"malformed HTTP request ({msg.rstrip('.').lower()})")

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        if self.head_timeout > 0:
            self._head_deadline = self.loop.call_later(self.head_timeout, self._head_deadline_passed)

    def _head_deadline_passed(self) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:  # type: ignore[attr-defined]  # awaiting a head
            self.timeout_keep_alive_handler()  # uvicorn's own way to close an idle connection

    def _refuse(self, status: int, detail: str) -> None:
        """Answer in JSON outside any request cycle, then close the connection."""
        self.transport.write(raw_response(status, detail))
        self.transport.close()


class GuardedH11Protocol(_Guards, H11Protocol):
    """uvicorn's pure-Python h11 protocol with the guards (h11 limits the head's size itself)."""


class GuardedHttpToolsProtocol(_Guards, HttpToolsProtocol):
    """uvicorn's httptools protocol (a C parser: ~0.1 ms a request less than h11) with the guards,
    and a limit on the request head's size, which h11 has and httptools does not."""

    max_head_bytes: int = 16 * 1024
    _head_bytes = 0
    _reading_head = False

    def on_message_begin(self) -> None:
        self._reading_head = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._reading_head, self._head_bytes = False, 0
        super().on_headers_complete()
        cycle = self.cycle  # this request's (none for an upgrade, which uvicorn hands on)
        # A response to HEAD has no body to carry its head: written as uvicorn writes it.
        if cycle is not None and cycle.scope is self.scope and self.scope["method"] != "HEAD":  # type: ignore[attr-defined]
            cycle.transport = HeadWithBody(self.transport)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._reading_head and not self.transport.is_closing():
            self._head_bytes += len(data)  # every byte of this read went into an unfinished head
            if self._head_bytes > self.max_head_bytes:
                self.send_400_response(f"request line and headers over {self.max_head_bytes} bytes")


class HeadWithBody:
    """The transport one response is written to: its head (status line and headers) is held and
    goes out with the body's first bytes, in one write. uvicorn writes them apart: two sends and
    two TCP segments, and on loopback the kernel delivers each in the server's send and wakes the
    client twice (a cached answer at c=1: ~0.2 ms of ~1.4). uvicorn writes every response but a
    HEAD's a body after its head (b"" when empty), in the same event-loop turn for every response
    this service gives (none streams), and closing flushes a head never followed.
    Everything else goes to the connection's transport as it is."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head = b""
        self._head_seen = False

    def write(self, data: bytes) -> None:
        # The response's head is the first write but a "100 Continue" (which the client awaits).
        if not self._head_seen and data.startswith(b"HTTP/1.1 ") and not data.startswith(b"HTTP/1.1 100 "):
            self._head, self._head_seen = data, True  # held until its body
            return
        self.flush(data)

    def flush(self, data: bytes = b"") -> None:
        head, self._head = self._head, b""
        # A client gone before the body: uvicorn closed the transport, and writing to a closed
        # uvloop transport raises (closing twice, as uvicorn may on an error path, must not).
        if (head or data) and not self._transport.is_closing():
            self._transport.write(head + data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> object:
        return getattr(self._transport, name)


def raw_response(status: int, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    headers = {
        "content-type": "application/json",
        "content-length": str(len(body)),
        "connection": "close",
        **SECURITY_HEADERS,
    }
    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


PROTOCOLS: dict[str, type[_Guards]] = {"h11": GuardedH11Protocol, "httptools": GuardedHttpToolsProtocol}


def _protocol(settings: Settings) -> type[_Guards]:
    base = PROTOCOLS.get(settings.http)
    if base is None:
        raise ValueError(f"QA_HTTP: expected one of {', '.join(PROTOCOLS)}, got {settings.http!r}")
    limits = {
        "head_timeout": settings.head_timeout,
        "max_connections": settings.max_connections,
        "max_head_bytes": settings.max_header_bytes,
    }
    return type(base.__name__, (base,), limits)


def uvicorn_config(settings: Settings, on_ready: Callable[[], None] | None = None) -> uvicorn.Config:
    """Every limit the server applies before a request reaches the app."""
    return uvicorn.Config(
        create_app(settings, on_ready=on_ready),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        http=_protocol(settings),
        h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_keep_alive=max(1, round(settings.keep_alive_timeout)),
        timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout)),
        server_header=False,
    )


M_ARENA_MAX = -8  # glibc's mallopt parameter number


def limit_malloc_arenas(arenas: int) -> bool:
    """Cap glibc's malloc arenas; True if applied (not on other C libraries, or for 0).

    glibc gives each thread that allocates an arena of its own and keeps freed memory in each: the
    encode workers' arenas added ~40-60 MB of resident memory under load, and sharing one cost no
    measurable speed (torch allocates a few large blocks per operation).
    """
    if arenas <= 0:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


def _exit_cleanly(signum: int, frame: object) -> None:
    sys.exit(0)


LOADING_MESSAGE = "loading the model and the index; the server answers at {url} once it says ready"


def public_url(settings: Settings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}/"


class PortInUse(OSError):
    """The port is taken, most often by another `qa serve`."""


def bind(settings: Settings) -> socket.socket:
    """The listening socket, bound here (as uvicorn would) so a busy port is one clear line, not a
    uvicorn log record after the app was built."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(error.errno, f"port {settings.port} is in use") from error
        raise
    sock.set_inheritable(True)
    return sock


def busy_port_hint(port: int) -> str:
    other = port + 1 if port < 65535 else 8001
    return f"port {port} is in use: try make run PORT={other} (or qa serve --port {other})"


class _StartupNoise(logging.Filter):
    """uvicorn says "Application startup complete" and "running on <url>" before the model and the
    index are loaded, while /healthz still answers 503: the `ready:` line replaces both."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not message.startswith(("Application startup complete", "Uvicorn running on"))


def _announce_ready(url: str) -> Callable[[], None]:
    def announce() -> None:
        print(f"ready: {url}", flush=True)

    return announce


def serve(settings: Settings) -> int:
    """Serve until SIGTERM or SIGINT, then finish in-flight requests and exit 0 (2 if the port is
    taken or cannot be bound)."""
    try:
        sock = bind(settings)
    except PortInUse:
        print(f"error: {busy_port_hint(settings.port)}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot listen on {settings.host}:{settings.port}: {error.strerror}", file=sys.stderr)
        return 2
    # uvicorn handles the signal (graceful shutdown), then raises it again with the handler that
    # was there before it started: make that handler a clean exit instead of death by signal.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    if settings.switch_interval_ms > 0:
        sys.setswitchinterval(settings.switch_interval_ms / 1000)
    limit_malloc_arenas(settings.malloc_arenas)  # before any encode worker thread exists
    url = public_url(settings)
    config = uvicorn_config(settings, on_ready=_announce_ready(url))  # configures uvicorn's logging
    logging.getLogger("uvicorn.error").addFilter(_StartupNoise())
    print(LOADING_MESSAGE.format(url=url), flush=True)
    with sock:
        uvicorn.Server(config).run(sockets=[sock])
    return 0
