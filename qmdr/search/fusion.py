"""Rank fusion: combine ranked lists from different retrievers into one order.

Plain functions of plain data so they can be tested and tuned alone. Keyword
(BM25) and vector (cosine) scores live on unrelated scales, so we fuse by *rank*
with Reciprocal Rank Fusion (Cormack, Clarke and Buettcher, SIGIR 2009)::

    score(d) = sum over lists L containing d of  weight(L) / (k + rank_L(d))

with ranks starting at 1. A document near the top of either list scores well;
one found by both scores best.

``score_blend`` is the other classic: a convex combination of each list's
scores after scaling them to a common range (min-max or z-score), e.g.
``alpha * vector + (1 - alpha) * keyword``. It keeps *how much* better the first
hit is than the second, which RRF throws away, but depends on the list's depth
(the scaling is relative to the worst hit fetched) and on the scorers' shapes.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Literal, TypeVar

K = TypeVar("K", bound=Hashable)

#: RRF's smoothing constant. 60 is the value from the original paper and what most hybrid search
#: systems ship: it damps the gap between rank 1 and rank 2 so one list cannot dominate the fusion
RRF_K = 60

#: weight of a list not named in ``weights``: every retriever counts the same unless told otherwise
DEFAULT_WEIGHT = 1.0


def reciprocal_rank_fusion(
    ranked_lists: Mapping[str, Sequence[K]],
    k: int = RRF_K,
    weights: Mapping[str, float] | None = None,
) -> list[tuple[K, float]]:
    """Fuse ``{list name: keys best first}`` into ``[(key, score)]``, best first.

    A key repeated inside one list counts at its first (best) rank only. Ties
    are broken by the best rank the key reached in any list, then by the order
    the key was first seen (lists in the given order), so the result is
    deterministic.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    weights = weights or {}
    scores: dict[K, float] = {}
    best_rank: dict[K, int] = {}
    first_seen: dict[K, int] = {}
    for name, keys in ranked_lists.items():
        weight = weights.get(name, DEFAULT_WEIGHT)
        if weight < 0:
            raise ValueError(f"weight for {name!r} must be >= 0, got {weight}")
        seen_here: set[K] = set()
        for rank, key in enumerate(keys, start=1):
            if key in seen_here:
                continue
            seen_here.add(key)
            first_seen.setdefault(key, len(first_seen))
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
            best_rank[key] = min(best_rank.get(key, rank), rank)
    order = sorted(scores, key=lambda key: (-scores[key], best_rank[key], first_seen[key]))
    return [(key, scores[key]) for key in order]


def rank_positions(ranked_lists: Mapping[str, Sequence[K]]) -> dict[K, dict[str, int | None]]:
    """For every key, its 1-based rank in each list (None where the list lacks it).

    Search results report these so a caller can see *why* a result ranked
    where it did.
    """
    positions: dict[K, dict[str, int | None]] = {}
    for name, keys in ranked_lists.items():
        for rank, key in enumerate(keys, start=1):
            entry = positions.setdefault(key, dict.fromkeys(ranked_lists, None))
            if entry[name] is None:
                entry[name] = rank
    return positions


def max_rrf_score(list_names: Sequence[str], k: int = RRF_K, weights: Mapping[str, float] | None = None) -> float:
    """The score of a key ranked first in every list: the ceiling to normalise RRF scores into [0, 1]."""
    weights = weights or {}
    return sum(weights.get(name, DEFAULT_WEIGHT) for name in list_names) / (k + 1)


Normalisation = Literal["minmax", "zscore"]
NORMALISATIONS: tuple[str, ...] = ("minmax", "zscore")


def normalise(scores: Sequence[float], method: Normalisation = "minmax") -> list[float]:
    """``scores`` on a common scale: min-max to [0, 1], or z-scores (mean 0, standard deviation 1).

    A list whose scores are all equal (or a single score) has no spread to
    scale: min-max gives every entry 1.0 (each is the best of its list) and
    z-score gives 0.0 (each is the mean).
    """
    if method not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {', '.join(NORMALISATIONS)}, not {method!r}")
    if not scores:
        return []
    if method == "minmax":
        low, high = min(scores), max(scores)
        return [(s - low) / (high - low) if high > low else 1.0 for s in scores]
    mean = sum(scores) / len(scores)
    spread = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    return [(s - mean) / spread if spread > 0 else 0.0 for s in scores]


def score_blend(
    scored_lists: Mapping[str, Sequence[tuple[K, float]]],
    weights: Mapping[str, float] | None = None,
    normalisation: Normalisation = "minmax",
) -> list[tuple[K, float]]:
    """Fuse ``{list name: [(key, score)] best first}`` by the weighted sum of normalised scores, best first.

    Each list is normalised on its own (``normalise``) and measured from its
    lowest entry: a hit adds ``weight * (normalised - lowest normalised)``, a
    key the list did not return adds 0 (it ranked below everything the list
    fetched). Shifting a list by a constant does not change the order, and it
    keeps every score >= 0, so multiplicative boosts (recency, feedback)
    still raise what they boost. A list with no spread (one hit, or all
    tied) gives its hits 1.0 under either normalisation: a single exact
    keyword match must still lift its chunk above the chunks the keyword
    search did not find. A key repeated inside one list counts at its
    first entry. Ties break as in ``reciprocal_rank_fusion``: best rank in any
    list, then first seen.
    """
    weights = weights or {}
    normalised: dict[str, dict[K, float]] = {}
    best_rank: dict[K, int] = {}
    first_seen: dict[K, int] = {}
    for name, entries in scored_lists.items():
        weight = weights.get(name, DEFAULT_WEIGHT)
        if weight < 0:
            raise ValueError(f"weight for {name!r} must be >= 0, got {weight}")
        unique: dict[K, float] = {}
        for rank, (key, score) in enumerate(entries, start=1):
            if key in unique:
                continue
            unique[key] = float(score)
            first_seen.setdefault(key, len(first_seen))
            best_rank[key] = min(best_rank.get(key, rank), rank)
        normalised[name] = dict(zip(unique, _above_floor(list(unique.values()), normalisation), strict=True))
    _lift_flat_lists(normalised)
    scores = {
        key: sum(weights.get(name, DEFAULT_WEIGHT) * normalised[name].get(key, 0.0) for name in normalised)
        for key in first_seen
    }
    order = sorted(scores, key=lambda key: (-scores[key], best_rank[key], first_seen[key]))
    return [(key, scores[key]) for key in order]


def _lift_flat_lists(normalised: dict[str, dict[K, float]]) -> None:
    """Give the hits of a list with no spread the top value of the widest list (in place).

    A flat list (one keyword hit, or all tied) has no scale of its own, and 1.0
    is small beside a z-scored list, whose best entry sits several units above
    its floor: a lone exact keyword match was outvoted by the best of 40 noise
    vectors. Its hits are "above everything the list did not return", so they
    get what the best entry of a spread list gets.
    """
    tops = [max(values.values()) for values in normalised.values() if len(set(values.values())) > 1]
    if not tops:
        return
    lift = max(tops)
    for values in normalised.values():
        if values and len(set(values.values())) == 1:
            for key in values:
                values[key] = lift


def _above_floor(scores: list[float], method: Normalisation) -> list[float]:
    """Each score normalised and measured from the list's lowest (>= 0); 1.0 each when there is no spread."""
    if not scores or max(scores) == min(scores):
        return [1.0] * len(scores)
    scaled = normalise(scores, method)
    lowest = min(scaled)
    return [value - lowest for value in scaled]
