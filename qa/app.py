"""The FastAPI application: loading the index in the background, limits, errors, headers."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.api import router as api_router
from qa.config import Settings, load_settings
from qa.headers import JsonOnly, SecurityHeaders
from qa.pages import STATIC_DIR
from qa.pages import router as pages_router
from qa.service import AnswerService
from qa.startup import load_service

log = logging.getLogger("qa.app")

SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


class BodyLimit:
    """Refuse request bodies over a byte limit with 413, counting as they stream (chunked too)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_error(send, 413, f"request body over {self.max_bytes} bytes")
            return
        # Bodies are small (16 KiB), so read them whole here, stopping at the limit, and replay.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > self.max_bytes:
                await _send_error(send, 413, f"request body over {self.max_bytes} bytes")
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _send_error(send: Send, status: int, detail: str) -> None:
    response = JSONResponse({"detail": detail}, status_code=status, headers=SECURITY_HEADERS)
    await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _readable(error: dict) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"detail": "the body is not valid JSON"}, status_code=400)
        return JSONResponse({"detail": "; ".join(_readable(e) for e in errors)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse({"detail": "internal error; the request was not answered"}, status_code=500)


def _install_middleware(app: FastAPI) -> None:
    """Inside BodyLimit: security headers, then the JSON-only rule (pure ASGI, see qa/headers.py)."""
    app.add_middleware(JsonOnly)
    app.add_middleware(SecurityHeaders, headers=SECURITY_HEADERS)


def create_app(settings: Settings | None = None, service: AnswerService | None = None) -> FastAPI:
    """The app. With `service` given it is ready at once; otherwise it loads in the background."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.service is None:
            threading.Thread(target=_load_into, args=(app, settings), daemon=True).start()
        yield
        if app.state.service is not None:
            log.info("served: %s", app.state.service.stats())
            app.state.service.close()

    app = FastAPI(
        title="reportqa",
        summary="Ask a report questions; get back the paragraphs that answer them, cited by number.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.load_error = None
    _install_error_handlers(app)
    _install_middleware(app)
    app.include_router(api_router)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app


def _load_into(app: FastAPI, settings: Settings) -> None:
    try:
        app.state.service = load_service(settings)
        log.info("ready: %d passages", len(app.state.service.corpus.passages))
    except Exception as error:
        app.state.load_error = str(error)
        log.exception("could not load the index")
