"""The vault hub: every vault the service holds, its index, its searcher and its single writer.

This is the one code path for memory: search, reindex (in the foreground or as
a background job), note reads, writes and deletes (``qmdr.memory.notes_write``),
watch, context and feedback all go through a ``VaultHub``, for ``default``
exactly as for any other vault. ``default`` differs only in where its folder
comes from (``QMDR_VAULT``, else the folder it was first indexed from, recorded
in the registry) and in that it cannot be removed. Every vault's index is
opened lazily through ``qmdr.store.factory.open_vault_store``.

Each vault has one ``asyncio.Lock``: every write to its index (full reindex,
note write or delete, a watch burst) runs under that lock, so agents, editors
and the watcher queue instead of meeting "database is locked". Background
reindexes (``POST /reindex``, the dashboard) run one at a time through one
``ReindexJobs``.

Search fans out to the chosen vaults and fuses their result lists by
reciprocal rank fusion (``qmdr.search.fusion``); each hit says which vault it came
from. Optional recency and usefulness boosts (``qmdr.search.boosts``) multiply the
fused score afterwards.

The hub knows nothing of the HTTP API, the CLI or the provider wiring
(``qmdr.service`` builds it), so nothing here imports them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from providers.embedder import Embedder
from qmdr.errors import IndexBusy, NotFound
from qmdr.memory.backends import Feedback, Registry, open_feedback_store, open_vault_registry
from qmdr.memory.jobs import JobStatus, ProgressFn, ReindexJobs
from qmdr.memory.superseded import SUPERSEDED_OVERSAMPLE, SupersededFilter
from qmdr.memory.vaults import (
    DEFAULT_VAULT,
    InvalidVault,
    UnknownVault,
    VaultExists,
    VaultFolderConflict,
    VaultInfo,
    VaultSettings,
    check_new_vault_name,
    check_vault_name,
    require_folder,
)
from qmdr.search.boosts import boost_factors
from qmdr.search.fusion import RRF_K, reciprocal_rank_fusion
from qmdr.search.limits import DEFAULT_SEARCH_MIN_RELEVANCE
from qmdr.search.searcher import MAX_K, Searcher, SearchResponse, SearchResult, best_per_note
from qmdr.settings import Settings
from qmdr.store.base import Filters, Store
from qmdr.store.factory import open_vault_store, remove_vault_store, sqlite_index_file

if TYPE_CHECKING:  # the write path (indexer, vault parser and scanner) is imported where a write starts
    from qmdr.memory.indexer import IndexProgress, IndexSummary

log = logging.getLogger(__name__)

#: with ``group_by_note`` each vault is asked for this many times ``k`` chunks, so that after keeping
#: one chunk per note there are still about ``k`` notes (notes usually contribute 1-3 chunks to a top list)
GROUP_OVERSAMPLE = 4


@dataclass(slots=True)
class MemoryHit:
    """One search result with the vault it came from."""

    vault: str
    result: SearchResult
    score: float  # the fused (and boosted) score that orders the answer
    relevance: float  # 0-100, calibrated (``qmdr.search.relevance``): the same scale in every vault
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
    """A vault in use: its index and the searcher over that index."""

    name: str
    store: Store
    searcher: Searcher
    owned: bool  # True when the hub opened the store (and closes it)


#: builds the searcher over one vault's index (the service gives it the reranker, expander and budgets)
SearcherFactory = Callable[[Store], Searcher]
#: opens one vault's index; ``qmdr.store.factory.open_vault_store`` unless a test injects another
StoreOpener = Callable[[Settings, str], Store]


class VaultHub:
    """All vaults of one service; see the module docstring.

    ``stores`` are indexes opened by the caller (tests, benchmarks) for some
    vaults; the hub uses them but never closes them.
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        make_searcher: SearcherFactory | None = None,
        *,
        stores: Mapping[str, Store] | None = None,
        open_store: StoreOpener = open_vault_store,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.make_searcher: SearcherFactory = make_searcher or (lambda store: Searcher(store, embedder))
        self._open_store = open_store
        self._given = dict(stores or {})
        self._registry: Registry | None = None
        self._feedback: Feedback | None = None
        self._open: dict[str, OpenVault] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.jobs = ReindexJobs()  # background reindexes (POST /reindex, the dashboard), one at a time
        self.listeners: list[Callable[[], None]] = []  # told when a vault is added or removed (the watcher)
        self.open_listeners: list[Callable[[Store], object]] = []  # told when an index is opened (the server warms it)
        self.superseded = SupersededFilter()  # which hits come from notes replaced by newer ones
        self.data_dir = Path(self.settings.qmdr_data_dir)

    # --- registry and feedback (the seams a PostgreSQL-backed registry or feedback store plugs into) --------
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

    # --- which vaults exist -----------------------------------------------------------------------
    def default_info(self) -> VaultInfo | None:
        """The default vault: QMDR_VAULT, else the folder it was first indexed from (the registry's record)."""
        stored = self.registry.find(DEFAULT_VAULT)
        folder = self.settings.qmdr_vault
        if folder is not None:
            return VaultInfo(
                DEFAULT_VAULT,
                Path(folder).expanduser().resolve(),
                stored.settings if stored else VaultSettings(),
                stored.created_at if stored else 0.0,
            )
        return stored

    def list(self) -> list[VaultInfo]:
        """Every vault, ``default`` first when it has a folder."""
        named = [v for v in self.registry.list() if v.name != DEFAULT_VAULT]
        default = self.default_info()
        return ([default] if default else []) + named

    def info(self, name: str) -> VaultInfo:
        if check_vault_name(name) == DEFAULT_VAULT:
            info = self.default_info()
            if info is None:
                raise UnknownVault(
                    "the default vault has no folder yet: set QMDR_VAULT, or index a folder once "
                    '(`qmdr index PATH`, or POST /reindex with {"vault": PATH})'
                )
            return info
        return self.registry.get(name)

    def known(self, name: str) -> None:
        """``UnknownVault`` unless ``name`` is a vault; ``default`` always is (its index may still be empty)."""
        if check_vault_name(name) != DEFAULT_VAULT:
            self.registry.get(name)

    def add(self, name: str, folder: Path, settings: VaultSettings | None = None) -> VaultInfo:
        """Register ``folder`` as vault ``name``: ``VaultExists`` if taken, ``InvalidVault`` if reserved."""
        check_new_vault_name(name)
        if name == DEFAULT_VAULT and self.default_info() is not None:
            where = "QMDR_VAULT" if self.settings.qmdr_vault is not None else "the folder it was first indexed from"
            raise VaultExists(f"the vault 'default' already exists (its folder is {where}); choose another name")
        info = self.registry.add(name, require_folder(folder), settings, replace=False)
        self._notify()
        return info

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()

    async def remove(self, name: str) -> None:
        """Forget a named vault and delete its index file (never its folder)."""
        if check_vault_name(name) == DEFAULT_VAULT:
            raise InvalidVault(
                "the default vault cannot be removed (it is where `qmdr index`, POST /search and "
                "POST /reindex work); remove named vaults only"
            )
        self.registry.get(name)
        async with self.writer(name):
            opened = self._open.pop(name, None)
            if opened is not None and opened.owned:
                opened.store.close()
            self.registry.remove(name)
            remove_vault_store(self.settings, name)
            self.superseded.forget(name)  # a vault added again under this name starts a new index
        self._notify()

    def vault_for_folder(self, folder: Path) -> tuple[str, Path | None]:
        """Which vault indexes ``folder``: the vault whose folder it is, else ``default`` while it has no folder.

        Returns ``(name, first_folder)``; ``first_folder`` is set when ``folder`` is to become the
        default vault's folder once indexed. Any other folder is refused (``VaultFolderConflict``):
        indexing it into a vault would replace that vault's notes with another folder's.
        """
        folder = require_folder(folder)
        vaults = self.list()
        for info in vaults:
            if info.folder == folder:
                return info.name, None
        default = self.default_info()
        if default is None:
            return DEFAULT_VAULT, folder
        raise VaultFolderConflict(
            f"{folder} is not the folder of any vault; the default vault's folder is {default.folder}. "
            f"To index {folder}, register it as a vault of its own (`qmdr vault add NAME {folder}` or "
            "POST /vaults), or set QMDR_VAULT to it to make it the default vault's folder"
        )

    # --- open vaults ------------------------------------------------------------------------------
    def writer(self, name: str) -> asyncio.Lock:
        """The one lock every write to this vault's index goes through."""
        return self._locks.setdefault(name, asyncio.Lock())

    def open(self, name: str) -> OpenVault:
        """The vault's index and searcher, opened on first use (``UnknownVault`` for no such vault)."""
        opened = self._open.get(name)
        if opened is not None:
            return opened
        self.known(name)
        given = self._given.get(name)
        store = given if given is not None else self._open_store(self.settings, name)
        opened = OpenVault(name, store, self.make_searcher(store), owned=given is None)
        self._open[name] = opened
        for listener in self.open_listeners:
            listener(store)
        return opened

    def chunking(self, info: VaultInfo) -> dict[str, int]:
        s = info.settings
        return {
            "max_tokens": s.chunk_tokens or self.settings.qmdr_chunk_tokens,
            "overlap_tokens": s.chunk_overlap if s.chunk_overlap is not None else self.settings.qmdr_chunk_overlap,
            "max_note_bytes": s.max_note_bytes or self.settings.qmdr_max_note_bytes,
        }

    def resolve(self, vaults: Sequence[str] | None) -> list[str]:
        """The vault names a request means: ``None``/``[]``/``["all"]`` is every vault."""
        if not vaults or list(vaults) == ["all"]:
            names = [v.name for v in self.list()]
            if not names:
                raise UnknownVault("no vault is configured: set QMDR_VAULT or `qmdr vault add NAME FOLDER`")
            return names
        names = list(dict.fromkeys(vaults))
        for name in names:
            self.known(name)  # named explicitly, ``default`` is searched even before it has a folder
        return names

    # --- writing ----------------------------------------------------------------------------------
    async def reindex(
        self,
        name: str,
        *,
        rebuild: bool = False,
        allow_empty: bool = False,
        progress: ProgressFn | None = None,
        first_folder: Path | None = None,
    ) -> IndexSummary:
        """Full incremental reindex of one vault, under its writer lock.

        ``allow_empty``: index a folder without notes even when the index holds notes (else
        ``EmptyFolderRefused``). ``first_folder`` (from ``vault_for_folder``): the folder the default
        vault is indexed from for the first time; it is recorded once the index succeeded.
        """
        self.known(name)
        if not getattr(self.embedder, "dim_known", True):
            await self.embedder.discover_dim()  # type: ignore[attr-defined]  # the index records model + dim up front
        async with self.writer(name):
            info = self._first_index_info(name, first_folder) if first_folder is not None else self.info(name)
            summary = await self._reindex_locked(
                self.open(name), info, rebuild=rebuild, allow_empty=allow_empty, progress=progress
            )
            if first_folder is not None and self.default_info() is None:
                self.registry.add(DEFAULT_VAULT, info.folder, info.settings)  # from now on the default's folder
                self._notify()
        return summary

    def _first_index_info(self, name: str, folder: Path) -> VaultInfo:
        """The default vault about to be indexed from ``folder`` for the first time; checked again under
        the writer lock, since another request may have given the default vault a folder meanwhile."""
        owner, first = self.vault_for_folder(folder)
        if owner != name:
            raise VaultFolderConflict(f"{folder} is the folder of vault {owner!r}; reindex that vault")
        return self.info(name) if first is None else VaultInfo(DEFAULT_VAULT, first, VaultSettings(), time.time())

    async def _reindex_locked(
        self,
        opened: OpenVault,
        info: VaultInfo,
        *,
        rebuild: bool = False,
        allow_empty: bool = False,
        progress: ProgressFn | None = None,
    ) -> IndexSummary:
        from qmdr.memory.indexer import reindex

        report = (lambda event: progress(_progress_dict(event))) if progress else None
        return await reindex(
            opened.store,
            require_folder(info.folder),
            self.embedder,
            rebuild=rebuild,
            allow_empty=allow_empty,
            progress=report,
            **self.chunking(info),
        )

    async def start_reindex(
        self, name: str, *, rebuild: bool = False, allow_empty: bool = False, first_folder: Path | None = None
    ) -> JobStatus:
        """Start a reindex of one vault in the background (``IndexBusy`` while one runs); see ``jobs``.

        What can be refused is refused here, before the answer (a vault without a folder: 404; a folder
        without notes over an index with notes: 409), rather than as a failed job afterwards.
        """
        folder = first_folder if first_folder is not None else require_folder(self.info(name).folder)
        if self.jobs.running:
            raise IndexBusy(
                f"a reindex of vault {self.jobs.status.name!r} is already running; check GET /reindex/status"
            )
        if not allow_empty:
            notes = (await anyio.to_thread.run_sync(self.open(name).store.stats)).notes
            if notes and not await anyio.to_thread.run_sync(has_notes, folder):
                from qmdr.memory.indexer import EmptyFolderRefused

                raise EmptyFolderRefused.of(folder, notes)

        async def run(progress: ProgressFn) -> dict[str, Any]:
            summary = await self.reindex(
                name, rebuild=rebuild, allow_empty=allow_empty, progress=progress, first_folder=first_folder
            )
            return summary.to_dict()

        return self.jobs.start(str(folder), run, name=name)

    async def index_paths(self, name: str, paths: Sequence[str], *, locked: bool = False) -> IndexSummary:
        """Reindex just ``paths`` of a vault (a full reindex when the chunking changed)."""
        info = self.info(name)
        opened = self.open(name)
        if locked:
            return await self._index_paths_locked(opened, info, paths)
        async with self.writer(name):
            return await self._index_paths_locked(opened, info, paths)

    async def _index_paths_locked(self, opened: OpenVault, info: VaultInfo, paths: Sequence[str]) -> IndexSummary:
        from qmdr.memory.note_index import NeedsFullReindex, index_notes

        try:
            return await index_notes(opened.store, info.folder, self.embedder, paths, **self.chunking(info))
        except NeedsFullReindex as exc:
            log.info("%s: %s", info.name, exc.message)
            return await self._reindex_locked(opened, info)

    # --- reading ----------------------------------------------------------------------------------
    def get_note(self, name: str, path: str) -> dict[str, Any]:
        note = self.open(name).store.get_note(path)
        if note is None:
            raise NotFound(f"no indexed note at {path!r} in vault {name!r}")
        return note

    def stats(self, name: str) -> dict[str, Any]:
        return self.open(name).store.stats().summary()

    async def search_vault(
        self,
        name: str,
        query: str,
        *,
        mode: str = "hybrid",
        k: int = 10,
        filters: Filters = Filters(),
        rerank: bool | None = None,
        expand: bool = False,
        include_superseded: bool = False,
    ) -> SearchResponse:
        """One vault's hybrid search, with that vault's own scores (``POST /search`` and every fan-out).
        Notes marked ``superseded_by`` are left out unless ``include_superseded`` (``qmdr.memory.superseded``)."""
        response = await self.open(name).searcher.search(
            query, mode=mode, k=k, filters=filters, rerank=rerank, expand=expand
        )
        if not include_superseded:
            response.results = await self._current_only(
                name, list(response.results), k, query, mode=mode, filters=filters, rerank=rerank, expand=expand
            )
        return response

    async def search(
        self,
        query: str,
        *,
        vaults: Sequence[str] | None = None,
        mode: str = "hybrid",
        k: int = 10,
        filters: Filters = Filters(),
        rerank: bool | None = None,
        expand: bool = False,
        group_by_note: bool = False,
        explain: bool = False,
        include_superseded: bool = False,
        min_relevance: float = DEFAULT_SEARCH_MIN_RELEVANCE,
    ) -> MemorySearch:
        """Search one, several or all vaults; see the module docstring. Notes marked ``superseded_by``
        are left out unless ``include_superseded`` (``qmdr.memory.superseded``); results whose
        relevance (percent) is under ``min_relevance`` are left out."""
        started = time.perf_counter()
        names = self.resolve(vaults)
        depth = min(MAX_K, k * GROUP_OVERSAMPLE) if group_by_note else k
        responses = await asyncio.gather(
            *(
                self.search_vault(
                    n,
                    query,
                    mode=mode,
                    k=depth,
                    filters=filters,
                    rerank=rerank,
                    expand=expand,
                    include_superseded=include_superseded,
                )
                for n in names
            )
        )
        warnings: list[str] = []
        timings: dict[str, float] = {}
        per_vault: dict[str, list[SearchResult]] = {}
        for name, response in zip(names, responses, strict=True):
            warnings.extend(f"{name}: {w}" for w in response.warnings)
            for stage, ms in response.timings_ms.items():
                timings[f"{name}.{stage}"] = ms
            results = list(response.results)
            if group_by_note:
                results = best_per_note(results)
            per_vault[name] = results[:k]
        t0 = time.perf_counter()
        hits = [h for h in self._fuse(per_vault, explain=explain) if h.relevance >= min_relevance]
        hits = await self._boost(hits, explain=explain)
        timings["fuse"] = (time.perf_counter() - t0) * 1000
        timings["total"] = (time.perf_counter() - started) * 1000
        return MemorySearch(
            results=hits[:k],
            vaults=names,
            timings_ms=timings,
            warnings=warnings,
            reranked=any(r.reranked for r in responses),
        )

    async def _current_only(
        self, name: str, results: list[SearchResult], depth: int, query: str, **options: Any
    ) -> list[SearchResult]:
        """Results without superseded notes; while some were dropped and more exist, ask again deeper
        (``SUPERSEDED_OVERSAMPLE`` times each round), so ``depth`` current results remain when they exist."""
        store = self.open(name).store
        kept = await self.superseded.drop(name, store, results)
        asked = depth
        while len(kept) < depth and len(results) >= asked and asked < MAX_K:
            asked = min(MAX_K, asked * SUPERSEDED_OVERSAMPLE)
            results = list((await self.open(name).searcher.search(query, k=asked, **options)).results)
            kept = await self.superseded.drop(name, store, results)
        return kept

    def _fuse(self, per_vault: dict[str, list[SearchResult]], *, explain: bool) -> list[MemoryHit]:
        """One list: RRF across vaults (a single vault keeps its own order and scores)."""
        by_key: dict[tuple[str, int], MemoryHit] = {}
        lists: dict[str, list[tuple[str, int]]] = {}
        for name, results in per_vault.items():
            lists[name] = [(name, i) for i in range(len(results))]
            for i, r in enumerate(results):
                info: dict[str, Any] = {}
                if explain:
                    info = {
                        "vault_rank": i + 1,
                        "searcher_score": r.score,
                        "stages": {
                            list_name: {
                                "rank": r.ranks.get(list_name),
                                "score": r.scores.get(list_name),
                                "rrf": (1.0 / (RRF_K + r.ranks[list_name])) if r.ranks.get(list_name) else 0.0,
                            }
                            for list_name in r.ranks
                        },
                    }
                by_key[(name, i)] = MemoryHit(name, r, r.score, r.relevance, info)
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
        # calibrated relevance means the same in every vault and never rises down a vault's list, so
        # ordering by it merges the vaults' lists without reordering any; the RRF score breaks ties
        out.sort(key=lambda h: (-h.relevance, -h.score))
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
                    self.feedback.votes, vault, [h.result.path for h in hits if h.vault == vault]
                )
                votes.update({(vault, path): v for path, v in found.items()})
        notes: dict[tuple[str, str], dict[str, Any] | None] = {}
        for hit in hits:
            key = (hit.vault, hit.result.path)
            if w_recency > 0 and key not in notes:
                notes[key] = await anyio.to_thread.run_sync(self.open(hit.vault).store.get_note, hit.result.path)
            factors = boost_factors(
                note=notes.get(key),
                votes=votes.get(key, (0, 0)),
                now=now,
                recency_weight=w_recency,
                half_life_days=half_life,
                feedback_weight=w_feedback,
            )
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


def _progress_dict(event: IndexProgress | dict[str, Any]) -> dict[str, Any]:
    return event if isinstance(event, dict) else event.to_dict()


def has_notes(folder: Path) -> bool:
    """Whether ``folder`` holds a note: quick when it does (the walk stops at the first markdown file),
    and the vault's full scan (symlinks, ``.qmdrignore``) decides when the quick walk finds none.

    A guard before a background reindex; the reindex's own scan stays the authority.
    """
    from vault.scan import is_markdown_name, scan_vault

    for _, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(is_markdown_name(f) and not f.startswith(".") for f in files):
            return True
    return bool(scan_vault(folder).files)
