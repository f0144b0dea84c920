"""Bring the index in line with a vault folder: read what changed, embed only new text, apply once.

The steps, and why each is cheap when little changed:

1. **scan** the folder (``vault.scan_vault``) and list what the store holds
   (``note_hashes``);
2. **read** every note (``vault.read_note``); a note whose content hash equals
   the stored one is *unchanged* and is not chunked at all;
3. **chunk** new and changed notes (``vault.chunk_note``, counting tokens with
   the embedder's tokenizer when it has one);
4. **embed** only chunk hashes the store has no vector for (nor, in its
   embedding cache, for this model), in batches; each batch goes to the cache
   at once, so a killed reindex resumes without paying again;
5. **apply** every upsert, delete and vector in *one* ``store.apply``: an
   interruption anywhere before it leaves the previous index as it was.

The store's model guard stops vectors of two models from mixing: a different
embedder raises ``ModelMismatch`` unless ``rebuild=True``, which re-chunks every
note and replaces every vector in that same single transaction.

Blocking work (file reads, chunking, SQLite) runs in worker threads so the
service's event loop keeps answering searches during a reindex.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
import numpy as np

from providers.embedder import Embedder
from qmdr.errors import Conflict, QmdrError
from qmdr.store.base import EmbeddingCache, IndexChange, Store
from vault import (
    CHUNKER_VERSION,
    MAX_NOTE_BYTES,
    ChunkingOptions,
    IngestError,
    chunk_note,
    read_note,
    scan_vault,
)
from vault.chunk import DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS
from vault.model import Chunk, Note, Skipped

#: texts per embed call by default: big enough to keep a local model's matrix products efficient
#: and a provider's request count low, small enough that progress moves and a failure loses little
DEFAULT_EMBED_BATCH_SIZE = 64
#: files read and chunked per worker-thread hop; between hops progress is reported on the event loop
READ_BATCH_FILES = 64
#: meta key holding the chunking parameters the stored chunks were cut with
CHUNKING_META_KEY = "chunking"
#: tokenizer name recorded when the embedder cannot count tokens itself
APPROX_TOKENIZER = "approx"


@dataclass(frozen=True, slots=True)
class IndexProgress:
    """Where a reindex is: ``phase`` is scan, read, embed, write or done; ``done`` of ``total`` items."""

    phase: str
    done: int = 0
    total: int = 0
    path: str | None = None  # the note being read, in the read phase

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class IndexSummary:
    """What one reindex did (``to_dict`` feeds the API, the CLI and the dashboard)."""

    added: int = 0  # notes new to the index
    changed: int = 0  # notes whose content changed
    removed: int = 0  # notes gone from the vault (or no longer readable)
    unchanged: int = 0  # notes skipped cheaply by content hash
    skipped: int = 0  # files the scan or the reader would not index
    embedded: int = 0  # texts sent to the embedder (0 on an unchanged vault)
    chunks: int = 0  # chunks written for added and changed notes
    reused: int = 0  # new chunk texts whose vector already existed (index or embedding cache)
    rebuild: bool = False
    model_id: str = ""
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    skipped_files: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0

    def count_note(self, stored_hash: str | None, content_hash: str) -> bool:
        """Count a read note as added, changed or unchanged against the index's hash for its path;
        True when unchanged (the whole-vault and the single-note paths both skip those)."""
        if stored_hash == content_hash:
            self.unchanged += 1
            return True
        if stored_hash is None:
            self.added += 1
        else:
            self.changed += 1
        return False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["warnings"] = [list(w) for w in self.warnings]
        data["skipped_files"] = [{"path": s.path, "reason": s.reason} for s in self.skipped_files]
        return data


ProgressCallback = Callable[[IndexProgress], None]


class EmptyFolderRefused(Conflict):
    """The folder has no notes but the index has: indexing it would empty the index (HTTP 409).

    Almost always a mistake (a typo that still names a folder, an unmounted
    drive, the wrong checkout), and an emptied index costs a full re-embed to
    undo, so it takes ``allow_empty`` to do it on purpose.
    """

    @classmethod
    def of(cls, root: Path, notes: int) -> EmptyFolderRefused:
        return cls(
            f"{root} has no notes, but the index holds {notes}: indexing it would remove them all. "
            "Check the folder (a typo? an unmounted drive?), or pass --allow-empty "
            '(API: "allow_empty": true) to empty the index on purpose'
        )


def chunking_signature(max_tokens: int, overlap_tokens: int, embedder: Embedder) -> str:
    """The parameters stored chunks depend on; when it changes every note is re-chunked."""
    tokenizer = embedder.model_id if callable(getattr(embedder, "count_tokens", None)) else APPROX_TOKENIZER
    return json.dumps(
        {
            "chunker": CHUNKER_VERSION,
            "max_tokens": max_tokens,
            "overlap_tokens": overlap_tokens,
            "tokenizer": tokenizer,
        },
        sort_keys=True,
    )


@dataclass(slots=True)
class _Plan:
    """The outcome of reading the vault: what to write, before any embedding."""

    upserts: list[tuple[Note, list[Chunk]]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


async def reindex(
    store: Store,
    root: Path,
    embedder: Embedder,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    max_note_bytes: int = MAX_NOTE_BYTES,
    rebuild: bool = False,
    progress: ProgressCallback | None = None,
    embed_batch_size: int = DEFAULT_EMBED_BATCH_SIZE,
    allow_empty: bool = False,
) -> IndexSummary:
    """Index the vault at ``root`` into ``store`` (see the module docstring for the steps).

    A folder without notes over an index with notes raises ``EmptyFolderRefused`` unless ``allow_empty``.
    """
    started = time.perf_counter()
    ChunkingOptions(max_tokens=max_tokens, overlap_tokens=overlap_tokens)  # ValueError before any work
    if embed_batch_size < 1:
        raise ValueError(f"embed_batch_size must be >= 1, got {embed_batch_size}")
    report = progress or (lambda _event: None)
    target = (embedder.model_id, int(embedder.dim))
    summary = IndexSummary(rebuild=rebuild, model_id=target[0])
    lock_factory = getattr(store, "reindex_lock", None)
    lock: AbstractContextManager[Any] = lock_factory() if callable(lock_factory) else nullcontext()
    with lock:
        if not rebuild:
            # Refuses (ModelMismatch, naming --rebuild) before anything is read or embedded
            await anyio.to_thread.run_sync(store.set_embedding_model, *target)
        report(IndexProgress("scan"))
        scan = await anyio.to_thread.run_sync(lambda: scan_vault(root, max_bytes=max_note_bytes))
        summary.skipped_files.extend(scan.skipped)
        stored = await anyio.to_thread.run_sync(store.note_hashes)
        if not scan.files and stored and not allow_empty:
            raise EmptyFolderRefused.of(root, len(stored))
        known: set[str] = set() if rebuild else await anyio.to_thread.run_sync(store.known_hashes)
        signature = chunking_signature(max_tokens, overlap_tokens, embedder)
        get_meta = getattr(store, "get_meta", None)
        stored_signature = (
            await anyio.to_thread.run_sync(get_meta, CHUNKING_META_KEY) if callable(get_meta) else signature
        )  # a store without meta cannot tell: trust its chunks
        # Re-chunk every note when chunks may have been cut differently, or when some lack vectors
        # (e.g. after reset_vectors): unchanged text is still not embedded twice.
        rechunk_all = rebuild or (bool(stored) and stored_signature != signature)
        without_vector = getattr(store, "hashes_without_vector", None)
        if not rechunk_all and callable(without_vector):
            rechunk_all = bool(await anyio.to_thread.run_sync(without_vector))

        plan = await _read_vault(
            root,
            scan.files,
            stored,
            summary,
            rechunk_all=rechunk_all,
            max_tokens=max_tokens,
            overlap_tokens=overlap_tokens,
            max_note_bytes=max_note_bytes,
            embedder=embedder,
            report=report,
        )
        deletes = sorted(set(stored) - plan.seen)
        summary.removed = len(deletes)
        summary.skipped = len(summary.skipped_files)

        texts: dict[str, str] = {}
        for _, chunks in plan.upserts:
            summary.chunks += len(chunks)
            for chunk in chunks:
                texts.setdefault(chunk.hash, chunk.text)
        if rebuild and isinstance(store, EmbeddingCache):
            known = await anyio.to_thread.run_sync(store.cached_hashes, target[0], target[1], list(texts))
        needed = [h for h in texts if h not in known]
        summary.reused = len(texts) - len(needed)
        vectors = await _embed(store, embedder, target, needed, texts, embed_batch_size, report)
        summary.embedded = len(needed)

        change = IndexChange(
            upserts=plan.upserts,
            deletes=deletes,
            vectors=vectors,
            model=target,
            replace_vectors=rebuild,
            meta={CHUNKING_META_KEY: signature},
        )
        report(IndexProgress("write", 0, len(plan.upserts) + len(deletes)))
        await anyio.to_thread.run_sync(store.apply, change)
    summary.seconds = time.perf_counter() - started
    report(
        IndexProgress(
            "done",
            summary.added + summary.changed + summary.unchanged,
            summary.added + summary.changed + summary.unchanged,
        )
    )
    return summary


async def _read_vault(
    root: Path,
    files: Sequence[str],
    stored: dict[str, str],
    summary: IndexSummary,
    *,
    rechunk_all: bool,
    max_tokens: int,
    overlap_tokens: int,
    max_note_bytes: int,
    embedder: Embedder,
    report: ProgressCallback,
) -> _Plan:
    """Read every file, skipping unchanged notes by content hash, chunking the rest (in threads)."""
    count_tokens = getattr(embedder, "count_tokens", None)
    counter = count_tokens if callable(count_tokens) else None
    plan = _Plan()

    def read_batch(batch: Sequence[str]) -> None:
        for rel in batch:
            try:
                note = read_note(root, rel, max_bytes=max_note_bytes)
            except IngestError as exc:  # e.g. a path the scan let through but the reader refuses
                summary.skipped_files.append(Skipped(rel, str(exc)))
                continue
            if isinstance(note, Skipped):
                summary.skipped_files.append(note)
                continue
            plan.seen.add(note.path)
            summary.warnings.extend((note.path, warning) for warning in note.warnings)
            if summary.count_note(stored.get(note.path), note.content_hash) and not rechunk_all:
                continue
            chunks = chunk_note(note, max_tokens=max_tokens, overlap_tokens=overlap_tokens, count_tokens=counter)
            plan.upserts.append((note, chunks))

    for start in range(0, len(files), READ_BATCH_FILES):
        batch = files[start : start + READ_BATCH_FILES]
        report(IndexProgress("read", start, len(files), batch[0]))
        await anyio.to_thread.run_sync(read_batch, batch)
    report(IndexProgress("read", len(files), len(files)))
    return plan


async def _embed(
    store: Store,
    embedder: Embedder,
    target: tuple[str, int],
    needed: Sequence[str],
    texts: dict[str, str],
    batch_size: int,
    report: ProgressCallback,
) -> dict[str, np.ndarray]:
    """Vectors for ``needed`` hashes, batch by batch, each batch saved to the store's cache at once."""
    vectors: dict[str, np.ndarray] = {}
    cache = store if isinstance(store, EmbeddingCache) else None
    report(IndexProgress("embed", 0, len(needed)))
    for start in range(0, len(needed), batch_size):
        batch = needed[start : start + batch_size]
        result = np.asarray(await embedder.embed([texts[h] for h in batch]), dtype=np.float32)
        if result.shape != (len(batch), target[1]):
            raise QmdrError(
                f"embedder {target[0]} returned an array of shape {result.shape} for "
                f"{len(batch)} texts; expected ({len(batch)}, {target[1]})"
            )
        fresh = dict(zip(batch, result, strict=True))
        if cache is not None:
            await anyio.to_thread.run_sync(cache.cache_vectors, target[0], target[1], fresh)
        vectors.update(fresh)
        report(IndexProgress("embed", start + len(batch), len(needed)))
    return vectors
