"""Serve a benchmark index over HTTP from its own process.

Why a process and not a thread: a uvicorn thread inside the benchmark shares
the GIL with the client that times it. Every request then also waits for the
client's own Python work and for thread hand-offs (the interpreter switches
threads every 5 ms), so the bench read 84 ms p50 for searches that a separate
``qmdr serve`` answered in under 10 ms. A user's agent talks to a server in
another process, so that is what the benchmark measures.

The child builds the same app as ``qmdr serve`` (``create_app`` with a
``Service`` over the bench's SQLite file) with the embedder the index was built
with, warms the store, then prints its port on stdout and serves until stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: embedders the child can rebuild by name; the index records which one made its vectors
EMBEDDER_NAMES = ("local", "hashing")
STARTUP_TIMEOUT_S = 60.0  # the embedded model loads in ~2 s; a 100k snapshot warms in a few more
STOP_TIMEOUT_S = 10.0


def embedder_name_for(embedder: Any) -> str:
    """The name under which the child rebuilds ``embedder``; ``ValueError`` if it cannot."""
    from providers.local.embedder import LocalEmbedder  # the class only: no weights are read
    from qmdr.bench.synthetic import HashingEmbedder

    if isinstance(embedder, HashingEmbedder):
        return "hashing"
    if isinstance(embedder, LocalEmbedder):
        return "local"
    raise ValueError(f"the HTTP bench cannot rebuild a {type(embedder).__name__} in a separate process")


def _build_embedder(name: str) -> Any:
    if name == "hashing":
        from qmdr.bench.synthetic import HashingEmbedder

        return HashingEmbedder()
    from providers.local import load_local_embedder

    return load_local_embedder()


def _serve(db_path: Path, vault_root: Path, embedder_name: str) -> None:
    import uvicorn

    from qmdr.api.app import create_app
    from qmdr.memory.hub import VaultHub
    from qmdr.memory.vaults import DEFAULT_VAULT
    from qmdr.service import Service
    from qmdr.settings import Settings
    from qmdr.store.sqlite import SqliteStore
    from qmdr.testing.openai_server import loopback_socket

    settings = Settings(qmdr_index_path=db_path, qmdr_vault=vault_root, qmdr_data_dir=db_path.parent)
    store = SqliteStore(db_path)
    embedder = _build_embedder(embedder_name)
    store.warm()  # the vector snapshot is ready before the first timed request, as on a warmed server
    service = Service(settings, VaultHub(settings, embedder, stores={DEFAULT_VAULT: store}))
    sock = loopback_socket()
    config = uvicorn.Config(create_app(settings, service=service), log_level="warning", access_log=False)
    print(sock.getsockname()[1], flush=True)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        store.close()


def _read_port(proc: subprocess.Popen[str], timeout_s: float) -> int:
    """The first stdout line of the child, within ``timeout_s`` (a reader thread: pipes have no timeout)."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline() if proc.stdout else ""), daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not line or not line[0].strip().isdigit():
        raise RuntimeError(f"the bench server did not start (exit code {proc.poll()})")
    return int(line[0])


@contextlib.contextmanager
def serve_index(db_path: Path, vault_root: Path, embedder_name: str, *, cwd: Path) -> Iterator[str]:
    """Yield the base URL of a child process serving ``db_path``; stop it afterwards.

    The child runs with ``-P`` (no working folder on ``sys.path``): a synthetic
    ``vault/`` in ``cwd`` would otherwise shadow the ``vault`` package.
    """
    import httpx

    if embedder_name not in EMBEDDER_NAMES:
        raise ValueError(f"unknown bench embedder {embedder_name!r}; expected one of {EMBEDDER_NAMES}")
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "QMDR_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-P",
            "-m",
            "qmdr.bench.http_server",
            "--db",
            str(db_path),
            "--vault",
            str(vault_root),
            "--embedder",
            embedder_name,
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{_read_port(proc, STARTUP_TIMEOUT_S)}"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bench server at {base} did not answer (exit code {proc.poll()})")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="the bench's SQLite index")
    parser.add_argument("--vault", type=Path, required=True, help="the vault the index was built from")
    parser.add_argument("--embedder", choices=EMBEDDER_NAMES, required=True)
    args = parser.parse_args(argv)
    _serve(args.db, args.vault, args.embedder)


if __name__ == "__main__":
    main()
