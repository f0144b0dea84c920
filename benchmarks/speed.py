"""Indexing and search speed on synthetic vaults: ``python benchmarks/speed.py --sizes 1000,10000,100000``.

Thin wrapper over ``qmdr.bench.run_speed`` (what ``qmdr bench speed`` runs).
Sizes above ``--real-max`` chunks use the deterministic hashing embedder (see
``qmdr/bench/speed.py``); the report says so. With ``--name`` it writes
``benchmarks/results/<name>.md``, ``.json`` and ``-latency.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qmdr.bench.report import emit  # noqa: E402
from qmdr.bench.speed import DEFAULT_REAL_EMBEDDER_MAX_CHUNKS, DEFAULT_SIZES, run_speed  # noqa: E402

RESULTS_DIR = ROOT / "benchmarks" / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="comma list of chunk counts")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-http", action="store_true", help="skip the over-HTTP latency (uvicorn)")
    parser.add_argument(
        "--real-max",
        type=int,
        default=DEFAULT_REAL_EMBEDDER_MAX_CHUNKS,
        help="largest size embedded with the real model (larger sizes use hashing)",
    )
    parser.add_argument("--no-embedders", action="store_true", help="skip the embedder comparison")
    parser.add_argument("--name", help="write benchmarks/results/<name>.md/.json/.png")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead of tables")
    args = parser.parse_args(argv)

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    report = run_speed(
        sizes,
        seed=args.seed,
        http=not args.no_http,
        progress=not args.json,
        real_embedder_max_chunks=args.real_max,
        embedders=not args.no_embedders,
    )
    for path in emit(report, as_json=args.json, results_dir=RESULTS_DIR, name=args.name):
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
