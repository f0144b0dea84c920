"""Correcting memory: a write that supersedes an old note, and near-duplicate detection on write.

``remember`` wraps the note write (``qmdr.memory.notes_write.write_note``):

* **near duplicates.** The new text is chunked exactly as the indexer will
  chunk it, each chunk is embedded, and the vault's index is asked for the
  nearest stored chunks. Stored chunks at cosine similarity >=
  ``threshold`` (``QMDR_DUPLICATE_THRESHOLD``; its value is measured on
  Cranfield paraphrase pairs vs related and unrelated pairs, see
  ``benchmarks/duplicates.py``) are reported as ``similar``; the note being
  written and the note it supersedes are never its own duplicates. Then
  ``on_duplicate`` decides: ``write`` (the default) writes anyway, ``skip``
  writes nothing, ``merge`` appends the text to the most similar note instead.
  The vectors are put in the index's embedding cache, so indexing the note
  right after re-embeds nothing.
* **supersedes.** ``supersedes: "old/path"`` checks the old note exists
  before anything is written, writes the new note with ``supersedes: old``
  in its frontmatter, then sets ``superseded_by: new`` on the old note.
  From then on search and context leave the old note out unless
  ``include_superseded`` (``qmdr.memory.superseded``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio.to_thread
import numpy as np

from qmdr.errors import InvalidQuery, NotFound
from qmdr.memory.hub import VaultHub
from qmdr.memory.notes_write import WriteOutcome, merge_note_text, note_rel_path, write_note
from qmdr.memory.superseded import SUPERSEDED_BY, SUPERSEDES
from qmdr.store.base import EmbeddingCache
from vault import chunk_note
from vault.model import Note
from vault.parse import parse_note

OnDuplicate = Literal["write", "skip", "merge"]
ON_DUPLICATE: tuple[OnDuplicate, ...] = ("write", "skip", "merge")
#: nearest stored chunks looked at per new chunk; more than a handful of near-copies is one finding anyway
NEIGHBOURS_PER_CHUNK = 5
#: most similar chunks reported in an answer
MAX_SIMILAR = 10


@dataclass(frozen=True, slots=True)
class Similar:
    path: str
    start_line: int
    end_line: int
    similarity: float

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "lines": [self.start_line, self.end_line], "similarity": self.similarity}


@dataclass(slots=True)
class RememberOutcome:
    """What a correcting write did: ``action`` is written, merged or skipped."""

    action: Literal["written", "merged", "skipped"]
    vault: str
    path: str  # the note written (merged into), or the one that would have been written
    write: WriteOutcome | None
    similar: list[Similar] = field(default_factory=list)
    superseded: str | None = None


async def find_similar(
    hub: VaultHub, vault: str, key: str, text: str, *, threshold: float, exclude: frozenset[str] = frozenset()
) -> list[Similar]:
    """Stored chunks of ``vault`` at cosine >= ``threshold`` to any chunk of ``text`` written at ``key``."""
    opened = hub.open(vault)
    chunking = hub.chunking(hub.info(vault))
    embedder = hub.embedder
    parsed = parse_note(key, text.encode("utf-8"), time.time())
    if not isinstance(parsed, Note):
        return []
    count_tokens = getattr(embedder, "count_tokens", None)
    chunks = chunk_note(
        parsed,
        max_tokens=chunking["max_tokens"],
        overlap_tokens=chunking["overlap_tokens"],
        count_tokens=count_tokens if callable(count_tokens) else None,
    )
    if not chunks or opened.store.embedding_model() is None:
        return []
    vectors = np.asarray(await embedder.embed([c.text for c in chunks]), dtype=np.float32)
    store = opened.store
    if isinstance(store, EmbeddingCache):  # indexing the note right after reuses these vectors
        await anyio.to_thread.run_sync(
            store.cache_vectors,
            embedder.model_id,
            int(embedder.dim),
            {c.hash: v for c, v in zip(chunks, vectors, strict=True)},
        )
    best: dict[tuple[str, int, int], float] = {}
    for vector in vectors:
        for hit in await anyio.to_thread.run_sync(store.nearest, vector, NEIGHBOURS_PER_CHUNK):
            if hit.score < threshold or hit.note_path in exclude:
                continue
            place = (hit.note_path, hit.start_line, hit.end_line)
            best[place] = max(best.get(place, -1.0), float(hit.score))
    found = [Similar(p, s, e, round(score, 4)) for (p, s, e), score in best.items()]
    found.sort(key=lambda f: (-f.similarity, f.path, f.start_line))
    return found[:MAX_SIMILAR]


async def remember(
    hub: VaultHub,
    vault: str,
    path: str,
    *,
    content: str | None = None,
    frontmatter: dict[str, Any] | None = None,
    append: bool = False,
    supersedes: str | None = None,
    on_duplicate: str = "write",
    threshold: float,
) -> RememberOutcome:
    """Write a note with duplicate detection and an optional superseded note; see the module docstring."""
    if on_duplicate not in ON_DUPLICATE:
        raise InvalidQuery(f"on_duplicate must be one of {', '.join(ON_DUPLICATE)}, not {on_duplicate!r}")
    root = hub.info(vault).folder
    key, target = note_rel_path(root, path)
    old_key = None
    if supersedes is not None:
        old_key, old_target = note_rel_path(root, supersedes)
        if old_key == key:
            raise InvalidQuery("a note cannot supersede itself: give the new note another path")
        if not await anyio.to_thread.run_sync(old_target.is_file):
            raise NotFound(f"supersedes: no note at {old_key!r} in vault {vault!r}")
    similar: list[Similar] = []
    if content is not None and content.strip():
        # the text as it would be written (frontmatter merged): its chunks are what the index will hold
        existing = await anyio.to_thread.run_sync(_read_if_file, target)
        text = merge_note_text(None if append else existing, content=content, frontmatter=frontmatter)
        similar = await find_similar(
            hub, vault, key, text, threshold=threshold, exclude=frozenset(p for p in (key, old_key) if p)
        )
    meta = dict(frontmatter or {})
    if old_key is not None:
        meta[SUPERSEDES] = old_key
    if similar and on_duplicate == "skip":
        return RememberOutcome("skipped", vault, key, None, similar)
    action: Literal["written", "merged"] = "written"
    if similar and on_duplicate == "merge":
        key, action, append = similar[0].path, "merged", True
    outcome = await write_note(hub, vault, key, content=content, frontmatter=meta or None, append=append)
    if old_key is not None and old_key != outcome.path:
        await write_note(hub, vault, old_key, frontmatter={SUPERSEDED_BY: outcome.path})
    return RememberOutcome(action, vault, outcome.path, outcome, similar, old_key)


def _read_if_file(target: Any) -> str | None:
    return target.read_text(encoding="utf-8", errors="replace") if target.is_file() else None
