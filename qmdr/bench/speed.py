"""Speed of indexing and search on synthetic vaults of growing size.

For each size: generate a vault from the seed, index it into a SQLite file,
reindex it unchanged (must embed nothing) and with 1% of notes changed, time
searches in each mode in-process and over HTTP (the product's app under uvicorn in
a separate process on 127.0.0.1, see ``http_server``), and
compare the store's ``nearest()`` with an exact numpy scan of the same vectors.

In-process searches run twice: on a store opened and warmed as the server warms
each vault at start (vector snapshot and in-memory keyword index built first,
each timed), which is what the targets are about, and on the indexing store,
never warmed, as a one-shot CLI command searches (FTS5 ranks its keyword
searches), so the two keyword paths are compared in the same run.
Separately, compare the embedded embedder with sentence-transformers on torch
when torch is importable.

Embedders: the real embedded model is used up to ``real_embedder_max_chunks``
chunks; beyond that a deterministic hashing embedder (``synthetic.HashingEmbedder``)
stands in, so the store and search paths are measured at 100k chunks without
40 minutes of embedding. Each row says which embedder made it.

Peak RSS: Linux ``VmHWM`` from ``/proc/self/status``, reset at the start of each
phase by writing ``5`` to ``/proc/self/clear_refs``, so each phase reports its
own peak. Where that is not possible it falls back to ``ru_maxrss`` (the
process-lifetime peak, which only grows) and the report says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from qmdr.bench import report as rpt
from qmdr.bench.metrics import latency_summary, overlap_at_k, percentile
from qmdr.bench.synthetic import HashingEmbedder, change_notes, generate_vault, sample_queries
from qmdr.bench.usage import CountingEmbedder
from qmdr.settings import Settings

DEFAULT_SIZES = (1_000, 10_000, 100_000)
# Above this many chunks the real model would take too long on a laptop (MiniLM
# does ~40 chunks/s on two cores: 10k chunks is ~4 minutes, 100k ~40 minutes).
DEFAULT_REAL_EMBEDDER_MAX_CHUNKS = 1_000
SEARCH_MODES = ("keyword", "vector", "hybrid")
# The store's two KNN paths: the default in-memory exact snapshot and sqlite-vec's vec0 scan.
NEAREST_BACKENDS = ("memory", "vec0")
QUERIES_PER_MODE = 200  # enough samples for a stable p99 (two slowest queries)
WARMUP_QUERIES = 5  # first queries pay for page cache and lazy imports: not counted
CHANGED_FRACTION = 0.01
TOP_K = 10
EMBEDDER_COMPARE_TEXTS = 256  # texts embedded per embedder in the comparison
MAX_TOKENS: int = Settings.model_fields["qmdr_chunk_tokens"].default  # the product's chunking
OVERLAP_TOKENS: int = Settings.model_fields["qmdr_chunk_overlap"].default


# --- peak memory ----------------------------------------------------------------------------------
_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def _reset_peak_rss() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    try:
        match = re.search(r"VmHWM:\s+(\d+) kB", _STATUS.read_text())
        if match:
            return round(int(match.group(1)) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


@contextlib.contextmanager
def measure_peak_rss(out: dict[str, Any], key: str) -> Iterator[None]:
    """Record the peak resident set size (MB) reached inside the block as ``out[key]``."""
    phase_peak = _reset_peak_rss()
    yield
    out[key] = _peak_rss_mb()
    out.setdefault("rss_method", "VmHWM reset per phase" if phase_peak else "ru_maxrss (process peak so far)")


# --- results --------------------------------------------------------------------------------------
@dataclass(slots=True)
class SizeResult:
    target_chunks: int
    notes: int
    chunks: int
    embedder: str
    index: dict[str, Any]  # seconds, chunks_per_s, embedded, peak_rss_mb
    reindex_unchanged: dict[str, Any]  # seconds, embed_calls, embedded
    reindex_changed: dict[str, Any]  # changed_notes, seconds, embedded
    search: dict[str, dict[str, float]]  # mode -> p50/p95/p99 ms, in-process on a warmed store (as the server)
    search_unwarmed: dict[str, dict[str, float]]  # same on a store never warmed (as a one-shot CLI command)
    stages: dict[str, dict[str, float]]  # mode -> the searcher's own stage timings (p50 ms), warmed store
    warm: dict[str, Any]  # the warmed store's caches: build seconds, keyword postings and MB
    http: dict[str, dict[str, float]] | None  # same over HTTP, None when skipped
    http_note: str | None
    nearest: dict[str, Any]  # numpy p50 ms; per store backend: p50 ms, ratio, recall@10
    memory: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class EmbedderRow:
    name: str
    texts: int
    seconds: float | None
    texts_per_s: float | None
    peak_rss_mb: float | None
    note: str = ""


@dataclass(slots=True)
class SpeedReport:
    sizes: list[SizeResult]
    embedders: list[EmbedderRow]
    machine: dict[str, Any] = field(default_factory=rpt.machine_info)
    versions: dict[str, Any] = field(default_factory=rpt.versions)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "sizes": [asdict(s) for s in self.sizes],
            "embedders": [asdict(e) for e in self.embedders],
            "machine": self.machine,
            "versions": self.versions,
            "settings": self.settings,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    INDEX_HEADERS = (
        "chunks",
        "notes",
        "embedder",
        "index s",
        "chunks/s",
        "index RSS MB",
        "unchanged: s / embedded",
        "1% changed: s / embedded",
    )

    def index_rows(self) -> list[list[Any]]:
        return [
            [
                s.chunks,
                s.notes,
                s.embedder,
                s.index["seconds"],
                s.index["chunks_per_s"],
                s.memory.get("index_peak_rss_mb"),
                f"{s.reindex_unchanged['seconds']:.2f} / {s.reindex_unchanged['embedded']}",
                f"{s.reindex_changed['seconds']:.2f} / {s.reindex_changed['embedded']}",
            ]
            for s in self.sizes
        ]

    SEARCH_HEADERS = (
        "chunks",
        "mode",
        "in-process, warmed p50/p95/p99 ms",
        "in-process, not warmed p50/p95/p99 ms",
        "HTTP p50/p95/p99 ms",
    )

    def search_rows(self) -> list[list[Any]]:
        def trio(d: dict[str, float] | None) -> str:
            return "-" if not d else f"{d['p50']:.2f} / {d['p95']:.2f} / {d['p99']:.2f}"

        return [
            [
                s.chunks,
                mode,
                trio(s.search.get(mode)),
                trio(s.search_unwarmed.get(mode)),
                trio((s.http or {}).get(mode)),
            ]
            for s in self.sizes
            for mode in s.search
        ]

    #: the searcher's timed stages (``SearchResponse.timings_ms``), in the order a hybrid search runs them
    STAGES = ("embed_query", "keyword", "vector", "feedback", "fuse", "total")
    STAGE_HEADERS = ("chunks", "mode", *STAGES)

    def stage_rows(self) -> list[list[Any]]:
        return [
            [s.chunks, mode, *(f"{stages[name]:.2f}" if name in stages else "-" for name in self.STAGES)]
            for s in self.sizes
            for mode, stages in s.stages.items()
        ]

    WARM_HEADERS = ("chunks", "vector snapshot s", "keyword index s (CPU s)", "postings", "keyword index MB")

    def warm_rows(self) -> list[list[Any]]:
        return [
            [
                s.chunks,
                f"{s.warm['vector_snapshot_s']:.2f}",
                f"{s.warm['keyword_index_s']:.2f} ({s.warm['keyword_index_cpu_s']:.2f})",
                "-" if s.warm["keyword_postings"] is None else f"{s.warm['keyword_postings']:,}",
                "-" if s.warm["keyword_index_bytes"] is None else f"{s.warm['keyword_index_bytes'] / 2**20:.1f}",
            ]
            for s in self.sizes
        ]

    NEAREST_HEADERS = ("chunks", "store nearest()", "p50 ms", "numpy exact p50 ms", "ratio", "recall@10 vs exact")

    def nearest_rows(self) -> list[list[Any]]:
        return [
            [
                s.chunks,
                name,
                s.nearest[name]["p50_ms"],
                s.nearest["numpy_p50_ms"],
                s.nearest[name]["ratio_to_numpy"],
                s.nearest[name]["recall@10"],
            ]
            for s in self.sizes
            for name in NEAREST_BACKENDS
            if name in s.nearest
        ]

    def to_markdown(self) -> str:
        notes = [f"- {s.chunks} chunks: HTTP skipped ({s.http_note})" for s in self.sizes if s.http_note]
        emb_rows = self.embedder_rows()
        return "\n\n".join(
            filter(
                None,
                [
                    "# Indexing and search speed",
                    "Synthetic vaults from a fixed seed (`qmdr/bench/synthetic.py`). Rows above "
                    f"{self.settings.get('real_embedder_max_chunks')} chunks use the deterministic hashing embedder "
                    "instead of the real model, so they measure scan/chunk/store/search, not model inference. "
                    f"Peak RSS: {self.settings.get('rss_method')}.",
                    "## Indexing",
                    rpt.markdown_table(self.INDEX_HEADERS, self.index_rows()),
                    "## Search latency",
                    "Warmed: a store opened and warmed as the server warms each vault at start (vector "
                    "snapshot, then the in-memory keyword index), as the HTTP server in its own process is. "
                    "Not warmed: the indexing store, as a one-shot CLI command searches: FTS5 ranks keyword "
                    "searches. Same queries for both.",
                    rpt.markdown_table(self.SEARCH_HEADERS, self.search_rows()),
                    "\n".join(notes) if notes else None,
                    "## Where the time goes (warmed, in-process: p50 ms of each stage the searcher times)",
                    "The keyword search runs while the query is embedded (`embed_query`), so stages overlap and "
                    "do not add up to `total`; `fuse` includes the snippets and relevance of the shown results.",
                    rpt.markdown_table(self.STAGE_HEADERS, self.stage_rows()),
                    "## Search caches built by warming (what the server does at start)",
                    rpt.markdown_table(self.WARM_HEADERS, self.warm_rows()),
                    "## Store `nearest()` (in-memory snapshot, sqlite-vec vec0) vs exact numpy scan "
                    "(same vectors, top 10)",
                    rpt.markdown_table(self.NEAREST_HEADERS, self.nearest_rows()),
                    "## Embedders (CPU)",
                    rpt.markdown_table(self.EMBEDDER_HEADERS, emb_rows) if emb_rows else "not run",
                    rpt.facts_markdown(self.to_dict()),
                ],
            )
        )

    def plot_latency(self, path: Path) -> None:
        plt = rpt.pyplot()
        fig, ax = plt.subplots(figsize=(6, 4))
        sizes = [s.chunks for s in self.sizes]
        for mode in SEARCH_MODES:
            if all(mode in s.search for s in self.sizes):
                ax.plot(sizes, [s.search[mode]["p50"] for s in self.sizes], marker="o", label=f"{mode} p50")
                ax.plot(
                    sizes, [s.search[mode]["p95"] for s in self.sizes], marker="x", linestyle="--", label=f"{mode} p95"
                )
        ax.set_xscale("log")
        ax.set_xlabel("chunks in index")
        ax.set_ylabel("latency (ms, in-process, warmed store)")
        ax.set_title("Search latency vs corpus size")
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def write(self, results_dir: Path, name: str) -> list[Path]:
        """Write ``<name>.md``, ``<name>.json`` and ``<name>-latency.png`` under ``results_dir``."""
        return rpt.write_results(
            Path(results_dir), name, self.to_markdown(), self.to_dict(), {"latency": self.plot_latency}
        )

    def print(self, console: Console | None = None) -> None:
        rpt.print_table("Indexing", self.INDEX_HEADERS, self.index_rows(), console)
        rpt.print_table("Search latency", self.SEARCH_HEADERS, self.search_rows(), console)
        rpt.print_table("Where the time goes (p50 ms)", self.STAGE_HEADERS, self.stage_rows(), console)
        rpt.print_table("Search caches built by warming", self.WARM_HEADERS, self.warm_rows(), console)
        rpt.print_table("nearest() vs numpy", self.NEAREST_HEADERS, self.nearest_rows(), console)
        if self.embedders:
            rpt.print_table("Embedders (CPU)", self.EMBEDDER_HEADERS, self.embedder_rows(), console)

    EMBEDDER_HEADERS = ("embedder", "texts", "seconds", "texts/s", "peak RSS MB", "note")

    def embedder_rows(self) -> list[list[Any]]:
        return [[e.name, e.texts, e.seconds, e.texts_per_s, e.peak_rss_mb, e.note] for e in self.embedders]


# --- measurement ----------------------------------------------------------------------------------
class RecordingEmbedder(CountingEmbedder):
    """Counts like CountingEmbedder and keeps every vector it made, keyed by text (for the exact scan)."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.vectors: dict[str, np.ndarray] = {}
        self.recording = True

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = await super().embed(texts)
        if self.recording:
            for text, vec in zip(texts, out, strict=True):
                self.vectors[text] = vec
        return out


def _latencies(samples: list[float]) -> dict[str, float]:
    return latency_summary(samples, (50, 95, 99))


def _queries_per_mode(seed: int, per_mode: int) -> dict[str, tuple[list[str], list[str]]]:
    """Distinct (warm-up, measured) queries per mode, so no mode is served from the query-embedding
    cache another mode filled: every measured search pays for embedding its query."""
    size = WARMUP_QUERIES + per_mode
    pool = sample_queries(len(SEARCH_MODES) * size, seed=seed)
    out: dict[str, tuple[list[str], list[str]]] = {}
    for i, mode in enumerate(SEARCH_MODES):
        block = pool[i * size : (i + 1) * size]
        out[mode] = (block[:WARMUP_QUERIES], block[WARMUP_QUERIES:])
    return out


async def _time_searches(
    make_searcher: Callable[[], Any], queries: dict[str, tuple[list[str], list[str]]]
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """(mode -> p50/p95/p99 ms, mode -> p50 ms of each stage the searcher timed itself)."""
    out: dict[str, dict[str, float]] = {}
    stages: dict[str, dict[str, float]] = {}
    for mode in SEARCH_MODES:
        searcher = make_searcher()
        warmup, measured = queries[mode]
        for q in warmup:
            await searcher.search(q, mode=mode, k=TOP_K)
        samples = []
        stage_samples: dict[str, list[float]] = {}
        for q in measured:
            started = time.perf_counter()
            response = await searcher.search(q, mode=mode, k=TOP_K)
            samples.append((time.perf_counter() - started) * 1000)
            for name, ms in response.timings_ms.items():
                stage_samples.setdefault(name, []).append(ms)
        out[mode] = _latencies(samples)
        # a stage the mode skips reads 0 (or the microseconds of finding nothing to do): left out
        medians = {name: round(percentile(ms, 50), 2) for name, ms in stage_samples.items()}
        stages[mode] = {name: ms for name, ms in medians.items() if ms > 0}
    return out, stages


def _warm_like_the_server(store: Any) -> dict[str, Any]:
    """Warm ``store`` as the server does at start, timing its two caches apart.

    ``warm()`` loads the vector snapshot first; loading it just before leaves
    ``warm()`` only the in-memory keyword index to build. The CPU seconds are
    this process's (nothing else runs in it meanwhile), steadier than wall
    time on a shared machine.
    """
    started = time.perf_counter()
    store.vector_index()
    snapshot_s = time.perf_counter() - started
    started, cpu_started = time.perf_counter(), time.process_time()
    store.warm()
    keyword_s, keyword_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    # no postings when the vault is too large to hold them: FTS5 then ranks alone
    described = store.stats().extra["keyword_index"]
    postings, held = described.get("postings"), described.get("bytes")  # held: of its arrays
    return {
        "vector_snapshot_s": round(snapshot_s, 2),
        "keyword_index_s": round(keyword_s, 2),
        "keyword_index_cpu_s": round(keyword_cpu_s, 2),
        "keyword_index_state": described["state"],
        "keyword_postings": postings,
        "keyword_index_bytes": held,
    }


async def _compare_nearest(
    stores: dict[str, Any], embedder: RecordingEmbedder, queries: Sequence[str]
) -> dict[str, Any]:
    """Each store's ``nearest()`` against an exact numpy scan of the very vectors the indexer stored."""
    texts = list(embedder.vectors)
    matrix = np.stack([embedder.vectors[t] for t in texts]).astype(np.float32)
    qvecs = await embedder.inner.embed(list(queries))
    numpy_ms: list[float] = []
    exact: list[list[str]] = []
    for qv in qvecs:
        started = time.perf_counter()
        scores = matrix @ qv
        top = np.argpartition(-scores, min(TOP_K, len(texts) - 1))[:TOP_K]
        top = top[np.argsort(-scores[top])]
        numpy_ms.append((time.perf_counter() - started) * 1000)
        exact.append([texts[i] for i in top])
    numpy_p50 = percentile(numpy_ms, 50)
    out: dict[str, Any] = {"numpy_p50_ms": round(numpy_p50, 3), "vectors": len(texts), "queries": len(queries)}
    for name, store in stores.items():
        store.nearest(qvecs[0], TOP_K)  # first call may load a snapshot: not a search cost
        store_ms, recalls = [], []
        for qv, truth in zip(qvecs, exact, strict=True):
            started = time.perf_counter()
            hits = store.nearest(qv, TOP_K)
            store_ms.append((time.perf_counter() - started) * 1000)
            recalls.append(overlap_at_k([h.text for h in hits], truth, TOP_K))
        p50 = percentile(store_ms, 50)
        out[name] = {
            "p50_ms": round(p50, 3),
            "ratio_to_numpy": round(p50 / numpy_p50, 2) if numpy_p50 else None,
            "recall@10": round(float(np.mean(recalls)), 4),
        }
    return out


def _http_searches(
    db_path: Path, vault_root: Path, embedder: Any, queries: dict[str, tuple[list[str], list[str]]]
) -> dict[str, Any]:
    """Search latency over a real socket, against the product's app served from a separate process."""
    import httpx

    from qmdr.bench.http_server import embedder_name_for, serve_index

    out: dict[str, Any] = {}
    with (
        serve_index(db_path, vault_root, embedder_name_for(embedder), cwd=db_path.parent / "http-server") as base,
        httpx.Client(base_url=base, timeout=30.0) as client,
    ):
        for mode in SEARCH_MODES:
            warmup, measured = queries[mode]
            for q in warmup:
                client.post("/search", json={"query": q, "mode": mode, "k": TOP_K}).raise_for_status()
            samples = []
            for q in measured:
                started = time.perf_counter()
                client.post("/search", json={"query": q, "mode": mode, "k": TOP_K}).raise_for_status()
                samples.append((time.perf_counter() - started) * 1000)
            out[mode] = _latencies(samples)
    return out


async def _measure_size(
    target: int,
    *,
    seed: int,
    http: bool,
    work: Path,
    queries_per_mode: int,
    make_embedder: Callable[[int], Any],
    bar: Progress,
) -> SizeResult:
    from qmdr.memory.indexer import reindex
    from qmdr.search.searcher import Searcher
    from qmdr.store.sqlite import SqliteStore

    task = bar.add_task(f"{target} chunks: generating vault", total=None)
    vault = generate_vault(work / "vault", target, seed=seed)
    embedder = RecordingEmbedder(make_embedder(target))
    db_path = work / "index.db"
    store = SqliteStore(db_path)
    memory: dict[str, Any] = {}
    try:
        bar.update(task, description=f"{target} chunks: indexing with {embedder.model_id}")
        with measure_peak_rss(memory, "index_peak_rss_mb"):
            started = time.perf_counter()
            await reindex(store, vault.root, embedder, max_tokens=MAX_TOKENS, overlap_tokens=OVERLAP_TOKENS)
            index_s = time.perf_counter() - started
        chunks = store.stats().chunks
        index = {
            "seconds": round(index_s, 2),
            "chunks_per_s": round(chunks / index_s, 1) if index_s else None,
            "embedded": embedder.usage.items,
            "embed_calls": embedder.usage.calls,
        }
        embedder.recording = False

        queries = _queries_per_mode(seed, queries_per_mode)
        bar.update(task, description=f"{target} chunks: nearest() vs numpy")
        vec0_store = SqliteStore(db_path, vector_search="vec0")
        try:
            nearest = await _compare_nearest({"memory": store, "vec0": vec0_store}, embedder, queries["vector"][1])
        finally:
            vec0_store.close()

        bar.update(task, description=f"{target} chunks: reindex unchanged")
        before = embedder.usage.snapshot()
        started = time.perf_counter()
        await reindex(store, vault.root, embedder, max_tokens=MAX_TOKENS, overlap_tokens=OVERLAP_TOKENS)
        spent = embedder.usage.since(before)
        unchanged = {
            "seconds": round(time.perf_counter() - started, 3),
            "embed_calls": spent.calls,
            "embedded": spent.items,
        }

        bar.update(task, description=f"{target} chunks: reindex 1% changed")
        changed_paths = change_notes(vault, CHANGED_FRACTION, seed=seed)
        before = embedder.usage.snapshot()
        started = time.perf_counter()
        await reindex(store, vault.root, embedder, max_tokens=MAX_TOKENS, overlap_tokens=OVERLAP_TOKENS)
        spent = embedder.usage.since(before)
        changed = {
            "changed_notes": len(changed_paths),
            "seconds": round(time.perf_counter() - started, 3),
            "embed_calls": spent.calls,
            "embedded": spent.items,
        }

        bar.update(task, description=f"{target} chunks: searching in-process, not warmed")
        search_unwarmed, _ = await _time_searches(lambda: Searcher(store, embedder), queries)

        bar.update(task, description=f"{target} chunks: warming a store as the server does")
        served = SqliteStore(db_path)
        try:
            with measure_peak_rss(memory, "warm_peak_rss_mb"):
                warm = _warm_like_the_server(served)
            bar.update(task, description=f"{target} chunks: searching in-process, warmed")
            with measure_peak_rss(memory, "search_peak_rss_mb"):
                search, stages = await _time_searches(lambda: Searcher(served, embedder), queries)
        finally:
            served.close()

        http_result: dict[str, Any] | None = None
        http_note: str | None = None
        if http:
            bar.update(task, description=f"{target} chunks: searching over HTTP")
            try:
                http_result = await asyncio.to_thread(_http_searches, db_path, vault.root, embedder.inner, queries)
            except ImportError as exc:  # the API package is optional in stripped-down installs
                http_note = f"API app not importable: {exc}"
        else:
            http_note = "not requested"
        return SizeResult(
            target_chunks=target,
            notes=len(vault.notes),
            chunks=chunks,
            embedder=embedder.model_id,
            index=index,
            reindex_unchanged=unchanged,
            reindex_changed=changed,
            search=search,
            search_unwarmed=search_unwarmed,
            stages=stages,
            warm=warm,
            http=http_result,
            http_note=http_note,
            nearest=nearest,
            memory=memory,
        )
    finally:
        store.close()
        bar.remove_task(task)


def _embedder_probe(name: str, load: Callable[[], Any], texts: list[str]) -> EmbedderRow:
    memory: dict[str, Any] = {}
    with measure_peak_rss(memory, "peak"):
        model = load()
        started = time.perf_counter()
        model(texts)
        seconds = time.perf_counter() - started
    return EmbedderRow(
        name,
        len(texts),
        round(seconds, 2),
        round(len(texts) / seconds, 1),
        memory["peak"],
        "seconds: embed only; RSS: model load + embed",
    )


def compare_embedders(texts: list[str]) -> list[EmbedderRow]:
    """The embedded model vs sentence-transformers (torch, CPU) on the same texts."""
    rows: list[EmbedderRow] = []

    def local() -> Callable[[list[str]], Any]:
        from providers.local import load_local_embedder

        model = load_local_embedder()
        return lambda batch: asyncio.run(model.embed(batch))

    try:
        rows.append(_embedder_probe("embedded MiniLM (qmdr, numpy)", local, texts))
    except Exception as exc:  # a broken model install must not sink the whole speed report
        rows.append(EmbedderRow("embedded MiniLM (qmdr, numpy)", len(texts), None, None, None, f"failed: {exc}"))
    try:
        import torch  # noqa: F401
        from sentence_transformers import SentenceTransformer
    except ImportError:
        rows.append(
            EmbedderRow(
                "sentence-transformers (torch CPU)",
                len(texts),
                None,
                None,
                None,
                "skipped: torch / sentence-transformers not importable",
            )
        )
    else:

        def st() -> Callable[[list[str]], Any]:
            # local_files_only: a benchmark must never download weights.
            model = SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2", device="cpu", local_files_only=True)
            return lambda batch: model.encode(batch, normalize_embeddings=True)

        try:
            rows.append(_embedder_probe("sentence-transformers (torch CPU)", st, texts))
        except Exception as exc:  # no cached weights: report, don't fail
            rows.append(
                EmbedderRow(
                    "sentence-transformers (torch CPU)",
                    len(texts),
                    None,
                    None,
                    None,
                    f"skipped: {exc.__class__.__name__}",
                )
            )
    return rows


async def speed_async(
    sizes: Sequence[int] = DEFAULT_SIZES,
    *,
    seed: int = 42,
    http: bool = True,
    progress: bool = True,
    real_embedder_max_chunks: int = DEFAULT_REAL_EMBEDDER_MAX_CHUNKS,
    embedders: bool = True,
    work_dir: Path | None = None,
    queries_per_mode: int = QUERIES_PER_MODE,
) -> SpeedReport:
    """Async body of :func:`run_speed`."""

    def make_embedder(target: int) -> Any:
        if target <= real_embedder_max_chunks:
            from providers.local import load_local_embedder

            return load_local_embedder()
        return HashingEmbedder()

    results: list[SizeResult] = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    # on stderr, so stdout carries only the tables (or the JSON)
    with Progress(*columns, console=Console(stderr=True), disable=not progress, transient=True) as bar:
        for target in sizes:
            with tempfile.TemporaryDirectory(prefix="qmdr-speed-", dir=work_dir) as tmp:
                results.append(
                    await _measure_size(
                        target,
                        seed=seed,
                        http=http,
                        work=Path(tmp),
                        queries_per_mode=queries_per_mode,
                        make_embedder=make_embedder,
                        bar=bar,
                    )
                )
        embedder_rows: list[EmbedderRow] = []
        if embedders:
            task = bar.add_task("comparing embedders", total=None)
            with tempfile.TemporaryDirectory(prefix="qmdr-speed-") as tmp:
                vault = generate_vault(Path(tmp), EMBEDDER_COMPARE_TEXTS, seed=seed)
                texts = [p.read_text(encoding="utf-8") for p in sorted(vault.root.rglob("*.md"))]
                paragraphs = [t for note in texts for t in note.split("\n\n") if len(t) > 200]
            embedder_rows = await asyncio.to_thread(compare_embedders, paragraphs[:EMBEDDER_COMPARE_TEXTS])
            bar.remove_task(task)
    rss_method = (
        "VmHWM reset per phase (Linux /proc)"
        if _reset_peak_rss()
        else "ru_maxrss: process peak so far (phases cannot be isolated on this OS)"
    )
    return SpeedReport(
        results,
        embedder_rows,
        settings={
            "sizes": list(sizes),
            "seed": seed,
            "http": http,
            "real_embedder_max_chunks": real_embedder_max_chunks,
            "queries_per_mode": queries_per_mode,
            "warmup_queries": WARMUP_QUERIES,
            "k": TOP_K,
            "changed_fraction": CHANGED_FRACTION,
            "max_tokens": MAX_TOKENS,
            "overlap_tokens": OVERLAP_TOKENS,
            "rss_method": rss_method,
        },
    )


def run_speed(
    sizes: Sequence[int] = DEFAULT_SIZES, *, seed: int = 42, http: bool = True, progress: bool = True, **kwargs: Any
) -> SpeedReport:
    """Measure indexing and search speed at each size; blocking (runs its own event loop)."""
    return asyncio.run(speed_async(sizes, seed=seed, http=http, progress=progress, **kwargs))
