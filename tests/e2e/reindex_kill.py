"""What the SQLite and PostgreSQL crash-safety tests share: the two vault versions, the state a search
can see, and a reindex child that publishes its phase through one shared integer.

The tests differ only in the store they open and how they start and kill the child, so the vault
contents and the comparison of states live here once: a change to what "old" and "new" mean applies
to both backends alike.
"""

from __future__ import annotations

import multiprocessing
import shutil
import time
from pathlib import Path
from typing import Any

from qmdr.memory.indexer import IndexProgress, reindex
from qmdr.store.base import Store
from tests.qmdr.embedders import HashEmbedder

#: a word only version 2 of the vault holds, so keyword hits tell the versions apart
NEW_WORD = "zebrafinch"
#: the shared progress integer is phase * EMBED_SCALE + texts embedded so far
EMBED_SCALE = 1_000_000
PHASES = ("start", "scan", "read", "embed", "write", "done")


def note_text(i: int, version: int) -> str:
    body = " ".join(f"word{(i * 7 + j) % 500}" for j in range(60))
    extra = f"\n\n## Update\n\nRevised: {NEW_WORD} sighting number {i}.\n" if version == 2 else ""
    return f"# Note {i}\n\n{body}\n{extra}"


def write_state(root: Path, version: int, notes: int) -> None:
    """Version 1: notes 0..notes-1. Version 2: every fifth changed, 0..19 deleted, 30 added."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    if version == 1:
        wanted = {i: 1 for i in range(notes)}
    else:
        wanted = {i: (2 if i % 5 == 0 else 1) for i in range(20, notes + 30)}
    for i, v in wanted.items():
        (root / f"n{i:04d}.md").write_text(note_text(i, v), encoding="utf-8")


def visible_state(store: Store) -> tuple:
    """Everything a search can see, as one comparable value."""
    stats = store.stats()
    hits = sorted(h.note_path for h in store.keyword(NEW_WORD, 1000))
    return (
        tuple(sorted(store.note_hashes().items())),
        stats.notes,
        stats.chunks,
        stats.vectors,
        tuple(sorted(store.hashes_without_vector())),
        tuple(hits),
    )


async def reindex_publishing_phase(store: Store, root: str, phase: Any) -> None:
    """The child's work: one reindex of ``root``, with its phase (and texts embedded) in ``phase.value``."""

    def progress(event: IndexProgress) -> None:
        if event.phase in PHASES:
            phase.value = PHASES.index(event.phase) * EMBED_SCALE + (event.done if event.phase == "embed" else 0)

    await reindex(store, Path(root), HashEmbedder(), embed_batch_size=16, progress=progress)
    phase.value = PHASES.index("done") * EMBED_SCALE


def wait_for_phase(child: multiprocessing.Process, phase: Any, name: str, *, poll_s: float, limit_s: float) -> float:
    """Block until the child reports phase ``name`` (or later) or exits; return the seconds waited."""
    started = time.perf_counter()
    target = PHASES.index(name) * EMBED_SCALE
    while phase.value < target and child.is_alive() and time.perf_counter() - started < limit_s:
        time.sleep(poll_s)
    return time.perf_counter() - started
