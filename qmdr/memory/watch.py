"""Follow vault folders and reindex what changed: ``qmdr watch`` and ``qmdr serve --watch``.

File events come from ``watchfiles`` (inotify on Linux). They are grouped per
vault by a ``Debouncer``: a batch is handed over once its vault has been quiet
for ``quiet_s`` (``QMDR_WATCH_DEBOUNCE_S``, 2 s by default: an editor's save,
a ``git pull`` or a sync client's burst becomes one reindex), or at the latest
``MAX_WAIT_FACTOR`` times that after its first event, so a folder that never
goes quiet is still indexed.

A batch of markdown paths is reindexed note by note (``VaultHub.index_paths``);
a change to a folder or to ``.qmdrignore`` triggers the vault's incremental
full reindex. Either way it runs under the vault's writer lock, the same one
API writes take, so the watcher never races an agent's write. Hidden paths
(``.git``, ``.obsidian``, the temporary files of atomic writes) are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from watchfiles import Change, awatch

from qmdr.memory.hub import VaultHub
from qmdr.memory.vaults import VaultInfo
from vault.scan import IGNORE_FILE_NAME, is_hidden, is_markdown_name

log = logging.getLogger(__name__)

#: a batch is flushed at the latest this many quiet periods after its first event
MAX_WAIT_FACTOR = 5
#: watchfiles groups raw events for up to this long (ms) before yielding them to us; our own debounce
#: does the real grouping, so this only needs to be short
WATCHFILES_STEP_MS = 50
#: watchfiles' own cap (ms) on grouping events into one yield
WATCHFILES_DEBOUNCE_MS = 400
#: how long shutdown waits for a reindex in progress before cancelling it
STOP_TIMEOUT_S = 30.0


@dataclass(slots=True)
class _Pending:
    paths: set[str] = field(default_factory=set)
    first: float = 0.0
    last: float = 0.0


class Debouncer:
    """Changed paths per vault, handed over after a quiet period (pure: the clock is passed in)."""

    def __init__(self, quiet_s: float, max_wait_s: float | None = None) -> None:
        if quiet_s <= 0:
            raise ValueError("quiet_s must be positive")
        self.quiet_s = quiet_s
        self.max_wait_s = max_wait_s if max_wait_s is not None else quiet_s * MAX_WAIT_FACTOR
        self._pending: dict[str, _Pending] = {}

    def add(self, vault: str, paths: set[str], now: float) -> None:
        if not paths:
            return
        pending = self._pending.get(vault)
        if pending is None:
            pending = self._pending[vault] = _Pending(first=now)
        pending.paths |= paths
        pending.last = now

    def next_deadline(self) -> float | None:
        """When the next batch falls due (None when nothing is pending)."""
        deadlines = [min(p.last + self.quiet_s, p.first + self.max_wait_s) for p in self._pending.values()]
        return min(deadlines) if deadlines else None

    def take_due(self, now: float) -> dict[str, set[str]]:
        """Remove and return the batches due at ``now``."""
        due = {
            v: p.paths
            for v, p in self._pending.items()
            if now >= p.last + self.quiet_s or now >= p.first + self.max_wait_s
        }
        for vault in due:
            del self._pending[vault]
        return due

    def __len__(self) -> int:
        return len(self._pending)


def vault_of(path: Path, vaults: list[VaultInfo]) -> tuple[str, str] | None:
    """(vault name, relative POSIX path) of an absolute ``path``: the deepest vault folder containing it."""
    best: tuple[int, str, str] | None = None
    for info in vaults:
        folder = info.folder
        if path == folder or not path.is_relative_to(folder):
            continue
        depth = len(folder.parts)
        if best is None or depth > best[0]:
            best = (depth, info.name, path.relative_to(folder).as_posix())
    return None if best is None else (best[1], best[2])


def needs_full_reindex(rel: str, exists_as_dir: bool) -> bool:
    """Folder events and ``.qmdrignore`` changes affect many notes at once."""
    return rel == IGNORE_FILE_NAME or exists_as_dir or "." not in rel.rsplit("/", 1)[-1]


class VaultWatcher:
    """Watches every vault of a hub until ``stop()``; ``on_flush(vault, summary)`` runs after each reindex."""

    def __init__(
        self,
        hub: VaultHub,
        *,
        quiet_s: float,
        on_flush: Callable[[str, object], None] | None = None,
        force_polling: bool | None = None,
    ) -> None:
        self.hub = hub
        self.debouncer = Debouncer(quiet_s)
        self.on_flush = on_flush
        self.force_polling = force_polling
        self._stop = anyio.Event()
        self._restart = anyio.Event()
        self._wake = asyncio.Event()
        self.flushes = 0
        self.errors: list[str] = []

    def stop(self) -> None:
        self._stop.set()
        self._restart.set()
        self._wake.set()

    def vaults_changed(self) -> None:
        """Call after a vault is added or removed: the watch restarts on the new set of folders."""
        self._restart.set()

    async def run(self, *, catch_up: bool = True) -> None:
        """Watch until stopped; with ``catch_up`` every vault is reindexed once first (changes made while
        nobody watched)."""
        async with anyio.create_task_group() as group:
            group.start_soon(self._watch_loop)
            group.start_soon(self._flush_loop)
            if catch_up:
                for info in self.hub.list():
                    await self._guarded(info.name, lambda name=info.name: self.hub.reindex(name))
            await self._stop.wait()
            group.cancel_scope.cancel()

    async def _watch_loop(self) -> None:
        while not self._stop.is_set():
            vaults = [v for v in self.hub.list() if v.folder.is_dir()]
            self._restart = anyio.Event()
            if not vaults:
                await self._restart.wait()
                continue
            async for changes in awatch(
                *(v.folder for v in vaults),
                stop_event=self._restart,
                step=WATCHFILES_STEP_MS,
                debounce=WATCHFILES_DEBOUNCE_MS,
                force_polling=self.force_polling,
                watch_filter=None,
            ):
                self._record(changes, vaults)

    def _record(self, changes: set[tuple[Change, str]], vaults: list[VaultInfo]) -> None:
        now = time.monotonic()
        for _, raw in changes:
            found = vault_of(Path(raw), vaults)
            if found is None or is_hidden(found[1]):
                continue
            self.debouncer.add(found[0], {found[1]}, now)
        self._wake.set()

    async def _flush_loop(self) -> None:
        while not self._stop.is_set():
            deadline = self.debouncer.next_deadline()
            self._wake.clear()
            if deadline is None:
                await self._wake.wait()
                continue
            delay = deadline - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
                continue
            for vault, paths in self.debouncer.take_due(time.monotonic()).items():
                await self._flush(vault, paths)

    async def _flush(self, vault: str, paths: set[str]) -> None:
        try:
            folder = self.hub.info(vault).folder
        except Exception:  # noqa: BLE001 - the vault was removed meanwhile
            return
        full = any(needs_full_reindex(rel, (folder / rel).is_dir()) for rel in paths)
        notes = sorted(rel for rel in paths if is_markdown_name(rel) or rel == IGNORE_FILE_NAME)
        if full:
            await self._guarded(vault, lambda: self.hub.reindex(vault))
        elif notes:
            await self._guarded(vault, lambda: self.hub.index_paths(vault, notes))

    async def _guarded(self, vault: str, run: Callable[[], object]) -> None:
        """Run one reindex; a failure is logged and kept, never ends the watch."""
        try:
            summary = await run()  # type: ignore[misc]
        except Exception as exc:  # noqa: BLE001 - the watcher must outlive one bad note or a busy index
            log.warning("watch: reindex of vault %s failed: %s", vault, exc)
            self.errors.append(f"{vault}: {exc}")
            return
        self.flushes += 1
        if self.on_flush is not None:
            self.on_flush(vault, summary)


def start_watch(service: object) -> tuple[VaultWatcher, asyncio.Task[None]]:
    """Start watching every vault of ``service`` in the background (the ``serve --watch`` lifespan)."""
    hub: VaultHub = service.memory  # type: ignore[attr-defined]
    watcher = VaultWatcher(hub, quiet_s=hub.settings.qmdr_watch_debounce_s)
    hub.listeners.append(watcher.vaults_changed)
    return watcher, asyncio.create_task(watcher.run())


async def stop_watch(watcher: VaultWatcher, task: asyncio.Task[None]) -> None:
    watcher.stop()
    try:
        await asyncio.wait_for(task, timeout=STOP_TIMEOUT_S)
    except (TimeoutError, asyncio.CancelledError):
        task.cancel()
    if watcher.vaults_changed in watcher.hub.listeners:
        watcher.hub.listeners.remove(watcher.vaults_changed)
