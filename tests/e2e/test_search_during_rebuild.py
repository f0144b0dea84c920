"""Over real sockets: searches during a full ``--rebuild`` never fail and never come back empty.

A server process (the app ``qmdr serve`` builds, ``qmdr.bench.http_server``,
hashing embedder so the test spends no time in a model) serves a synthetic
vault; clients keep sending hybrid and vector ``POST /search`` while the server
rebuilds the index (``POST /reindex {"rebuild": true}``: every chunk deleted
and written again, every vector replaced, in one transaction). Every query
that had results before must have results during, and every answer must be a
200. The clients run until ``REBUILDS`` rebuilds have finished; the test fails
if no search overlapped one (it would have proved nothing). Latencies are not
asserted (see ``benchmarks/search_during_rebuild.py`` for the figures).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import anyio
import httpx
import pytest

from qmdr.bench.http_server import serve_index
from qmdr.bench.synthetic import HashingEmbedder, generate_vault, sample_queries
from qmdr.memory.indexer import reindex
from qmdr.store.sqlite import SqliteStore

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: synthetic sections (~ chunks): a rebuild of this many takes a second or more on a loaded 2-core machine
CHUNKS = 1_200
REBUILDS = 2
CLIENTS = 4
QUERIES = 24
STATUS_POLL_S = 0.1
REBUILD_TIMEOUT_S = 300


async def run_load(base: str, queries: list[str]) -> tuple[list[tuple[float, float, str, int, int]], list[str]]:
    """(started, finished, query, status, results) per search while the server rebuilds ``REBUILDS`` times."""
    done = asyncio.Event()
    answers: list[tuple[float, float, str, int, int]] = []
    rebuilds: list[str] = []
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:

        async def searcher(worker: int) -> None:
            i = worker
            while not done.is_set():
                query = queries[i % len(queries)]
                mode = "vector" if i % 2 else "hybrid"
                started = time.monotonic()
                answer = await client.post("/search", json={"query": query, "k": 5, "mode": mode})
                found = len(answer.json().get("results", [])) if answer.status_code == 200 else 0
                answers.append((started, time.monotonic(), f"{mode}:{query}", answer.status_code, found))
                i += CLIENTS

        async def rebuilder() -> None:
            try:
                for _ in range(REBUILDS):
                    await asyncio.sleep(0.3)  # searches are running before each rebuild starts
                    started = time.monotonic()
                    assert (await client.post("/reindex", json={"rebuild": True})).status_code == 202
                    deadline = started + REBUILD_TIMEOUT_S
                    while (status := (await client.get("/reindex/status")).json())["state"] == "running":
                        assert time.monotonic() < deadline, "the rebuild did not finish"
                        await asyncio.sleep(STATUS_POLL_S)
                    assert status["state"] == "done", status
                    rebuilds.append(f"{started} {time.monotonic()}")
            finally:
                done.set()

        await asyncio.gather(rebuilder(), *(searcher(w) for w in range(CLIENTS)))
    return answers, rebuilds


def test_searches_during_a_full_rebuild_over_http_never_fail_or_come_back_empty(tmp_path: Path) -> None:
    vault = generate_vault(tmp_path / "vault", CHUNKS, seed=3)
    db = tmp_path / "index.sqlite"
    store = SqliteStore(db)
    anyio.run(lambda: reindex(store, vault.root, HashingEmbedder()))
    store.close()
    queries = sample_queries(QUERIES, seed=4)
    with serve_index(db, vault.root, "hashing", cwd=tmp_path / "serve") as base:
        with httpx.Client(base_url=base, timeout=60) as client:
            had_results = {
                f"{mode}:{q}"
                for q in queries
                for mode in ("hybrid", "vector")
                if client.post("/search", json={"query": q, "k": 5, "mode": mode}).json()["results"]
            }
        answers, rebuilds = asyncio.run(run_load(base, queries))
    assert len(rebuilds) == REBUILDS and had_results
    spans = [tuple(map(float, r.split())) for r in rebuilds]
    during = [a for a in answers if any(a[0] < end and a[1] > start for start, end in spans)]
    assert during, "no search overlapped a rebuild: the load proved nothing"
    assert [a for a in answers if a[3] != 200] == []
    assert [a for a in answers if a[2] in had_results and a[4] == 0] == []
