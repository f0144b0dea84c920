"""Start ``qmdr serve`` as a real subprocess on 127.0.0.1 and wait until it answers."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

#: the embedded model loads in a second or two; a cold CI machine may be much slower
STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def qmdr_executable() -> str:
    """The installed console script: unlike ``python -m``, it does not put the cwd on sys.path, so a
    folder named ``vault`` in the working directory cannot shadow the package."""
    return str(Path(sys.executable).parent / "qmdr")


def qmdr_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no provider keys or QMD_* settings leak in from the developer's shell."""
    secret_like = ("_API_KEY", "_TOKEN")
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith(("QMD_", "QMDR_")) or k.endswith(secret_like) or k == "SECRET_ENCRYPTION_KEY")
    }
    env.update({"QMDR_DATA_DIR": str(data_dir), "QMDR_LOG_LEVEL": "WARNING"})
    env.update(extra)
    return env


@contextlib.contextmanager
def running_server(
    env: dict[str, str], *, cwd: Path, port: int | None = None, extra_args: tuple[str, ...] = ()
) -> Iterator[str]:
    """Yield the base URL of a ``qmdr serve`` subprocess; stop it afterwards."""
    port = port or free_port()
    log_path = cwd / f"qmdr-serve-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [qmdr_executable(), "serve", "--host", "127.0.0.1", "--port", str(port), *extra_args],
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(proc, base, log_path)
        yield base
    finally:
        stop_process(proc)


def wait_until_healthy(proc: subprocess.Popen, base: str, log_path: Path) -> None:
    """Return once ``base``/health answers 200; raise with the log's tail if ``proc`` exits or never answers."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"qmdr serve exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            tail = log_path.read_text()[-3000:]
            raise RuntimeError(f"qmdr serve did not answer in {STARTUP_TIMEOUT_S}s:\n{tail}")
        time.sleep(0.2)


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ten seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_for_reindex(client: httpx.Client, timeout_s: float = 120.0) -> dict:
    """Poll GET /reindex/status until the job is no longer running."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get("/reindex/status").json()
        if status["state"] != "running":
            return status
        time.sleep(0.2)
    raise TimeoutError("reindex did not finish")
