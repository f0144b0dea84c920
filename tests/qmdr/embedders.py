"""Small deterministic embedders for store, indexer and search tests (importable by subprocesses).

``HashEmbedder`` is a real embedder, not a stub: a hashed bag of words (each
word adds +-1 to one of ``dim`` coordinates), L2-normalised. Texts sharing
words are similar, so vector search behaves like vector search, with no model
files and no network.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

HASH_MODEL_ID = "test/hash-bow"
HASH_DIM = 384
_WORD = re.compile(r"[^\W_]+")


def hashed_bag_of_words(text: str, dim: int) -> np.ndarray:
    vector = np.zeros(dim, dtype=np.float32)
    for word in _WORD.findall(text.casefold()):
        digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
        vector[digest % dim] += 1.0 if (digest >> 32) & 1 else -1.0
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:
        vector[0] = 1.0
        return vector
    return vector / norm


class HashEmbedder:
    """Deterministic embedder that counts what it is asked to embed."""

    def __init__(self, model_id: str = HASH_MODEL_ID, dim: int = HASH_DIM) -> None:
        self.model_id = model_id
        self.dim = dim
        self.calls = 0
        self.texts_embedded = 0

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([hashed_bag_of_words(t, self.dim) for t in texts])
