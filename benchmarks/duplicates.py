"""Where should near-duplicate detection draw the line? Paraphrase pairs vs related and unrelated pairs on Cranfield.

``python benchmarks/duplicates.py /work/shared/data/cranfield [--docs 150] [--seed 7]``

A note write is reported as a near duplicate (``qmdr.memory.corrections``)
when one of its chunks has cosine similarity >= ``QMDR_DUPLICATE_THRESHOLD``
with a stored chunk, both embedded by the embedded model. This measures that
rule on real text, with pairs built from the Cranfield abstracts:

* **duplicates** (should be flagged): an abstract and a rewrite of it, the way
  an agent restates a fact it already stored. Three rewrites, one per
  abstract and kind, all seeded: ``reordered`` (sentences in another order,
  10% of words dropped), ``noisy`` (25% of words dropped, 10% of neighbours
  swapped), ``condensed`` (only the first half of the sentences: a shorter
  restatement).
* **related** (should not be flagged, the hard case): two *different*
  abstracts judged relevant to the same Cranfield query: same topic, other
  facts. An agent writing a new finding on a known topic must not be told it
  is a duplicate.
* **unrelated** (should not be flagged): two random different abstracts.

Similarity is the cosine of the two texts' embeddings, exactly as the write
path computes it (``Embedder.embed``, L2-normalised rows). For each threshold
the report gives precision and recall of "similarity >= threshold" for
duplicates against related + unrelated pairs (as many negatives as positives,
half related, half unrelated), and picks the threshold with the best F1
among those that flag at most 1% of the *related* pairs: a false "duplicate"
with ``on_duplicate: skip`` loses a new fact on a known topic, the common case
in an agent's vault, while a missed one only stores a copy.

Writes ``benchmarks/results/duplicates.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # so `qmdr` imports when run as a script from a checkout

RESULTS_DIR = ROOT / "benchmarks" / "results"
RESULTS_NAME = "duplicates"
#: abstracts shorter than this many words make rewrites that are mostly the same few words
MIN_WORDS = 40
#: a false "duplicate" can lose a memory (on_duplicate: skip): the chosen threshold flags at most this share of
#: related pairs (same topic, other facts: what an agent writes most)
MAX_RELATED_FLAGGED = 0.01
THRESHOLDS = [round(t, 2) for t in np.arange(0.50, 0.99, 0.01)]


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.;])\s+", text) if len(s.split()) >= 3]


def drop_words(words: list[str], share: float, rng: random.Random) -> list[str]:
    kept = [w for w in words if rng.random() >= share]
    return kept or words[:1]


def rewrite(text: str, kind: str, rng: random.Random) -> str:
    parts = sentences(text) or [text]
    if kind == "reordered":
        order = parts[:]
        rng.shuffle(order)
        return " ".join(drop_words(" ".join(order).split(), 0.10, rng))
    if kind == "noisy":
        words = drop_words(text.split(), 0.25, rng)
        for i in range(len(words) - 1):
            if rng.random() < 0.10:
                words[i], words[i + 1] = words[i + 1], words[i]
        return " ".join(words)
    if kind == "condensed":
        return " ".join(parts[: max(1, len(parts) // 2)])
    raise ValueError(kind)


def load(dataset: Path) -> tuple[dict[str, str], dict[str, set[str]]]:
    corpus = {}
    for line in (dataset / "corpus.jsonl").read_text().splitlines():
        doc = json.loads(line)
        corpus[str(doc["_id"])] = doc["text"]
    relevant: dict[str, set[str]] = defaultdict(set)
    for line in (dataset / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        query, doc, score = line.split("\t")
        if int(score) > 0 and doc in corpus:
            relevant[query].add(doc)
    return corpus, relevant


def build_pairs(
    corpus: dict[str, str], relevant: dict[str, set[str]], docs: int, seed: int
) -> dict[str, list[tuple[str, str]]]:
    rng = random.Random(seed)
    eligible = sorted((d for d, t in corpus.items() if len(t.split()) >= MIN_WORDS), key=int)
    chosen = rng.sample(eligible, min(docs, len(eligible)))
    pairs: dict[str, list[tuple[str, str]]] = {"reordered": [], "noisy": [], "condensed": []}
    for kind in pairs:
        for doc in chosen:
            pairs[kind].append((corpus[doc], rewrite(corpus[doc], kind, rng)))
    positives = sum(len(v) for v in pairs.values())
    related: list[tuple[str, str]] = []
    candidates = [
        (a, b)
        for docs_ in relevant.values()
        for a in sorted(docs_)
        for b in sorted(docs_)
        if a < b and len(corpus[a].split()) >= MIN_WORDS and len(corpus[b].split()) >= MIN_WORDS
    ]
    rng.shuffle(candidates)
    seen: set[tuple[str, str]] = set()
    for a, b in candidates:
        if (a, b) not in seen:
            seen.add((a, b))
            related.append((corpus[a], corpus[b]))
        if len(related) >= positives // 2:
            break
    unrelated = []
    while len(unrelated) < positives - len(related):
        a, b = rng.sample(eligible, 2)
        unrelated.append((corpus[a], corpus[b]))
    pairs["related"] = related
    pairs["unrelated"] = unrelated
    return pairs


async def embed_all(embedder: Any, texts: list[str], batch: int = 32) -> dict[str, np.ndarray]:
    """Each distinct text embedded once (an abstract appears in several pairs)."""
    unique = list(dict.fromkeys(texts))
    out: dict[str, np.ndarray] = {}
    for i in range(0, len(unique), batch):
        part = unique[i : i + batch]
        vectors = np.asarray(await embedder.embed(part), dtype=np.float32)
        out.update(zip(part, vectors, strict=True))
    return out


def similarities(vectors: dict[str, np.ndarray], pairs: list[tuple[str, str]]) -> np.ndarray:
    return np.array([float(vectors[a] @ vectors[b]) for a, b in pairs], dtype=np.float32)


def precision_recall(pos: np.ndarray, neg: np.ndarray, threshold: float) -> tuple[float, float, float]:
    tp = int(np.sum(pos >= threshold))
    fp = int(np.sum(neg >= threshold))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / len(pos)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--docs", type=int, default=150, help="abstracts rewritten (each gives 3 duplicate pairs)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print only; do not write benchmarks/results")
    args = parser.parse_args()

    from providers.local import load_local_embedder

    embedder = load_local_embedder()
    corpus, relevant = load(args.dataset)
    pairs = build_pairs(corpus, relevant, args.docs, args.seed)
    started = time.perf_counter()
    vectors = asyncio.run(embed_all(embedder, [t for p in pairs.values() for pair in p for t in pair]))
    scores = {kind: similarities(vectors, p) for kind, p in pairs.items()}
    seconds = time.perf_counter() - started
    pos = np.concatenate([scores[k] for k in ("reordered", "noisy", "condensed")])
    neg = np.concatenate([scores["related"], scores["unrelated"]])
    table = [
        {
            "threshold": t,
            **dict(zip(("precision", "recall", "f1"), precision_recall(pos, neg, t), strict=True)),
            "related_flagged": float(np.mean(scores["related"] >= t)),
        }
        for t in THRESHOLDS
    ]
    eligible = [row for row in table if row["related_flagged"] <= MAX_RELATED_FLAGGED]
    best = max(eligible or table, key=lambda r: (r["f1"], r["threshold"]))
    per_kind = {
        kind: {
            "pairs": len(s),
            "mean": float(np.mean(s)),
            "p05": float(np.percentile(s, 5)),
            "p50": float(np.percentile(s, 50)),
            "p95": float(np.percentile(s, 95)),
            "flagged_at_best": float(np.mean(s >= best["threshold"])),
        }
        for kind, s in scores.items()
    }
    result = {
        "model": embedder.model_id,
        "dim": int(embedder.dim),
        "docs": args.docs,
        "seed": args.seed,
        "positives": int(len(pos)),
        "negatives": int(len(neg)),
        "chosen": best,
        "per_kind": per_kind,
        "table": table,
        "seconds": round(seconds, 1),
        "machine": platform.platform(),
        "python": platform.python_version(),
    }
    lines = [
        "# Near-duplicate threshold on Cranfield",
        "",
        f"Model `{embedder.model_id}` ({embedder.dim} dims); {args.docs} abstracts (seed {args.seed}); "
        f"{len(pos)} duplicate pairs vs {len(neg)} non-duplicate pairs (half related, half unrelated); "
        f"`python benchmarks/duplicates.py DATA --docs {args.docs} --seed {args.seed}`; {platform.platform()}.",
        "",
        f"**Chosen threshold: {best['threshold']:.2f}** (best F1 flagging at most {MAX_RELATED_FLAGGED:.0%} of "
        "related pairs): "
        f"precision {best['precision']:.3f}, recall {best['recall']:.3f}, F1 {best['f1']:.3f}.",
        "",
        "| pairs | n | cosine p5 | median | p95 | share flagged at the chosen threshold |",
        "|---|---|---|---|---|---|",
    ]
    for kind, row in per_kind.items():
        lines.append(
            f"| {kind} | {row['pairs']} | {row['p05']:.3f} | {row['p50']:.3f} | {row['p95']:.3f} | "
            f"{row['flagged_at_best']:.3f} |"
        )
    lines += ["", "| threshold | precision | recall | F1 | related pairs flagged |", "|---|---|---|---|---|"]
    for row in table:
        if round(row["threshold"] * 100) % 5 == 0 or row is best:
            lines.append(
                f"| {row['threshold']:.2f} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | "
                f"{row['related_flagged']:.3f} |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        (RESULTS_DIR / f"{RESULTS_NAME}.md").write_text(text)
        (RESULTS_DIR / f"{RESULTS_NAME}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
