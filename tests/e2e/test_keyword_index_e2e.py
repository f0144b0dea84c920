"""A served vault's keyword searches are ranked by the in-memory index with FTS5's exact answers.

Over a real socket: ``qmdr serve`` warms the vault (its keyword index is built), and each keyword search
it answers is compared with ``qmdr search --mode keyword --json`` run as a one-shot command on the same
index, which never builds the index and so is ranked by FTS5's ``bm25()`` alone: the oracle.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.qmdr_process import qmdr_env, qmdr_executable, running_server

pytestmark = pytest.mark.e2e
SAMPLE_VAULT = Path(__file__).resolve().parents[2] / "examples" / "notes"
#: a served index that is not current by then is a failure, not a hang
CURRENT_LIMIT_S = 60
QUERIES = (
    "what did we decide about retries",
    "Retry-After backoff",
    "incident review follow-up",
    "sqlite-vec incident-review already-embedded",
    "retries retry RETRIED",
)


def _ranking(body: dict) -> list[tuple[str, int, float]]:
    return [(hit["path"], hit["start_line"], hit["scores"]["keyword"]) for hit in body["results"]]


def _one_shot(env: dict[str, str], cwd: Path, query: str) -> dict:
    done = subprocess.run(
        [qmdr_executable(), "search", query, "--mode", "keyword", "-k", "20", "--json"],
        env=env,
        cwd=cwd,
        capture_output=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout)


def _wait_until_current(client: httpx.Client) -> dict:
    deadline = time.monotonic() + CURRENT_LIMIT_S
    while time.monotonic() < deadline:
        described = client.get("/health").json()["index"].get("keyword_index", {})
        if described.get("state") == "current":
            return described
        time.sleep(0.1)
    raise AssertionError(f"the served keyword index never became current: {described}")


def test_served_keyword_search_equals_fts5_before_and_after_a_write(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, vault)
    env = qmdr_env(tmp_path / "data", QMDR_VAULT=str(vault))
    subprocess.run([qmdr_executable(), "index", str(vault)], env=env, cwd=tmp_path, check=True, timeout=600)
    with running_server(env, cwd=tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
        described = _wait_until_current(client)
        assert described["chunks"] > 0 and described["postings"] > described["chunks"]
        for query in QUERIES:
            served = client.post("/search", json={"query": query, "mode": "keyword", "k": 20}).json()
            assert _ranking(served) == _ranking(_one_shot(env, tmp_path, query)), query
            assert served["results"], query

        written = client.post(
            "/vaults/default/notes",
            json={
                "path": "decisions/retry-budget",
                "content": "# Retry budget\n\nRetries share one budget per minute; backoff doubles.\n",
            },
        )
        assert written.status_code in (200, 201), written.text
        # found at once (FTS5 ranks while the index catches up), and the same once it has
        hits = client.post("/search", json={"query": "retry budget", "mode": "keyword"}).json()
        assert hits["results"][0]["path"] == "decisions/retry-budget.md"
        _wait_until_current(client)
        for query in (*QUERIES, "retry budget"):
            served = client.post("/search", json={"query": query, "mode": "keyword", "k": 20}).json()
            assert _ranking(served) == _ranking(_one_shot(env, tmp_path, query)), query
