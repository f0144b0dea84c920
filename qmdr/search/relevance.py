"""The relevance users see: the chance, in percent, that a person would judge a result relevant.

The number used to be rank-based (``(k + 1) / (k + rank)`` averaged over the
lists), so the first hit of any search scored ~50-100% whatever it was about:
unrelated notes showed ~48%. Here it is a logistic model over evidence that
means the same in every vault:

* ``coverage``: the share of the query's words (stop words left out) the
  result holds in its title, headings or text, matched on their first
  ``STEM_CHARS`` characters so "compressible" meets "compressibility";
* ``cosine``: the embedding similarity of result and query (hybrid and vector
  searches), an absolute scale for a given model;
* ``log(rank)``: where the search put it, which carries what the fusion and
  feedback know.

The weights were fitted on Cranfield (225 queries, the top 30 of each search,
judged relevant = 1), plus, as "unrelated" examples, each query's words
against the top 10 results of another query: the case of a vault that holds
nothing about the question. Fitted on one half of the queries, tested on the
other, the weights moved by under 0.3 and the distributions held; the
shipped weights are fitted on all of it (``benchmarks/results/cranfield-relevance.md``).
The cosine weight is for the embedded MiniLM; another model's similarities
sit on their own scale, so treat the figure as a ranking aid there.

Lists stay in the search's order (reordering a vault's list by this model
lost nDCG@10 on both halves): ``calibrated_relevance`` makes the numbers
non-increasing down the list with pool-adjacent-violators (the closest
non-increasing sequence), so a list never shows 49% above 98% and lists of
several vaults merge by relevance without breaking each vault's order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from qmdr.search.feedback import query_terms
from qmdr.search.keyword_query import words

#: characters of a word compared when counting the query's words in a result: a crude stem that joins
#: the long forms of one word ("compressible", "compressibility"); the weights were fitted with it
STEM_CHARS = 5
#: logistic weights per search mode: (intercept, coverage, log rank, cosine). Fitted on all of Cranfield;
#: fitted on each half alone they were within 0.3 of these (benchmarks/results/cranfield-relevance.md)
WEIGHTS: dict[str, tuple[float, float, float, float]] = {
    "hybrid": (-2.729, 1.282, -0.645, 3.083),
    "vector": (-3.011, 2.203, -0.510, 2.225),
    "keyword": (-2.157, 2.529, -0.540, 0.0),
}


class Scored(Protocol):
    """What the model reads from a search result (``qmdr.search.searcher.SearchResult`` has it)."""

    title: str
    heading_trail: tuple[str, ...]
    text: str
    scores: dict[str, float]


def stems(query: str) -> list[str]:
    """The query's words (``qmdr.search.feedback.query_terms``) cut to ``STEM_CHARS`` characters."""
    return [w[:STEM_CHARS] for w in query_terms(query)]


def coverage(wanted: Sequence[str], title: str, heading_trail: Sequence[str], text: str) -> float:
    """The share of the query's ``stems`` found in the result (0 to 1), compared on ``STEM_CHARS`` characters."""
    if not wanted:
        return 0.0
    held = {w[:STEM_CHARS] for w in words(" ".join([title, *heading_trail, text]))}
    return sum(1 for w in wanted if w in held) / len(wanted)


def relevance_probability(mode: str, coverage_share: float, rank: int, cosine: float | None) -> float:
    """The model's probability (0 to 1) for one result at 1-based ``rank``; ``cosine`` None counts as 0."""
    intercept, w_cover, w_rank, w_cos = WEIGHTS.get(mode, WEIGHTS["hybrid"])
    z = intercept + w_cover * coverage_share + w_rank * math.log(max(rank, 1)) + w_cos * (cosine or 0.0)
    return 1.0 / (1.0 + math.exp(-z))


def non_increasing(values: Sequence[float]) -> list[float]:
    """The closest non-increasing sequence to ``values`` (least squares; pool-adjacent-violators)."""
    blocks: list[list[float]] = []  # [mean, size]
    for value in values:
        blocks.append([value, 1.0])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            mean, size = blocks.pop()
            blocks[-1] = [(blocks[-1][0] * blocks[-1][1] + mean * size) / (blocks[-1][1] + size), blocks[-1][1] + size]
    out: list[float] = []
    for mean, size in blocks:
        out.extend([mean] * int(size))
    return out


def calibrated_relevance(query: str, results: Sequence[Scored], mode: str) -> list[float]:
    """Relevance in percent (one decimal) for ``results`` in their order, non-increasing down the list.

    The cosine is ``scores["cosine"]`` (the searcher's similarity of each returned
    result to the query), else the vector list's own score; keyword searches have none.
    """
    wanted = stems(query)
    raw = []
    for rank, result in enumerate(results, start=1):
        cosine = result.scores.get("cosine", result.scores.get("vector")) if mode != "keyword" else None
        share = coverage(wanted, result.title, result.heading_trail, result.text)
        raw.append(relevance_probability(mode, share, rank, cosine))
    return [round(100.0 * p, 1) for p in non_increasing(raw)]
