"""``qmdr tokens create|list|revoke`` through the console script, against a live server on the same data dir:
the token printed once works at once, is stored only hashed, and stops working when revoked."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from qmdr.memory.vaults import REGISTRY_FILE, VaultRegistry
from tests.e2e.qmdr_process import qmdr_env, qmdr_executable
from tests.qmdr.live_server import live_server
from tests.qmdr.memory_service import make_service, write_notes

#: the command imports no model, but a loaded machine can be slow to start Python
RUN_TIMEOUT_S = 120
ADMIN = "cli-admin-token-0123456789"


@pytest.fixture
def run(tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()

    def qmdr(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [qmdr_executable(), "tokens", *args],
            cwd=work,
            env=qmdr_env(tmp_path / "data", **env),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )

    return qmdr


def test_create_list_revoke_against_a_running_server(tmp_path: Path, run) -> None:
    (tmp_path / "data").mkdir()
    VaultRegistry(tmp_path / "data" / REGISTRY_FILE).add("alice", write_notes(tmp_path / "alice", {"a.md": "# A\n"}))
    made = run("create", "--name", "alice", "--vault", "alice:rw", "--vault", "default:r", QMDR_API_TOKEN=ADMIN)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()  # alone on stdout
    assert token.startswith("qmdr_") and "\n" not in token
    assert "shown once" in made.stderr and "warning" not in made.stderr
    stored = (tmp_path / "data" / "tokens.sqlite").read_bytes()
    assert token.encode() not in stored
    listed = run("list", "--json")
    assert (
        json.loads(listed.stdout)[0] | {"name": "alice", "vaults": {"alice": "rw", "default": "r"}}
        == json.loads(listed.stdout)[0]
    )
    assert token not in listed.stdout and token not in run("list").stdout
    service = make_service(tmp_path, write_notes(tmp_path / "default", {"d.md": "# D\n"}), qmdr_api_token=ADMIN)
    with live_server(service) as base, httpx.Client(base_url=base, timeout=30) as client:
        as_alice = {"Authorization": f"Bearer {token}"}
        assert client.get("/vaults/alice", headers=as_alice).status_code == 200
        assert client.get("/providers", headers=as_alice).status_code == 403
        revoked = run("revoke", "alice")
        assert revoked.returncode == 0 and "revoked token alice" in revoked.stdout
        assert client.get("/vaults/alice", headers=as_alice).status_code == 401  # no restart needed


def test_mistakes_are_one_line_errors_that_make_nothing(tmp_path: Path, run) -> None:
    for args, says in [
        (("--vault", "ghost:r"), "no vault named 'ghost'"),
        (("--vault", "default:w"), "invalid right 'w'"),
        (("--vault", "default"), "VAULT:r (read) or VAULT:rw"),
    ]:
        failed = run("create", "--name", "x", *args)
        assert failed.returncode == 1 and says in failed.stderr and "Traceback" not in failed.stderr
        assert failed.stdout == ""
    assert json.loads(run("list", "--json").stdout) == []
    missing = run("revoke", "nobody")
    assert missing.returncode == 1 and "no token named 'nobody'" in missing.stderr
    open_api = run("create", "--name", "x", "--vault", "default:r")
    assert open_api.returncode == 0 and "QMDR_API_TOKEN is not set" in open_api.stderr
