"""The FastAPI application: loading the index in the background, limits, errors, headers."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.api import router as api_router
from qa.config import Settings, load_settings
from qa.headers import SecurityHeaders
from qa.limits import BodyLimit, HeaderLimit, RateLimit
from qa.pages import STATIC_DIR, error_page, wants_html
from qa.pages import router as pages_router
from qa.reload import IndexWatcher
from qa.reports_api import router as reports_router
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


def _readable(error: dict) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if not where:  # the body as a whole: empty, null, a list, a bare string...
        return f'the body must be a JSON object like {{"question": "...", "top_k": 3}} ({message})'
    return f"{where}: {message}"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"detail": "the body is not valid JSON"}, status_code=400)
        return JSONResponse({"detail": "; ".join(_readable(e) for e in errors)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        page = error_page(request, exc.status_code) if wants_html(request) else None
        if page is not None:
            page.headers.update(exc.headers or {})
            return page
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        # Answered by Starlette's outermost layer, past every middleware: add the headers here.
        log.exception("unhandled error on %s", request.url.path)
        detail = "internal error; the request was not answered"
        return JSONResponse({"detail": detail}, status_code=500, headers=SECURITY_HEADERS)


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    """Outermost first: security headers, header size, rate limit, body size and time, then routes."""
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout)
    if settings.rate_limit > 0:
        app.add_middleware(RateLimit, rate=settings.rate_limit, burst=settings.rate_burst)
    app.add_middleware(HeaderLimit, max_bytes=settings.max_header_bytes)
    app.add_middleware(SecurityHeaders, headers=SECURITY_HEADERS)


def create_app(
    settings: Settings | None = None,
    service: AnswerService | None = None,
    on_ready: Callable[[], None] | None = None,
) -> FastAPI:
    """The app. With `service` given it is ready at once; otherwise it loads in the background and
    calls `on_ready()` the moment /healthz turns 200."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loads_its_own = app.state.service is None
        if loads_its_own:
            threading.Thread(target=_load_into, args=(app, settings, on_ready), daemon=True).start()
        yield
        if app.state.watcher is not None:
            app.state.watcher.stop()
        if loads_its_own and app.state.service is not None:
            log.info("served: %s", app.state.service.stats())
            app.state.service.close()  # a service handed in belongs to the caller, who closes it

    app = FastAPI(
        title="reportqa",
        summary="Ask a report questions; get back the paragraphs that answer them, cited by number.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.load_error = None
    app.state.watcher = None
    _install_error_handlers(app)
    _install_middleware(app, settings)
    app.include_router(api_router)
    app.include_router(reports_router)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _load_into(app: FastAPI, settings: Settings, on_ready: Callable[[], None] | None = None) -> None:
    try:
        app.state.service = load_service(settings)  # from here on /healthz answers 200
        app.state.watcher = IndexWatcher(app.state.service, settings).start()
    except Exception as error:
        app.state.load_error = str(error)
        log.exception("could not load the index")
        return
    log.debug("loaded: %d passages", len(app.state.service.corpus.passages))
    if on_ready is not None:
        on_ready()
