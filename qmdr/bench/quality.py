"""Retrieval quality on a BEIR dataset, through the product's own index and search.

The dataset is written as a markdown vault, indexed with ``qmdr.memory.indexer.reindex``
into a real SQLite store, and every judged query is run through
``qmdr.search.searcher.Searcher`` in each mode. Nothing is special-cased for the
benchmark: the figures are what a user of ``qmdr search`` would get.

Provider matrix: each embedder config is indexed once; keyword mode does not
depend on the embedder and runs once; vector and hybrid run per embedder; the
rerank and expansion modes run per (embedder, reranker/expander) pair.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from qmdr.bench import report as rpt
from qmdr.bench.beir import BeirDataset, DocIdMap, load_beir, write_vault
from qmdr.bench.metrics import METRIC_NAMES, collapse_to_docs, latency_summary, mean_metrics, query_metrics
from qmdr.bench.usage import CountingEmbedder, Usage, catalog_price, instrument
from qmdr.search.searcher import with_snippets
from qmdr.settings import Settings

BASE_MODES = ("keyword", "vector", "hybrid")
RERANK_MODE = "hybrid+rerank"
EXPANSION_MODE = "hybrid+expansion"
ALL_MODES = (*BASE_MODES, RERANK_MODE, EXPANSION_MODE)
# Documents asked of search per query (``per_note``: the best chunk of each note): Recall@100 needs 100
# documents, and 100 chunks collapse to ~82 Cranfield documents. Fusion draws from this many candidates
# of each list, the product's default depth.
SEARCH_DEPTH = 100
# a failed query's reason is cut to this in the report (an error may quote the whole query)
MAX_REASON_CHARS = 300
# Results an agent reads (and gets snippets for): the API's default k.
REPORTED_K = 10
# Chunking the bench uses unless told otherwise: the product defaults (Settings),
# so the figures describe what `qmdr index` builds.
DEFAULT_MAX_TOKENS: int = Settings.model_fields["qmdr_chunk_tokens"].default
DEFAULT_OVERLAP_TOKENS: int = Settings.model_fields["qmdr_chunk_overlap"].default


@dataclass(slots=True)
class ModeResult:
    """One row of the matrix: one (embedder, reranker/expander, mode) run over all queries."""

    mode: str
    embedder: str
    helper: str | None  # reranker or expander config name for those modes
    metrics: dict[str, float]
    latency_ms: dict[str, float]  # wall clock per query, p50/p95
    stages: dict[str, dict[str, float]]  # search's own timings_ms per stage, p50/p95
    queries: int
    api_calls: int
    tokens: int
    cost_usd: float | None
    warnings: int = 0  # responses that carried a warning (e.g. rerank skipped)
    # queries whose search raised: {"query_id", "reason"}; each counts as a miss (every metric 0) so the
    # means stay over all judged queries, and the run goes on
    failed: list[dict[str, str]] = field(default_factory=list)
    # requests the local test server answered during this run (wire level, after batching and
    # caching); None when no such server was running
    http_requests: int | None = None

    def label(self, multi_embedder: bool, multi_helper: bool) -> str:
        name = self.mode
        if multi_helper and self.helper:
            name += f"[{self.helper}]"
        if multi_embedder and self.mode != "keyword":
            name = f"{self.embedder}:{name}"
        return name

    def as_json(self) -> dict[str, Any]:
        return {
            **self.metrics,
            "latency_ms": self.latency_ms,
            "stages": self.stages,
            "queries": self.queries,
            "api_calls": self.api_calls,
            "tokens": self.tokens,
            "cost_usd": self.cost_usd,
            "warnings": self.warnings,
            "failed": self.failed,
            "http_requests": self.http_requests,
        }


@dataclass(slots=True)
class QualityReport:
    dataset: str
    rows: list[ModeResult]
    index: dict[str, dict[str, Any]]  # embedder config -> summary, seconds, usage, cost
    machine: dict[str, Any] = field(default_factory=rpt.machine_info)
    versions: dict[str, Any] = field(default_factory=rpt.versions)
    settings: dict[str, Any] = field(default_factory=dict)

    def _labels(self) -> list[tuple[str, ModeResult]]:
        multi_embedder = len({r.embedder for r in self.rows if r.mode != "keyword"}) > 1
        helpers_per_mode: dict[str, set[str]] = {}
        for r in self.rows:
            if r.helper:
                helpers_per_mode.setdefault(r.mode, set()).add(r.helper)
        return [(r.label(multi_embedder, len(helpers_per_mode.get(r.mode, ())) > 1), r) for r in self.rows]

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` shape: ``{"dataset", "modes": {label: metrics...}, "index", "machine", ...}``."""
        return {
            "dataset": self.dataset,
            "modes": {label: row.as_json() for label, row in self._labels()},
            "index": self.index,
            "machine": self.machine,
            "versions": self.versions,
            "settings": self.settings,
        }

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), indent=2)

    BASE_HEADERS = (
        "mode",
        "embedder",
        "rerank/expand",
        *METRIC_NAMES,
        "failed",
        "p50 ms",
        "p95 ms",
        "api calls",
        "tokens",
        "cost $",
    )
    HTTP_HEADER = "HTTP reqs"

    def headers(self) -> tuple[str, ...]:
        """The table's columns; the wire-level request count only when a local test server ran."""
        return (*self.BASE_HEADERS, self.HTTP_HEADER) if self._has_http() else self.BASE_HEADERS

    def _has_http(self) -> bool:
        return any(r.http_requests is not None for r in self.rows)

    def table_rows(self) -> list[list[Any]]:
        http = self._has_http()
        return [
            [
                label,
                row.embedder if row.mode != "keyword" else "-",
                row.helper or "-",
                *(row.metrics[m] for m in METRIC_NAMES),
                len(row.failed),
                row.latency_ms["p50"],
                row.latency_ms["p95"],
                row.api_calls,
                row.tokens,
                row.cost_usd,
                *([row.http_requests] if http else []),
            ]
            for label, row in self._labels()
        ]

    def stage_rows(self) -> tuple[list[str], list[list[Any]]]:
        stages = sorted({s for r in self.rows for s in r.stages})
        return ["mode", *(f"{s} p50/p95" for s in stages)], [
            [
                label,
                *(f"{row.stages[s]['p50']:.1f}/{row.stages[s]['p95']:.1f}" if s in row.stages else "-" for s in stages),
            ]
            for label, row in self._labels()
        ]

    def failure_rows(self) -> list[list[Any]]:
        """One row per failed query of every mode: what failed and why."""
        return [[label, f["query_id"], f["reason"]] for label, row in self._labels() for f in row.failed]

    def to_markdown(self) -> str:
        stage_headers, stage_rows = self.stage_rows()
        failures = self.failure_rows()
        index_rows = [
            [
                name,
                info.get("chunks"),
                info.get("seconds"),
                info.get("api_calls"),
                info.get("tokens"),
                info.get("cost_usd"),
                info.get("http_requests"),
            ]
            for name, info in self.index.items()
        ]
        queries = self.rows[0].queries if self.rows else 0
        return "\n\n".join(
            [
                f"# Retrieval quality: {self.dataset}",
                f"{queries} judged queries; document-level evaluation (a document ranks at its best chunk). "
                "nDCG@10 uses gain 2^score-1; Recall and MRR count score > 0 as relevant. Latency is wall "
                "clock per query in-process (fresh query-embedding cache), with snippets for the top "
                f"{REPORTED_K} as an agent reading {REPORTED_K} results gets them; api calls / tokens / cost are for "
                "the whole query set (see `qmdr/bench/usage.py`: provider-reported tokens, else ~4 chars per token; "
                "cost is the provider layer's reported `cost_usd`, else the providers catalog's prices; n/a when "
                "the catalog has no price for a model).",
                rpt.markdown_table(self.headers(), self.table_rows()),
                "## Per-stage latency (ms, from search's own timings)",
                rpt.markdown_table(stage_headers, stage_rows),
                *(
                    [
                        "## Failed queries (each counted as a miss)",
                        rpt.markdown_table(["mode", "query", "reason"], failures),
                    ]
                    if failures
                    else []
                ),
                "## Indexing",
                rpt.markdown_table(
                    ["embedder", "chunks", "seconds", "embed calls", "tokens", "cost $", self.HTTP_HEADER], index_rows
                ),
                rpt.facts_markdown(self.to_dict()),
            ]
        )

    def plot_quality(self, path: Path) -> None:
        plt = rpt.pyplot()
        labels = [label for label, _ in self._labels()]
        values = [row.metrics["ndcg@10"] for _, row in self._labels()]
        fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(labels) + 2), 4))
        bars = ax.bar(labels, values, color="#4878a8")
        ax.bar_label(bars, fmt="%.3f")
        ax.set_ylabel("nDCG@10")
        ax.set_ylim(0, max([*values, 0.01]) * 1.2)
        ax.set_title(f"{self.dataset}: nDCG@10 per mode and provider")
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def write(self, results_dir: Path, name: str) -> list[Path]:
        """Write ``<name>.md``, ``<name>.json`` and ``<name>-quality.png`` under ``results_dir``."""
        return rpt.write_results(
            Path(results_dir), name, self.to_markdown(), self.to_dict(), {"quality": self.plot_quality}
        )

    def print(self, console: Console | None = None) -> None:
        """The quality table and the per-stage latency table."""
        rpt.print_table(f"Retrieval quality: {self.dataset}", self.headers(), self.table_rows(), console)
        stage_headers, stage_rows = self.stage_rows()
        rpt.print_table("Per-stage latency (ms, p50/p95)", stage_headers, stage_rows, console)
        failures = self.failure_rows()
        if failures:
            rpt.print_table("Failed queries (each counted as a miss)", ["mode", "query", "reason"], failures, console)


def _progress(enabled: bool) -> Progress:
    # on stderr, so stdout carries only the tables (or the JSON)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=True,
    )


@dataclass(slots=True)
class _Run:
    mode: str
    embedder: str
    helper: str | None
    searcher: Any
    usage_sources: list[Usage]
    search_kwargs: dict[str, Any]


async def _run_queries(
    run: _Run,
    queries: dict[str, str],
    dataset: BeirDataset,
    mapping: DocIdMap,
    progress: Progress,
    wire_requests: Callable[[], int] | None = None,
) -> ModeResult:
    before = [u.snapshot() for u in run.usage_sources]
    wire_before = wire_requests() if wire_requests else 0
    per_query: list[dict[str, float]] = []
    wall: list[float] = []
    stages: dict[str, list[float]] = {}
    warned = 0
    search_mode = "hybrid" if run.mode.startswith("hybrid") else run.mode
    task = progress.add_task(
        f"{run.embedder}:{run.mode}" + (f"[{run.helper}]" if run.helper else ""), total=len(queries)
    )
    failed: list[dict[str, str]] = []
    for qid, text in queries.items():
        started = time.perf_counter()
        try:
            response = await run.searcher.search(
                text,
                mode=search_mode,
                k=SEARCH_DEPTH,
                candidates=SEARCH_DEPTH,
                snippets=False,
                per_note=True,
                **run.search_kwargs,
            )
        except Exception as exc:  # one bad query must not throw the run away: report it and go on
            failed.append({"query_id": qid, "reason": f"{type(exc).__name__}: {exc}"[:MAX_REASON_CHARS]})
            per_query.append(query_metrics([], dataset.qrels.get(qid, {})))
            progress.advance(task)
            continue
        # Latency as an agent sees it: snippets for the REPORTED_K results it reads, not for all 100
        # the metrics need (100 snippets cost more than the rest of the search).
        snippet_started = time.perf_counter()
        with_snippets(response.results[:REPORTED_K], text)
        snippet_ms = (time.perf_counter() - snippet_started) * 1000
        wall.append((time.perf_counter() - started) * 1000)
        timings = dict(response.timings_ms or {})
        for stage in ("fuse", "total"):
            if timings.get(stage) is not None:
                timings[stage] += snippet_ms
        for stage, ms in timings.items():
            if ms is not None:
                stages.setdefault(stage, []).append(float(ms))
        warned += bool(response.warnings)
        ranked = collapse_to_docs((r.path for r in response.results), mapping.doc_for)
        per_query.append(query_metrics(ranked, dataset.qrels.get(qid, {})))
        progress.advance(task)
    progress.remove_task(task)
    spent = [u.since(b) for u, b in zip(run.usage_sources, before, strict=True)]
    costs = [u.cost_usd() for u in spent if u.calls]
    return ModeResult(
        mode=run.mode,
        embedder=run.embedder,
        helper=run.helper,
        metrics={k: round(v, 4) for k, v in mean_metrics(per_query).items()},
        latency_ms=latency_summary(wall),
        stages={s: latency_summary(v) for s, v in sorted(stages.items())},
        queries=len(per_query),
        api_calls=sum(u.calls for u in spent),
        tokens=sum(u.tokens for u in spent),
        cost_usd=None if any(c is None for c in costs) else round(sum(c for c in costs if c is not None), 6),
        warnings=warned,
        failed=failed,
        http_requests=wire_requests() - wire_before if wire_requests else None,
    )


EmbedderFactory = Callable[[], Any]


async def quality_async(
    dataset_dir: Path,
    *,
    modes: Sequence[str] = BASE_MODES,
    embedder_factories: dict[str, EmbedderFactory] | None = None,
    reranker_factories: dict[str, Callable[[], Any]] | None = None,
    expander_factories: dict[str, Callable[[], Any]] | None = None,
    price_models: dict[str, str] | None = None,
    limit_queries: int | None = None,
    progress: bool = True,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    work_dir: Path | None = None,
    searcher_options: dict[str, Any] | None = None,
    index_dir: Path | None = None,
    wire_requests: Callable[[], int] | None = None,
    cleanup: Callable[[], Awaitable[None]] | None = None,
) -> QualityReport:
    """Async body of :func:`run_quality` (use it when already inside an event loop).

    ``searcher_options`` go to ``qmdr.search.searcher.Searcher`` (e.g. ``rrf_k``, ``weights``)
    to measure fusion settings other than the product's defaults. ``index_dir``
    keeps the vault and index files between runs, so trying search settings
    does not re-embed the corpus (the indexer skips unchanged notes).
    ``wire_requests`` returns how many HTTP requests a local test server has
    answered so far (each row reports its share); ``cleanup`` is awaited at the
    end inside this event loop (to close provider clients the factories opened).
    """
    from qmdr.memory.indexer import reindex
    from qmdr.search.searcher import Searcher
    from qmdr.store.sqlite import SqliteStore

    unknown = set(modes) - set(ALL_MODES)
    if unknown:
        raise ValueError(f"unknown mode(s) {sorted(unknown)}; choose from {', '.join(ALL_MODES)}")
    if RERANK_MODE in modes and not reranker_factories:
        raise ValueError(f"mode {RERANK_MODE!r} needs at least one reranker config")
    if EXPANSION_MODE in modes and not expander_factories:
        raise ValueError(f"mode {EXPANSION_MODE!r} needs at least one query expander config")
    if embedder_factories is None:
        from providers.local import load_local_embedder

        embedder_factories = {"local": load_local_embedder}
    price_models = price_models or {}
    opts = dict(searcher_options or {})

    dataset = load_beir(Path(dataset_dir))
    queries = dataset.judged_queries()
    if limit_queries is not None:
        queries = dict(list(queries.items())[:limit_queries])

    rows: list[ModeResult] = []
    index_info: dict[str, dict[str, Any]] = {}
    keyword_done = False
    try:
        with tempfile.TemporaryDirectory(prefix="qmdr-bench-", dir=work_dir) as tmp, _progress(progress) as bar:
            keep = Path(index_dir) if index_dir is not None else Path(tmp)
            keep.mkdir(parents=True, exist_ok=True)
            vault = keep / f"{dataset.name}-vault"
            mapping = write_vault(dataset, vault)
            for emb_name, factory in embedder_factories.items():
                inner = factory()
                emb_model = price_models.get(emb_name, getattr(inner, "model_id", None))
                embedder = CountingEmbedder(inner, catalog_price(emb_model))
                wire_before = wire_requests() if wire_requests else 0
                if not getattr(embedder.inner, "dim_known", True):
                    await embedder.inner.discover_dim()  # as the service does: the index records model + dim up front
                store = SqliteStore(keep / f"{dataset.name}-{_safe(emb_name)}-{max_tokens}-{overlap_tokens}.db")
                try:
                    started = time.perf_counter()
                    summary = await reindex(
                        store, vault, embedder, max_tokens=max_tokens, overlap_tokens=overlap_tokens
                    )
                    seconds = time.perf_counter() - started
                    index_info[emb_name] = {
                        "model_id": embedder.model_id,
                        "dim": embedder.dim,
                        "chunks": store.stats().chunks,
                        "seconds": round(seconds, 2),
                        "api_calls": embedder.usage.calls,
                        "tokens": embedder.usage.tokens,
                        "cost_usd": embedder.usage.cost_usd(),
                        "summary": _summary_dict(summary),
                        "http_requests": wire_requests() - wire_before if wire_requests else None,
                    }
                    # A fresh Searcher per run: its query-embedding cache must not let one mode
                    # reuse another's query vectors (that would hide embedding latency and calls).
                    runs: list[_Run] = []
                    for mode in BASE_MODES:
                        if mode not in modes or (mode == "keyword" and keyword_done):
                            continue
                        runs.append(_Run(mode, emb_name, None, Searcher(store, embedder, **opts), [embedder.usage], {}))
                    keyword_done = keyword_done or "keyword" in modes
                    if RERANK_MODE in modes:
                        for rr_name, rr_factory in (reranker_factories or {}).items():
                            reranker = rr_factory()
                            runs.append(
                                _Run(
                                    RERANK_MODE,
                                    emb_name,
                                    rr_name,
                                    Searcher(store, embedder, reranker, **opts),
                                    [
                                        embedder.usage,
                                        instrument(reranker, catalog_price(price_models.get(rr_name, rr_name))),
                                    ],
                                    {"rerank": True},
                                )
                            )
                    if EXPANSION_MODE in modes:
                        for ex_name, ex_factory in (expander_factories or {}).items():
                            expander = ex_factory()
                            runs.append(
                                _Run(
                                    EXPANSION_MODE,
                                    emb_name,
                                    ex_name,
                                    Searcher(store, embedder, None, expander=expander, **opts),
                                    [
                                        embedder.usage,
                                        instrument(expander, catalog_price(price_models.get(ex_name, ex_name))),
                                    ],
                                    {"expand": True},
                                )
                            )
                    for run in runs:
                        rows.append(await _run_queries(run, queries, dataset, mapping, bar, wire_requests))
                finally:
                    store.close()
                    closer = getattr(embedder.inner, "aclose", None)
                    if closer is not None:
                        await closer()
    finally:
        if cleanup is not None:
            await cleanup()

    return QualityReport(
        dataset=dataset.name,
        rows=rows,
        index=index_info,
        settings={
            "dataset_dir": str(dataset_dir),
            "queries": len(queries),
            "documents": len(dataset.docs),
            "modes": list(modes),
            "embedders": list(embedder_factories),
            "rerankers": list(reranker_factories or {}),
            "expanders": list(expander_factories or {}),
            "max_tokens": max_tokens,
            "overlap_tokens": overlap_tokens,
            "search_depth": SEARCH_DEPTH,
            "candidates": SEARCH_DEPTH,
            "searcher_options": opts,
            "index_reused": index_dir is not None,
        },
    )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _summary_dict(summary: Any) -> dict[str, Any]:
    to_dict = getattr(summary, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    try:
        return asdict(summary)
    except TypeError:
        return {"summary": str(summary)}


def run_quality(dataset_dir: Path, **kwargs: Any) -> QualityReport:
    """Index a BEIR dataset and measure every configured mode; see :func:`quality_async` for options.

    Blocking: runs its own event loop, for the CLI and scripts.
    """
    return asyncio.run(quality_async(dataset_dir, **kwargs))
