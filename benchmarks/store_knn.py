"""Vector search inside SqliteStore: in-memory exact snapshot vs sqlite-vec KNN vs a bare numpy scan.

    .venv/bin/python benchmarks/store_knn.py [--n 100000] [--queries 50] [--rounds 3]

The speed target for ``SqliteStore.nearest`` is "within 2x of a numpy
brute-force float32 scan" with recall@10 >= 0.99. Rows, per query (k=10):

* ``numpy scan``: ``M @ q`` + ``argpartition`` on a contiguous float32 matrix: the floor.
* ``VectorIndex.search``: the store's snapshot search alone (gather by chunk, top k).
* ``SqliteStore.nearest (memory)``: the full call: generation check, search, hydrating 10 hits.
* ``... filtered``: the same with a path-prefix filter selecting ~10% of notes.
* ``SqliteStore.nearest (vec0)``: sqlite-vec's own KNN over the vec0 table.

Each row also runs with BLAS held to one thread (threadpoolctl), because on a
shared 2-core machine a multi-threaded BLAS can lose more to contention than
it gains. Also measured: one ``apply`` of all N chunks, the cold snapshot load
(first search after opening the file), and the incremental refresh after an
``apply`` that replaces 1% of the notes. Rounds alternate rows so background
load hits every row alike; the table shows the median of per-round medians.

Writes ``benchmarks/results/store_knn.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qmdr.store.base import Filters, IndexChange  # noqa: E402
from qmdr.store.sqlite import SqliteStore  # noqa: E402
from vault.model import Chunk, Note  # noqa: E402

DIM = 384  # all-MiniLM-L6-v2, the local model
K = 10
CHUNKS_PER_NOTE = 10
FOLDERS = 10  # notes spread over this many folders; the filter selects one (~10%)
SEED = 20240501


def make_index(n: int, rng: np.random.Generator) -> tuple[list[tuple[Note, list[Chunk]]], np.ndarray]:
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    upserts = []
    for start in range(0, n, CHUNKS_PER_NOTE):
        path = f"f{(start // CHUNKS_PER_NOTE) % FOLDERS}/note{start // CHUNKS_PER_NOTE}.md"
        chunks = []
        for i in range(start, min(n, start + CHUNKS_PER_NOTE)):
            text = f"chunk {i} of {path}"
            chunks.append(Chunk(path, i - start, (), 1, 1, text, hashlib.sha256(text.encode()).hexdigest()))
        note = Note(path=path, title=path, tags=(), frontmatter={}, body="", content_hash=path, mtime=0.0, size=0)
        upserts.append((note, chunks))
    return upserts, vectors


def per_query_ms(fn: Callable[[np.ndarray], object], queries: np.ndarray) -> float:
    times = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def numpy_topk(matrix: np.ndarray, q: np.ndarray) -> np.ndarray:
    scores = matrix @ q
    top = np.argpartition(-scores, K - 1)[:K]
    return top[np.argsort(-scores[top])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    upserts, vectors = make_index(args.n, rng)
    hashes = [c.hash for _, chunks in upserts for c in chunks]
    queries = rng.standard_normal((args.queries, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    matrix = np.ascontiguousarray(vectors)
    out: dict[str, object] = {"n": args.n, "dim": DIM, "k": K, "queries": args.queries, "rounds": args.rounds}

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite"
        store = SqliteStore(path)
        t0 = time.perf_counter()
        store.apply(IndexChange(upserts=upserts, vectors=dict(zip(hashes, vectors, strict=True)), model=("bench", DIM)))
        out["apply_all_s"] = time.perf_counter() - t0
        store.close()

        store = SqliteStore(path)  # a new process would start like this: nothing in memory
        t0 = time.perf_counter()
        store.nearest(queries[0], K)
        out["cold_snapshot_s"] = time.perf_counter() - t0
        vec0 = SqliteStore(path, vector_search="vec0")
        vec0.nearest(queries[0], K)

        exact = [set(numpy_topk(matrix, q).tolist()) for q in queries]
        row_of_chunk = {}
        for i, h in enumerate(hashes):
            row_of_chunk[h] = i
        found = [[row_of_chunk[h.chunk_hash] for h in store.nearest(q, K)] for q in queries]
        out["recall_at_10_memory"] = float(np.mean([len(exact[i] & set(f)) / K for i, f in enumerate(found)]))
        found = [[row_of_chunk[h.chunk_hash] for h in vec0.nearest(q, K)] for q in queries[:10]]
        out["recall_at_10_vec0"] = float(np.mean([len(exact[i] & set(f)) / K for i, f in enumerate(found)]))

        snapshot = store.vector_index()
        folder = Filters(path_prefix="f3/")
        rows: dict[str, Callable[[np.ndarray], object]] = {
            "numpy scan": lambda q: numpy_topk(matrix, q),
            "VectorIndex.search": lambda q: snapshot.search(q, K),
            "SqliteStore.nearest (memory)": lambda q: store.nearest(q, K),
            "SqliteStore.nearest (memory), filtered 10%": lambda q: store.nearest(q, K, folder),
            "SqliteStore.nearest (vec0)": lambda q: vec0.nearest(q, K),
        }
        few = queries[: max(5, args.queries // 10)]  # vec0 is slow; fewer queries keep the run short
        results: dict[str, dict[str, list[float]]] = {name: {"blas default": [], "blas 1 thread": []} for name in rows}
        for _ in range(args.rounds):
            for name, fn in rows.items():
                qs = few if "vec0" in name else queries
                results[name]["blas default"].append(per_query_ms(fn, qs))
                with threadpool_limits(limits=1, user_api="blas"):
                    results[name]["blas 1 thread"].append(per_query_ms(fn, qs))
        medians = {name: {mode: statistics.median(v) for mode, v in modes.items()} for name, modes in results.items()}
        out["ms_per_query"] = medians

        changed = upserts[: max(1, len(upserts) // 100)]
        new_vectors = {}
        replaced = []
        for note, chunks in changed:
            fresh = [
                Chunk(
                    c.note_path,
                    c.ordinal,
                    (),
                    1,
                    1,
                    c.text + " v2",
                    hashlib.sha256((c.text + " v2").encode()).hexdigest(),
                )
                for c in chunks
            ]
            replaced.append((note, fresh))
            for c in fresh:
                v = rng.standard_normal(DIM).astype(np.float32)
                new_vectors[c.hash] = v / np.linalg.norm(v)
        reader = SqliteStore(path)  # another connection (as another process would be), snapshot loaded
        reader.nearest(queries[0], K)
        store.apply(IndexChange(upserts=replaced, vectors=new_vectors))
        t0 = time.perf_counter()
        store.nearest(queries[0], K)
        out["refresh_after_1pct_change_s"] = time.perf_counter() - t0
        # The other connection sees the change through the generation counter and fetches only new vectors.
        t0 = time.perf_counter()
        reader.nearest(queries[0], K)
        out["other_connection_refresh_after_1pct_change_s"] = time.perf_counter() - t0
        for opened in (store, vec0, reader):
            opened.close()

    out["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_at_end": os.getloadavg()[0],
        "numpy": np.__version__,
    }
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    out["commit"] = commit.stdout.strip()
    write(out)


def write(out: dict) -> None:
    results = REPO / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "store_knn.json").write_text(json.dumps(out, indent=2) + "\n")
    ms = out["ms_per_query"]
    base = ms["numpy scan"]
    lines = [
        "# Vector search in SqliteStore",
        "",
        f"{out['n']:,} x {out['dim']} float32 unit vectors, {CHUNKS_PER_NOTE} chunks per note, k={out['k']}, "
        f"{out['queries']} queries x {out['rounds']} rounds (median of round medians). "
        f"Machine: {out['machine']['cpus']} cores (shared), load {out['machine']['load_at_end']:.1f}; "
        f"commit {out['commit']}.",
        "",
        "| search | ms/query (BLAS default) | x numpy | ms/query (BLAS 1 thread) | x numpy |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, modes in ms.items():
        d, one = modes["blas default"], modes["blas 1 thread"]
        lines.append(
            f"| {name} | {d:.2f} | {d / base['blas default']:.2f} | {one:.2f} | {one / base['blas 1 thread']:.2f} |"
        )
    lines += [
        "",
        f"- recall@10 vs exact: memory {out['recall_at_10_memory']:.3f}, vec0 {out['recall_at_10_vec0']:.3f}",
        f"- one `apply` of all chunks with vectors: {out['apply_all_s']:.1f} s",
        f"- cold snapshot (first search after opening): {out['cold_snapshot_s']:.2f} s",
        f"- refresh after an apply replacing 1% of notes: {out['refresh_after_1pct_change_s']:.2f} s "
        f"(same store), {out['other_connection_refresh_after_1pct_change_s']:.2f} s (another connection)",
        "",
    ]
    (results / "store_knn.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
