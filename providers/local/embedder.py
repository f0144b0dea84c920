"""The embedded default embedder: all-MiniLM-L6-v2 on numpy, no torch, no download.

Why numpy and how it is made fast enough (figures in benchmarks/results/embedder_speed.md):
the work is dominated by float32 matrix products, which OpenBLAS runs near the
core's peak, but numpy's elementwise steps (GELU, softmax, layer norm) run on
one core. So each batch is split between worker threads, one per core, and
BLAS is held to one thread meanwhile: every step of the forward pass then uses
every core, and the threads do not oversubscribe them.

Texts are sorted by token length before batching so each batch pads little;
the vectors are put back in input order.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from providers.local.model_files import check_model_dir, find_model_dir
from providers.local.tokenizer import MAX_TOKENS, WordpieceTokenizer, pad_batch

if TYPE_CHECKING:  # the forward pass (numpy, OpenBLAS) is imported by the first embed: see LocalEmbedder
    import numpy as np
    from threadpoolctl import ThreadpoolController

    from providers.local import bert

MODEL_ID = "local/all-MiniLM-L6-v2"
#: the model's hidden size (``bert.HIDDEN``), written out so that making an embedder imports no numpy
DIM = 384
DEFAULT_BATCH_SIZE = 32  # sentence-transformers' default; larger batches gain nothing on 2 cores
# More worker threads than cores only adds contention; more than this is beyond what one
# embedding call can keep busy at batch 32 (each thread needs several sequences to be efficient).
MAX_WORKERS = 8


def _available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


class LocalEmbedder:
    """all-MiniLM-L6-v2 sentence vectors (384 dims, mean pooled, L2-normalised) computed in process.

    Implements ``providers.embedder.Embedder``. Construction only finds the model
    files; the ~90 MB of weights are read on the first ``embed`` and the tokenizer
    on the first ``embed`` or ``count_tokens``, so a process that never embeds
    (``qmdr search --mode keyword``, ``qmdr status``) never pays for them, nor for
    importing numpy (~60 ms of wall time, twice that in CPU as OpenBLAS starts). Share
    one instance (see :func:`load_local_embedder`). Calls are serialised by a
    lock: two concurrent forward passes would only fight for the same cores.
    """

    model_id: str = MODEL_ID
    dim: int = DIM
    max_tokens: int = MAX_TOKENS

    def __init__(self, model_dir: Path | None = None, *, workers: int | None = None) -> None:
        self._folder = check_model_dir(model_dir) if model_dir is not None else find_model_dir()
        self._loaded_weights: bert.BertWeights | None = None
        self._loaded_tokenizer: WordpieceTokenizer | None = None
        self._workers = max(1, min(workers or _available_cores(), MAX_WORKERS))
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="minilm")
        self._blas: ThreadpoolController | None = None  # made by the first embed: see _one_blas_thread
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()  # apart from _lock: count_tokens may load while a batch runs

    @property
    def _tokenizer(self) -> WordpieceTokenizer:
        if self._loaded_tokenizer is None:
            with self._load_lock:
                if self._loaded_tokenizer is None:
                    self._loaded_tokenizer = WordpieceTokenizer(self._folder / "tokenizer.json")
        return self._loaded_tokenizer

    @property
    def _weights(self) -> bert.BertWeights:
        if self._loaded_weights is None:
            with self._load_lock:
                if self._loaded_weights is None:
                    from providers.local import bert

                    self._loaded_weights = bert.load_weights(self._folder / "model.safetensors")
        return self._loaded_weights

    def count_tokens(self, text: str) -> int:
        """Wordpieces of ``text`` without special tokens and without truncation."""
        return self._tokenizer.count(text)

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in a worker thread so the event loop stays responsive."""
        return await asyncio.to_thread(self.embed_sync, list(texts))

    def embed_sync(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Return an ``(len(texts), 384)`` float32 array of L2-normalised vectors, in input order."""
        import numpy as np

        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        out = np.empty((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        token_ids = self._tokenizer.encode(texts)
        # Longest first: the slowest sub-batches start first, so the workers finish together.
        order = sorted(range(len(texts)), key=lambda i: len(token_ids[i]), reverse=True)
        # Each batch is shared between the workers, one slice of neighbours in length each.
        slice_size = max(1, math.ceil(batch_size / self._workers))
        groups = [order[start : start + slice_size] for start in range(0, len(order), slice_size)]
        # BLAS is held to one thread even with one worker: OpenBLAS threads spin while they wait, and
        # on a busy machine (other processes on the same cores) that made one call ~10x slower.
        with self._lock, self._one_blas_thread():
            vectors = list(self._pool.map(lambda g: self._encode_group(g, token_ids), groups))
        for group, group_vectors in zip(groups, vectors, strict=True):
            out[group] = group_vectors
        return out

    def _one_blas_thread(self) -> AbstractContextManager[Any]:
        """Hold BLAS to one thread (called under ``_lock``).

        The controller is made here, after numpy is imported, not in ``__init__``: it sees only the
        BLAS libraries loaded when it is made, and an embedder made before numpy would limit nothing.
        """
        if self._blas is None:
            import numpy  # noqa: F401 - loads OpenBLAS, so that the controller finds it
            from threadpoolctl import ThreadpoolController

            self._blas = ThreadpoolController()
        return self._blas.limit(limits=1, user_api="blas")

    def _encode_group(self, group: list[int], token_ids: list[list[int]]) -> np.ndarray:
        from providers.local import bert

        input_ids, mask = pad_batch([token_ids[i] for i in group])
        return bert.encode(self._weights, input_ids, mask)

    def close(self) -> None:
        """Stop the worker threads (the embedder is unusable afterwards)."""
        self._pool.shutdown(wait=True)


@lru_cache(maxsize=1)
def load_local_embedder() -> LocalEmbedder:
    """The process's shared local embedder, loaded on first use (weights are read once)."""
    return LocalEmbedder()
