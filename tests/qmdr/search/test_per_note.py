"""``per_note``: k counts notes (the best chunk of each), as document-level evaluation needs."""

from __future__ import annotations

import pytest

from qmdr.memory.indexer import reindex
from qmdr.search.searcher import Searcher
from tests.qmdr.conftest import write_vault


@pytest.fixture
async def sectioned(tmp_path, fresh_store, embedder):
    """Six notes of three sections each, every section about gliders: many chunks per note."""
    notes = {
        f"glider{i}.md": "\n\n".join(f"## Part {j}\n\nGliders soar on thermals, note {i} part {j}." for j in range(3))
        for i in range(6)
    }
    await reindex(fresh_store, write_vault(tmp_path / "g", notes), embedder, max_tokens=16, overlap_tokens=0)
    assert fresh_store.stats().chunks >= 12
    return fresh_store


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["keyword", "vector", "hybrid"])
async def test_per_note_returns_k_distinct_notes_at_their_best_chunk(sectioned, embedder, mode):
    searcher = Searcher(sectioned, embedder)
    chunks = await searcher.search("gliders soar on thermals", mode=mode, k=6, candidates=6)
    assert len({r.path for r in chunks.results}) < 6  # six chunks are fewer than six notes
    # a one-list search goes deeper by itself; hybrid keeps its fusion depth, so it is given enough
    candidates = 18 if mode == "hybrid" else 6
    notes = await searcher.search("gliders soar on thermals", mode=mode, k=6, candidates=candidates, per_note=True)
    assert sorted(r.path for r in notes.results) == [f"glider{i}.md" for i in range(6)]
    first_chunk = {}
    for r in (await searcher.search("gliders soar on thermals", mode=mode, k=18, candidates=18)).results:
        first_chunk.setdefault(r.path, r.chunk_hash)
    if mode != "hybrid":  # one list: its order at any depth is the same order
        assert [r.chunk_hash for r in notes.results] == [first_chunk[r.path] for r in notes.results]


@pytest.mark.anyio
async def test_per_note_stops_when_the_list_ends(sectioned, embedder):
    found = await Searcher(sectioned, embedder).search("part", mode="keyword", k=50, candidates=4, per_note=True)
    assert sorted(r.path for r in found.results) == [f"glider{i}.md" for i in range(6)]
