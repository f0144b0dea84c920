"""Pseudo-relevance feedback: a second look at the first fused results, from both sides.

A hybrid search's first fusion is good at its top: the best few chunks are
usually about what was asked, and they name what the query did not (the
technical term for the user's words, the other half of a phrase). Feedback
takes that as evidence, with no model call:

* **keyword side, RM3-style** (Lavrenko and Croft's relevance model, as in
  Anserini's RM3): the words that weigh most in the top ``FEEDBACK_DOCS``
  chunks (term frequency in the chunk, weighted by the chunk's fused rank,
  stop words left out) become ``FEEDBACK_TERMS`` expansion terms. The query's
  own words plus these score the top ``FEEDBACK_POOL`` candidates by BM25 with
  the statistics of that pool (``pool_bm25``). Scoring only the pool, in
  Python, is what keeps this cheap: sent back to FTS5 as a query of 25-30
  terms, the expanded query cost 6x the first keyword search on the 10k-chunk
  speed vault, where every word matches most chunks.
* **vector side, Rocchio** (Rocchio 1971, positive feedback only): the query
  vector moves toward the centroid of the top ``ROCCHIO_DOCS`` chunks' vectors
  (``rocchio``) and the index is scanned once more with it.

The three lists (original keyword, feedback keyword, Rocchio vector) are then
blended with equal shares by ``qmdr.search.searcher``. Measured on Cranfield
over the product's index and lists (every variant tried, kept and dropped, per
half: ``benchmarks/results/cranfield-feedback.md``; the shipped setting against
``benchmarks/quality.py --no-feedback``); every constant below is the
literature's or a round value, and every combination of the two in the grid
beat the plain blend on both halves of the queries.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from qmdr.search.keyword_query import words
from qmdr.search.stopwords import STOP_WORDS

if TYPE_CHECKING:  # imported by rocchio, the one vector step: a keyword search imports no numpy
    import numpy as np

#: chunks of the first fusion the expansion terms are drawn from: Anserini's RM3 default (fbDocs=10)
FEEDBACK_DOCS = 10
#: expansion terms added to the query's own: 20 scored 0.435 nDCG@10 on Cranfield, 10 (Anserini's
#: fbTerms) 0.432; both beat the blend on both halves, 20 by more on the odd half
FEEDBACK_TERMS = 20
#: candidates (best fused first) the feedback keyword list scores. Its cost is tokenising these in Python
#: (~2-4 ms for 50 chunks of 256 tokens); 100 measured the same quality (0.435) at twice the cost
FEEDBACK_POOL = 50
#: chunks whose vectors make the Rocchio centroid: the top 3 (0.417 alone on Cranfield; 10 diluted it, 0.409)
ROCCHIO_DOCS = 3
#: how far the query vector moves toward that centroid (q + beta * centroid, then unit length); Rocchio's
#: classic positive weights are 0.5-0.75 of the query's; 0.5 beat 1.0 and 2.0 on the combined lists
ROCCHIO_BETA = 0.5
#: BM25's constants for the pool scorer: the usual k1 and b (FTS5 uses the same)
BM25_K1 = 1.2
BM25_B = 0.75
#: feedback needs a top that differs from the rest: with fewer fused candidates than this (2 x
#: FEEDBACK_DOCS) the feedback chunks are most of what was found and would only blur it (a small vault)
MIN_FEEDBACK_CANDIDATES = 2 * FEEDBACK_DOCS
#: words shorter than this are not expansion terms ("al", units, symbols): they carry no topic
MIN_TERM_CHARS = 3


def query_terms(query: str) -> list[str]:
    """The query's words as the feedback scorer counts them: lower-cased, stop words left out (unless
    nothing else is left), each once."""
    found = words(query)
    kept = [w for w in found if w not in STOP_WORDS] or found
    return list(dict.fromkeys(kept))


def expansion_terms(
    tokenised: Sequence[Sequence[str]], exclude: set[str], *, docs: int = FEEDBACK_DOCS, terms: int = FEEDBACK_TERMS
) -> list[str]:
    """The ``terms`` words that weigh most in the first ``docs`` token lists (best first).

    RM3's relevance model with the document weight taken from the fused rank
    (1 / rank: fused scores of blends and RRF are not probabilities): a word
    scores ``sum over feedback chunks of (1 / rank) * tf / length``. Stop words,
    numbers, short words and ``exclude`` (the query's own words) are skipped.
    Ties break by first appearance, so the result is deterministic.
    """
    weights: dict[str, float] = {}
    for rank, tokens in enumerate(tokenised[:docs], start=1):
        if not tokens:
            continue
        share = 1.0 / (rank * len(tokens))
        for word, count in Counter(tokens).items():
            if word in exclude or word in STOP_WORDS or len(word) < MIN_TERM_CHARS or word.isdigit():
                continue
            weights[word] = weights.get(word, 0.0) + share * count
    order = sorted(weights, key=lambda w: -weights[w])  # stable: equal weights keep first-seen order
    return order[:terms]


def pool_bm25(
    tokenised: Sequence[Sequence[str]], terms: Sequence[str], *, k1: float = BM25_K1, b: float = BM25_B
) -> list[float]:
    """BM25 of each token list for ``terms``, with document frequencies and lengths taken from the pool.

    The pool is the search's own candidates, so a word every candidate holds
    (the query's most common word, usually) weighs little and the words that
    tell candidates apart weigh most: that is the job of a second-stage score.
    """
    size = len(tokenised)
    if not size:
        return []
    counts = [Counter(tokens) for tokens in tokenised]
    lengths = [len(tokens) for tokens in tokenised]
    average = sum(lengths) / size or 1.0
    wanted = list(dict.fromkeys(terms))
    frequency = {w: sum(1 for c in counts if w in c) for w in wanted}
    idf = {w: math.log(1.0 + (size - n + 0.5) / (n + 0.5)) for w, n in frequency.items() if n}
    scores = []
    for count, length in zip(counts, lengths, strict=True):
        norm = k1 * (1.0 - b + b * length / average)
        scores.append(
            sum(weight * count[w] * (k1 + 1.0) / (count[w] + norm) for w, weight in idf.items() if w in count)
        )
    return scores


def rocchio(query: np.ndarray, feedback: Sequence[np.ndarray], beta: float = ROCCHIO_BETA) -> np.ndarray:
    """``query + beta * mean(feedback)``, at unit length (the query itself when there is no feedback)."""
    import numpy as np

    vector = np.asarray(query, dtype=np.float32).reshape(-1)
    if not feedback:
        return vector
    moved = vector + beta * np.mean(np.asarray(feedback, dtype=np.float32), axis=0)
    norm = float(np.linalg.norm(moved))
    return (moved / norm).astype(np.float32) if norm > 0 else vector


def tokenise(title: str, text: str) -> list[str]:
    """A candidate's words as the feedback scorer counts them (title and text, lower-cased)."""
    return words(f"{title} {text}")
