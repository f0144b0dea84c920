"""Serve a Service's app with uvicorn on 127.0.0.1 in a thread: a real socket for httpx clients."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn

from qmdr.api.app import create_app
from qmdr.service import Service
from tests.e2e.qmdr_process import free_port

#: guard while waiting for the in-thread server to bind
STARTUP_LIMIT_S = 30.0


@contextlib.contextmanager
def live_server(service: Service) -> Iterator[str]:
    """Yield ``http://127.0.0.1:PORT`` serving ``service``; stop the server and close the service after."""
    port = free_port()
    config = uvicorn.Config(create_app(service.settings, service=service), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_LIMIT_S)
        asyncio.run(service.aclose())
