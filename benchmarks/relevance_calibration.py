"""Fit and check the calibrated relevance (``qmdr.search.relevance``) on a BEIR dataset.

``python benchmarks/relevance_calibration.py /work/shared/data/cranfield --index-dir DIR [--name N]``

On the index ``quality.py --index-dir DIR`` kept, every judged query is searched
through the product ``Searcher`` in each mode (top 30, one chunk per document).
Each result gets the model's features (query-word coverage, log rank, cosine
to the query) and a label (judged relevant or not). As "unrelated" examples,
each query's words are also scored against the top 10 results of another
query (a seeded random one; pairs where the other query's result is judged
relevant for this one are skipped): a vault that holds nothing about the
question.

It prints the logistic weights fitted on all queries and on each half (odd /
even ids), the nDCG@10 of reordering each half's lists by the model fitted
on the other half (the reason lists keep the search's order), and writes the
distributions of the shipped ``relevance`` (the product's own numbers, top
10) for judged-relevant, unjudged and unrelated results: ``results/N.md`` and
``results/N.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from providers.local import load_local_embedder  # noqa: E402
from qmdr.bench import report as rpt  # noqa: E402
from qmdr.bench.beir import load_beir, write_vault  # noqa: E402
from qmdr.bench.metrics import ndcg_at_k  # noqa: E402
from qmdr.search.relevance import calibrated_relevance, coverage, stems  # noqa: E402
from qmdr.search.searcher import Searcher  # noqa: E402
from qmdr.store.sqlite import SqliteStore  # noqa: E402

MODES = ("hybrid", "keyword", "vector")
#: results per query the weights are fitted on; the distributions are over the top 10 (what users read)
FIT_DEPTH = 30
SHOWN = 10
GROUPS = ("judged relevant", "unjudged", "unrelated question")


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, rounds: int = 50) -> np.ndarray:
    """Newton's method for L2-regularised logistic regression (a few features, thousands of rows)."""
    w = np.zeros(x.shape[1])
    for _ in range(rounds):
        p = 1.0 / (1.0 + np.exp(-x @ w))
        gradient = x.T @ (p - y) / len(y) + l2 * w
        hessian = (x.T * (p * (1 - p))) @ x / len(y) + l2 * np.eye(len(w))
        w -= np.linalg.solve(hessian, gradient)
    return w


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--overlap-tokens", type=int, default=32)
    parser.add_argument("--name", default="cranfield-relevance")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    data = load_beir(args.dataset)
    queries = list(data.judged_queries().items())
    with tempfile.TemporaryDirectory() as tmp:
        mapping = write_vault(data, Path(tmp))
    store = SqliteStore(args.index_dir / f"{data.name}-local-{args.max_tokens}-{args.overlap_tokens}.db")
    embedder = load_local_embedder()
    rng = random.Random(args.seed)
    query_vectors = {
        qid: v / np.linalg.norm(v)
        for (qid, _), v in zip(queries, embedder.embed_sync([t for _, t in queries]), strict=True)
    }

    def as_answer_to(qid: str, results: list) -> list:
        """``results`` (found for another query) with their cosine to ``qid``'s query instead."""
        stored = store.vectors_of([r.chunk_hash for r in results])
        out = []
        for r in results:
            vector = stored[r.chunk_hash]
            cosine = float(vector @ query_vectors[qid] / np.linalg.norm(vector))
            scores = {k: v for k, v in r.scores.items() if k not in ("vector", "cosine")}
            out.append(replace(r, scores={**scores, "cosine": cosine}))
        return out

    async def run(mode: str) -> dict[str, list]:
        searcher = Searcher(store, embedder)
        return {
            qid: list((await searcher.search(text, mode=mode, k=FIT_DEPTH, snippets=False, per_note=True)).results)
            for qid, text in queries
        }

    lines = [
        f"# Calibrated relevance on {data.name}",
        "",
        f"{len(queries)} judged queries; product `Searcher`, top {FIT_DEPTH} documents per query plus "
        "10 unrelated ones for the fit, "
        f"the shipped `relevance` of the top {SHOWN} for the distributions. Unrelated: each query's words "
        "against the top 10 results of another (seeded random) query. Weights: intercept, coverage, "
        "log rank, cosine.",
        "",
    ]
    figure_data: dict[str, dict[str, list[float]]] = {}
    text_of = dict(queries)
    for mode in MODES:
        found = asyncio.run(run(mode))
        features: list[tuple[str, list[float], int, str, int]] = []  # qid, x, label, doc, rank
        shown: dict[str, list[float]] = {g: [] for g in GROUPS}
        others = list(found)
        for qid, results in found.items():
            judged = data.qrels[qid]
            wanted = stems(text_of[qid])
            for rank, r in enumerate(results, start=1):
                doc = mapping.doc_for(r.path) or ""
                cosine = r.scores.get("cosine", r.scores.get("vector", 0.0)) if mode != "keyword" else 0.0
                x = [1.0, coverage(wanted, r.title, r.heading_trail, r.text), math.log(rank), cosine]
                features.append((qid, x, int(judged.get(doc, 0) > 0), doc, rank))
                if rank <= SHOWN:
                    shown["judged relevant" if judged.get(doc, 0) > 0 else "unjudged"].append(r.relevance)
            other = rng.choice([q for q in others if q != qid])
            foreign = as_answer_to(
                qid, [r for r in found[other][:SHOWN] if judged.get(mapping.doc_for(r.path) or "", 0) <= 0]
            )
            shown["unrelated question"].extend(calibrated_relevance(text_of[qid], foreign, mode))
            for rank, r in enumerate(foreign, start=1):  # the unrelated examples the weights are fitted with
                cosine = r.scores["cosine"] if mode != "keyword" else 0.0
                x = [1.0, coverage(wanted, r.title, r.heading_trail, r.text), math.log(rank), cosine]
                features.append((qid, x, 0, "", -rank))  # negative rank: not part of the query's own list
        columns = slice(0, 3) if mode == "keyword" else slice(0, 4)

        def design(
            rows: list[tuple[str, list[float], int, str, int]], columns: slice = columns
        ) -> tuple[np.ndarray, np.ndarray]:
            return np.array([x[columns] for _, x, _, _, _ in rows]), np.array([y for _, _, y, _, _ in rows])

        lines += [
            f"## {mode}",
            "",
            "| fitted on | weights | the other half reordered by it: nDCG@10 search order -> model order |",
            "|---|---|---|",
        ]
        lines.append(f"| all | {np.round(fit_logistic(*design(features)), 3).tolist()} | - |")
        for name, odd in (("odd half", True), ("even half", False)):
            train = [f for f in features if (int(f[0]) % 2 == 1) == odd]
            test = [f for f in features if (int(f[0]) % 2 == 1) != odd]
            w = fit_logistic(*design(train))
            probability = 1.0 / (1.0 + np.exp(-design(test)[0] @ w))
            per_query: dict[str, list[tuple[int, float, str]]] = {}
            for (qid, _, _, doc, rank), p in zip(test, probability, strict=True):
                if rank > 0:
                    per_query.setdefault(qid, []).append((rank, float(p), doc))
            before = np.mean([ndcg_at_k([d for _, _, d in sorted(v)], data.qrels[q]) for q, v in per_query.items()])
            after = np.mean(
                [
                    ndcg_at_k([d for _, _, d in sorted(v, key=lambda t: -t[1])], data.qrels[q])
                    for q, v in per_query.items()
                ]
            )
            lines.append(f"| {name} | {np.round(w, 3).tolist()} | {before:.4f} -> {after:.4f} |")
        lines += [
            "",
            f"Shipped `relevance` (percent) of the top {SHOWN}:",
            "",
            "| results | n | p10 | median | p90 | mean | under 10% |",
            "|---|---|---|---|---|---|---|",
        ]
        for group in GROUPS:
            values = np.array(shown[group])
            lines.append(
                f"| {group} | {len(values)} | {np.percentile(values, 10):.1f} | {np.median(values):.1f} | "
                f"{np.percentile(values, 90):.1f} | {values.mean():.1f} | {(values < 10).mean():.1%} |"
            )
        lines.append("")
        figure_data[mode] = shown
        print("\n".join(lines[-12:]), flush=True)

    out = ROOT / "benchmarks" / "results"
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    plt = rpt.pyplot()
    fig, axes = plt.subplots(1, len(MODES), figsize=(13, 3.8), sharey=True)
    bins = np.linspace(0, 100, 41)
    for ax, mode in zip(axes, MODES, strict=True):
        for group, colour in zip(GROUPS, ("#2a7f3f", "#4878a8", "#c0504d"), strict=True):
            ax.hist(figure_data[mode][group], bins=bins, density=True, alpha=0.5, color=colour, label=group)
        ax.set_title(f"{mode}: relevance of the top {SHOWN}")
        ax.set_xlabel("relevance (%)")
    axes[0].set_ylabel("density")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / f"{args.name}.png", dpi=110)
    print(f"wrote {out / (args.name + '.md')} and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
