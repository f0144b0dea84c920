"""``VectorIndex.search`` (the store's ``nearest()``) with BLAS held to one thread, against BLAS as configured
and a bare numpy scan, at 10k, 100k and 1M x 384, with the machine idle and with a second process spinning.

    .venv/bin/python benchmarks/nearest_threads.py [--sizes 10000,100000,1000000] [--budget-s 6]

Rows per size and load (median ms per query, k=10, unfiltered):

* ``nearest() as shipped``: one BLAS thread below ``SINGLE_THREAD_MAX_ROWS`` rows, BLAS's own above.
* ``nearest() 1 thread``: BLAS held to one thread at every size.
* ``nearest() BLAS default``: the same search with ``QUERY_BLAS_THREADS = None`` (before the change).
* ``numpy scan``: ``M @ q`` + ``argpartition`` on the same matrix, BLAS as configured: the floor idle.

"busy" starts one extra process spinning on the CPU for the duration (on 2 cores it takes one of them).
Variants alternate query by query so background load hits them alike; each size/load gets ``--budget-s``
seconds. Writes ``benchmarks/results/nearest_threads.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

from qmdr.store import vector_index
from qmdr.store.vector_index import VectorIndex

DIM = 384
K = 10
RESULTS = Path(__file__).resolve().parent / "results"


def make_index(n: int, rng: np.random.Generator) -> VectorIndex:
    matrix = rng.standard_normal((n, DIM), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    ids = np.arange(n, dtype=np.int64)
    return VectorIndex(
        model=("bench", DIM),
        generation=1,
        matrix=matrix,
        keys=vector_index.text_keys([f"h{i}" for i in range(n)]),
        chunk_ids=ids,
        chunk_rows=ids.astype(vector_index.ROW_DTYPE),
        chunk_note=np.zeros(n, np.int32),
        note_paths=["n.md"],
        note_tags=[frozenset()],
    )


def numpy_scan(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    scores = matrix @ query
    top = np.argpartition(-scores, K - 1)[:K]
    return top[np.argsort(-scores[top])]


def shipped(index: VectorIndex, query: np.ndarray) -> object:
    return index.search(query, K)


def held(index: VectorIndex, query: np.ndarray) -> object:
    limit = vector_index.SINGLE_THREAD_MAX_ROWS
    vector_index.SINGLE_THREAD_MAX_ROWS = sys.maxsize
    try:
        return index.search(query, K)
    finally:
        vector_index.SINGLE_THREAD_MAX_ROWS = limit


def unheld(index: VectorIndex, query: np.ndarray) -> object:
    vector_index.QUERY_BLAS_THREADS = None
    try:
        return index.search(query, K)
    finally:
        vector_index.QUERY_BLAS_THREADS = 1


def measure(index: VectorIndex, queries: np.ndarray, budget_s: float) -> dict[str, float]:
    variants: dict[str, Callable[[np.ndarray], object]] = {
        "nearest() as shipped": lambda q: shipped(index, q),
        "nearest() 1 thread": lambda q: held(index, q),
        "nearest() BLAS default": lambda q: unheld(index, q),
        "numpy scan": lambda q: numpy_scan(index.matrix, q),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():  # warm-up: first products page the matrix in
        fn(queries[0])
    deadline = time.monotonic() + budget_s
    i = 0
    while time.monotonic() < deadline or i < 3:
        query = queries[i % len(queries)]
        for name, fn in variants.items():
            start = time.perf_counter()
            fn(query)
            times[name].append((time.perf_counter() - start) * 1e3)
        i += 1
    return {name: round(statistics.median(values), 3) for name, values in times.items()} | {"queries": i}


def spinner() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--budget-s", type=float, default=6.0)
    args = parser.parse_args()
    rng = np.random.default_rng(42)
    blas = [
        f"{lib['internal_api']} {lib['version']} ({lib['num_threads']} threads)"
        for lib in threadpool_info()
        if lib["user_api"] == "blas"
    ]
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        index = make_index(n, rng)
        queries = rng.standard_normal((64, DIM), dtype=np.float32)
        for load in ("idle", "busy"):
            spin = spinner() if load == "busy" else None
            try:
                time.sleep(0.3 if spin else 0)
                figures = measure(index, queries, args.budget_s)
            finally:
                if spin is not None:
                    spin.kill()
                    spin.wait()
            rows.append({"chunks": n, "load": load, **figures})
            print(rows[-1], flush=True)
        del index
    facts = {
        "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas,
        "load_average_at_end": os.getloadavg(),
        "budget_s": args.budget_s,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "nearest_threads.json").write_text(json.dumps({"facts": facts, "rows": rows}, indent=2))
    names = ["nearest() as shipped", "nearest() 1 thread", "nearest() BLAS default", "numpy scan"]
    lines = [
        "# nearest(): BLAS held to one thread vs BLAS default vs a bare numpy scan",
        "",
        f"As shipped: one BLAS thread below {vector_index.SINGLE_THREAD_MAX_ROWS:,} rows, BLAS's own threads above.",
        "",
        f"{facts['cores']} cores, numpy {facts['numpy']}, {', '.join(blas)}; median ms per query (k={K}); "
        f"load average at the end {facts['load_average_at_end'][0]:.1f}.",
        "",
        "| chunks x 384 | load | " + " | ".join(names) + " | default / 1 thread | queries |",
        "|---|---|" + "---|" * (len(names) + 2),
    ]
    for row in rows:
        ratio = row["nearest() BLAS default"] / row["nearest() 1 thread"]
        lines.append(
            f"| {row['chunks']:,} | {row['load']} | "
            + " | ".join(f"{row[n]:.3f}" for n in names)
            + f" | {ratio:.2f}x | {row['queries']} |"
        )
    (RESULTS / "nearest_threads.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
