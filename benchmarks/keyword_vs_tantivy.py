"""Keyword search CPU per query: ``SqliteStore.keyword`` against tantivy, side by side in one run.

    .venv/bin/pip install tantivy        # dev-only reference; never a runtime dependency
    .venv/bin/python benchmarks/keyword_vs_tantivy.py [--cranfield /work/shared/data/cranfield] [--rounds 5]

Two corpora, one chunk per document, each indexed by both engines with the same fields and weights
(title x4, headings x2, text x1; English stemming: FTS5 ``porter unicode61``, tantivy ``en_stem``):

* **Cranfield** (1,400 abstracts, 225 queries).
* **Zipfian**: 10,000 chunks (``--zipf-chunks`` for other sizes) of 60-200 words drawn from a
  30,000-word vocabulary with Zipf exponent 1.1, and 300 queries of 2-6 words drawn from the same
  distribution (common words included, as in real questions), so posting lists are as long as in real text.

Three engines over the same corpus, each doing the whole job a keyword search does for a caller: turn
the text into a query, rank, take the top 10 and read each hit's stored fields (path, title, headings,
text):

* **qmdr**: ``SqliteStore.keyword`` on a store that was ``warm()``-ed, as the server's are: ranked by the
  in-memory BM25 index (``qmdr.store.keyword_index``), hits read from SQLite.
* **FTS5 alone**: ``SqliteStore.keyword`` on a second store over the same file that was never warmed, as a
  one-shot ``qmdr search`` runs: FTS5's ``bm25()`` ranks. Every query's ids and scores are checked equal
  to qmdr's (the in-memory index must give FTS5's exact answers), and the count of equal answers is reported.
* **tantivy**, the reference.

Per query we record the process CPU time (``time.process_time``) and the wall time; rounds alternate
the engines so background load hits all alike. Reported: CPU per query (median of rounds) and each
SQLite engine's ratio to tantivy, plus median wall ms; the in-memory index's build seconds and size.
Then where FTS5's time goes, stage by stage on the same queries (CPU per query):
building the MATCH text, counting the matches, reading every matching rowid, ``bm25()`` over every
match with the top 10 sorted out, and the full ``keyword()`` call (joins and hit rows included).
Writes ``benchmarks/results/keyword_vs_tantivy.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from qmdr.store.base import IndexChange
from qmdr.store.sqlite import SqliteStore
from vault.model import Chunk, Note

K = 10
RESULTS = Path(__file__).resolve().parent / "results"
WEIGHTS = {"title": 4.0, "headings": 2.0, "body": 1.0}


def load_cranfield(folder: Path) -> tuple[list[tuple[str, str, str]], list[str]]:
    docs = [json.loads(line) for line in (folder / "corpus.jsonl").read_text().splitlines() if line.strip()]
    queries = [json.loads(line)["text"] for line in (folder / "queries.jsonl").read_text().splitlines() if line.strip()]
    return [(f"cranfield/{d['_id']}.md", d.get("title") or d["_id"], d["text"]) for d in docs], queries


def zipf_corpus(
    n_docs: int = 10_000, vocab: int = 30_000, n_queries: int = 300, seed: int = 7
) -> tuple[list[tuple[str, str, str]], list[str]]:
    rng = np.random.default_rng(seed)
    words = [f"w{i:05d}x" for i in range(vocab)]  # letters around digits: one token, not stemmed away
    p = 1.0 / np.arange(1, vocab + 1) ** 1.1
    p /= p.sum()

    def text(n: int) -> str:
        return " ".join(words[i] for i in rng.choice(vocab, size=n, p=p))

    docs = [
        (f"zipf/{i:05d}.md", text(int(rng.integers(2, 7))), text(int(rng.integers(60, 201)))) for i in range(n_docs)
    ]
    queries = [text(int(rng.integers(2, 7))) for _ in range(n_queries)]
    return docs, queries


def sqlite_store(docs: Sequence[tuple[str, str, str]], folder: Path) -> SqliteStore:
    store = SqliteStore(folder / "index.sqlite")
    upserts = []
    for path, title, body in docs:
        digest = hashlib.sha256(body.encode()).hexdigest()
        note = Note(
            path=path, title=title, tags=(), frontmatter={}, body=body, content_hash=digest, mtime=0.0, size=len(body)
        )
        chunk = Chunk(
            note_path=path, ordinal=0, heading_trail=(title,), start_line=1, end_line=1, text=body, hash=digest
        )
        upserts.append((note, [chunk]))
    store.apply(IndexChange(upserts=upserts))
    return store


def tantivy_index(docs: Sequence[tuple[str, str, str]], folder: Path) -> tuple[object, object]:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("path", stored=True, tokenizer_name="raw")
    for name in WEIGHTS:
        builder.add_text_field(name, stored=True, tokenizer_name="en_stem")
    schema = builder.build()
    index = tantivy.Index(schema, path=str(folder))
    writer = index.writer(heap_size=100_000_000, num_threads=1)
    for path, title, body in docs:
        writer.add_document(tantivy.Document(path=path, title=title, headings=title, body=body))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return index, index.searcher()


def tantivy_search(index: object, searcher: object) -> Callable[[str], list[dict]]:
    import re

    word = re.compile(r"[^\W_]+")

    def search(text: str) -> list[dict]:
        terms = " ".join(dict.fromkeys(word.findall(text.lower()))) or "nothing"
        query = index.parse_query(terms, list(WEIGHTS), field_boosts=WEIGHTS)  # type: ignore[attr-defined]
        hits = searcher.search(query, K).hits  # type: ignore[attr-defined]
        return [searcher.doc(address).to_dict() for _, address in hits]  # type: ignore[attr-defined]

    return search


def stages(store: SqliteStore, queries: Sequence[str]) -> dict[str, float]:
    """CPU ms per query of each step of an FTS5 keyword search, each measured alone over all queries."""
    from qmdr.search.keyword_query import match_query
    from qmdr.store.sqlite import BM25_WEIGHTS

    conn = store._conn  # noqa: SLF001 - a benchmark looks inside
    matches = [m for m in (match_query(q) for q in queries) if m]
    weights = ", ".join(str(w) for w in BM25_WEIGHTS)
    steps: dict[str, Callable[[str], object]] = {
        "count matches": lambda m: conn.execute(
            "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (m,)
        ).fetchall(),
        "read every matching rowid": lambda m: conn.execute(
            "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?", (m,)
        ).fetchall(),
        "bm25 over every match, top 10": lambda m: conn.execute(
            f"SELECT rowid, -bm25(chunks_fts, {weights}) AS s FROM chunks_fts WHERE chunks_fts MATCH ?"  # noqa: S608
            " ORDER BY s DESC, rowid LIMIT 10",
            (m,),
        ).fetchall(),
    }
    out = {"build MATCH text": run_round(match_query, queries)[0] * 1e3}
    for label, step in steps.items():
        step(matches[0])
        out[label] = run_round(step, matches)[0] * 1e3
    out["keyword() in full"] = run_round(lambda q: store.keyword(q, K), queries)[0] * 1e3
    counts = [
        conn.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (m,)).fetchone()[0] for m in matches
    ]
    out["median matches per query"] = statistics.median(counts)
    return {key: round(value, 4) for key, value in out.items()}


def run_round(search: Callable[[str], object], queries: Sequence[str]) -> tuple[float, list[float]]:
    walls = []
    cpu_start = time.process_time()
    for query in queries:
        start = time.perf_counter()
        search(query)
        walls.append(time.perf_counter() - start)
    return (time.process_time() - cpu_start) / len(queries), walls


def compare(name: str, docs: Sequence[tuple[str, str, str]], queries: Sequence[str], rounds: int, tmp: Path) -> dict:
    (tmp / name).mkdir()
    (tmp / f"{name}-tantivy").mkdir()
    store = sqlite_store(docs, tmp / name)
    warmed = SqliteStore(tmp / name / "index.sqlite")
    build_start = time.process_time()
    warmed.warm()
    build_cpu_s = time.process_time() - build_start
    memory = warmed.stats().extra["keyword_index"]
    assert memory["state"] == "current", memory
    index_mb = memory["bytes"] / 2**20
    same = sum(
        [(h.chunk_id, h.score) for h in warmed.keyword(q, K)] == [(h.chunk_id, h.score) for h in store.keyword(q, K)]
        for q in queries
    )
    index, searcher = tantivy_index(docs, tmp / f"{name}-tantivy")
    engines = {
        "qmdr": lambda q: warmed.keyword(q, K),
        "fts5": lambda q: store.keyword(q, K),
        "tantivy": tantivy_search(index, searcher),
    }
    for search in engines.values():  # warm-up: page caches and statement caches
        for query in queries[:20]:
            search(query)
    cpu: dict[str, list[float]] = {e: [] for e in engines}
    wall: dict[str, list[float]] = {e: [] for e in engines}
    for _ in range(rounds):
        for engine, search in engines.items():
            per_query, walls = run_round(search, queries)
            cpu[engine].append(per_query)
            wall[engine].extend(walls)
    row_stages = stages(store, queries)
    store.close()
    warmed.close()
    row = {"corpus": name, "chunks": len(docs), "queries": len(queries), "rounds": rounds}
    for engine in engines:
        row[f"{engine}_cpu_ms"] = round(statistics.median(cpu[engine]) * 1e3, 4)
        row[f"{engine}_wall_p50_ms"] = round(statistics.median(wall[engine]) * 1e3, 4)
    for engine in ("qmdr", "fts5"):
        row[f"{engine}_cpu_ratio"] = round(row[f"{engine}_cpu_ms"] / row["tantivy_cpu_ms"], 2)
        row[f"{engine}_wall_p50_ratio"] = round(row[f"{engine}_wall_p50_ms"] / row["tantivy_wall_p50_ms"], 2)
    row["same_answers_as_fts5"] = same
    row["index_build_cpu_s"] = round(build_cpu_s, 3)
    row["index_postings"] = memory["postings"]
    row["index_mb"] = round(index_mb, 1)
    row["fts5_stages_cpu_ms"] = row_stages
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cranfield", type=Path, default=Path("/work/shared/data/cranfield"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--name", default="keyword_vs_tantivy")
    parser.add_argument(
        "--zipf-chunks",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[10_000],
        help="sizes of the Zipfian corpus, comma-separated (default 10000; 100000 shows how both scale)",
    )
    args = parser.parse_args()
    import tantivy  # noqa: F401 - fail early with the install hint below

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(compare("cranfield", *load_cranfield(args.cranfield), args.rounds, Path(tmp)))
        for chunks in args.zipf_chunks:
            rows.append(compare(f"zipf-{chunks // 1000}k", *zipf_corpus(n_docs=chunks), args.rounds, Path(tmp)))
    from importlib.metadata import version

    facts = {
        "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "tantivy": version("tantivy"),
        "apsw": version("apsw"),
        "sqlite": __import__("apsw").sqlite_lib_version(),
        "load_average_at_end": os.getloadavg(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps({"facts": facts, "rows": rows}, indent=2))
    lines = [
        f"# Keyword search: `SqliteStore.keyword` (in-memory index; FTS5 alone) vs tantivy {facts['tantivy']}",
        "",
        f"SQLite {facts['sqlite']}, {facts['cores']} cores, Python {facts['python']}; top {K}, hits' stored "
        f"fields read; CPU per query = median over rounds of process CPU time / queries; load average at the "
        f"end {facts['load_average_at_end'][0]:.1f}. qmdr = a warmed store (the server), FTS5 alone = a store "
        "never warmed (a one-shot `qmdr search`).",
        "",
        "| corpus | chunks | queries | qmdr CPU ms/query | FTS5 alone CPU ms/query | tantivy CPU ms/query | "
        "qmdr / tantivy CPU | FTS5 alone / tantivy CPU | qmdr / tantivy wall p50 | answers equal to FTS5's |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['corpus']} | {r['chunks']:,} | {r['queries']} | {r['qmdr_cpu_ms']:.3f} | {r['fts5_cpu_ms']:.3f} | "
            f"{r['tantivy_cpu_ms']:.3f} | **{r['qmdr_cpu_ratio']:.2f}x** | {r['fts5_cpu_ratio']:.2f}x | "
            f"{r['qmdr_wall_p50_ratio']:.2f}x | {r['same_answers_as_fts5']} / {r['queries']} |"
        )
    lines += [
        "",
        "The in-memory index (built by `warm()`, and again in the background after each change):",
        "",
        "| corpus | build CPU s | postings | MB |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['corpus']} | {r['index_build_cpu_s']:.2f} | {r['index_postings']:,} | {r['index_mb']:.1f} |"
        )
    lines += [
        "",
        "Where FTS5 alone spends its time (CPU ms per query, each step alone):",
        "",
        "| corpus | " + " | ".join(rows[0]["fts5_stages_cpu_ms"]) + " |",
        "|---|" + "---|" * len(rows[0]["fts5_stages_cpu_ms"]),
    ]
    for r in rows:
        lines.append(f"| {r['corpus']} | " + " | ".join(f"{v:g}" for v in r["fts5_stages_cpu_ms"].values()) + " |")
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
