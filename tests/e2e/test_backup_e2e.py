"""`qmdr backup` from another process while `qmdr serve` reindexes; `qmdr restore` brings back a consistent index."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from qmdr.store.sqlite import SqliteStore
from tests.e2e.qmdr_process import qmdr_env, qmdr_executable, running_server, wait_for_reindex

#: notes in the vault: enough that the rewrite's reindex takes a while, few enough for a loaded CI machine
NOTES = 80
#: backups taken while the reindex runs (each one is a full copy)
MAX_BACKUPS = 4


def write_vault(folder: Path, version: str) -> None:
    for i in range(NOTES):
        path = folder / f"notes/n{i:03d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Note {i}\n\n{version} text {i}: herons, retries and backoff in version {version}.\n")


def index_state(index: Path) -> dict[str, str]:
    """The index's note hashes, after checking its parts agree (every text has a vector, FTS covers every chunk)."""
    store = SqliteStore(index)
    try:
        stats = store.stats()
        assert stats.extra["texts_without_vector"] == 0
        assert store._conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0] == stats.chunks
        return store.note_hashes()
    finally:
        store.close()


def qmdr(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([qmdr_executable(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_backups_taken_while_the_server_reindexes_restore_to_the_old_or_the_new_index(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    write_vault(vault, "old")
    env = qmdr_env(tmp_path / "data", QMDR_VAULT=str(vault))
    index = tmp_path / "data" / "default.sqlite"
    with running_server(env, cwd=tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
        assert client.post("/reindex", json={}).status_code == 202
        assert wait_for_reindex(client, timeout_s=300)["state"] == "done"
        old = index_state(index)
        write_vault(vault, "new")
        assert client.post("/reindex", json={}).status_code == 202
        taken = []
        for i in range(MAX_BACKUPS):
            result = qmdr(env, tmp_path, "backup", str(tmp_path / f"bk{i}"), "--json")
            assert result.returncode == 0, result.stderr
            assert "default.sqlite" in [f["path"] for f in json.loads(result.stdout)["files"]]
            taken.append(tmp_path / f"bk{i}")
            if client.get("/reindex/status").json()["state"] != "running":
                break
        assert wait_for_reindex(client, timeout_s=300)["state"] == "done"
        new = index_state(index)
    assert old != new
    for i, backup in enumerate(taken):
        target_env = qmdr_env(tmp_path / f"restored{i}", QMDR_VAULT=str(vault))
        result = qmdr(target_env, tmp_path, "restore", str(backup))
        assert result.returncode == 0, result.stderr
        assert index_state(tmp_path / f"restored{i}" / "default.sqlite") in (old, new), f"backup {i} mixes versions"
        again = qmdr(target_env, tmp_path, "restore", str(backup))
        assert again.returncode == 1 and "--force" in again.stderr
