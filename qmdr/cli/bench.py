"""``qmdr bench quality|speed``: the benchmarks users can run on their own machine and data.

Tables go to stdout, progress bars to stderr (only on a terminal), and
``--json`` prints nothing but the JSON report. ``--name`` also writes
``<out>/<name>.md``, ``.json`` and PNG plots (``benchmarks/results`` by default).

The provider matrix comes from ``--embedder``/``--rerank``/``--expand`` and/or a
YAML file (``--matrix``, format in :mod:`qmdr.bench.matrix`). Each entry is
``local`` (the embedded model), ``local-server`` (the local OpenAI-compatible
test server: the embedded model and a deterministic grader behind real HTTP with
``--latency-ms`` per request, no keys needed), or ``PROVIDER[:MODEL]`` (``openai``
for the ``QMD_OPENAI_BASE_URL`` endpoint, any registry id, or ``custom-<slug>``),
built exactly as the service builds ``QMD_*`` settings.
"""

# No ``from __future__ import annotations``: typer reads every command's signature on each call, and
# string annotations would be compiled and evaluated each time (about 4% of a `qmdr search`'s CPU).

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from qmdr.cli import render
from qmdr.cli.common import JsonOpt, err_console, fail

bench_app = typer.Typer(
    help="Measure retrieval quality (BEIR datasets) and indexing/search speed.", no_args_is_help=True
)

#: where `--name` writes results unless `--out` says otherwise (relative to the working directory)
DEFAULT_RESULTS_DIR = Path("benchmarks") / "results"
NONE = "none"
# `--rerank llm` / `--expand llm`: the reranker the environment's QMD_RERANK_* settings configure.
FROM_ENV = "llm"

OutOpt = Annotated[Path, typer.Option("--out", help="folder for the results files written with --name")]
NameOpt = Annotated[str | None, typer.Option("--name", help="write <out>/<name>.md, .json and PNG plots")]


def _split(values: list[str] | None) -> list[str]:
    """Repeatable options that also take comma lists: ``--mode keyword,vector --mode hybrid``."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _embedder_entry(spec: str) -> dict[str, Any]:
    from qmdr.bench.matrix import LOCAL, LOCAL_SERVER, local_embedder, local_server_entry

    if spec == LOCAL:
        return local_embedder()
    if spec == LOCAL_SERVER:
        return local_server_entry()
    provider, _, model = spec.partition(":")
    return {"qmd_embed_provider": provider, **({"qmd_openai_embed_model": model} if model else {})}


def _chat_entry(spec: str) -> dict[str, Any]:
    from qmdr.bench.matrix import LOCAL_SERVER, local_server_entry

    if spec == LOCAL_SERVER:
        return local_server_entry()
    if spec == FROM_ENV:
        return {}
    provider, _, model = spec.partition(":")
    return {"qmd_rerank_provider": provider, "qmd_rerank_mode": "llm", **({"qmd_openai_model": model} if model else {})}


def build_matrix(matrix_file: Path | None, embedders: list[str], rerankers: list[str], expanders: list[str]) -> Any:
    """The YAML matrix (if any) plus the command-line entries; the embedded model when nothing is named."""
    from qmdr.bench.matrix import Matrix, load_matrix

    matrix = load_matrix(matrix_file) if matrix_file else Matrix(embedders={})
    for spec in embedders:
        matrix.embedders[spec] = _embedder_entry(spec)
    for spec in rerankers:
        if spec != NONE:
            matrix.rerankers[spec] = _chat_entry(spec)
    for spec in expanders:
        if spec != NONE:
            matrix.expanders[spec] = _chat_entry(spec)
    if not matrix.embedders:
        matrix.embedders["local"] = _embedder_entry("local")
    return matrix


def default_modes(matrix: Any) -> list[str]:
    """keyword, vector, hybrid; plus the rerank and expansion modes when the matrix configures them."""
    from qmdr.bench.quality import BASE_MODES, EXPANSION_MODE, RERANK_MODE

    return [*BASE_MODES, *([RERANK_MODE] if matrix.rerankers else []), *([EXPANSION_MODE] if matrix.expanders else [])]


def _show_progress(as_json: bool) -> bool:
    return not as_json and sys.stderr.isatty()


def _emit(report: Any, as_json: bool, out: Path, name: str | None) -> None:
    from qmdr.bench.report import emit

    for path in emit(report, as_json=as_json, results_dir=out, name=name):
        render.say(err_console, f"wrote {path}")


@bench_app.command("quality")
def quality(
    dataset_dir: Annotated[Path, typer.Argument(help="BEIR layout: corpus.jsonl, queries.jsonl, qrels/test.tsv")],
    mode: Annotated[
        list[str] | None,
        typer.Option(
            "--mode",
            help="keyword, vector, hybrid, hybrid+rerank, hybrid+expansion (repeatable or comma list; "
            "default: every mode the matrix configures)",
        ),
    ] = None,
    matrix_file: Annotated[
        Path | None, typer.Option("--matrix", help="YAML of embedder/reranker/expander configs (see README)")
    ] = None,
    embedder: Annotated[
        list[str] | None, typer.Option("--embedder", help="local | local-server | PROVIDER[:MODEL] (repeatable)")
    ] = None,
    rerank: Annotated[
        list[str] | None,
        typer.Option(
            "--rerank",
            help="none | llm (QMD_RERANK_* from the environment) | local-server | PROVIDER[:MODEL] (repeatable)",
        ),
    ] = None,
    expand: Annotated[
        list[str] | None,
        typer.Option("--expand", help="query expansion: none | llm | local-server | PROVIDER[:MODEL] (repeatable)"),
    ] = None,
    limit_queries: Annotated[
        int | None, typer.Option("--limit-queries", min=1, help="only the first N judged queries")
    ] = None,
    as_json: JsonOpt = False,
    out: OutOpt = DEFAULT_RESULTS_DIR,
    name: NameOpt = None,
    index_dir: Annotated[
        Path | None, typer.Option("--index-dir", help="keep the vault and indexes here so re-runs skip embedding")
    ] = None,
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", min=0, help="latency the local-server injects into every request")
    ] = 50.0,
) -> None:
    """Retrieval quality (nDCG@10, Recall@10/100, MRR@10, latency, API calls, tokens, cost) per mode and provider."""
    import asyncio

    from providers.errors import ProviderError
    from qmdr.bench.local_server import LocalProviderServer
    from qmdr.bench.quality import quality_async
    from qmdr.errors import QmdrError

    try:
        matrix = build_matrix(matrix_file, _split(embedder), _split(rerank), _split(expand))
    except (OSError, ValueError) as exc:
        raise fail(str(exc), 2) from None
    modes = _split(mode) or default_modes(matrix)
    server: LocalProviderServer | None = None
    try:
        if matrix.needs_local_server():
            server = LocalProviderServer(latency_ms=latency_ms).start()
            matrix.bind_local_server(server)
        wire = (lambda: sum(server.requests_by_path().values())) if server is not None else None
        report = asyncio.run(
            quality_async(
                dataset_dir,
                modes=modes,
                **matrix.factories(),
                price_models=matrix.price_models(),
                limit_queries=limit_queries,
                progress=_show_progress(as_json),
                index_dir=index_dir,
                wire_requests=wire,
                cleanup=matrix.aclose,
            )
        )
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc), 2) from None
    except (QmdrError, ProviderError) as exc:
        raise fail(str(getattr(exc, "message", None) or exc)) from None
    finally:
        if server is not None:
            server.stop()
    _emit(report, as_json, out, name)


@bench_app.command("speed")
def speed(
    sizes: Annotated[str, typer.Option("--sizes", help="comma list of chunk counts")] = "1000,10000,100000",
    seed: Annotated[int, typer.Option("--seed", help="seed of the synthetic vaults and queries")] = 42,
    no_http: Annotated[bool, typer.Option("--no-http", help="skip search latency over HTTP (uvicorn)")] = False,
    queries: Annotated[
        int | None,
        typer.Option("--queries", min=1, help="measured queries per mode (default 200; fewer for a quick smoke run)"),
    ] = None,
    real_max: Annotated[
        int | None,
        typer.Option(
            "--real-max",
            min=0,
            help="largest size embedded with the real model; larger ones use the hashing embedder (default 1000)",
        ),
    ] = None,
    no_embedders: Annotated[
        bool, typer.Option("--no-embedders", help="skip the embedded model vs sentence-transformers comparison")
    ] = False,
    as_json: JsonOpt = False,
    out: OutOpt = DEFAULT_RESULTS_DIR,
    name: NameOpt = None,
) -> None:
    """Indexing throughput, incremental reindex, search latency p50/p95/p99, KNN vs numpy, embedders, peak RSS."""
    from qmdr.bench.speed import run_speed

    try:
        chunk_counts = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise fail("--sizes must be a comma list of whole numbers, e.g. 1000,10000", 2) from None
    if not chunk_counts or min(chunk_counts) < 1:
        raise fail("--sizes needs at least one positive chunk count", 2)
    options: dict[str, Any] = {"embedders": not no_embedders}
    if queries is not None:
        options["queries_per_mode"] = queries
    if real_max is not None:
        options["real_embedder_max_chunks"] = real_max
    report = run_speed(chunk_counts, seed=seed, http=not no_http, progress=_show_progress(as_json), **options)
    _emit(report, as_json, out, name)
