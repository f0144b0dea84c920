"""Memory search: keyword (BM25) and vector (KNN) retrieval, fused (score blend or RRF), optionally reranked.

``Searcher.search`` is the whole query path: both lists, their fusion, in hybrid
mode a second fusion with pseudo-relevance feedback (``qmdr.search.feedback``),
the optional rerank, then each returned result's calibrated ``relevance``
(``qmdr.search.relevance``). Each stage is timed and reported
(``SearchResponse.timings_ms``), and each result says where it ranked in every
list (``ranks``) and with what raw score (``scores``), so a caller can see why
it came back. Optional stages degrade instead of failing: a hybrid search
whose query embedding fails or takes longer than ``embed_budget_s``, or whose
index was built by another model, falls back to keyword results with a
warning; a reranker reports its own failures as warnings (``RerankOutcome``).

The embedder and reranker are injected (``Embedder``, ``Reranker``), never
looked up, so tests and the benchmark drive the real code with their own.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

import anyio
import anyio.to_thread

from providers.embedder import Embedder
from providers.errors import ProviderError, ProviderTimeout
from qmdr.embedding import QueryEmbeddingCache
from qmdr.errors import InvalidQuery, ModelMismatch
from qmdr.search.feedback import (
    FEEDBACK_POOL,
    MIN_FEEDBACK_CANDIDATES,
    ROCCHIO_DOCS,
    expansion_terms,
    pool_bm25,
    query_terms,
    rocchio,
    tokenise,
)
from qmdr.search.fusion import (
    NORMALISATIONS,
    RRF_K,
    Normalisation,
    rank_positions,
    reciprocal_rank_fusion,
    score_blend,
)
from qmdr.search.keyword_query import unspaced_runs
from qmdr.search.limits import MAX_EMBED_QUERY_CHARS, MAX_QUERY_CHARS
from qmdr.search.relevance import calibrated_relevance
from qmdr.search.snippets import make_snippet, snippet_source, snippet_terms
from qmdr.store.base import Filters, Hit, Store

if TYPE_CHECKING:  # numpy is imported by the vector steps: a keyword search never loads it (~60 ms a CLI call)
    import numpy as np

SearchMode = Literal["hybrid", "keyword", "vector"]
MODES: tuple[str, ...] = ("hybrid", "keyword", "vector")
FusionMethod = Literal["rrf", "blend"]
FUSIONS: tuple[str, ...] = ("rrf", "blend")

# --- hybrid fusion defaults -------------------------------------------------------------------------
# Chosen on Cranfield (225 queries, document-level nDCG@10, stop words dropped from the keyword query)
# through the product path, and checked on both halves of the query set (odd / even query ids) so the
# choice does not fit one half's noise. Full tables: benchmarks/results/cranfield-tuning.md; reasons:
# benchmarks/README.md ("why each default is what it is"). Figures below: all / odd half / even half.
#: how hybrid search fuses its keyword and vector lists. "blend" (z-scored scores, equal shares):
#: 0.407 / 0.402 / 0.413 against RRF k=60's 0.395 / 0.399 / 0.392, better on both halves; it keeps how far
#: ahead a list's first hit is, which RRF's ranks throw away. "rrf" stays available (and is what
#: qmdr.memory.hub uses across vaults, where scores of different indexes do not compare).
DEFAULT_FUSION: FusionMethod = "blend"
#: RRF's constant when fusion="rrf": the paper's 60 (qmdr.search.fusion.RRF_K). k=10 measured +0.006 (0.401) but
#: lost on the odd half with 50 candidates, so the literature value stays
DEFAULT_RRF_K = RRF_K
#: "blend": the vector list's share (keyword gets 1 - alpha). 0.5 is "no preference", and the only share
#: that is near the top on both halves (0.4: 0.398 / 0.407, 0.6: 0.390 / 0.412); not tuned further
DEFAULT_BLEND_ALPHA = 0.5
#: "blend": how each list's scores are put on one scale. z-score (mean 0, sd 1 over the candidates) beat
#: min-max (0.405 / 0.397 / 0.412): min-max hangs each list on its single best and worst hit
DEFAULT_NORMALISATION: Normalisation = "zscore"

#: pseudo-relevance feedback after the first fusion (``qmdr.search.feedback``): RM3-style expansion terms
#: rescore the top candidates and a Rocchio-moved query vector replaces the vector list. Cranfield hybrid
#: nDCG@10 0.409 -> 0.435 (odd half 0.402 -> 0.428, even 0.417 -> 0.441); see benchmarks/README.md
DEFAULT_FEEDBACK = True
#: names of the lists feedback adds: the rescored candidates, and the scan with the moved query vector
#: (which takes the original vector list's place in the fusion; its ranks are still reported)
KEYWORD_FEEDBACK = "keyword:feedback"
VECTOR_FEEDBACK = "vector:feedback"

#: results per search; more is paging, and rerank cost grows with it
MAX_K = 100
#: candidates each retriever returns before fusion: enough depth for fusion to find agreement between
#: the lists (and for the reranker's top 30) at a few ms of hydration cost. The blend's z-scores are taken
#: over these: Cranfield hybrid nDCG@10 is 0.404 at 50 and 0.407 at 100 (the benchmark's depth); on the
#: Cranfield index 100 cost no measurable latency over 50 (hybrid p50 27.3 vs 27.0 ms, same run)
DEFAULT_CANDIDATES = 100
#: upper bound on candidates: each is hydrated with its text and may be sent to the reranker
MAX_CANDIDATES = 500
#: recent query vectors kept; an agent repeats and refines queries within a session
DEFAULT_QUERY_CACHE_SIZE = 256
#: each expansion's lists count this much relative to the original query's, so alternative
#: phrasings add recall without outvoting what was asked (the ratio of qmdr.search.expand.ORIGINAL_QUERY_WEIGHT)
EXPANSION_WEIGHT = 0.5
#: seconds a search waits for its query embedding: a hung or overloaded embeddings provider must not
#: hold a search for minutes (a remote call normally takes well under a second, a cold one a few).
#: Past it, hybrid search answers from keywords with a warning and vector search fails with a 504.
DEFAULT_EMBED_QUERY_BUDGET_S = 5.0


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One chunk in the answer, with the evidence for its position."""

    path: str
    title: str
    heading_trail: tuple[str, ...]
    start_line: int
    end_line: int
    snippet: str
    text: str
    score: float  # hybrid: fused score (RRF or blend); keyword: -bm25; vector: cosine; reranked: the rerank blend
    chunk_hash: str
    ranks: dict[str, int | None] = field(default_factory=dict)  # 1-based rank per list, None if absent
    scores: dict[str, float] = field(default_factory=dict)  # raw score per list, "rrf"/"blend", "cosine"
    tags: tuple[str, ...] = ()
    relevance: float = 0.0  # percent: calibrated chance a person judges it relevant (qmdr.search.relevance)


@dataclass(slots=True)
class SearchResponse:
    results: list[SearchResult]
    timings_ms: dict[str, float]  # embed_query, keyword, vector, fuse, rerank, total (+ expand)
    reranked: bool
    warnings: list[str]
    mode: str


R = TypeVar("R")
A = TypeVar("A")
B = TypeVar("B")


@dataclass(slots=True)
class RerankOutcome(Generic[R]):
    """What a reranker returns: every result, in its final order, and what happened.

    Defined here, at the seam search calls, and used by ``qmdr.search.rerank``;
    ``results`` is always complete and ordered.
    """

    results: list[R]
    reranked: bool
    warnings: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    calls: int = 0  # model requests made for this search (0 when every grade was cached)


@runtime_checkable
class VectorSource(Protocol):
    """A store that can hand back stored vectors (``SqliteStore``), which Rocchio feedback needs."""

    def vectors_of(self, chunk_hashes: Sequence[str]) -> dict[str, np.ndarray]: ...


class Reranker(Protocol):
    """Reorders search results; ``qmdr.search.rerank`` implements it. Must not raise for model failures."""

    async def rerank(self, query: str, results: Sequence[SearchResult]) -> RerankOutcome[SearchResult]: ...


class QueryExpander(Protocol):
    """Alternative phrasings of a query (``qmdr.search.expand.QueryExpander``); [] when it cannot."""

    async def expand(self, query: str) -> list[str]: ...


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


async def both(first: Callable[[], Awaitable[A]], second: Callable[[], Awaitable[B]]) -> tuple[A, B]:
    """Run two coroutines at once and return both results.

    A failure cancels the other and is raised as itself, not wrapped in an
    ``ExceptionGroup`` as a bare task group would: callers (and the API's
    error mapping) catch ``ProviderTimeout``, ``ModelMismatch``, ``StoreError``.
    """
    results: dict[int, Any] = {}
    errors: list[Exception] = []

    async with anyio.create_task_group() as group:

        async def run(slot: int, make: Callable[[], Awaitable[Any]]) -> None:
            try:
                results[slot] = await make()
            except Exception as exc:
                errors.append(exc)
                group.cancel_scope.cancel()

        group.start_soon(run, 0, first)
        group.start_soon(run, 1, second)
    if errors:
        raise errors[0]
    return results[0], results[1]


def with_snippets(results: Sequence[SearchResult], query: str) -> list[SearchResult]:
    """The results with their snippets filled in (made only for what is returned, after any rerank)."""
    terms = snippet_terms(query)
    return [replace(r, snippet=make_snippet(snippet_source(r), terms)) for r in results]


class Searcher:
    """Runs searches against one store with one embedder (and optionally a reranker and an expander)."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        reranker: Reranker | None = None,
        *,
        expander: QueryExpander | None = None,
        query_cache_size: int = DEFAULT_QUERY_CACHE_SIZE,
        rrf_k: int = DEFAULT_RRF_K,
        weights: dict[str, float] | None = None,
        embed_budget_s: float = DEFAULT_EMBED_QUERY_BUDGET_S,
        fusion: FusionMethod = DEFAULT_FUSION,
        blend_alpha: float = DEFAULT_BLEND_ALPHA,
        normalisation: Normalisation = DEFAULT_NORMALISATION,
        feedback: bool = DEFAULT_FEEDBACK,
    ) -> None:
        """``fusion``, ``rrf_k``, ``blend_alpha``, ``normalisation`` and ``weights`` (a multiplier per
        list kind, "keyword" and "vector") shape hybrid fusion, and ``feedback`` turns pseudo-relevance
        feedback on or off; the defaults are the measured ones above."""
        if embed_budget_s <= 0:
            raise ValueError(f"embed_budget_s must be > 0, got {embed_budget_s}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, not {fusion!r}")
        if not 0.0 <= blend_alpha <= 1.0:
            raise ValueError(f"blend_alpha must be between 0 and 1, got {blend_alpha}")
        if normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {', '.join(NORMALISATIONS)}, not {normalisation!r}")
        self.fusion = fusion
        self.feedback = feedback
        self.blend_alpha = blend_alpha
        self.normalisation = normalisation
        self.store = store
        self.embedder = embedder
        self.reranker = reranker
        self.expander = expander
        self.rrf_k = rrf_k
        self.weights = dict(weights or {})  # per list: "keyword", "vector" (default 1.0 each)
        self.embed_budget_s = embed_budget_s
        self.query_cache = QueryEmbeddingCache(query_cache_size)

    @staticmethod
    def _validate(query: str, mode: str, k: int, candidates: int) -> str:
        # lone surrogates (from JSON escapes) cannot be encoded for the embedder or SQLite: drop them
        text = query.encode("utf-8", "ignore").decode("utf-8").strip() if isinstance(query, str) else ""
        if not text:
            raise InvalidQuery("the query is empty: give some words to search for")
        if len(text) > MAX_QUERY_CHARS:
            raise InvalidQuery(f"the query has {len(text)} characters; the limit is {MAX_QUERY_CHARS}")
        if mode not in MODES:
            raise InvalidQuery(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if not 1 <= k <= MAX_K:
            raise InvalidQuery(f"k must be between 1 and {MAX_K}, got {k}")
        if candidates < 1:
            raise InvalidQuery(f"candidates must be at least 1, got {candidates}")
        return text

    async def search(
        self,
        query: str,
        *,
        mode: str = "hybrid",
        k: int = 10,
        filters: Filters = Filters(),
        candidates: int = DEFAULT_CANDIDATES,
        rerank: bool | None = None,
        expand: bool = False,
        snippets: bool = True,
        per_note: bool = False,
    ) -> SearchResponse:
        """Search the index; see the module docstring. Raises ``InvalidQuery`` for unusable input.

        ``snippets=False`` leaves every ``snippet`` empty: for callers that read ``text`` and ask for
        many results (the quality benchmark's 100), where snippets would cost more than the search.
        ``per_note=True`` counts ``k`` in notes: the best chunk of each note, up to ``k`` notes. A
        hybrid search fuses the same ``candidates`` per list either way (so its order does not change)
        and keeps every fused chunk instead of the first ``candidates``; a one-list search, whose order
        does not depend on its depth, fetches twice as deep until it has ``k`` notes (or the list ends
        or reaches ``MAX_CANDIDATES``).
        """
        text = self._validate(query, mode, k, candidates)
        depth = min(max(candidates, k), MAX_CANDIDATES)
        while True:
            response, longest = await self._search(text, mode, k, filters, depth, rerank, expand, snippets, per_note)
            if not per_note or mode == "hybrid" or len(response.results) >= k or depth >= MAX_CANDIDATES:
                return response
            if longest < depth:
                return response  # the list ended: there are no more notes to find
            depth = min(2 * depth, MAX_CANDIDATES)

    async def _search(
        self,
        text: str,
        mode: str,
        k: int,
        filters: Filters,
        depth: int,
        rerank: bool | None,
        expand: bool,
        snippets: bool,
        per_note: bool,
    ) -> tuple[SearchResponse, int]:
        """One search with ``depth`` candidates per list, and the length of its longest list; ``search``
        checked the arguments."""
        started = time.perf_counter()
        timings = dict.fromkeys(("embed_query", "keyword", "vector", "fuse", "rerank"), 0.0)
        warnings: list[str] = []

        phrasings, hypothetical = await self._expansions(text, expand, timings, warnings)
        keyword_texts = [text, *phrasings] if mode in ("hybrid", "keyword") else []
        vector_texts = [text, *phrasings, *hypothetical] if mode in ("hybrid", "vector") else []

        lists: dict[str, list[int]] = {}
        hits: dict[int, Hit] = {}
        raw: dict[str, dict[int, float]] = {}
        query_vectors: list[np.ndarray] = []

        def record(name: str, found: list[Hit]) -> None:
            lists[name] = [h.chunk_id for h in found]
            raw[name] = {h.chunk_id: h.score for h in found}
            for h in found:
                hits.setdefault(h.chunk_id, h)

        # Keyword search runs while the query is embedded: SQLite and numpy both release the GIL. The
        # stored model is read first because the store's connection is shared: asked for while the
        # keyword query holds it, the embedding would only start once the keyword side is done.
        stored_model = await anyio.to_thread.run_sync(self.store.embedding_model) if vector_texts else None
        keyword_found, vector_found = await both(
            lambda: self._keyword_lists(keyword_texts, depth, filters, timings),
            lambda: self._vector_lists(
                vector_texts, stored_model, mode, depth, filters, timings, warnings, query_vectors
            ),
        )
        for i, found in enumerate(keyword_found):
            record(_list_name("keyword", i), found)
        for i, found in enumerate(vector_found):
            record(_list_name("vector", i, hyde=bool(hypothetical) and i == len(vector_texts) - 1), found)

        t0 = time.perf_counter()
        fusing = list(lists)
        first = self._fused_order(lists, fusing, raw)
        timings["fuse"] = _ms(t0)
        if (
            self.feedback
            and mode == "hybrid"
            and lists.get("keyword")
            and lists.get("vector")
            and query_vectors
            and len(first) >= MIN_FEEDBACK_CANDIDATES
        ):
            t0 = time.perf_counter()
            moved = await self._feedback_lists(text, first, hits, query_vectors[0], depth, filters)
            for name, found in moved.items():
                record(name, found)
            if VECTOR_FEEDBACK in moved:
                fusing = [VECTOR_FEEDBACK if name == "vector" else name for name in fusing]
            fusing += [name for name in moved if name not in fusing]
            first = self._fused_order(lists, fusing, raw)
            timings["feedback"] = _ms(t0)
        t0 = time.perf_counter()
        results = self._results(first, lists, fusing, hits, raw, len(first) if per_note else depth)
        if per_note:
            results = best_per_note(results)
        timings["fuse"] += _ms(t0)

        reranked = False
        use_rerank = rerank if rerank is not None else self.reranker is not None
        if use_rerank and self.reranker is None:
            warnings.append("rerank requested but no reranker is configured; results are in fused order")
        elif use_rerank and results:
            t0 = time.perf_counter()
            outcome = await self.reranker.rerank(text, results)  # type: ignore[union-attr]
            timings["rerank"] = _ms(t0)
            results, reranked = list(outcome.results), bool(outcome.reranked)
            warnings.extend(outcome.warnings)
        t0 = time.perf_counter()
        # only the results returned: a snippet costs more than a fusion
        shown = with_snippets(results[:k], text) if snippets else results[:k]
        if query_vectors:
            shown = await anyio.to_thread.run_sync(self._with_cosine, shown, query_vectors[0])
        shown = [
            replace(r, relevance=value) for r, value in zip(shown, calibrated_relevance(text, shown, mode), strict=True)
        ]
        timings["fuse"] += _ms(t0)
        timings["total"] = _ms(started)
        longest = max((len(ids) for ids in lists.values()), default=0)
        return SearchResponse(
            results=shown, timings_ms=timings, reranked=reranked, warnings=warnings, mode=mode
        ), longest

    async def _keyword_lists(
        self, texts: list[str], depth: int, filters: Filters, timings: dict[str, float]
    ) -> list[list[Hit]]:
        t0 = time.perf_counter()
        found = [await anyio.to_thread.run_sync(self.store.keyword, q, depth, filters) for q in texts]
        timings["keyword"] = _ms(t0)
        return found

    async def _vector_lists(
        self,
        texts: list[str],
        stored_model: tuple[str, int] | None,
        mode: str,
        depth: int,
        filters: Filters,
        timings: dict[str, float],
        warnings: list[str],
        vectors_out: list[np.ndarray],
    ) -> list[list[Hit]]:
        """One nearest-neighbour list per text; the query vectors are appended to ``vectors_out``."""
        vectors = await self._query_vectors(texts, stored_model, mode, timings, warnings)
        vectors_out.extend(vectors)
        t0 = time.perf_counter()
        found = [await anyio.to_thread.run_sync(self.store.nearest, vector, depth, filters) for vector in vectors]
        timings["vector"] = _ms(t0)
        return found

    async def _expansions(
        self, text: str, expand: bool, timings: dict[str, float], warnings: list[str]
    ) -> tuple[list[str], list[str]]:
        """(phrasings, [hypothetical answer]) from the expander, or nothing."""
        if not expand:
            return [], []
        if self.expander is None:
            warnings.append("query expansion requested but no expander is configured")
            return [], []
        t0 = time.perf_counter()
        detailed = getattr(self.expander, "expand_detailed", None)
        if callable(detailed):
            expansion = await detailed(text)
            warnings.extend(expansion.warnings)
            phrasings = list(expansion.phrasings)
            hypothetical = [expansion.hypothetical] if expansion.hypothetical else []
        else:
            phrasings, hypothetical = list(await self.expander.expand(text)), []
        timings["expand"] = _ms(t0)
        return phrasings, hypothetical

    async def _query_vectors(
        self, texts: list[str], model: tuple[str, int] | None, mode: str, timings: dict[str, float], warnings: list[str]
    ) -> list[np.ndarray]:
        """Vectors for ``texts`` (cached by model and text), or [] when vector search cannot run.

        ``model`` is what the index was built with (``store.embedding_model()``).

        In hybrid mode a missing, mismatched, failing or too slow vector side
        becomes a warning and the search continues on keywords; in vector mode
        it raises (``ProviderTimeout`` past ``embed_budget_s``). An embedder
        that computes in a worker thread (the local model) finishes its current
        batch before the timeout can take effect; a remote call is cancelled.
        """
        if not texts:
            return []
        import numpy as np

        ours = (self.embedder.model_id, int(self.embedder.dim))
        if model is None:
            warnings.append("the index has no vectors yet (run `qmdr index`); vector search skipped")
            return []
        if model != ours:
            message = (
                f"the index was built with {model[0]} ({model[1]} dimensions) but queries are "
                f"embedded with {ours[0]} ({ours[1]}); run `qmdr index --rebuild`"
            )
            if mode == "vector":
                raise ModelMismatch(message, stored=model, requested=ours)
            warnings.append(f"vector search skipped: {message}")
            return []
        t0 = time.perf_counter()
        found = {t: self.query_cache.get(ours[0], t) for t in texts}
        missing = [t for t, v in found.items() if v is None]
        if missing:
            try:
                with anyio.fail_after(self.embed_budget_s):
                    fresh = np.asarray(
                        await self.embedder.embed([t[:MAX_EMBED_QUERY_CHARS] for t in missing]), dtype=np.float32
                    )
            except TimeoutError:
                message = (
                    f"the query embedding ({ours[0]}) took longer than {self.embed_budget_s:g}s; "
                    "check the embeddings provider or raise QMD_EMBED_QUERY_BUDGET_S"
                )
                if mode == "vector":
                    raise ProviderTimeout(message, model=ours[0]) from None
                warnings.append(f"vector search skipped: {message}")
                return []
            except ProviderError as exc:
                if mode == "vector":
                    raise
                warnings.append(f"vector search skipped: could not embed the query ({exc.message})")
                return []
            for t, vector in zip(missing, fresh, strict=True):
                found[t] = self.query_cache.put(ours[0], t, vector)
        timings["embed_query"] = _ms(t0)
        return [found[t] for t in texts]  # type: ignore[misc]

    def _fused_order(
        self, lists: dict[str, list[int]], fusing: Sequence[str], raw: dict[str, dict[int, float]]
    ) -> list[tuple[int, float]]:
        """``fusing``'s lists fused (``self.fusion``) into [(chunk id, score)] best first; one list as it is."""
        if len(fusing) == 1:
            (name,) = fusing
            return [(chunk_id, raw[name][chunk_id]) for chunk_id in lists[name]]
        weights = {name: self._list_weight(name) for name in fusing}
        if self.fusion == "blend":
            scored = {name: [(chunk_id, raw[name][chunk_id]) for chunk_id in lists[name]] for name in fusing}
            return score_blend(scored, weights, self.normalisation)
        return reciprocal_rank_fusion({name: lists[name] for name in fusing}, k=self.rrf_k, weights=weights)

    async def _feedback_lists(
        self,
        text: str,
        first: list[tuple[int, float]],
        hits: dict[int, Hit],
        query_vector: np.ndarray,
        depth: int,
        filters: Filters,
    ) -> dict[str, list[Hit]]:
        """The feedback lists (``qmdr.search.feedback``) drawn from the first fusion's top candidates.

        ``keyword:feedback``: the top ``FEEDBACK_POOL`` candidates rescored by
        the query's words plus RM3 expansion terms (not for queries in scripts
        written without spaces, whose words the scorer cannot split). ``vector:feedback``: the
        index scanned again with the query vector moved toward the top
        ``ROCCHIO_DOCS`` chunks' vectors (left out when the store cannot give
        stored vectors back, ``VectorSource``).
        """
        pool = [hits[chunk_id] for chunk_id, _ in first[:FEEDBACK_POOL]]
        found: dict[str, list[Hit]] = {}

        def rescore() -> list[Hit]:
            tokenised = [tokenise(h.title, h.text) for h in pool]
            own = query_terms(text)
            scores = pool_bm25(tokenised, [*own, *expansion_terms(tokenised, set(own))])
            ranked = sorted(((s, i) for i, s in enumerate(scores) if s > 0), key=lambda item: (-item[0], item[1]))
            return [replace(pool[i], score=s) for s, i in ranked]

        if not unspaced_runs(text):  # words of scripts without spaces are not tokens here (see keyword_query)
            found[KEYWORD_FEEDBACK] = await anyio.to_thread.run_sync(rescore)
        if isinstance(self.store, VectorSource):
            store = self.store

            def rescan() -> list[Hit]:
                top = [h.chunk_hash for h in pool[:ROCCHIO_DOCS]]
                stored = store.vectors_of(top)
                moved = rocchio(query_vector, [stored[h] for h in top if h in stored])
                return store.nearest(moved, depth, filters)

            found[VECTOR_FEEDBACK] = await anyio.to_thread.run_sync(rescan)
        return found

    def _with_cosine(self, results: list[SearchResult], query_vector: np.ndarray) -> list[SearchResult]:
        """``results`` with ``scores["cosine"]``, each one's similarity to the query (for its relevance),
        when the store can give stored vectors back."""
        if not results or not isinstance(self.store, VectorSource):
            return results
        import numpy as np

        stored = self.store.vectors_of([r.chunk_hash for r in results])
        query = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        query_norm = float(np.linalg.norm(query)) or 1.0
        out = []
        for r in results:
            vector = stored.get(r.chunk_hash)
            if vector is None:
                out.append(r)
                continue
            cosine = float(vector @ query) / ((float(np.linalg.norm(vector)) or 1.0) * query_norm)
            out.append(replace(r, scores={**r.scores, "cosine": cosine}))
        return out

    def _results(
        self,
        fused: list[tuple[int, float]],
        lists: dict[str, list[int]],
        fusing: Sequence[str],
        hits: dict[int, Hit],
        raw: dict[str, dict[int, float]],
        depth: int,
    ) -> list[SearchResult]:
        """The top ``depth`` of ``fused`` as results, with each one's rank and raw score in every list."""
        positions = rank_positions(lists)
        results = []
        for chunk_id, score in fused[:depth]:
            hit = hits[chunk_id]
            scores = {name: raw[name][chunk_id] for name in lists if chunk_id in raw[name]}
            if len(fusing) > 1:
                scores[self.fusion] = score
            results.append(
                SearchResult(
                    path=hit.note_path,
                    title=hit.title,
                    heading_trail=hit.heading_trail,
                    start_line=hit.start_line,
                    end_line=hit.end_line,
                    snippet="",
                    text=hit.text,
                    score=float(score),
                    chunk_hash=hit.chunk_hash,
                    ranks=dict(positions[chunk_id]),
                    scores=scores,
                    tags=hit.tags,
                )
            )
        return results

    def _list_weight(self, name: str) -> float:
        """A list's weight in the fusion: its kind's blend share (``blend``) times the caller's weight for
        the kind, times ``EXPANSION_WEIGHT`` for an expansion's list. The feedback lists count as much as
        the query's own: they are the query, sharpened."""
        kind = name.split(":")[0]
        weight = self.weights.get(kind, 1.0)
        if self.fusion == "blend":
            weight *= self.blend_alpha if kind == "vector" else 1.0 - self.blend_alpha
        if ":" in name and name not in (KEYWORD_FEEDBACK, VECTOR_FEEDBACK):
            weight *= EXPANSION_WEIGHT
        return weight


def best_per_note(results: Sequence[SearchResult]) -> list[SearchResult]:
    """The first (best) result of each note, in order."""
    seen: set[str] = set()
    kept = []
    for r in results:
        if r.path not in seen:
            seen.add(r.path)
            kept.append(r)
    return kept


def _list_name(kind: str, index: int, *, hyde: bool = False) -> str:
    """``keyword``/``vector`` for the query itself, ``keyword:1``... for expansions, ``vector:hyde``."""
    if index == 0:
        return kind
    return f"{kind}:hyde" if hyde else f"{kind}:{index}"
