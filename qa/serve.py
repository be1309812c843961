"""Run the app under uvicorn with the connection limits and timeouts from the settings."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from http import HTTPStatus

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from qa.app import SECURITY_HEADERS, create_app
from qa.config import Settings


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with three guards for the open web.

    - A deadline for each request head: uvicorn closes idle keep-alive connections but waits
      forever for a client that connects and sends its headers slowly or not at all (slowloris).
      The deadline starts on connect and again after each response.
    - A cap on open connections, answered with a JSON 503 (uvicorn's own limit answers in text).
    - Malformed HTTP (bad request line, headers over the size limit) answered with a JSON 400.
    """

    head_timeout: float = 10.0
    max_connections: int = 0  # 0: no cap
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.max_connections and len(self.connections) > self.max_connections:
            self._refuse(503, "the server is at its connection limit; try again shortly")
            return
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, f"malformed HTTP request ({msg.rstrip('.').lower()})")

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        if self.head_timeout > 0:
            self._head_deadline = self.loop.call_later(self.head_timeout, self._head_deadline_passed)

    def _head_deadline_passed(self) -> None:
        if self.cycle is None or self.cycle.response_complete:  # still waiting for a request head
            self.timeout_keep_alive_handler()  # uvicorn's own way to close an idle connection

    def _refuse(self, status: int, detail: str) -> None:
        """Answer in JSON outside any request cycle, then close the connection."""
        self.transport.write(raw_response(status, detail))
        self.transport.close()


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


def _protocol(settings: Settings) -> type[H11Protocol]:
    limits = {"head_timeout": settings.head_timeout, "max_connections": settings.max_connections}
    return type("GuardedH11Protocol", (GuardedH11Protocol,), limits)


def uvicorn_config(settings: Settings) -> uvicorn.Config:
    """Every limit the server applies before a request reaches the app."""
    return uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        http=_protocol(settings),
        h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_keep_alive=max(1, round(settings.keep_alive_timeout)),
        timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout)),
        server_header=False,
    )


def _exit_cleanly(signum: int, frame: object) -> None:
    sys.exit(0)


def serve(settings: Settings) -> int:
    """Serve until SIGTERM or SIGINT, then finish in-flight requests and exit 0."""
    # uvicorn handles the signal (graceful shutdown), then raises it again with the handler that
    # was there before it started: make that handler a clean exit instead of death by signal.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    uvicorn.Server(uvicorn_config(settings)).run()
    return 0
