"""The seam between the memory service and whatever turns text into vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # only named in annotations: importing the seam must not import numpy
    import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    ``model_id`` is recorded in the index: a different id means every vector
    must be re-made, so it must change whenever the vectors would.
    """

    model_id: str
    dim: int

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an ``(len(texts), dim)`` float32 array, each row L2-normalised."""
        ...
