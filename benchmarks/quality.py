"""Retrieval quality on a BEIR-layout dataset: ``python benchmarks/quality.py DATASET_DIR``.

Thin wrapper over ``qmdr.bench.run_quality`` (the same code ``qmdr bench
quality`` runs). Prints a table, and with ``--name`` writes
``benchmarks/results/<name>.md``, ``.json`` and ``-quality.png``.

Examples::

    python benchmarks/quality.py /work/shared/data/cranfield --name cranfield
    python benchmarks/quality.py DATA --modes keyword,vector,hybrid,hybrid+rerank --matrix matrix.yaml
    python benchmarks/quality.py DATA --fake-provider   # provider matrix without keys (local test server)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # so `qmdr` imports when run as a script from a checkout

from qmdr.bench.local_server import LocalProviderServer  # noqa: E402
from qmdr.bench.matrix import LOCAL_SERVER, Matrix, load_matrix, local_server_entry  # noqa: E402
from qmdr.bench.quality import BASE_MODES, run_quality  # noqa: E402
from qmdr.bench.report import emit  # noqa: E402

RESULTS_DIR = ROOT / "benchmarks" / "results"


# Injected per-request latency of the fake provider: a typical round trip to a
# hosted embeddings/chat API from a laptop, so latency columns are not flattered.
FAKE_PROVIDER_LATENCY_MS = 150.0


def start_fake_provider(matrix: Matrix) -> LocalProviderServer:
    """Start the local OpenAI-compatible server and add its configs to ``matrix``.

    Embeddings are the embedded MiniLM behind HTTP (so quality matches "local"
    and only latency and call counts differ); chat is the word-overlap grader.
    """
    matrix.embedders[LOCAL_SERVER] = local_server_entry()
    matrix.rerankers[LOCAL_SERVER] = local_server_entry()
    matrix.expanders[LOCAL_SERVER] = local_server_entry()
    server = LocalProviderServer(latency_ms=FAKE_PROVIDER_LATENCY_MS).start()
    matrix.bind_local_server(server)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path, help="folder with corpus.jsonl, queries.jsonl, qrels/test.tsv")
    parser.add_argument(
        "--modes",
        default=",".join(BASE_MODES),
        help="comma list of keyword, vector, hybrid, hybrid+rerank, hybrid+expansion",
    )
    parser.add_argument("--matrix", type=Path, help="YAML of embedder/reranker/expander configs")
    parser.add_argument(
        "--fake-provider",
        action="store_true",
        help="add an OpenAI-compatible fake server (local model behind HTTP, word-overlap "
        "grader) to the matrix, so the matrix runs without keys",
    )
    parser.add_argument("--limit-queries", type=int, help="only the first N judged queries")
    parser.add_argument("--max-tokens", type=int, help="chunk budget (default: the product's)")
    parser.add_argument("--overlap-tokens", type=int, help="chunk overlap (default: the product's)")
    parser.add_argument("--fusion", choices=["rrf", "blend"], help="hybrid fusion (default: the product's)")
    parser.add_argument(
        "--blend-alpha", type=float, help="blend fusion: the vector list's share (default: the product's)"
    )
    parser.add_argument(
        "--normalisation", choices=["minmax", "zscore"], help="blend fusion: score scaling (default: the product's)"
    )
    parser.add_argument("--rrf-k", type=int, help="RRF constant for hybrid (default: the product's)")
    parser.add_argument("--keyword-weight", type=float, help="weight of the keyword list (default 1)")
    parser.add_argument("--vector-weight", type=float, help="weight of the vector list (default 1)")
    parser.add_argument(
        "--no-feedback",
        action="store_true",
        help="hybrid without pseudo-relevance feedback (the product's default has it)",
    )
    parser.add_argument(
        "--index-dir", type=Path, help="keep vault and index here between runs (re-runs skip embedding)"
    )
    parser.add_argument("--name", help="write benchmarks/results/<name>.md/.json/.png")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    args = parser.parse_args(argv)

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    matrix = load_matrix(args.matrix) if args.matrix else Matrix()
    kwargs = {
        k: v for k, v in {"max_tokens": args.max_tokens, "overlap_tokens": args.overlap_tokens}.items() if v is not None
    }
    searcher_options: dict = {
        name: value
        for name, value in (
            ("fusion", args.fusion),
            ("blend_alpha", args.blend_alpha),
            ("normalisation", args.normalisation),
            ("rrf_k", args.rrf_k),
        )
        if value is not None
    }
    weights = {
        name: w for name, w in (("keyword", args.keyword_weight), ("vector", args.vector_weight)) if w is not None
    }
    if weights:
        searcher_options["weights"] = weights
    if args.no_feedback:
        searcher_options["feedback"] = False
    server = None
    if args.fake_provider:
        server = start_fake_provider(matrix)
    try:
        report = run_quality(
            args.dataset,
            modes=modes,
            **matrix.factories(),
            price_models=matrix.price_models(),
            limit_queries=args.limit_queries,
            progress=not args.json,
            searcher_options=searcher_options,
            index_dir=args.index_dir,
            cleanup=matrix.aclose,
            wire_requests=(lambda: sum(server.requests_by_path().values())) if server else None,
            **kwargs,
        )
    finally:
        if server is not None:
            server.stop()
    for path in emit(report, as_json=args.json, results_dir=RESULTS_DIR, name=args.name):
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
