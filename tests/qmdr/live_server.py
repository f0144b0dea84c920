"""Serve an app with uvicorn on 127.0.0.1 in a thread: a real socket for httpx, MCP or raw-socket clients."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal

import uvicorn

from qmdr.api.app import create_app
from qmdr.service import Service
from tests.e2e.qmdr_process import free_port

#: guard while waiting for the in-thread server to bind, and for it to stop
STARTUP_LIMIT_S = 30.0


@contextlib.contextmanager
def serve_in_thread(app: Any, *, lifespan: Literal["auto", "on", "off"] = "off") -> Iterator[int]:
    """Yield the port on 127.0.0.1 where uvicorn serves the ASGI ``app``; stop the server after."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
            time.sleep(0.05)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_LIMIT_S)


@contextlib.contextmanager
def live_server(service: Service) -> Iterator[str]:
    """Yield ``http://127.0.0.1:PORT`` serving ``service``; stop the server and close the service after."""
    try:
        with serve_in_thread(create_app(service.settings, service=service)) as port:
            yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run(service.aclose())
