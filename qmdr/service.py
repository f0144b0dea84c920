"""The Service: one store, one embedder, one searcher and one provider client, built from Settings.

The CLI and the HTTP API are thin shells around this object, so both behave
the same and tests can drive either. It owns the only writer of its index
(``ReindexJobs``) and translates configuration into components in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from providers.embedder import Embedder
from qmdr import __version__
from qmdr.errors import NotFound, QmdrError
from qmdr.memory.indexer import IndexSummary, reindex
from qmdr.memory.jobs import JobStatus, ProgressFn, ReindexJobs
from qmdr.search.searcher import Searcher, SearchResponse
from qmdr.settings import Settings
from qmdr.store.base import Filters, Store
from qmdr.store.factory import open_vault_store

if TYPE_CHECKING:
    from qmdr.memory.hub import VaultHub

log = logging.getLogger(__name__)


class VaultNotConfigured(QmdrError):
    """No vault given and QMDR_VAULT unset."""


def open_store(settings: Settings) -> Store:
    """The default vault's index (``qmdr.store.factory``)."""
    return open_vault_store(settings, "default")


class Service:
    """Everything a request or command needs, built once."""

    def __init__(self, settings: Settings, store: Store, embedder: Embedder, searcher: Searcher,
                 components: Any | None = None) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.searcher = searcher
        self.components = components
        self.jobs = ReindexJobs()

    @cached_property
    def memory(self) -> VaultHub:
        """Every named vault (``default`` is this index), with one writer lock per vault (``qmdr.memory.hub``)."""
        from qmdr.memory.hub import VaultHub

        return VaultHub(self)

    @property
    def keys(self) -> Any:
        """The key source (stored > env) shared by memory search and chat."""
        return self.components.keys

    @property
    def secrets(self) -> Any:
        """The encrypted settings store: keys, custom providers, default models."""
        return self.components.secrets

    @property
    def providers(self) -> Any:
        """The provider client for chat, embeddings and model listings."""
        return self.components.providers

    @classmethod
    def from_settings(cls, settings: Settings, *, store: Store | None = None,
                      env: Mapping[str, str] | None = None, http: httpx.AsyncClient | None = None) -> Service:
        """Build everything from settings; ``env`` (provider keys) and ``http`` are injectable for tests."""
        from qmdr.wiring import build_components

        store = store or open_store(settings)
        components = build_components(settings, env=env, http=http)
        searcher = Searcher(store, components.embedder, components.reranker, expander=components.expander,
                            embed_budget_s=settings.qmd_embed_query_budget_s)
        return cls(settings, store, components.embedder, searcher, components)

    # --- search ---
    async def search(self, query: str, *, mode: str = "hybrid", k: int = 10, filters: Filters = Filters(),
                     rerank: bool | None = None, expand: bool = False) -> SearchResponse:
        return await self.searcher.search(query, mode=mode, k=k, filters=filters, rerank=rerank, expand=expand)

    def get_note(self, path: str) -> dict[str, Any]:
        note = self.store.get_note(path)
        if note is None:
            raise NotFound(f"no indexed note at {path!r}")
        return note

    # --- indexing ---
    def resolve_vault(self, vault: str | Path | None) -> Path:
        chosen = Path(vault) if vault else self.settings.qmdr_vault
        if chosen is None:
            raise VaultNotConfigured("no vault given: pass one or set QMDR_VAULT")
        chosen = chosen.expanduser().resolve()
        if not chosen.is_dir():
            raise NotFound(f"vault folder {str(chosen)!r} does not exist")
        return chosen

    async def reindex(self, vault: str | Path | None = None, *, rebuild: bool = False,
                      progress: ProgressFn | None = None) -> IndexSummary:
        root = self.resolve_vault(vault)
        if not getattr(self.embedder, "dim_known", True):
            await self.embedder.discover_dim()  # type: ignore[attr-defined]  # the index records model + dim up front
        async with self.memory.writer("default"):  # the default vault's single writer (qmdr.memory.hub)
            summary = await reindex(
                self.store, root, self.embedder,
                max_tokens=self.settings.qmdr_chunk_tokens, overlap_tokens=self.settings.qmdr_chunk_overlap,
                max_note_bytes=self.settings.qmdr_max_note_bytes, rebuild=rebuild,
                progress=(lambda p: progress(_progress_dict(p))) if progress else None,
            )
        if self.settings.qmdr_vault is None:
            self.memory.remember_default_folder(root)  # `qmdr index PATH` makes PATH the default vault
        return summary

    def start_reindex(self, vault: str | Path | None = None, *, rebuild: bool = False) -> JobStatus:
        root = self.resolve_vault(vault)

        async def run(progress: ProgressFn) -> dict[str, Any]:
            return (await self.reindex(root, rebuild=rebuild, progress=progress)).to_dict()

        return self.jobs.start(str(root), run)

    # --- status ---
    def health(self) -> dict[str, Any]:
        stats = self.store.stats()
        return {
            "status": "ok",
            "version": __version__,
            "store": type(self.store).__name__,
            "embedding": self.components.describe_embedding() if self.components else
            {"model": self.embedder.model_id, "dim": self.embedder.dim},
            "rerank": self.components.describe_rerank() if self.components else {"enabled": False},
            "index": {"notes": stats.notes, "chunks": stats.chunks, "vectors": stats.vectors,
                      "model": stats.model_id, "dim": stats.dim, "last_reindex": stats.last_reindex},
        }

    async def aclose(self) -> None:
        if "memory" in self.__dict__:
            self.memory.close()
        if self.components is not None:
            await self.components.aclose()
        self.store.close()


def _progress_dict(event: Any) -> dict[str, Any]:
    if isinstance(event, dict):
        return event
    if hasattr(event, "to_dict"):
        return event.to_dict()
    return {k: getattr(event, k) for k in getattr(event, "__dataclass_fields__", {})}
