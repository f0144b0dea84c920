"""Embeddings from a remote provider, behind the ``providers.embedder.Embedder`` seam.

``ProviderEmbedder`` splits texts into batches of ``batch_size`` and keeps at
most ``max_concurrency`` requests in flight (an ``asyncio.Semaphore``): enough
to hide network latency while indexing, few enough to stay under provider
rate limits. Rows come back in input order, as float32, L2-normalised (some
providers already normalise, some do not; the index's cosine search needs
unit vectors either way).

Dimension: pass ``dim`` when known (the catalog knows most models). With
``dimensions`` set (models that shorten their output, like OpenAI's
``text-embedding-3-*``), ``dim`` is that value and ``model_id`` becomes
``model@dimensions``, because vectors of different lengths from one model are
different vectors to the index. When neither is given, the dimension is
learnt from the first response (every later row must match it);
``discover_dim`` makes one tiny request for callers that need it up front,
such as recording the model in a fresh index before embedding anything.

``QueryEmbeddingCache`` keeps recent query vectors so an agent repeating a
search skips the embeddings call. (Chunk vectors are cached persistently in
the store, by model, dimension and chunk hash; that is not repeated here.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from providers.embedder import Embedder
from providers.errors import MalformedResponse
from qmdr.util.aio import run_all
from qmdr.util.lru import LRUCache

if TYPE_CHECKING:  # numpy is imported where an array is made: the searcher imports this module for its
    # query cache, and a keyword search makes no array (importing numpy costs a CLI call ~60 ms)
    import numpy as np

    from providers.types import EmbedResult

#: texts per embeddings request; OpenAI-style APIs take up to 2048 inputs, but 64 keeps
#: each request small enough to retry cheaply and to stay under per-request token caps
DEFAULT_BATCH_SIZE = 64
#: requests in flight at once: hides latency without tripping typical per-minute limits
DEFAULT_MAX_CONCURRENCY = 4
#: text sent by ``discover_dim``; any short text works, this one is easy to spot in provider logs
DIM_PROBE_TEXT = "dimension probe"
#: query vectors kept; at 1536 float32 dims each is 6 KB, so 1000 entries are ~6 MB
DEFAULT_QUERY_CACHE_SIZE = 1_000


class EmbedFn(Protocol):
    """One embeddings request with the model already chosen (``embed_fn_for`` binds a client)."""

    async def __call__(self, texts: list[str], *, dimensions: int | None) -> EmbedResult: ...


class EmbedClient(Protocol):
    """The part of ``providers.client.ProviderClient`` embedding uses."""

    async def embed(
        self, model: str, texts: Sequence[str], dimensions: int | None = None, batch_size: int | None = None
    ) -> EmbedResult: ...


def embed_fn_for(client: EmbedClient, model: str) -> EmbedFn:
    """Bind a provider client and a model string (``openrouter/openai/text-embedding-3-small``)."""

    async def embed(texts: list[str], *, dimensions: int | None) -> EmbedResult:
        # one request per call: ProviderEmbedder has already batched
        return await client.embed(model, texts, dimensions=dimensions, batch_size=len(texts))

    return embed


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32; an all-zero row stays zero rather than becoming NaN."""
    import numpy as np

    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


class ProviderEmbedder:
    """Implements ``Embedder`` over a provider's embeddings API."""

    def __init__(
        self,
        embed_fn: EmbedFn,
        *,
        model: str,
        dim: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        dimensions: int | None = None,
    ) -> None:
        if batch_size < 1 or max_concurrency < 1:
            raise ValueError("batch_size and max_concurrency must be >= 1")
        if dimensions is not None:
            if dimensions < 1:
                raise ValueError("dimensions must be >= 1")
            if dim is not None and dim != dimensions:
                raise ValueError(f"dim={dim} contradicts dimensions={dimensions}; give one of them")
            dim = dimensions
        self._embed_fn = embed_fn
        self.model = model
        self.dimensions = dimensions
        self.model_id = f"{model}@{dimensions}" if dimensions is not None else model
        self._dim = dim
        self.batch_size = batch_size
        self._semaphore = asyncio.Semaphore(max_concurrency)

    @property
    def dim(self) -> int:
        """Vector length; raises until known (pass ``dim``, or embed once, or ``discover_dim``)."""
        if self._dim is None:
            raise RuntimeError(
                f"the dimension of {self.model_id} is not known yet: call discover_dim() or embed() first"
            )
        return self._dim

    @property
    def dim_known(self) -> bool:
        return self._dim is not None

    async def discover_dim(self) -> int:
        """The vector length, asking the provider with one tiny request if it is not known yet."""
        if self._dim is None:
            await self.embed([DIM_PROBE_TEXT])
        return self.dim

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """An ``(len(texts), dim)`` float32 array of unit rows, in input order."""
        import numpy as np

        texts = list(texts)
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        batches = [texts[start : start + self.batch_size] for start in range(0, len(texts), self.batch_size)]
        rows = await run_all([self._embed_batch(batch) for batch in batches])  # a failure cancels the rest
        return np.concatenate(rows, axis=0)

    async def _embed_batch(self, texts: list[str]) -> np.ndarray:
        async with self._semaphore:
            result = await self._embed_fn(texts, dimensions=self.dimensions)
        return self._check(result, len(texts))

    def _check(self, result: EmbedResult, expected_rows: int) -> np.ndarray:
        """Validate one response's shape and turn it into unit float32 rows."""
        import numpy as np

        if len(result.vectors) != expected_rows:
            raise MalformedResponse(
                f"{self.model_id} returned {len(result.vectors)} vectors for {expected_rows} texts",
                model=self.model,
            )
        lengths = {len(v) for v in result.vectors}
        if len(lengths) != 1:
            raise MalformedResponse(
                f"{self.model_id} returned vectors of different lengths {sorted(lengths)}", model=self.model
            )
        (length,) = lengths
        if self._dim is None:
            self._dim = length
        elif length != self._dim:
            raise MalformedResponse(
                f"{self.model_id} returned {length}-dimensional vectors, expected {self._dim}; "
                f"check the model's dimension setting",
                model=self.model,
            )
        matrix = np.asarray(result.vectors, dtype=np.float32)
        if not np.isfinite(matrix).all():
            raise MalformedResponse(f"{self.model_id} returned non-finite vector values", model=self.model)
        return l2_normalise(matrix)


class QueryEmbeddingCache:
    """Recent query vectors by (embedder model_id, query text). Cached arrays are read-only."""

    def __init__(self, max_entries: int = DEFAULT_QUERY_CACHE_SIZE) -> None:
        self._cache: LRUCache[tuple[str, str], np.ndarray] = LRUCache(max_entries)

    def get(self, model_id: str, text: str) -> np.ndarray | None:
        return self._cache.get((model_id, text))

    def put(self, model_id: str, text: str, vector: np.ndarray) -> np.ndarray:
        """Store a private read-only copy of ``vector`` and return it."""
        import numpy as np

        stored = np.array(vector, dtype=np.float32)
        stored.setflags(write=False)
        self._cache.put((model_id, text), stored)
        return stored

    async def embed(self, embedder: Embedder, text: str) -> np.ndarray:
        """``text``'s vector (shape ``(dim,)``), from the cache or from one embed call."""
        vector = self.get(embedder.model_id, text)
        if vector is None:
            vector = self.put(embedder.model_id, text, (await embedder.embed([text]))[0])
        return vector

    @property
    def hits(self) -> int:
        return self._cache.hits

    @property
    def misses(self) -> int:
        return self._cache.misses

    def __len__(self) -> int:
        return len(self._cache)
