"""Request limits: head and body size, body read time, JSON-only bodies, per-client rate limiting."""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def send_error(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    """Answer with `{"detail": ...}` without touching the request body."""
    response = JSONResponse({"detail": detail}, status_code=status, headers=headers)
    await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def require_json(request: Request) -> None:
    """Route dependency: 415 unless the body is declared as JSON (after routing, so a wrong
    method is still a 405)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise HTTPException(status_code=415, detail="send the body as application/json")


class HeaderLimit:
    """431 when the request line and headers together exceed `max_bytes`. (uvicorn's h11 limit
    only catches a head that arrives in pieces; one sent in a single write gets through it.)"""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _head_size(scope) > self.max_bytes:
            await send_error(send, 431, f"request line and headers over {self.max_bytes} bytes")
            return
        await self.app(scope, receive, send)


def _head_size(scope: Scope) -> int:
    line = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string") or b"")
    return line + sum(len(name) + len(value) + 4 for name, value in scope.get("headers") or [])


class BodyLimit:
    """Read each request body up front, refusing it with 413 past `max_bytes` (chunked bodies too)
    and with 408 when it has not all arrived `timeout` seconds after the headers."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout if timeout > 0 else None  # 0 or less: no time limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        # (A length of many digits is refused before int(), which caps digits at 4300.)
        if (
            declared is not None
            and declared.isdigit()
            and (len(declared) > 18 or int(declared) > self.max_bytes)
        ):
            await send_error(send, 413, self._too_large)
            return
        try:
            # asyncio.timeout, not wait_for: before Python 3.12 wait_for ran the read as a task of
            # its own, one more task and event-loop turn for every request (the body is most often
            # there already).
            async with asyncio.timeout(self.timeout):
                body = await self._read(receive)
        except TimeoutError:
            await send_error(send, 408, f"the request body did not arrive within {self.timeout:g} s")
            return
        except _TooLarge:
            await send_error(send, 413, self._too_large)
            return
        if body is None:
            return  # the client went away mid-body: nobody to answer
        await self.app(scope, _replay(body, receive), send)

    @property
    def _too_large(self) -> str:
        return f"request body over {self.max_bytes} bytes"

    async def _read(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > self.max_bytes:
                raise _TooLarge
            if not message.get("more_body", False):
                return b"".join(chunks)


class _TooLarge(Exception):
    pass


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that yields the already-read body once, then waits on the real one (disconnects)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class RateLimit:
    """A token bucket per client address: `rate` requests a second on average, bursts of `burst`.

    Past that a client gets 429 with Retry-After. Paths in `exempt` (health checks) are never
    limited. At most `max_clients` buckets are kept; the least recently seen client is forgotten.
    """

    def __init__(
        self,
        app: ASGIApp,
        rate: float,
        burst: int,
        *,
        exempt: frozenset[str] = frozenset({"/healthz"}),
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.rate = rate
        self.burst = max(1, burst)
        self.exempt = exempt
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client: (tokens, at)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.exempt:
            client = scope.get("client")
            wait = self.take(client[0] if client else "unknown")
            if wait > 0:
                retry_after = str(max(1, math.ceil(wait)))
                detail = f"too many requests; try again in {retry_after} s"
                await send_error(send, 429, detail, {"retry-after": retry_after})
                return
        await self.app(scope, receive, send)

    def take(self, client: str) -> float:
        """Spend one token of `client`'s bucket: 0 when allowed, else seconds until one is free."""
        now = self.clock()
        tokens, then = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        allowed = tokens >= 1
        self._buckets[client] = (tokens - 1 if allowed else tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return 0.0 if allowed else (1 - tokens) / self.rate
