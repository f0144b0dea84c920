"""The vault hub: every vault the service holds, its index, its searcher and its single writer.

``Service.memory`` is one ``VaultHub``. For each vault it opens the index
lazily (``default`` shares the Service's own store and searcher; a named vault
gets ``<data dir>/vaults/<name>.sqlite``) and keeps one ``asyncio.Lock``: every
write to a vault's index (full reindex, note write or delete, a watch burst)
runs under that lock, so agents, editors and the watcher queue instead of
meeting "database is locked".

Search fans out to the chosen vaults and fuses their result lists by
reciprocal rank fusion (``qmdr.search.fusion``); each hit says which vault it came
from. Optional recency and usefulness boosts (``qmdr.search.boosts``) multiply the
fused score afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from qmdr.memory.backends import Feedback, Registry, open_feedback_store, open_vault_registry
from qmdr.memory.indexer import IndexSummary, reindex
from qmdr.memory.note_index import NeedsFullReindex, index_notes
from qmdr.memory.vaults import (
    DEFAULT_VAULT,
    InvalidVault,
    UnknownVault,
    VaultInfo,
    VaultSettings,
    check_vault_name,
)
from qmdr.search.boosts import boost_factors
from qmdr.search.fusion import RRF_K, reciprocal_rank_fusion
from qmdr.search.searcher import MAX_K, Searcher, SearchResult
from qmdr.store.base import Filters, Store
from qmdr.store.factory import open_vault_store, remove_vault_store, sqlite_index_file

if TYPE_CHECKING:
    from qmdr.service import Service

log = logging.getLogger(__name__)

#: with ``group_by_note`` each vault is asked for this many times ``k`` chunks, so that after keeping
#: one chunk per note there are still about ``k`` notes (notes usually contribute 1-3 chunks to a top list)
GROUP_OVERSAMPLE = 4
#: retrieval lists that make up a hybrid search; their ranks give a hit's relevance
RETRIEVERS = ("keyword", "vector")


def relevance(ranks: dict[str, int | None], k: int = RRF_K) -> float:
    """Relevance in percent: the mean over the retrievers that ran of ``(k + 1) / (k + rank)``.

    100 means first in every list that ran; a hit only one of two lists found
    scores at most 50. Rank-based, so it means the same in every vault and mode.
    """
    ran = [name for name in RETRIEVERS if name in ranks]
    if not ran:
        return 0.0
    total = sum((k + 1) / (k + ranks[name]) for name in ran if ranks[name])  # type: ignore[operator]
    return round(100.0 * total / len(ran), 1)


@dataclass(slots=True)
class MemoryHit:
    """One search result with the vault it came from."""

    vault: str
    result: SearchResult
    score: float  # the fused (and boosted) score that orders the answer
    relevance: float  # 0-100, see ``relevance``
    explain: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class MemorySearch:
    results: list[MemoryHit]
    vaults: list[str]
    timings_ms: dict[str, float]
    warnings: list[str]
    reranked: bool


@dataclass(slots=True)
class OpenVault:
    """A vault in use: where it lives, its index and the searcher over that index."""

    info: VaultInfo
    store: Store
    searcher: Searcher
    owned: bool  # True when the hub opened the store (and closes it)


class VaultHub:
    """All vaults of one Service; see the module docstring."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.settings = service.settings
        self._registry: Registry | None = None
        self._feedback: Feedback | None = None
        self._open: dict[str, OpenVault] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.listeners: list[Callable[[], None]] = []  # told when a vault is added or removed (the watcher)
        self.data_dir = Path(self.settings.qmdr_data_dir)

    # --- registry ---------------------------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = open_vault_registry(self.settings)
        return self._registry

    @property
    def feedback(self) -> Feedback:
        if self._feedback is None:
            self._feedback = open_feedback_store(self.settings)
        return self._feedback

    def index_file(self, name: str) -> Path:
        return sqlite_index_file(self.settings, check_vault_name(name))

    def default_info(self) -> VaultInfo | None:
        """The default vault: QMDR_VAULT, else the folder registered (or last indexed) as ``default``."""
        stored = self.registry.find(DEFAULT_VAULT)
        folder = self.settings.qmdr_vault
        if folder is not None:
            return VaultInfo(DEFAULT_VAULT, Path(folder).expanduser().resolve(),
                             stored.settings if stored else VaultSettings(), stored.created_at if stored else 0.0)
        return stored

    def remember_default_folder(self, folder: Path) -> None:
        """After ``qmdr index PATH``: PATH is the default vault's folder from now on (unless QMDR_VAULT says)."""
        stored = self.registry.find(DEFAULT_VAULT)
        if stored is None or stored.folder != Path(folder).resolve():
            self.registry.add(DEFAULT_VAULT, folder, stored.settings if stored else None, replace=True)

    def list(self) -> list[VaultInfo]:
        """Every vault, ``default`` first when it has a folder."""
        named = [v for v in self.registry.list() if v.name != DEFAULT_VAULT]
        default = self.default_info()
        return ([default] if default else []) + named

    def info(self, name: str) -> VaultInfo:
        if check_vault_name(name) == DEFAULT_VAULT:
            info = self.default_info()
            if info is None:
                raise UnknownVault("the default vault has no folder: set QMDR_VAULT or run `qmdr index PATH`")
            return info
        return self.registry.get(name)

    def add(self, name: str, folder: Path, settings: VaultSettings | None = None) -> VaultInfo:
        info = self.registry.add(name, folder, settings, replace=False)
        self._notify()
        return info

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()

    async def remove(self, name: str) -> None:
        """Forget a named vault and delete its index file (never its folder)."""
        if check_vault_name(name) == DEFAULT_VAULT:
            raise InvalidVault("the default vault cannot be removed; it is configured by QMDR_VAULT")
        self.registry.get(name)
        async with self.writer(name):
            opened = self._open.pop(name, None)
            if opened is not None and opened.owned:
                opened.store.close()
            self.registry.remove(name)
            remove_vault_store(self.settings, name)
        self._notify()

    # --- open vaults ------------------------------------------------------------------------------
    def writer(self, name: str) -> asyncio.Lock:
        """The one lock every write to this vault's index goes through."""
        return self._locks.setdefault(name, asyncio.Lock())

    def open(self, name: str) -> OpenVault:
        info = self.info(name)
        opened = self._open.get(name)
        if opened is not None:
            opened.info = info
            return opened
        if name == DEFAULT_VAULT:
            opened = OpenVault(info, self.service.store, self.service.searcher, owned=False)
        else:
            store = open_vault_store(self.settings, name)
            base = self.service.searcher
            searcher = Searcher(store, self.service.embedder, base.reranker, expander=base.expander)
            opened = OpenVault(info, store, searcher, owned=True)
        self._open[name] = opened
        return opened

    def chunking(self, info: VaultInfo) -> dict[str, int]:
        s = info.settings
        return {"max_tokens": s.chunk_tokens or self.settings.qmdr_chunk_tokens,
                "overlap_tokens": s.chunk_overlap if s.chunk_overlap is not None else self.settings.qmdr_chunk_overlap,
                "max_note_bytes": s.max_note_bytes or self.settings.qmdr_max_note_bytes}

    def resolve(self, vaults: Sequence[str] | None) -> list[str]:
        """The vault names a request means: ``None``/``[]``/``["all"]`` is every vault."""
        if not vaults or list(vaults) == ["all"]:
            names = [v.name for v in self.list()]
            if not names:
                raise UnknownVault("no vault is configured: set QMDR_VAULT or `qmdr vault add NAME FOLDER`")
            return names
        names = list(dict.fromkeys(vaults))
        for name in names:
            self.info(name)
        return names

    # --- writing ----------------------------------------------------------------------------------
    async def reindex(self, name: str, *, rebuild: bool = False) -> IndexSummary:
        """Full incremental reindex of one vault, under its writer lock."""
        opened = self.open(name)
        async with self.writer(name):
            return await self._reindex_locked(opened, rebuild=rebuild)

    async def _reindex_locked(self, opened: OpenVault, *, rebuild: bool = False) -> IndexSummary:
        return await reindex(opened.store, opened.info.folder, self.service.embedder, rebuild=rebuild,
                             **self.chunking(opened.info))

    async def index_paths(self, name: str, paths: Sequence[str], *, locked: bool = False) -> IndexSummary:
        """Reindex just ``paths`` of a vault (a full reindex when the chunking changed)."""
        opened = self.open(name)
        if locked:
            return await self._index_paths_locked(opened, paths)
        async with self.writer(name):
            return await self._index_paths_locked(opened, paths)

    async def _index_paths_locked(self, opened: OpenVault, paths: Sequence[str]) -> IndexSummary:
        try:
            return await index_notes(opened.store, opened.info.folder, self.service.embedder, paths,
                                     **self.chunking(opened.info))
        except NeedsFullReindex as exc:
            log.info("%s: %s", opened.info.name, exc.message)
            return await self._reindex_locked(opened)

    # --- reading ----------------------------------------------------------------------------------
    def get_note(self, name: str, path: str) -> dict[str, Any]:
        from qmdr.errors import NotFound

        note = self.open(name).store.get_note(path)
        if note is None:
            raise NotFound(f"no indexed note at {path!r} in vault {name!r}")
        return note

    def stats(self, name: str) -> dict[str, Any]:
        stats = self.open(name).store.stats()
        return {"notes": stats.notes, "chunks": stats.chunks, "vectors": stats.vectors, "model": stats.model_id,
                "last_reindex": stats.last_reindex}

    async def search(self, query: str, *, vaults: Sequence[str] | None = None, mode: str = "hybrid", k: int = 10,
                     filters: Filters = Filters(), rerank: bool | None = None, expand: bool = False,
                     group_by_note: bool = False, explain: bool = False) -> MemorySearch:
        """Search one, several or all vaults; see the module docstring."""
        started = time.perf_counter()
        names = self.resolve(vaults)
        depth = min(MAX_K, k * GROUP_OVERSAMPLE) if group_by_note else k
        responses = await asyncio.gather(*(
            self.open(n).searcher.search(query, mode=mode, k=depth, filters=filters, rerank=rerank, expand=expand)
            for n in names))
        warnings: list[str] = []
        timings: dict[str, float] = {}
        per_vault: dict[str, list[SearchResult]] = {}
        for name, response in zip(names, responses, strict=True):
            warnings.extend(f"{name}: {w}" for w in response.warnings)
            for stage, ms in response.timings_ms.items():
                timings[f"{name}.{stage}"] = ms
            results = list(response.results)
            if group_by_note:
                results = _best_per_note(results)
            per_vault[name] = results[:k]
        t0 = time.perf_counter()
        hits = self._fuse(per_vault, explain=explain)
        hits = await self._boost(hits, explain=explain)
        timings["fuse"] = (time.perf_counter() - t0) * 1000
        timings["total"] = (time.perf_counter() - started) * 1000
        return MemorySearch(results=hits[:k], vaults=names, timings_ms=timings, warnings=warnings,
                            reranked=any(r.reranked for r in responses))

    def _fuse(self, per_vault: dict[str, list[SearchResult]], *, explain: bool) -> list[MemoryHit]:
        """One list: RRF across vaults (a single vault keeps its own order and scores)."""
        by_key: dict[tuple[str, int], MemoryHit] = {}
        lists: dict[str, list[tuple[str, int]]] = {}
        for name, results in per_vault.items():
            lists[name] = [(name, i) for i in range(len(results))]
            for i, r in enumerate(results):
                info: dict[str, Any] = {}
                if explain:
                    info = {"vault_rank": i + 1, "searcher_score": r.score,
                            "stages": {list_name: {"rank": r.ranks.get(list_name), "score": r.scores.get(list_name),
                                                   "rrf": (1.0 / (RRF_K + r.ranks[list_name]))
                                                   if r.ranks.get(list_name) else 0.0}
                                       for list_name in r.ranks}}
                by_key[(name, i)] = MemoryHit(name, r, r.score, relevance(r.ranks), info)
        if len(per_vault) == 1:
            return list(by_key.values())
        fused = reciprocal_rank_fusion(lists)
        out = []
        for key, score in fused:
            hit = by_key[key]
            hit.score = score
            if explain:
                hit.explain["vault_rrf"] = score
            out.append(hit)
        # equal fused scores mean equal ranks in different vaults: the hit its own retrievers liked more goes first
        out.sort(key=lambda h: (-h.score, -h.relevance))
        return out

    async def _boost(self, hits: list[MemoryHit], *, explain: bool) -> list[MemoryHit]:
        """Apply the recency and feedback boosts (when their weights are > 0) and re-sort."""
        w_recency = float(getattr(self.settings, "qmdr_recency_weight", 0.0))
        w_feedback = float(getattr(self.settings, "qmdr_feedback_weight", 0.0))
        if not hits or (w_recency <= 0 and w_feedback <= 0):
            return hits
        half_life = float(getattr(self.settings, "qmdr_recency_half_life_days", 30.0))
        now = time.time()
        votes: dict[tuple[str, str], tuple[int, int]] = {}
        if w_feedback > 0:
            for vault in {h.vault for h in hits}:
                found = await anyio.to_thread.run_sync(
                    self.feedback.votes, vault, [h.result.path for h in hits if h.vault == vault])
                votes.update({(vault, path): v for path, v in found.items()})
        notes: dict[tuple[str, str], dict[str, Any] | None] = {}
        for hit in hits:
            key = (hit.vault, hit.result.path)
            if w_recency > 0 and key not in notes:
                notes[key] = await anyio.to_thread.run_sync(self.open(hit.vault).store.get_note, hit.result.path)
            factors = boost_factors(note=notes.get(key), votes=votes.get(key, (0, 0)), now=now,
                                    recency_weight=w_recency, half_life_days=half_life, feedback_weight=w_feedback)
            if explain:
                hit.explain["boosts"] = factors
                hit.explain["before_boosts"] = hit.score
            hit.score = hit.score * factors["recency"] * factors["feedback"]
        return sorted(hits, key=lambda h: -h.score)

    def close(self) -> None:
        for opened in self._open.values():
            if opened.owned:
                opened.store.close()
        self._open.clear()
        for shared in (self._registry, self._feedback):
            if shared is not None:
                shared.close()
        self._registry = self._feedback = None


def _best_per_note(results: list[SearchResult]) -> list[SearchResult]:
    """The first (best) chunk of each note, in order."""
    seen: set[str] = set()
    out = []
    for r in results:
        if r.path not in seen:
            seen.add(r.path)
            out.append(r)
    return out
