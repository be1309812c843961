"""Hostile and malformed requests through the app: every one gets a clear JSON 4xx, nothing leaks."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from qa.app import SECURITY_HEADERS, create_app
from qa.config import Settings
from qa.limits import BodyLimit, RateLimit

CANNABIS = "How many cannabis factories were found in London?"
JSON = {"content-type": "application/json"}
# What must never appear in a response: stack traces, file paths, library internals.
LEAK_MARKERS = ("Traceback", 'File "', "/work", "/tmp", "/usr", "site-packages", ".py", "/index/", "seeds")


def assert_clean_error(response: httpx.Response, status: int, needle: str = "") -> str:
    """A JSON error with a readable `detail`, the security headers, and nothing internal."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert needle.lower() in body["detail"].lower()
    for marker in LEAK_MARKERS:
        assert marker not in response.text, marker
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    return body["detail"]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"", 422, "JSON object"),
        (b"null", 422, "JSON object"),
        (b"[]", 422, "object"),
        (b'"a question"', 422, "object"),
        (b"42", 422, "object"),
        (b'{"question": "\\ud800"}', 422, "empty"),  # a lone surrogate is stripped, leaving nothing
        (b'{"question": "\\u0000\\u200b\\ufeff"}', 422, "empty"),
        (b'{"question": "ok", "top_k": true}', 422, "top_k"),
        (b'{"question": "ok", "top_k": "3"}', 422, "top_k"),
        (b'{"question": "ok", "top_k": 3.5}', 422, "top_k"),
        (b'{"question": "ok", "top_k": NaN}', 422, "top_k"),
        (b'{"question": "ok", "top_k": 1e400}', 422, "top_k"),
        (b'{"question": "ok", "top_k": ' + b"9" * 5000 + b"}", 400, ""),  # over Python's int digit limit
        (b'{"question": {"$ne": null}}', 422, "question"),
        (b'{"question": "ok", "__proto__": {}}', 422, "extra"),
        (b"[" * 8000 + b"]" * 8000, 400, ""),  # nesting deep enough to exhaust a recursive parser
        (b'{"question": "\xff\xfe caf\xe9"}', 400, ""),  # not UTF-8
        (b'{"question": "ok"', 400, "not valid JSON"),
        (b"question=ok", 400, "not valid JSON"),
    ],
)
def test_malformed_bodies_get_a_clear_4xx(client: TestClient, body: bytes, status: int, needle: str) -> None:
    assert_clean_error(client.post("/api/ask", content=body, headers=JSON), status, needle)


@pytest.mark.parametrize(
    ("question", "accepted"),
    [
        ("x" * 500, True),
        ("  " + "x" * 500 + " \n\t", True),  # the limit applies after trimming
        ("x" * 501, False),
        ("\ufb01" * 300, False),  # 'ﬁ' becomes 'fi' under NFKC: 600 characters
        ("a\u0000b\u200bc" + "x" * 497, True),  # control and zero-width characters do not count
    ],
)
def test_question_length_limit_applies_after_cleaning(
    client: TestClient, question: str, accepted: bool
) -> None:
    response = client.post("/api/ask", json={"question": question, "top_k": 1})
    if accepted:
        assert response.status_code == 200
        assert len(response.json()["question"]) == 500
    else:
        assert_clean_error(response, 422, "limit is 500")


def test_echoed_question_is_the_cleaned_one(client: TestClient) -> None:
    raw = rb'{"question": " cannabis\u200b  factories\ud800\r\n in\tLondon? "}'  # JSON escapes
    body = client.post("/api/ask", content=raw, headers=JSON).json()
    assert body["question"] == "cannabis factories in London?"
    assert body["citations"][0]["paragraph"] == "16"


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
def test_json_content_types_are_accepted(client: TestClient, content_type: str) -> None:
    body = json.dumps({"question": CANNABIS}).encode()
    response = client.post("/api/ask", content=body, headers={"content-type": content_type})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "text/json", "application/jsonx"],
)
def test_other_content_types_are_415(client: TestClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/api/ask", content=json.dumps({"question": CANNABIS}).encode(), headers=headers)
    assert_clean_error(response, 415, "application/json")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/ask"),
        ("PUT", "/api/ask"),
        ("DELETE", "/api/ask"),
        ("PATCH", "/api/ask"),
        ("OPTIONS", "/api/ask"),
        ("POST", "/api/passages"),
        ("POST", "/api/passages/16"),
        ("DELETE", "/api/passages/16"),
        ("POST", "/healthz"),
    ],
)
def test_wrong_methods_are_405_whatever_the_content_type(client: TestClient, method: str, path: str) -> None:
    for headers in ({"content-type": "text/plain"}, JSON):
        response = client.request(method, path, content=b"{}", headers=headers)
        assert_clean_error(response, 405, "method not allowed")
        assert response.headers["allow"]


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/api",
        "/api/passages/a/b",
        "/api/passages/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/index/manifest.json",
    ],
)
def test_unknown_paths_are_404(client: TestClient, path: str) -> None:
    assert_clean_error(client.get(path), 404, "not found")


def test_unknown_passage_404_echoes_the_id_only_as_json_data(client: TestClient) -> None:
    response = client.get("/api/passages/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    detail = assert_clean_error(response, 404, "no passage")
    assert "<img src=x onerror=alert(1)>" in detail  # data in a JSON string, served as JSON with nosniff


def test_long_passage_ids_are_cut_in_the_404(client: TestClient) -> None:
    detail = assert_clean_error(client.get("/api/passages/" + "x" * 5000), 404, "no passage")
    assert len(detail) < 1000


@pytest.mark.parametrize("size", [16 * 1024 + 1, 1_000_000])
def test_oversized_bodies_are_413(client: TestClient, size: int) -> None:
    assert_clean_error(client.post("/api/ask", content=b" " * size, headers=JSON), 413, "16384 bytes")


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/healthz", {"x-padding": "a" * 20_000}), ("/healthz?" + "q=1&" * 5000, {}), ("/" + "a" * 20_000, {})],
    ids=["big header", "long query", "long path"],
)
def test_oversized_request_heads_are_431(client: TestClient, path: str, headers: dict) -> None:
    assert_clean_error(client.get(path, headers=headers), 431, "16384 bytes")


def _call(middleware: BodyLimit, headers: list[tuple[bytes, bytes]], messages: list[dict]) -> list[dict]:
    """Run one request through an ASGI middleware; `messages` is what the client sends, then it
    goes quiet. Returns what the middleware sent back."""
    sent: list[dict] = []

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # a client that never sends the rest
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/ask", "headers": headers}
    # In a thread of its own: the browser tests leave an event loop running in this one.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, middleware(scope, receive, send)).result()
    return sent


async def _never_called(scope, receive, send) -> None:  # noqa: ANN001
    raise AssertionError("the request should not reach the app")


def test_absurd_content_length_is_413_without_reading() -> None:
    limit = BodyLimit(_never_called, max_bytes=16384, timeout=10)
    sent = _call(limit, [(b"content-length", b"9" * 5000)], [])  # int() would refuse 5000 digits
    assert sent[0]["status"] == 413


def test_body_that_stops_arriving_is_408() -> None:
    limit = BodyLimit(_never_called, max_bytes=16384, timeout=0.2)
    sent = _call(limit, [], [{"type": "http.request", "body": b'{"quest', "more_body": True}])
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"]) == {"detail": "the request body did not arrive within 0.2 s"}


def test_body_at_the_limit_is_read(client: TestClient) -> None:
    body = json.dumps({"question": CANNABIS}).encode().ljust(16 * 1024)  # JSON allows trailing spaces
    assert client.post("/api/ask", content=body, headers=JSON).status_code == 200


def test_chunked_oversized_body_is_413(client: TestClient) -> None:
    def chunks():  # noqa: ANN202 - no Content-Length: the limit must count as the body streams
        yield b'{"question": "'
        for _ in range(40):
            yield b"x" * 1024

    assert_clean_error(client.post("/api/ask", content=chunks(), headers=JSON), 413, "bytes")


# ---------------------------------------------------------------------------
# Security headers on every kind of response.


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/healthz", {}, 200),
        ("GET", "/api/passages", {}, 200),
        ("GET", "/api/passages/16", {}, 200),
        ("POST", "/api/ask", {"json": {"question": CANNABIS}}, 200),
        ("GET", "/openapi.json", {}, 200),
        ("GET", "/api/passages/nope", {}, 404),
        ("GET", "/no/such/page", {}, 404),
        ("GET", "/api/ask", {}, 405),
        ("POST", "/api/ask", {"content": b"x" * 20000, "headers": JSON}, 413),
        ("POST", "/api/ask", {"content": b"{}", "headers": {"content-type": "text/plain"}}, 415),
        ("POST", "/api/ask", {"json": {"question": ""}}, 422),
        ("POST", "/api/ask", {"content": b"{", "headers": JSON}, 400),
        # The HTML pages and their errors.
        ("GET", "/", {}, 200),
        ("GET", "/report", {}, 200),
        ("GET", "/p/16", {}, 200),
        ("GET", "/p/nope", {}, 404),
        ("POST", "/ask", {"data": {"question": CANNABIS}}, 200),
        ("POST", "/ask", {"data": {"question": " "}}, 422),
        ("POST", "/ask", {"data": {"question": "x" * 20000}}, 413),
        ("PUT", "/", {}, 405),
        ("GET", "/static/chat.css", {}, 200),
        ("GET", "/static/nope.css", {}, 404),
    ],
)
def test_security_headers_on_every_response(
    client: TestClient, method: str, path: str, kwargs: dict, status: int
) -> None:
    response = client.request(method, path, **kwargs)
    assert response.status_code == status
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert "server" not in response.headers


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_pages_are_the_one_csp_exception(client: TestClient, path: str) -> None:
    """Swagger UI and ReDoc load their script from a CDN and bootstrap inline, so these two HTML
    pages go without a CSP; every other header still applies."""
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "content-security-policy" not in response.headers
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


# ---------------------------------------------------------------------------
# Failures inside the service: generic messages, no internals.


class _BrokenService:
    corpus = None

    async def ask(self, question: str, k: int, docs: tuple[str, ...] | None = None):  # noqa: ANN201
        raise RuntimeError("boom in /srv/reportqa/qa/search.py line 12")

    def close(self) -> None:
        pass


def test_unexpected_error_is_a_generic_500_with_headers(settings: Settings, caplog) -> None:  # noqa: ANN001
    app = create_app(settings, service=_BrokenService())  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as broken:
        response = broken.post("/api/ask", json={"question": CANNABIS})
    assert_clean_error(response, 500, "internal error")
    assert "boom" not in response.text
    assert "boom in /srv/reportqa" in caplog.text  # the operator still sees it in the log


def test_starting_service_answers_503_with_retry_after(settings: Settings) -> None:
    starting = TestClient(create_app(settings))  # no lifespan: the index never starts loading
    response = starting.post("/api/ask", json={"question": CANNABIS})
    assert_clean_error(response, 503, "starting")
    assert response.headers["retry-after"] == "5"
    assert starting.get("/healthz").json() == {"status": "starting", "detail": "loading"}


def test_failed_load_is_reported_without_its_reason(settings: Settings, tmp_path) -> None:  # noqa: ANN001
    broken = settings.with_overrides(model_path=str(tmp_path / "no-model-here"))
    with TestClient(create_app(broken)) as failing:
        deadline = time.monotonic() + 60
        while failing.get("/healthz").json()["detail"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.05)  # the background load fails within moments
        health = failing.get("/healthz")
        ask = failing.post("/api/ask", json={"question": CANNABIS})
    assert health.status_code == 503 and health.json()["detail"] == "the index failed to load"
    assert_clean_error(ask, 503, "failed to load")
    assert "no-model-here" not in health.text + ask.text


# ---------------------------------------------------------------------------
# Rate limiting (off unless QA_RATE_LIMIT is set).


def test_rate_limit_is_off_by_default(client: TestClient) -> None:
    assert all(client.get("/api/passages/16").status_code == 200 for _ in range(60))


def test_rate_limit_answers_429_with_retry_after(settings: Settings) -> None:
    limited = settings.with_overrides(rate_limit=0.01, rate_burst=3)  # one request per 100 s after 3
    app = create_app(limited)  # never started (no lifespan): every request is a quick 503
    first = TestClient(app, client=("203.0.113.7", 4000))
    assert [first.get("/api/passages/x").status_code for _ in range(3)] == [503] * 3
    response = first.get("/api/passages/x")
    assert_clean_error(response, 429, "too many requests")
    assert 90 <= int(response.headers["retry-after"]) <= 100
    assert first.get("/healthz").status_code == 503  # health checks are never limited
    second = TestClient(app, client=("203.0.113.8", 4000))  # another client has its own bucket
    assert second.get("/api/passages/x").status_code == 503


def test_rate_limit_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimit(app=None, rate=2.0, burst=2, clock=lambda: now[0])  # type: ignore[arg-type]
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("a") == pytest.approx(0.5)  # one token comes back every half second
    now[0] = 0.5
    assert limiter.take("a") == 0
    now[0] = 100.0  # a long pause refills only up to the burst
    assert [limiter.take("a") for _ in range(3)][:2] == [0, 0] and limiter.take("a") > 0


def test_rate_limit_forgets_the_least_recent_clients() -> None:
    limiter = RateLimit(app=None, rate=1.0, burst=1, max_clients=100, clock=lambda: 0.0)  # type: ignore[arg-type]
    for n in range(1000):
        limiter.take(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter._buckets) == 100
