"""Retrieval metrics as pure functions of plain data.

Evaluation is at the document level: search returns chunks, and several chunks
of one document count once, at the rank of the document's best chunk (see
``collapse_to_docs``). Conventions follow trec_eval / BEIR so figures compare
with published ones:

- nDCG@k uses gain ``2**score - 1`` and log2 discount; the ideal ranking is built
  from *all* judged documents of the query, not only the retrieved ones.
- Recall@k and MRR@k count a document as relevant when its score is > 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

Qrels = dict[str, dict[str, int]]  # query id -> {doc id: graded relevance}


def collapse_to_docs(paths: Iterable[str], doc_for: Callable[[str], str | None]) -> list[str]:
    """Map ranked chunk note paths to ranked unique document ids.

    A document takes the rank of its first (best) chunk; later chunks of it are
    dropped, and paths that map to no document are skipped.
    """
    seen: set[str] = set()
    ranked: list[str] = []
    for path in paths:
        doc = doc_for(path)
        if doc is None or doc in seen:
            continue
        seen.add(doc)
        ranked.append(doc)
    return ranked


def _gain(score: int) -> float:
    return 2.0 ** max(score, 0) - 1.0


def dcg_at_k(gains: Sequence[float], k: int) -> float:
    """Discounted cumulative gain of the first ``k`` gains (rank 1 has discount log2(2) = 1)."""
    return sum(g / math.log2(rank + 2) for rank, g in enumerate(gains[:k]))


def ndcg_at_k(ranked_docs: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with gain 2^score - 1; 0.0 when the query has no relevant document."""
    ideal = sorted((_gain(s) for s in judged.values() if s > 0), reverse=True)
    idcg = dcg_at_k(ideal, k)
    if idcg == 0.0:
        return 0.0
    gains = [_gain(judged.get(doc, 0)) for doc in ranked_docs[:k]]
    return dcg_at_k(gains, k) / idcg


def recall_at_k(ranked_docs: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """Share of the relevant documents found in the top ``k``; 0.0 when none are relevant."""
    relevant = {doc for doc, s in judged.items() if s > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked_docs[:k])) / len(relevant)


def mrr_at_k(ranked_docs: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document within the top ``k``, else 0.0."""
    for rank, doc in enumerate(ranked_docs[:k], start=1):
        if judged.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


METRIC_NAMES = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


def query_metrics(ranked_docs: Sequence[str], judged: Mapping[str, int]) -> dict[str, float]:
    """The four reported metrics for one query."""
    return {
        "ndcg@10": ndcg_at_k(ranked_docs, judged, 10),
        "recall@10": recall_at_k(ranked_docs, judged, 10),
        "recall@100": recall_at_k(ranked_docs, judged, 100),
        "mrr@10": mrr_at_k(ranked_docs, judged, 10),
    }


def mean_metrics(per_query: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Macro average over queries (every query weighs the same)."""
    if not per_query:
        return {name: 0.0 for name in METRIC_NAMES}
    return {name: sum(q[name] for q in per_query) / len(per_query) for name in METRIC_NAMES}


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def latency_summary(values: Sequence[float], quantiles: Sequence[int] = (50, 95)) -> dict[str, float]:
    """``{"p50": .., "p95": ..}`` in the unit of ``values``, rounded for reports."""
    return {f"p{q}": round(percentile(values, q), 3) for q in quantiles}


def overlap_at_k(found: Sequence[object], exact: Sequence[object], k: int = 10) -> float:
    """Recall of an approximate top-k against the exact top-k (1.0 = identical sets)."""
    truth = set(exact[:k])
    if not truth:
        return 1.0
    return len(truth.intersection(found[:k])) / len(truth)
