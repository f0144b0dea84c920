"""The Service: the wiring of one running qmdr, built from Settings.

It holds the provider components (embedder, reranker, expander, keys, the
provider client) and the vault hub (``memory``) built over them; everything a
request or command does with memory goes through ``service.memory``
(``qmdr.memory.hub``), for ``default`` as for any other vault. The CLI, the HTTP
API, the dashboard and the MCP server are thin shells around this object, so
they behave the same and tests can drive any of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from providers.embedder import Embedder
from qmdr import __version__
from qmdr.memory.hub import VaultHub
from qmdr.memory.vaults import DEFAULT_VAULT
from qmdr.search.searcher import Searcher
from qmdr.settings import Settings
from qmdr.store.base import Store

if TYPE_CHECKING:
    import httpx

    from qmdr.wiring import Components


class Service:
    """Everything a request or command needs, built once."""

    def __init__(self, settings: Settings, memory: VaultHub, components: Components | None = None) -> None:
        self.settings = settings
        self.memory = memory
        self.components = components

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        store: Store | None = None,
        env: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> Service:
        """Build everything from settings; ``store`` (the default vault's index), ``env`` (provider keys)
        and ``http`` are injectable for tests."""
        from qmdr.wiring import build_components

        components = build_components(settings, env=env, http=http)

        def make_searcher(index: Store) -> Searcher:
            return Searcher(
                index,
                components.embedder,
                components.reranker,
                expander=components.expander,
                embed_budget_s=settings.qmd_embed_query_budget_s,
            )

        memory = VaultHub(
            settings, components.embedder, make_searcher, stores={DEFAULT_VAULT: store} if store is not None else None
        )
        return cls(settings, memory, components)

    @property
    def embedder(self) -> Embedder:
        return self.memory.embedder

    @property
    def store(self) -> Store:
        """The default vault's index (``memory.open("default").store``)."""
        return self.memory.open(DEFAULT_VAULT).store

    @property
    def searcher(self) -> Searcher:
        """The default vault's searcher."""
        return self.memory.open(DEFAULT_VAULT).searcher

    @property
    def keys(self) -> Any:
        """The key source (stored > env) shared by memory search and chat."""
        return self.components.keys  # type: ignore[union-attr]

    @property
    def secrets(self) -> Any:
        """The encrypted settings store: keys, custom providers, default models."""
        return self.components.secrets  # type: ignore[union-attr]

    @property
    def providers(self) -> Any:
        """The provider client for chat, embeddings and model listings."""
        return self.components.providers  # type: ignore[union-attr]

    def health(self) -> dict[str, Any]:
        """``GET /health`` and ``qmdr status``: model, rerank and the default vault's counts."""
        stats = self.store.stats()
        return {
            "status": "ok",
            "version": __version__,
            "store": type(self.store).__name__,
            "embedding": self.components.describe_embedding()
            if self.components
            else {"model": self.embedder.model_id, "dim": self.embedder.dim},
            "rerank": self.components.describe_rerank() if self.components else {"enabled": False},
            "index": stats.summary(),
        }

    async def aclose(self) -> None:
        self.memory.close()
        if self.components is not None:
            await self.components.aclose()
