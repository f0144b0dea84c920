"""Reindex a few notes of a vault (after a write, a delete, or a file-watch burst), not the whole folder.

``index_notes`` follows the same rules as the full reindex (``qmdr.memory.indexer``):
a path the scan would leave out (hidden, ``.qmdrignore``d, not markdown) is
not indexed, an unchanged note (same content hash) costs nothing, only chunk
texts without a stored vector are embedded, and everything is written in one
``store.apply``. A path whose file is gone (or no longer indexable) is removed
from the index.

When the stored chunks were cut with other parameters (``chunking`` meta) a
per-note update would mix two chunkings in one index, so ``NeedsFullReindex``
is raised and the caller runs the full reindex instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path, PurePosixPath
from typing import Any

import anyio.to_thread
import numpy as np

from providers.embedder import Embedder
from qmdr.errors import IndexBusy, QmdrError
from qmdr.memory.indexer import CHUNKING_META_KEY, IndexSummary, chunking_signature
from qmdr.store.base import EmbeddingCache, IndexChange, Store
from vault import chunk_note, read_note
from vault.model import Chunk, Note, Skipped
from vault.scan import IGNORE_FILE_NAME, is_hidden, is_markdown_name, load_ignore_spec

#: how long a note write waits for another process's reindex of the same index before giving up:
#: a first index of a big vault holds the reindex lock for minutes, a routine reindex for seconds
REINDEX_LOCK_WAIT_S = 30.0
#: pause between attempts to take the reindex lock
REINDEX_LOCK_RETRY_S = 0.05


class NeedsFullReindex(QmdrError):
    """The index was chunked with other parameters (or a path set changed the rules): reindex the vault."""


def normalise_rel(rel: str) -> str:
    """The POSIX vault-relative key of ``rel`` (no ``.``/empty parts, ``/`` separators)."""
    return "/".join(p for p in rel.replace("\\", "/").split("/") if p not in ("", "."))


def indexable(root: Path, rel: str) -> bool:
    """True when a full scan would list ``rel``: markdown, not hidden, not ignored by ``.qmdrignore``."""
    if not is_markdown_name(rel) or is_hidden(rel):
        return False
    spec = load_ignore_spec(Path(root).resolve())
    if spec is None:
        return True
    parts = PurePosixPath(rel).parts
    folders = ["/".join(parts[:i]) + "/" for i in range(1, len(parts))]
    return not any(spec.match_file(p) for p in [*folders, rel])


async def acquire_reindex_lock(store: Store, wait_s: float = REINDEX_LOCK_WAIT_S) -> AbstractContextManager[Any]:
    """The store's reindex lock, retried for up to ``wait_s`` while another process holds it."""
    factory = getattr(store, "reindex_lock", None)
    if not callable(factory):
        return nullcontext()
    deadline = time.monotonic() + wait_s
    while True:
        lock = factory()
        try:
            lock.__enter__()
        except IndexBusy:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(REINDEX_LOCK_RETRY_S)
            continue
        return lock


async def index_notes(
    store: Store,
    root: Path,
    embedder: Embedder,
    paths: Iterable[str],
    *,
    max_tokens: int,
    overlap_tokens: int,
    max_note_bytes: int,
) -> IndexSummary:
    """Bring the index in line with the files at ``paths`` (vault-relative); see the module docstring."""
    started = time.perf_counter()
    wanted = sorted({normalise_rel(p) for p in paths} - {""})
    target = (embedder.model_id, int(embedder.dim))
    summary = IndexSummary(model_id=target[0])
    signature = chunking_signature(max_tokens, overlap_tokens, embedder)
    lock = await acquire_reindex_lock(store)
    try:
        stored = await anyio.to_thread.run_sync(store.note_hashes)
        stored_signature = await anyio.to_thread.run_sync(store.get_meta, CHUNKING_META_KEY)
        if stored and stored_signature not in (None, signature):
            raise NeedsFullReindex("the index was chunked with other parameters; reindexing the whole vault")
        await anyio.to_thread.run_sync(store.set_embedding_model, *target)
        upserts, deletes = await anyio.to_thread.run_sync(
            _read, root, wanted, stored, summary, max_tokens, overlap_tokens, max_note_bytes, embedder
        )
        if not upserts and not deletes:
            summary.seconds = time.perf_counter() - started
            return summary
        texts: dict[str, str] = {}
        for _, chunks in upserts:
            summary.chunks += len(chunks)
            for chunk in chunks:
                texts.setdefault(chunk.hash, chunk.text)
        known = await anyio.to_thread.run_sync(store.known_hashes)
        needed = [h for h in texts if h not in known]
        summary.reused = len(texts) - len(needed)
        vectors: dict[str, np.ndarray] = {}
        if needed:
            result = np.asarray(await embedder.embed([texts[h] for h in needed]), dtype=np.float32)
            vectors = dict(zip(needed, result, strict=True))
            if isinstance(store, EmbeddingCache):
                await anyio.to_thread.run_sync(store.cache_vectors, target[0], target[1], vectors)
        summary.embedded = len(needed)
        change = IndexChange(
            upserts=upserts, deletes=deletes, vectors=vectors, model=target, meta={CHUNKING_META_KEY: signature}
        )
        await anyio.to_thread.run_sync(store.apply, change)
    finally:
        lock.__exit__(None, None, None)
    summary.seconds = time.perf_counter() - started
    return summary


def _read(
    root: Path,
    wanted: list[str],
    stored: dict[str, str],
    summary: IndexSummary,
    max_tokens: int,
    overlap_tokens: int,
    max_note_bytes: int,
    embedder: Embedder,
) -> tuple[list[tuple[Note, list[Chunk]]], list[str]]:
    """(upserts, deletes) for ``wanted``; runs in a worker thread (file reads and chunking)."""
    count_tokens = getattr(embedder, "count_tokens", None)
    upserts: list[tuple[Note, list[Chunk]]] = []
    deletes: list[str] = []
    for rel in wanted:
        if rel == IGNORE_FILE_NAME:
            raise NeedsFullReindex(f"{IGNORE_FILE_NAME} changed; reindexing the whole vault")
        note = read_note(root, rel, max_bytes=max_note_bytes) if indexable(root, rel) else None
        if not isinstance(note, Note):
            if isinstance(note, Skipped) and (Path(root) / rel).exists():
                summary.skipped_files.append(note)
            if rel in stored:
                deletes.append(rel)
            continue
        summary.warnings.extend((note.path, w) for w in note.warnings)
        if summary.count_note(stored.get(note.path), note.content_hash):
            continue
        chunks = chunk_note(
            note,
            max_tokens=max_tokens,
            overlap_tokens=overlap_tokens,
            count_tokens=count_tokens if callable(count_tokens) else None,
        )
        upserts.append((note, chunks))
    summary.removed = len(deletes)
    summary.skipped = len(summary.skipped_files)
    return upserts, deletes
