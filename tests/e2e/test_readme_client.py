"""The README's Python client example runs as written on a fresh install, against a real ``qmdr serve``.

The shell block before it starts the server (only ``--port`` is added, so the
test never fights another server for 8181) and the ``python`` block that
imports ``qmdr.client`` runs in its own interpreter, with only its URL's port
changed to match. Run twice: the example must also work once its vaults exist.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.qmdr_process import free_port, qmdr_env, qmdr_executable, stop_process, wait_until_healthy

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parents[2] / "README.md"
#: the example's URL; the test points it at the server's free port
EXAMPLE_URL = "http://127.0.0.1:8181"
#: one run of the example: two vault registrations, a note write, a search, a context block (seconds)
RUN_TIMEOUT_S = 120


def client_example() -> tuple[str, str]:
    """(the shell block that starts the server, the python block that uses the client), as in the README."""
    blocks = re.findall(r"```(\w+)\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    for i, (lang, code) in enumerate(blocks):
        if lang == "python" and "from qmdr.client import" in code:
            shell_lang, shell = blocks[i - 1]
            assert shell_lang == "bash" and "qmdr serve" in shell, "the client example must say how to start the server"
            return shell, code
    raise AssertionError("the README has no python block using qmdr.client")


def test_the_readme_client_example_runs_verbatim_on_a_fresh_install(tmp_path: Path) -> None:
    shell, example = client_example()
    assert EXAMPLE_URL in example
    port = free_port()
    work = tmp_path / "work"  # a fresh folder and data dir: nothing registered, nothing indexed
    work.mkdir()
    env = qmdr_env(tmp_path / "data")
    command = shell.replace("qmdr serve", f"exec {qmdr_executable()} serve --port {port}")
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(["bash", "-e", "-c", command], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(server, f"http://127.0.0.1:{port}", tmp_path / "serve.log")
        script = example.replace(EXAMPLE_URL, f"http://127.0.0.1:{port}")
        for run in range(2):
            done = subprocess.run(
                [sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
            )
            assert done.returncode == 0, f"run {run + 1}:\n{done.stderr[-3000:]}"
            assert done.stdout.split() == ["alice", "agents/alice/today.md"]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer change-me"}) as api:
            vaults = {v["name"]: v for v in api.get("/vaults").json()["vaults"]}
            assert set(vaults) == {"alice", "shared"} and vaults["alice"]["index"]["notes"] == 1
            assert vaults["alice"]["folder"] == str((work / "memory" / "alice").resolve())
    finally:
        stop_process(server)
        log.close()
