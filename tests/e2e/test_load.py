"""Searches keep answering while a reindex runs: a bounded load test over loopback.

A real ``qmdr serve`` (embedded MiniLM, SQLite in WAL mode) starts a reindex of
a few hundred notes; meanwhile ``SEARCHES`` hybrid and keyword searches go in
with ``CONCURRENCY`` in flight, and a second process (this one) reads the same
index file directly. Every search must answer 200 (no "database is locked",
no 5xx), and some of them must have been answered while the reindex was
running, or the test proved nothing. Latency percentiles are recorded for the
benchmark table, never asserted (no timed assertions in tests).
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest

from qmdr.store.sqlite import SqliteStore
from tests.e2e.qmdr_process import qmdr_env, running_server, wait_for_reindex
from tests.e2e.reliability_report import record

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
#: notes in the vault: enough that the reindex outlasts the first searches on a fast machine
NOTES = 96
#: the fixed request count of the load (bounded: this is a test, not a soak)
SEARCHES = 300
#: searches in flight at once
CONCURRENCY = 8
QUERIES = (
    "retry backoff",
    "database migration plan",
    "holiday schedule",
    "budget review notes",
    "incident postmortem",
    "vector search design",
)


def write_vault(root: Path) -> None:
    topics = (
        "retry",
        "backoff",
        "database",
        "migration",
        "holiday",
        "budget",
        "incident",
        "vector",
        "search",
        "design",
        "review",
        "postmortem",
        "schedule",
        "planning",
        "latency",
        "cache",
    )
    for i in range(NOTES):
        folder = root / f"area{i % 6}"
        folder.mkdir(parents=True, exist_ok=True)
        words = [topics[(i * 3 + j) % len(topics)] for j in range(12)]
        sections = "\n\n".join(
            f"## Part {p}\n\nNote {i} part {p} talks about {' '.join(words[p : p + 6])}. "
            f"{'Details follow in plain prose. ' * 3}"
            for p in range(2)
        )
        (folder / f"note{i:04d}.md").write_text(f"# Note {i}\n\n{sections}\n", encoding="utf-8")


class OtherProcessReader(threading.Thread):
    """Reads the index file through its own connection, as a second process (the CLI) would, until stopped."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.reads = 0
        self.errors: list[str] = []

    def run(self) -> None:
        with SqliteStore(self.path) as store:
            while not self.stop.is_set():
                try:
                    store.keyword("retry backoff", 5)
                    self.reads += 1
                except Exception as exc:  # noqa: BLE001 - every failure is the finding
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.01)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def search_load(base: str) -> tuple[list[tuple[float, float, int]], list[str]]:
    """(finished_at wall time, seconds, status) of each search, and the failures seen."""
    results: list[tuple[float, float, int]] = []
    failures: list[str] = []
    gate = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def one(i: int) -> None:
            body = {"query": QUERIES[i % len(QUERIES)], "k": 5, "mode": "keyword" if i % 3 == 0 else "hybrid"}
            async with gate:
                started = time.perf_counter()
                try:
                    answer = await client.post("/search", json=body)
                except httpx.HTTPError as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                    return
                results.append((time.time(), time.perf_counter() - started, answer.status_code))
                if answer.status_code != 200 or "locked" in answer.text:
                    failures.append(f"{answer.status_code}: {answer.text[:200]}")

        await asyncio.gather(*(one(i) for i in range(SEARCHES)))
    return results, failures


def test_searches_answer_during_a_reindex(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    write_vault(vault)
    data = tmp_path / "data"
    env = qmdr_env(data, QMDR_VAULT=str(vault))
    with running_server(env, cwd=tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
        # a first, small index (one area; the rest held back) so searches have something to find while the big one runs
        held_back = tmp_path / "later"
        held_back.mkdir()
        for area in range(1, 6):
            (vault / f"area{area}").rename(held_back / f"area{area}")
        assert client.post("/reindex", json={}).status_code == 202
        assert wait_for_reindex(client)["state"] == "done"
        for area in range(1, 6):
            (held_back / f"area{area}").rename(vault / f"area{area}")
        reader = OtherProcessReader(data / "default.sqlite")
        reader.start()
        assert client.post("/reindex", json={}).status_code == 202
        results, failures = asyncio.run(search_load(base))
        status = wait_for_reindex(client)
        reader.stop.set()
        reader.join(30)
    assert status["state"] == "done", status
    # paths are relative to the vault root: area0's notes come back under area0/ and their old keys go
    assert (status["summary"]["added"], status["summary"]["removed"]) == (NOTES - NOTES // 6, 0)  # the held-back areas
    during = [r for r in results if status["started_at"] <= r[0] <= status["finished_at"]]
    latencies = [seconds for _, seconds, _ in results]
    record(
        "load",
        requests=SEARCHES,
        failures=len(failures),
        during_reindex=len(during),
        p50_ms=round(percentile(latencies, 0.5) * 1000, 1),
        p95_ms=round(percentile(latencies, 0.95) * 1000, 1),
        mean_ms=round(statistics.mean(latencies) * 1000, 1),
        concurrency=CONCURRENCY,
        reindex_s=round(status["finished_at"] - status["started_at"], 2),
        reader_reads=reader.reads,
        reader_errors=len(reader.errors),
        max_ms=round(max(latencies) * 1000, 1),
    )
    assert failures == []
    assert reader.errors == [] and reader.reads > 0
    assert len(results) == SEARCHES and all(code == 200 for _, _, code in results)
    assert during, "no search was answered while the reindex ran: the load proved nothing"
