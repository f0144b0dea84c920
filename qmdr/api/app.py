"""The FastAPI application factory: ``create_app(settings)``.

``qmdr serve`` runs it under uvicorn; tests build it directly or over a real
socket. The Service (store, embedder, searcher, providers) is built once in the
lifespan and shared by every request through ``app.state.service``. At start
the lifespan also warms the in-memory vector snapshots (the default index, then
every indexed named vault) on a background thread (``warm_store``), so no first
search pays seconds of loading while the server already answers /health and
keyword searches.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, HTTPException, Request
from starlette.responses import Response
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from qmdr import __version__
from qmdr.access.tokens import looks_like_token
from qmdr.api.auth_throttle import AuthThrottle
from qmdr.api.body_limit import BodyLimitMiddleware
from qmdr.api.deps import check_token, presented_token
from qmdr.api.docs import install_docs
from qmdr.api.errors import http_problem, install_error_handlers
from qmdr.api.json_guard import JsonUnicodeMiddleware
from qmdr.api.openapi import install_error_schemas
from qmdr.api.routes import (
    chat,
    health,
    index,
    memory,
    memory_io,
    metrics,
    models,
    notes,
    providers,
    search,
    tokens,
    vaults,
)
from qmdr.memory.vaults import DEFAULT_VAULT
from qmdr.memory.watch import start_watch, stop_watch
from qmdr.observability import Metrics, instrument_service, request_id_var
from qmdr.service import Service
from qmdr.settings import Settings
from qmdr.ui import install_dashboard
from qmdr.ui.web import LOGIN_PATH, UI_PREFIX, login_redirect

log = logging.getLogger(__name__)

#: request bodies above this are refused as they arrive: no legitimate search or note write is that big
MAX_BODY_BYTES = 2 * 1024 * 1024
REQUEST_ID_HEADER = "X-Request-ID"
#: a caller's X-Request-ID is echoed into logs, so only short plain ids are kept (no log injection)
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def warm_store(*stores: object) -> threading.Thread | None:
    """Build each store's search caches (``store.warm()``, where it has one) in turn on a daemon thread.

    A thread, not the event loop's pool: the build is seconds of SQLite reads
    and numpy copies that must not hold a worker other requests need. Failure
    only costs that store's first search the same wait, so it is logged, not raised.
    """
    warms = [warm for warm in (getattr(store, "warm", None) for store in stores) if callable(warm)]
    if not warms:
        return None

    def run() -> None:
        for warm in warms:
            started = time.perf_counter()
            try:
                chunks = warm()
            except Exception as exc:  # e.g. the store was closed by a quick shutdown
                log.warning(
                    "warming the search caches failed (the first search will build them): %s: %s",
                    type(exc).__name__,
                    exc,
                )
                continue
            log.info("search caches ready: %d chunks in %.1f s", chunks, time.perf_counter() - started)

    thread = threading.Thread(target=run, name="qmdr-warm-store", daemon=True)
    thread.start()
    return thread


def stores_to_warm(service: Service) -> list[object]:
    """The default index first, then every named vault that has been indexed (opened here, on the loop).

    A vault never indexed is not opened: that would create an empty index file as a side effect.
    """
    stores: list[object] = [service.store]
    try:
        hub = service.memory
        for info in hub.list():
            if info.name != DEFAULT_VAULT and hub.index_file(info.name).exists():
                stores.append(hub.open(info.name).store)
    except Exception as exc:  # a broken registry must not stop the server from starting
        log.warning("named vaults were not warmed: %s: %s", type(exc).__name__, exc)
    return stores


def warm_vaults_when_opened(service: Service) -> None:
    """From now on, warm each vault's index as the hub first opens it (one added or indexed after start).

    Warming is what makes a store keep its in-memory search caches (the vector
    snapshot and the keyword index) up to date, which pays in a long-lived server only.
    """
    try:
        service.memory.open_listeners.append(warm_store)
    except Exception as exc:  # a broken registry must not stop the server from starting
        log.warning("vaults opened later will not be warmed: %s: %s", type(exc).__name__, exc)


async def body_gate(request: Request) -> Response | None:
    """Check the API token of a request with a body before its body is read (``qmdr.api.body_limit``).

    The login form is the one body an unauthenticated browser must send; a
    dashboard form without a session goes to the login page, as the
    dashboard's own guard would send it.
    """
    path = request.url.path
    if path == LOGIN_PATH:
        return None
    try:
        if looks_like_token(presented_token(request) or ""):  # an agent token: a store lookup, off the loop
            await anyio.to_thread.run_sync(check_token, request)
        else:
            check_token(request)
    except HTTPException as exc:
        if path.startswith(f"{UI_PREFIX}/") and exc.status_code == 401:
            return login_redirect(UI_PREFIX)
        return await http_problem(request, exc)
    return None


def create_app(settings: Settings | None = None, *, service: Service | None = None) -> FastAPI:
    """Build the app; pass ``service`` to share one already built (tests, the CLI's serve)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = service is None
        app.state.service = service or Service.from_settings(settings)
        instrument_service(app.state.metrics, app.state.service)
        app.state.store_warmup = warm_store(*stores_to_warm(app.state.service))
        warm_vaults_when_opened(app.state.service)
        watching = start_watch(app.state.service) if settings.qmdr_watch else None  # `qmdr serve --watch`
        try:
            yield
        finally:
            if watching is not None:
                await stop_watch(*watching)
            if owned:
                await app.state.service.aclose()
            token_store = getattr(app.state, "token_store", None)
            if token_store is not None:
                app.state.token_store = None
                token_store.close()

    app = FastAPI(
        title="qmdr",
        version=__version__,
        summary="Semantic memory search for AI agents over markdown vaults.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # qmdr.api.docs serves them, offline and behind the token
    )
    app.state.metrics = Metrics()
    app.state.auth_throttle = AuthThrottle(settings.qmdr_auth_free_failures)
    if service is not None:
        app.state.service = service
        instrument_service(app.state.metrics, service)

    # innermost first: the JSON check reads only bodies the gate and the limit let through
    app.add_middleware(JsonUnicodeMiddleware, error_response=http_problem)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES, gate=body_gate, error_response=http_problem)

    @app.middleware("http")
    async def tag_request(request: Request, call_next):  # type: ignore[no-untyped-def]
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if VALID_REQUEST_ID.match(given) else uuid.uuid4().hex
        request.state.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            request_id_var.reset(token)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        app.state.metrics.requests.labels(method=request.method, route=route, status=str(response.status_code)).observe(
            time.perf_counter() - started
        )
        if response.status_code >= 400:
            app.state.metrics.errors.labels(route=route, status=str(response.status_code)).inc()
        response.headers[REQUEST_ID_HEADER] = request_id
        return response

    if settings.qmdr_trusted_proxies:  # outermost: the body gate and the auth throttle see the client it names
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.qmdr_trusted_proxies)
    install_error_handlers(app)
    install_error_schemas(app)
    for router in (
        health.router,
        search.router,
        index.router,
        notes.router,
        providers.router,
        providers.settings_router,
        models.router,
        chat.router,
        vaults.router,
        memory.router,
        memory_io.router,
        metrics.router,
        tokens.router,
    ):
        app.include_router(router)
    install_docs(app)
    install_dashboard(app)
    return app
