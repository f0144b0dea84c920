"""The Store seam: what the indexer and search need from a database.

Two backends implement it: ``qmdr.store.sqlite`` (apsw + sqlite-vec + FTS5,
the embedded default) and ``qmdr.store.postgres`` (pgvector + tsvector).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from vault.model import Chunk, Note

if TYPE_CHECKING:  # only named in annotations: a keyword search imports the seam and no numpy
    import numpy as np


@dataclass(frozen=True, slots=True)
class Filters:
    """Restrict a search. Empty means everything; every condition given must hold.

    Build ``where``, ``after`` and ``before`` with ``qmdr.store.filtering.make_filters``,
    which validates what a caller sent and encodes it: ``where`` holds, per
    frontmatter key, the encoded terms (``filtering.field_term``) of the values
    any one of which the note must carry; ``after``/``before`` are POSIX seconds
    compared with the note's date (``vault.frontmatter.note_timestamp``).
    """

    path_prefix: str | None = None  # note paths starting with this (relative to the vault)
    tags: tuple[str, ...] = ()  # notes carrying all of these tags
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (frontmatter key, terms of its accepted values)
    after: float | None = None  # note date >= this
    before: float | None = None  # note date < this


@dataclass(frozen=True, slots=True)
class Hit:
    """One chunk found by one retrieval mode, with that mode's raw score."""

    chunk_id: int
    chunk_hash: str
    note_path: str
    title: str
    heading_trail: tuple[str, ...]
    start_line: int
    end_line: int
    text: str
    score: float  # keyword: -bm25 (higher is better); vector: cosine similarity
    tags: tuple[str, ...] = ()


@dataclass(slots=True)
class IndexChange:
    """Everything one reindex changes, applied by ``Store.apply`` in one transaction.

    ``upserts`` replace a note and all its chunks; ``deletes`` remove notes (and
    their chunks); ``vectors`` carry embeddings for chunk hashes the store lacks.
    """

    upserts: list[tuple[Note, list[Chunk]]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    # Recorded in the same transaction, so a rebuild or a first index is all-or-nothing too:
    model: tuple[str, int] | None = None  # (model_id, dim) of ``vectors``; changing it needs replace_vectors
    replace_vectors: bool = False  # drop every stored vector first (``--rebuild``, model switch)
    meta: dict[str, str] = field(default_factory=dict)  # extra index metadata, e.g. the chunking parameters

    @property
    def is_empty(self) -> bool:
        return not (self.upserts or self.deletes or self.vectors)


@dataclass(frozen=True, slots=True)
class IndexStats:
    notes: int
    chunks: int
    vectors: int
    model_id: str | None
    dim: int | None
    last_reindex: str | None  # ISO timestamp (UTC)
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The counts ``/health``, ``qmdr status`` and a vault's stats show, plus the state of an in-memory
        keyword index for a store that keeps one (``extra["keyword_index"]``, SQLite)."""
        shown: dict[str, Any] = {
            "notes": self.notes,
            "chunks": self.chunks,
            "vectors": self.vectors,
            "model": self.model_id,
            "dim": self.dim,
            "last_reindex": self.last_reindex,
        }
        if "keyword_index" in self.extra:
            shown["keyword_index"] = self.extra["keyword_index"]
        return shown


class Store(Protocol):
    def embedding_model(self) -> tuple[str, int] | None:
        """The (model_id, dim) that made the stored vectors, or None for a fresh index."""
        ...

    def set_embedding_model(self, model_id: str, dim: int) -> None:
        """Record the model; refuses (StoreError) to change it while vectors exist."""
        ...

    def get_meta(self, key: str) -> str | None:
        """A value recorded through ``IndexChange.meta`` (None when never set)."""
        ...

    def note_hashes(self) -> dict[str, str]:
        """path -> content hash of every indexed note (to skip unchanged files cheaply)."""
        ...

    def known_hashes(self) -> set[str]:
        """Chunk hashes that already have a vector for the current model."""
        ...

    def apply(self, change: IndexChange) -> None:
        """Apply all of ``change`` in one transaction: all of it or none."""
        ...

    def reindex_lock(self) -> AbstractContextManager[None]:
        """Held for a whole reindex; raises IndexBusy at once if another reindex holds it."""
        ...

    def keyword(self, query: str, k: int, filters: Filters = Filters()) -> list[Hit]: ...

    def nearest(self, vector: np.ndarray, k: int, filters: Filters = Filters()) -> list[Hit]: ...

    def get_note(self, path: str) -> dict[str, Any] | None: ...

    def stats(self) -> IndexStats: ...

    def close(self) -> None: ...


@runtime_checkable
class EmbeddingCache(Protocol):
    """Optional store capability: vectors kept by (model, text hash) beyond the live index.

    ``apply`` restores a cached vector for every new chunk whose text the index's
    model embedded before, so a rebuild, a model switch back, or a reindex
    resumed after a crash re-embeds nothing twice. The indexer asks which hashes
    a model (maybe not the recorded one, as in a rebuild) has cached, and saves
    each embedded batch at once; without this capability it simply embeds.
    """

    def cached_hashes(self, model_id: str, dim: int, hashes: Iterable[str]) -> set[str]: ...

    def cache_vectors(self, model_id: str, dim: int, vectors: Mapping[str, np.ndarray]) -> None: ...


def chunk_ids_unique(hits: Sequence[Hit]) -> bool:
    """True when no chunk appears twice (a cheap invariant for tests)."""
    return len({h.chunk_id for h in hits}) == len(hits)
