"""Search latency over HTTP before and during a full ``--rebuild``: do readers wait for the writer?

    .venv/bin/python benchmarks/search_during_rebuild.py [--notes 1500] [--clients 8] [--rounds 2]
    .venv/bin/python benchmarks/search_during_rebuild.py --server-code /path/to/other/checkout --name old

What runs: a synthetic vault of about ``--notes`` notes (``qmdr.bench.synthetic``,
~7.5 chunks a note) is indexed once with the hashing embedder (cached in
``--workdir``), then served by a separate ``qmdr.bench.http_server`` process
(the app ``qmdr serve`` builds, snapshot warmed). ``--clients`` clients send
``POST /search`` (hybrid, k=10, queries from the vault's vocabulary) back to
back, on keep-alive connections:

1. **before**: ``--before`` requests with no writer;
2. **during**: for each of ``--rounds`` rounds and each writer, a full rebuild
   runs while the clients keep searching; a request counts as *during* when it
   overlaps the rebuild (so one held up by the writer counts, even if it ends
   after the rebuild). Writers:
   ``server`` (``POST /reindex {"rebuild": true}``: the server's own writer
   thread) and ``process`` (``reindex(..., rebuild=True)`` in another process on
   the same file, as ``qmdr index --rebuild`` beside a running server).

A rebuild re-chunks every note and replaces every vector in one transaction;
vectors come from the embedding cache, so it is mostly reading, chunking and
writing SQLite: it takes one core of the two, and the clients and the server
share the other. An **empty answer** is a request that returned no results for
a query that had results before the rebuild; **errors** are non-200 answers
and transport failures. The target (issue 14): p99 during within 2.5x of p99
before, 0 errors, 0 empty answers.

Writes ``benchmarks/results/<name>.md`` and ``.json`` (default name
``search_during_rebuild``) with the machine, versions and settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qmdr.bench.metrics import percentile  # noqa: E402
from qmdr.bench.report import machine_info, versions  # noqa: E402
from qmdr.bench.synthetic import generate_vault, sample_queries  # noqa: E402

#: chunks per synthetic note on average (3-12 sections of one chunk each)
CHUNKS_PER_NOTE = 7.5
SEED = 14
QUERY_COUNT = 200
K = 10
#: how often the clients' side asks the server whether its rebuild is still running
STATUS_POLL_S = 0.2
REQUEST_TIMEOUT_S = 120.0

_PROCESS_REBUILD = """
import sys, anyio
from qmdr.bench.synthetic import HashingEmbedder
from qmdr.memory.indexer import reindex
from qmdr.store.sqlite import SqliteStore
from pathlib import Path
store = SqliteStore(Path(sys.argv[1]))
anyio.run(lambda: reindex(store, Path(sys.argv[2]), HashingEmbedder(), rebuild=True))
store.close()
"""


@dataclass(slots=True)
class Request:
    started: float
    finished: float
    status: int  # 0: transport failure
    results: int
    query: str


@dataclass(slots=True)
class Load:
    """Clients searching until ``stop`` is set; every request recorded."""

    base: str
    queries: list[str]
    clients: int
    requests: list[Request] = field(default_factory=list)

    async def run(self, stop: asyncio.Event, limit: int | None = None) -> None:
        counter = iter(range(10**9))
        async with httpx.AsyncClient(base_url=self.base, timeout=REQUEST_TIMEOUT_S) as client:

            async def worker() -> None:
                while not stop.is_set():
                    i = next(counter)
                    if limit is not None and i >= limit:
                        return
                    query = self.queries[i % len(self.queries)]
                    started = time.perf_counter()
                    try:
                        answer = await client.post("/search", json={"query": query, "k": K, "mode": "hybrid"})
                        found = len(answer.json().get("results", [])) if answer.status_code == 200 else 0
                        status = answer.status_code
                    except (httpx.HTTPError, ValueError):
                        status, found = 0, 0
                    self.requests.append(Request(started, time.perf_counter(), status, found, query))

            await asyncio.gather(*(worker() for _ in range(self.clients)))


def build_index(workdir: Path, notes: int) -> tuple[Path, Path, int, int]:
    """The vault and its index (made once, reused): (vault, db, notes, chunks)."""
    import anyio

    from qmdr.bench.synthetic import HashingEmbedder
    from qmdr.memory.indexer import reindex
    from qmdr.store.sqlite import SqliteStore

    vault_root, db = workdir / f"vault-{notes}", workdir / f"index-{notes}.sqlite"
    if not db.exists():
        for stale in workdir.glob(f"index-{notes}.sqlite*"):
            stale.unlink()
        generate_vault(vault_root, round(notes * CHUNKS_PER_NOTE), seed=SEED)
        store = SqliteStore(db.with_suffix(".partial"))
        anyio.run(lambda: reindex(store, vault_root, HashingEmbedder()))
        store.close()
        db.with_suffix(".partial").rename(db)
    from qmdr.store.sqlite import SqliteStore as Reopen

    with Reopen(db) as store:
        stats = store.stats()
    return vault_root, db, stats.notes, stats.chunks


async def rebuild_in_server(base: str) -> tuple[float, float]:
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S) as client:
        started = time.perf_counter()
        answer = await client.post("/reindex", json={"rebuild": True})
        if answer.status_code != 202:
            raise RuntimeError(f"POST /reindex answered {answer.status_code}: {answer.text[:300]}")
        while True:
            await asyncio.sleep(STATUS_POLL_S)
            status = (await client.get("/reindex/status")).json()
            if status.get("state") != "running":
                if status.get("state") != "done":
                    raise RuntimeError(f"the rebuild ended as {status}")
                return started, time.perf_counter()


async def rebuild_in_process(db: Path, vault_root: Path, server_code: Path) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(server_code)}
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-P", "-c", _PROCESS_REBUILD, str(db), str(vault_root), env=env
    )
    if await proc.wait() != 0:
        raise RuntimeError(f"the rebuild process exited with {proc.returncode}")
    return started, time.perf_counter()


def summarise(requests: list[Request], had_results: set[str]) -> dict[str, Any]:
    latencies = [r.finished - r.started for r in requests]
    return {
        "requests": len(requests),
        "errors": sum(r.status != 200 for r in requests),
        "empty_answers": sum(r.status == 200 and r.results == 0 and r.query in had_results for r in requests),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies, default=0.0) * 1000, 1),
    }


async def measure(base: str, db: Path, vault_root: Path, args: argparse.Namespace) -> dict[str, Any]:
    queries = sample_queries(QUERY_COUNT, seed=SEED)
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S) as client:
        had_results = set()
        for query in queries:
            answer = await client.post("/search", json={"query": query, "k": K, "mode": "hybrid"})
            if answer.status_code == 200 and answer.json()["results"]:
                had_results.add(query)
    before = Load(base, queries, args.clients)
    await before.run(asyncio.Event(), limit=args.before)
    out: dict[str, Any] = {"queries_with_results": len(had_results), "before": summarise(before.requests, had_results)}
    for writer in args.writers:
        during: list[Request] = []
        rebuild_seconds: list[float] = []
        for _ in range(args.rounds):
            load, stop = Load(base, queries, args.clients), asyncio.Event()
            clients = asyncio.create_task(load.run(stop))
            await asyncio.sleep(0.5)  # the clients are running before the writer starts
            if writer == "server":
                started, ended = await rebuild_in_server(base)
            else:
                started, ended = await rebuild_in_process(db, vault_root, args.server_code)
            stop.set()
            await clients
            rebuild_seconds.append(round(ended - started, 2))
            during += [r for r in load.requests if r.started < ended and r.finished > started]
            outside = [r for r in load.requests if r.finished < started]
            out.setdefault(f"between_rounds_{writer}", summarise(outside, had_results))
        out[f"during_{writer}"] = {**summarise(during, had_results), "rebuild_seconds": rebuild_seconds}
        p99_before = out["before"]["p99_ms"]
        out[f"during_{writer}"]["p99_ratio"] = round(out[f"during_{writer}"]["p99_ms"] / p99_before, 2)
    return out


def write_report(name: str, result: dict[str, Any]) -> None:
    results = REPO / "benchmarks" / "results"
    (results / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    settings = result["settings"]
    lines = [
        f"# Search latency during a full rebuild ({name})",
        "",
        f"{settings['notes']} notes, {settings['chunks']} chunks (hashing embedder, 384 dims); "
        f"{settings['clients']} clients sending `POST /search` (hybrid, k={K}) back to back over HTTP; "
        f"server code: `{settings['server_code']}` (git {settings['server_git']}).",
        "",
        "| phase | requests | p50 ms | p99 ms | p99 / before | max ms | errors | empty answers | rebuild s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for phase, row in result["phases"].items():
        if not isinstance(row, dict) or phase.startswith("between"):
            continue
        ratio = row.get("p99_ratio", 1.0)
        seconds = ", ".join(str(s) for s in row.get("rebuild_seconds", [])) or "-"
        lines.append(
            f"| {phase} | {row['requests']} | {row['p50_ms']} | {row['p99_ms']} | {ratio} | "
            f"{row['max_ms']} | {row['errors']} | {row['empty_answers']} | {seconds} |"
        )
    machine = result["machine"]
    lines += [
        "",
        f"Machine: {machine['cpu_model']}, {machine['usable_cores']} usable cores, {machine['ram_gb']} GB; "
        f"load average at start {result['load_average']}; versions {json.dumps(result['versions'])}.",
        "",
    ]
    (results / f"{name}.md").write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=1500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--before", type=int, default=800, help="requests in the phase without a writer")
    parser.add_argument("--rounds", type=int, default=2, help="rebuilds per writer")
    parser.add_argument("--writers", default="server,process", type=lambda s: s.split(","))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/qmdr-bench-rebuild"))
    parser.add_argument(
        "--server-code",
        type=Path,
        default=REPO,
        help="checkout whose qmdr serves (and rebuilds), e.g. an older one to compare",
    )
    parser.add_argument("--name", default="search_during_rebuild")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    vault_root, db, notes, chunks = build_index(args.workdir, args.notes)

    from qmdr.bench.http_server import serve_index

    load_average = os.getloadavg()
    old_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(args.server_code)  # the server child imports qmdr from there
    try:
        with serve_index(db, vault_root, "hashing", cwd=args.workdir) as base:
            phases = asyncio.run(measure(base, db, vault_root, args))
    finally:
        if old_path is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old_path
    git = subprocess.run(
        ["git", "-C", str(args.server_code), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    result = {
        "machine": machine_info(),
        "versions": versions(),
        "load_average": [round(x, 2) for x in load_average],
        "settings": {
            "notes": notes,
            "chunks": chunks,
            "clients": args.clients,
            "before": args.before,
            "rounds": args.rounds,
            "writers": args.writers,
            "server_code": str(args.server_code),
            "server_git": git,
        },
        "phases": phases,
    }
    print(json.dumps(phases, indent=2))
    write_report(args.name, result)


if __name__ == "__main__":
    main()
