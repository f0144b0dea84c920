"""Large vaults: writing the index, and how fast and how lean a restarted server's vector search comes back.

    .venv/bin/python benchmarks/large_vault.py --sizes 100000,1000000
    .venv/bin/python benchmarks/large_vault.py --sizes 100000 --code /tmp/qmdr-old --name large_vault-before

For each size N (chunks, 384 dims, one distinct text each, 10 chunks a note):

* **write**: the index is written in transactions of ``--batch`` chunks
  (``SqliteStore.apply``, as a reindex does, vectors random unit rows: the
  hashing embedder or MiniLM would only add embedding time); each batch's rate
  shows whether the write slows as the tables grow. Made once per size in
  ``--workdir`` and reused (``--fresh`` to redo).
* **restart**: a new process opens the index and runs one vector search (the
  time until vector search is available), then ``--queries`` more; it reports
  RSS after imports (baseline), after the searches (steady: every vector page
  touched) and the peak (VmHWM), so bytes per vector = (steady - baseline) / N
  and peak / steady. Run twice: ``first start`` with no snapshot file (the first
  start after an index written by another process: vectors read from SQLite,
  then saved to ``<index>.vectors``), then ``restart`` (the file is mapped).

``--code`` runs the restarts with another checkout's qmdr (e.g. one from before
the snapshot file) on the same index files. Writes ``results/<name>.md`` and
``.json`` (default ``large_vault``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qmdr.bench.report import machine_info, versions  # noqa: E402

DIM = 384
CHUNKS_PER_NOTE = 10
SEED = 5

_RESTART = r"""
import json, re, sys, time
from pathlib import Path

def rss_mb(field):
    return int(re.search(field + r":\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) / 1024

import numpy as np
import apsw, sqlite_vec
from qmdr.store.sqlite import SqliteStore
path, queries = Path(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(1)
qs = rng.standard_normal((queries + 1, 384)).astype(np.float32)
qs /= np.linalg.norm(qs, axis=1, keepdims=True)
baseline = rss_mb("VmRSS")
t0 = time.perf_counter()
store = SqliteStore(path)
opened = time.perf_counter() - t0
hits = store.nearest(qs[0], 10)
first = time.perf_counter() - t0
times = []
for q in qs[1:]:
    t1 = time.perf_counter()
    store.nearest(q, 10)
    times.append(time.perf_counter() - t1)
print(json.dumps({"open_s": round(opened, 3), "first_vector_search_s": round(first, 2), "hits": len(hits),
                  "search_p50_ms": round(float(np.median(times)) * 1000, 1),
                  "baseline_mb": round(baseline, 1), "steady_mb": round(rss_mb("VmRSS"), 1),
                  "peak_mb": round(rss_mb("VmHWM"), 1)}))
"""


def write_index(path: Path, n: int, batch: int) -> dict[str, Any]:
    """Write ``n`` chunks in transactions of ``batch``; the seconds and rate of each."""
    from qmdr.store.base import IndexChange
    from qmdr.store.sqlite import SqliteStore
    from vault.model import Chunk, Note

    rng = np.random.default_rng(SEED)
    partial = path.with_suffix(".partial")
    for stale in path.parent.glob(f"{partial.name}*"):
        stale.unlink()
    store = SqliteStore(partial)
    batches: list[dict[str, float]] = []
    for start in range(0, n, batch):
        stop = min(n, start + batch)
        vectors = rng.standard_normal((stop - start, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        upserts, by_hash = [], {}
        for note_start in range(start, stop, CHUNKS_PER_NOTE):
            note_path = f"f{note_start // 50_000:03d}/note{note_start // CHUNKS_PER_NOTE:07d}.md"
            chunks = []
            for i in range(note_start, min(stop, note_start + CHUNKS_PER_NOTE)):
                text = f"chunk {i} of {note_path} about topic{i % 997} and topic{i % 101}"
                chunk_hash = hashlib.sha256(text.encode()).hexdigest()
                chunks.append(Chunk(note_path, i - note_start, ("Section",), 1, 1, text, chunk_hash))
                by_hash[chunk_hash] = vectors[i - start]
            upserts.append(
                (
                    Note(
                        path=note_path,
                        title=note_path,
                        tags=(),
                        frontmatter={},
                        body="",
                        content_hash=note_path,
                        mtime=0.0,
                        size=0,
                    ),
                    chunks,
                )
            )
        started = time.perf_counter()
        store.apply(IndexChange(upserts=upserts, vectors=by_hash, model=("bench-random", DIM)))
        seconds = time.perf_counter() - started
        batches.append(
            {"chunks_before": start, "seconds": round(seconds, 2), "chunks_per_s": round((stop - start) / seconds)}
        )
        print(f"  wrote {stop:,} chunks ({batches[-1]['chunks_per_s']:,}/s)", flush=True)
    store.close()
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{partial}{suffix}")
        if source.exists():
            source.rename(f"{path}{suffix}")
    total = sum(b["seconds"] for b in batches)
    return {
        "seconds": round(total, 1),
        "chunks_per_s": round(n / total),
        "batches": batches,
        "size_mb": round(path.stat().st_size / 2**20),
    }


def restart(path: Path, code: Path, queries: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    run = subprocess.run(
        [sys.executable, "-P", "-c", _RESTART, str(path), str(queries)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        raise RuntimeError(f"the restart process failed:\n{run.stderr[-2000:]}")
    out = json.loads(run.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--batch", type=int, default=100_000, help="chunks per write transaction")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/qmdr-large"))
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose qmdr runs the restarts")
    parser.add_argument("--fresh", action="store_true", help="write the indexes again")
    parser.add_argument("--name", default="large_vault")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows: dict[str, Any] = {}
    for n in (int(s) for s in args.sizes.split(",")):
        path = args.workdir / f"index-{n}.sqlite"
        row: dict[str, Any] = {}
        write_log = args.workdir / f"index-{n}.write.json"
        if args.fresh or not path.exists():
            print(f"writing {n:,} chunks", flush=True)
            write_log.write_text(json.dumps(write_index(path, n, args.batch)))
        row["write"] = json.loads(write_log.read_text()) if write_log.exists() else None
        vectors_file = Path(f"{path}.vectors")
        if vectors_file.exists():
            vectors_file.unlink()
        row["first_start"] = restart(path, args.code, args.queries)
        row["restart"] = restart(path, args.code, args.queries)
        for phase in ("first_start", "restart"):
            r = row[phase]
            r["bytes_per_vector"] = round((r["steady_mb"] - r["baseline_mb"]) * 2**20 / n)
            r["peak_over_steady"] = round(r["peak_mb"] / r["steady_mb"], 2)
        row["snapshot_file_mb"] = round(vectors_file.stat().st_size / 2**20) if vectors_file.exists() else None
        rows[str(n)] = row
        print(json.dumps({n: row}, indent=1), flush=True)
    git = subprocess.run(
        ["git", "-C", str(args.code), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    result = {
        "machine": machine_info(),
        "versions": versions(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "code": str(args.code),
        "code_git": git or None,
        "dim": DIM,
        "sizes": rows,
    }
    results = REPO / "benchmarks" / "results"
    (results / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = [
        f"# Large vaults ({args.name})",
        "",
        f"Code: `{args.code}` (git {git or 'n/a'}); 384 dims, random unit "
        f"vectors, 10 chunks a note; load average at the end {result['load_average']}.",
        "",
        "| chunks | write s (chunks/s) | start | first vector search s | search p50 ms | RSS baseline / "
        "steady / peak MB | bytes per vector | peak / steady | snapshot file MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, row in rows.items():
        write = row["write"]
        written = f"{write['seconds']} ({write['chunks_per_s']:,})" if write else "-"
        for phase in ("first_start", "restart"):
            r = row[phase]
            lines.append(
                f"| {int(n):,} | {written} | {phase.replace('_', ' ')} | {r['first_vector_search_s']} | "
                f"{r['search_p50_ms']} | {r['baseline_mb']} / {r['steady_mb']} / {r['peak_mb']} | "
                f"{r['bytes_per_vector']:,} | {r['peak_over_steady']} | {row['snapshot_file_mb']} |"
            )
    machine = result["machine"]
    lines += [
        "",
        f"Machine: {machine['cpu_model']}, {machine['usable_cores']} usable cores, {machine['ram_gb']} GB; "
        f"versions {json.dumps(result['versions'])}.",
        "",
    ]
    (results / f"{args.name}.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
