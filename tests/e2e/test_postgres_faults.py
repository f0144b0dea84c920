"""PostgreSQL faults through a real `qmdr serve`: no database at start, an outage mid-run, recovery."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.qmdr_process import free_port, qmdr_env, qmdr_executable, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

NOTES = {
    "decisions/retries.md": "# Retries\n\nWe retry uploads with exponential backoff.\n",
    "ops/hangar.md": "# Hangar\n\nThe zeppelin hangar opens at dawn.\n",
}
#: a request meets a stopped database within the pool's wait (5 s); allow for a loaded machine
OUTAGE_REQUEST_TIMEOUT_S = 60.0
#: the pool reconnects with backoff once the server is back; poll this long for the first success
RECOVERY_TIMEOUT_S = 60.0


def write_vault(root: Path) -> Path:
    for rel, text in NOTES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "command", [("serve", "--port", "0"), ("status",), ("vault", "list"), ("search", "anything")], ids=lambda c: c[0]
)
def test_without_its_database_a_command_exits_naming_the_setting_never_the_password(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    password = "pw-that-must-not-leak-42"
    url = f"postgresql://qmdr:{password}@127.0.0.1:{free_port()}/qmdr"  # nothing listens there
    env = qmdr_env(tmp_path / "data", QMDR_DATABASE_URL=url)
    args = [str(free_port()) if arg == "0" else arg for arg in command]
    done = subprocess.run(
        [qmdr_executable(), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "QMDR_DATABASE_URL" in output and "127.0.0.1" in output
    assert password not in output and "Traceback" not in output


def _search(client: httpx.Client, base: str, query: str) -> httpx.Response:
    return client.post(f"{base}/search", json={"query": query, "mode": "keyword", "k": 3})


def test_an_outage_answers_503_with_retry_after_loses_no_write_and_recovers(tmp_path: Path, private_pg_server) -> None:
    name, url = private_pg_server.create_database()
    vault = write_vault(tmp_path / "notes")
    env = qmdr_env(tmp_path / "data", QMDR_VAULT=str(vault), QMDR_DATABASE_URL=url)
    with running_server(env, cwd=tmp_path) as base, httpx.Client(timeout=OUTAGE_REQUEST_TIMEOUT_S) as client:
        assert client.post(f"{base}/vaults/default/reindex", json={}).status_code == 200
        assert _search(client, base, "zeppelin").json()["results"][0]["path"] == "ops/hangar.md"

        private_pg_server.stop_postgres()
        down = _search(client, base, "zeppelin")
        assert down.status_code == 503, down.text
        assert int(down.headers["Retry-After"]) > 0
        assert "QMDR_DATABASE_URL" in down.text
        hybrid = client.post(f"{base}/search", json={"query": "zeppelin hangar", "k": 3})
        assert hybrid.status_code == 503, hybrid.text
        write = client.post(
            f"{base}/vaults/default/notes",
            json={"path": "log/outage", "content": "Written while the database was down."},
        )
        assert write.status_code == 503, write.text
        assert not (vault / "log" / "outage.md").exists()  # the failed write left no file behind

        private_pg_server.start_postgres()
        deadline = time.monotonic() + RECOVERY_TIMEOUT_S
        while (answer := _search(client, base, "zeppelin")).status_code != 200:
            assert answer.status_code == 503 and time.monotonic() < deadline, answer.text
            time.sleep(0.5)
        assert answer.json()["results"][0]["path"] == "ops/hangar.md"
        assert _search(client, base, "outage").json()["results"] == []  # nothing half-written in the index
        write = client.post(
            f"{base}/vaults/default/notes",
            json={"path": "log/outage", "content": "Written after the database came back."},
        )
        assert write.status_code == 200, write.text
        assert _search(client, base, "database came back").json()["results"][0]["path"] == "log/outage.md"
