"""Talking to a running `qa serve` over HTTP, so the CLI answers without loading the model."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from qa.config import Settings

# A server on this machine answers /healthz in a millisecond; no answer in this time means none.
HEALTH_TIMEOUT = 0.5
# A server still loading its model (~6 s) is worth waiting for: loading one here takes as long.
STARTING_WAIT = 30.0
ASK_TIMEOUT = 30.0
# Wildcard binds listen everywhere, this machine included.
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class ServerError(Exception):
    """The server refused the request (4xx) or failed; the message is its `detail`."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def server_url(settings: Settings) -> str:
    """Where a `qa serve` with these settings listens, as a base URL without the trailing slash."""
    host = _LOOPBACK.get(settings.host, settings.host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _health(client: httpx.Client) -> tuple[int, str]:
    """(status code, detail) of /healthz, or (0, why) when nothing answers like our server."""
    try:
        response = client.get("/healthz", timeout=HEALTH_TIMEOUT)
        body = response.json()
    except (httpx.HTTPError, ValueError) as error:
        return 0, type(error).__name__
    if not isinstance(body, dict) or "status" not in body:
        return 0, "not a reportqa server"
    return response.status_code, str(body.get("detail", body.get("status")))


def find_server(base_url: str, on_wait: Callable[[], None] | None = None) -> httpx.Client | None:
    """A client for the server at `base_url` once it is ready, or None if none answers there.

    A server that is still loading is waited for (up to STARTING_WAIT s); `on_wait()` is called
    once when that starts, so the user knows why nothing happens.
    """
    client = httpx.Client(base_url=base_url, timeout=ASK_TIMEOUT, trust_env=False)
    deadline = time.monotonic() + STARTING_WAIT
    status, detail = _health(client)
    if status == 503 and detail == "loading" and on_wait is not None:
        on_wait()
    while status == 503 and detail == "loading" and time.monotonic() < deadline:
        time.sleep(0.2)
        status, detail = _health(client)
    if status == 200:
        return client
    client.close()
    return None


class ServerAsker:
    """Asks the server; sends the previous turn as `context` until the server says it takes none."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.takes_context = True

    @property
    def where(self) -> str:
        return str(self.client.base_url).rstrip("/")

    def ask(self, *, question: str, top_k: int, context: dict | None = None) -> dict:
        body: dict = {"question": question, "top_k": top_k}
        if context and self.takes_context:
            body["context"] = context
        response = self._post(body)
        if response.status_code == 422 and "context" in body and "context" in _detail(response):
            # A server from before follow-ups forbids unknown fields: ask again without it.
            self.takes_context = False
            del body["context"]
            response = self._post(body)
        if response.status_code != 200:
            raise ServerError(response.status_code, _detail(response))
        return response.json()

    def _post(self, body: dict) -> httpx.Response:
        try:
            return self.client.post("/api/ask", json=body)
        except httpx.HTTPError as error:
            raise ServerError(
                0, f"the server at {self.where} did not answer ({type(error).__name__})"
            ) from error

    def close(self) -> None:
        self.client.close()


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail else f"HTTP {response.status_code}"
