"""reindex against real vault files and a real SQLite index: counts, incrementality, model guard, crashes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qmdr.errors import IndexBusy, ModelMismatch
from qmdr.memory.indexer import CHUNKING_META_KEY, IndexProgress, reindex
from qmdr.store.sqlite import SqliteStore
from tests.qmdr.conftest import VAULT_NOTES
from tests.qmdr.embedders import HashEmbedder

REPO = Path(__file__).resolve().parents[3]
#: generous bound for a child Python process that imports numpy and apsw (not a speed assertion)
CHILD_TIMEOUT_S = 120


def note_paths(store: SqliteStore) -> set[str]:
    return set(store.note_hashes())


@pytest.mark.anyio
async def test_first_run_indexes_everything_and_second_run_embeds_nothing(vault, fresh_store, embedder):
    events: list[IndexProgress] = []
    first = await reindex(fresh_store, vault, embedder, progress=events.append)
    assert (first.added, first.changed, first.removed, first.unchanged) == (4, 0, 0, 0)
    assert first.chunks >= 4 and first.embedded == len(fresh_store.known_hashes()) > 0
    assert embedder.texts_embedded == first.embedded
    assert note_paths(fresh_store) == set(VAULT_NOTES)
    assert fresh_store.embedding_model() == (embedder.model_id, embedder.dim)
    phases = [e.phase for e in events]
    assert phases[0] == "scan" and phases[-1] == "done" and {"read", "embed", "write"} <= set(phases)

    generation = fresh_store.generation()
    second = await reindex(fresh_store, vault, embedder)
    assert (second.added, second.changed, second.removed, second.unchanged) == (0, 0, 0, 4)
    assert second.embedded == 0 and second.chunks == 0
    assert embedder.texts_embedded == first.embedded
    assert fresh_store.generation() == generation  # nothing searchable changed
    json.dumps(second.to_dict())


@pytest.mark.anyio
async def test_add_change_delete_are_counted_and_only_new_text_is_embedded(vault, fresh_store, embedder):
    await reindex(fresh_store, vault, embedder)
    before = embedder.texts_embedded
    (vault / "recipes/bread.md").unlink()
    (vault / "journal/2024-05-01.md").write_text("# May first\n\nA quiet day: read about kestrels.\n")
    (vault / "journal/2024-05-02.md").write_text("# May second\n\nRepaired the bicycle chain.\n")
    summary = await reindex(fresh_store, vault, embedder)
    assert (summary.added, summary.changed, summary.removed, summary.unchanged) == (1, 1, 1, 2)
    assert summary.embedded == embedder.texts_embedded - before == summary.chunks == 2
    assert [h.note_path for h in fresh_store.keyword("kestrels", 3)] == ["journal/2024-05-01.md"]
    assert fresh_store.keyword("heron", 3) == []
    assert fresh_store.keyword("sourdough", 3) == []
    assert fresh_store.get_note("recipes/bread.md") is None


class TextRecordingEmbedder(HashEmbedder):
    """The hashing embedder, also keeping every text it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    async def embed(self, texts):  # type: ignore[no-untyped-def]
        self.texts.extend(texts)
        return await super().embed(texts)


SECTIONS = {
    "Goals": "Ship the uploader before the harvest festival.",
    "Risks": "The storage quota might run out during the festival week.",
    "People": "Mara owns the backend; Tomas owns the dashboard.",
}


def sectioned_note(sections: dict[str, str]) -> str:
    return "# Festival plan\n\n" + "".join(f"## {heading}\n\n{body}\n\n" for heading, body in sections.items())


@pytest.mark.anyio
async def test_editing_one_section_reembeds_only_that_sections_chunk(tmp_path, fresh_store):
    vault = tmp_path / "sectioned"
    vault.mkdir()
    (vault / "plan.md").write_text(sectioned_note(SECTIONS))
    embedder = TextRecordingEmbedder()
    # a budget below two sections and no overlap: each section is one chunk, sharing no text with the next
    first = await reindex(fresh_store, vault, embedder, max_tokens=20, overlap_tokens=0)
    assert first.chunks == 3 and first.embedded == 3  # one chunk per section: the test needs several

    edited = {**SECTIONS, "Risks": "The storage quota is now doubled; no risk remains for the festival."}
    (vault / "plan.md").write_text(sectioned_note(edited))
    embedder.texts.clear()
    second = await reindex(fresh_store, vault, embedder, max_tokens=20, overlap_tokens=0)
    assert (second.changed, second.chunks, second.embedded, second.reused) == (1, 3, 1, 2)
    assert len(embedder.texts) == 1 and "quota is now doubled" in embedder.texts[0]
    assert "Mara owns the backend" not in embedder.texts[0] and "harvest festival" not in embedder.texts[0]
    assert [h.note_path for h in fresh_store.keyword("doubled", 3)] == ["plan.md"]
    assert fresh_store.keyword("might run out", 3) == []


@pytest.mark.anyio
async def test_a_moved_note_reuses_its_vectors(vault, fresh_store, embedder):
    await reindex(fresh_store, vault, embedder)
    before = embedder.texts_embedded
    (vault / "archive").mkdir()
    (vault / "recipes/bread.md").rename(vault / "archive/bread.md")
    summary = await reindex(fresh_store, vault, embedder)
    assert (summary.added, summary.removed, summary.embedded) == (1, 1, 0)
    assert summary.reused == summary.chunks > 0
    assert embedder.texts_embedded == before
    hits = fresh_store.nearest((await embedder.embed(["sourdough starter bake steam"]))[0], 1)
    assert hits[0].note_path == "archive/bread.md"


@pytest.mark.anyio
async def test_another_model_needs_rebuild_and_switching_back_costs_nothing(vault, fresh_store, embedder):
    first = await reindex(fresh_store, vault, embedder)
    other = HashEmbedder(model_id="test/hash-bow-2", dim=128)
    with pytest.raises(ModelMismatch, match="--rebuild"):
        await reindex(fresh_store, vault, other)
    assert other.texts_embedded == 0  # refused before reading or embedding anything

    rebuilt = await reindex(fresh_store, vault, other, rebuild=True)
    assert rebuilt.rebuild and rebuilt.embedded == first.embedded and rebuilt.unchanged == 4
    assert fresh_store.embedding_model() == ("test/hash-bow-2", 128)
    assert fresh_store.stats().vectors == first.embedded

    back = await reindex(fresh_store, vault, embedder, rebuild=True)
    assert back.embedded == 0 and back.reused == first.embedded  # every vector came from the cache
    assert fresh_store.embedding_model() == (embedder.model_id, embedder.dim)
    assert fresh_store.stats().vectors == first.embedded


@pytest.mark.anyio
async def test_new_chunking_parameters_rechunk_every_note(vault, fresh_store, embedder):
    await reindex(fresh_store, vault, embedder, max_tokens=256, overlap_tokens=16)
    old_signature = fresh_store.get_meta(CHUNKING_META_KEY)
    summary = await reindex(fresh_store, vault, embedder, max_tokens=200, overlap_tokens=10)
    assert summary.unchanged == 4 and summary.chunks >= 4  # content unchanged, chunks rewritten
    assert fresh_store.get_meta(CHUNKING_META_KEY) != old_signature
    again = await reindex(fresh_store, vault, embedder, max_tokens=200, overlap_tokens=10)
    assert again.chunks == 0 and again.embedded == 0


@pytest.mark.anyio
async def test_chunks_without_vectors_get_them_on_the_next_run(vault, fresh_store, embedder):
    first = await reindex(fresh_store, vault, embedder)
    fresh_store.reset_vectors()
    summary = await reindex(fresh_store, vault, embedder)
    assert summary.embedded == 0  # all cached
    assert fresh_store.stats().vectors == first.embedded
    assert fresh_store.hashes_without_vector() == set()


@pytest.mark.anyio
async def test_skipped_files_and_warnings_are_reported(vault, fresh_store, embedder):
    (vault / "empty.md").write_text("   \n")
    (vault / "blob.md").write_bytes(b"\x00\x01\x02" * 100)
    (vault / "big.md").write_text("x" * 5000)
    summary = await reindex(fresh_store, vault, embedder, max_note_bytes=4096)
    skipped = {s.path for s in summary.skipped_files}
    assert {"empty.md", "blob.md", "big.md"} <= skipped and summary.skipped == len(summary.skipped_files)
    assert note_paths(fresh_store) == set(VAULT_NOTES)
    assert all(set(item) == {"path", "reason"} for item in summary.to_dict()["skipped_files"])


@pytest.mark.anyio
async def test_a_running_reindex_holds_the_lock(vault, fresh_store, embedder):
    with fresh_store.reindex_lock(), pytest.raises(IndexBusy):
        await reindex(fresh_store, vault, embedder)


@pytest.mark.anyio
async def test_invalid_parameters_fail_before_any_work(vault, fresh_store, embedder):
    with pytest.raises(ValueError):
        await reindex(fresh_store, vault, embedder, max_tokens=4)
    with pytest.raises(ValueError):
        await reindex(fresh_store, vault, embedder, embed_batch_size=0)
    assert fresh_store.note_hashes() == {} and embedder.calls == 0


# --- killed midway --------------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import os, sys, anyio
    from pathlib import Path
    from qmdr.memory.indexer import reindex
    from qmdr.store.sqlite import SqliteStore
    from tests.qmdr.embedders import HashEmbedder

    index, vault, where = sys.argv[1], Path(sys.argv[2]), sys.argv[3]

    class DyingEmbedder(HashEmbedder):
        async def embed(self, texts):
            if self.calls >= 1:       # the first batch succeeds (and is cached), the second kills us
                os._exit(17)
            return await super().embed(texts)

    class DyingStore(SqliteStore):
        def _insert_note(self, note, chunks, indexed_at):
            super()._insert_note(note, chunks, indexed_at)
            if note.path.startswith("new/"):   # some rows written inside the transaction, then death
                os._exit(17)

    store = DyingStore(index) if where == "apply" else SqliteStore(index)
    embedder = DyingEmbedder() if where == "embed" else HashEmbedder()
    anyio.run(lambda: reindex(store, vault, embedder, embed_batch_size=2))
    sys.exit(0)
""")


@pytest.mark.parametrize("where", ["embed", "apply"])
@pytest.mark.anyio
async def test_a_reindex_killed_midway_leaves_the_previous_index_intact(tmp_path, vault, where):
    index = tmp_path / "index.sqlite"
    store = SqliteStore(index)
    embedder = HashEmbedder()
    await reindex(store, vault, embedder)

    def snapshot(s: SqliteStore):
        stats = s.stats()
        return s.note_hashes(), (stats.notes, stats.chunks, stats.vectors), s.generation(), s.get_note("new/n0.md")

    before = snapshot(store)
    known_before = store.known_hashes()
    store.close()

    (vault / "new").mkdir()
    for i in range(6):
        (vault / f"new/n{i}.md").write_text(f"# New {i}\n\nplatypus number {i} swims\n")
    (vault / "recipes/bread.md").unlink()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(index), str(vault), where],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
    )
    assert child.returncode == 17, child.stderr

    store = SqliteStore(index)
    assert store.integrity_check() == ["ok"]
    assert snapshot(store) == before
    # the index is untouched; only the embedding cache may have gained the batch embedded before death
    assert len(store.known_hashes() - known_before) == (2 if where == "embed" else 6)
    assert store.keyword("platypus", 5) == []
    assert [h.note_path for h in store.keyword("sourdough", 5)] == ["recipes/bread.md"]

    resumed = HashEmbedder()
    summary = await reindex(store, vault, resumed)
    assert (summary.added, summary.removed) == (6, 1)
    # Killed while embedding, the first batch (2 texts) was cached and is not paid for again; killed
    # inside apply, every vector had been cached batch by batch before.
    assert summary.embedded == (4 if where == "embed" else 0)
    assert len(store.keyword("platypus", 10)) == 6
    store.close()
