"""SqliteStore specifics: transactions, model guard, embedding cache, vector snapshot, concurrency."""

from __future__ import annotations

import math
import threading

import apsw
import numpy as np
import pytest

from qmdr.errors import IndexBusy, ModelMismatch, StoreError
from qmdr.store import sqlite as sqlite_store
from qmdr.store.base import Filters, IndexChange
from qmdr.store.filtering import make_filters
from qmdr.store.sqlite import SCHEMA_VERSION, SqliteStore
from qmdr.store.vector_index import VectorIndex
from tests.qmdr.store_contract import DIM, MODEL, axis, make_note, paths, unit, vectors_for


def with_model(store: SqliteStore) -> SqliteStore:
    store.set_embedding_model(MODEL, DIM)
    return store


def random_unit_rows(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


# --- opening ------------------------------------------------------------------------------------


def test_constructor_needs_exactly_one_of_path_or_memory(tmp_path):
    with pytest.raises(ValueError):
        SqliteStore()
    with pytest.raises(ValueError):
        SqliteStore(tmp_path / "x.sqlite", memory=True)
    with pytest.raises(ValueError):
        SqliteStore(memory=True, vector_search="faiss")  # type: ignore[arg-type]


def test_file_store_uses_wal_and_foreign_keys_and_persists(tmp_path):
    path = tmp_path / "index.sqlite"
    with SqliteStore(path) as store:
        with_model(store)
        note, chunks = make_note("a.md", ["persistent aardvark"])
        store.apply(IndexChange(upserts=[(note, chunks)], vectors=vectors_for(chunks, [axis(0)])))
        conn = store._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with SqliteStore(path) as reopened:
        assert reopened.embedding_model() == (MODEL, DIM)
        assert paths(reopened.keyword("aardvark", 3)) == ["a.md"]
        assert paths(reopened.nearest(axis(0), 3)) == ["a.md"]
        assert reopened.integrity_check() == ["ok"]


def test_an_index_from_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "index.sqlite"
    SqliteStore(path).close()
    conn = apsw.Connection(str(path))
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.close()
    with pytest.raises(StoreError, match="newer qmdr"):
        SqliteStore(path)


# --- apply: one transaction --------------------------------------------------------------------


def test_failed_apply_changes_nothing_at_all(fresh_store):
    store = with_model(fresh_store)
    keep, keep_chunks = make_note("keep.md", ["steady walrus", "calm seal"])
    gone, gone_chunks = make_note("gone.md", ["doomed lemming"])
    store.apply(
        IndexChange(
            upserts=[(keep, keep_chunks), (gone, gone_chunks)],
            vectors=vectors_for(keep_chunks + gone_chunks, [axis(0), axis(1), axis(2)]),
        )
    )
    before = (store.note_hashes(), store.known_hashes(), store.stats(), store.generation(), store.get_note("keep.md"))
    new, new_chunks = make_note("new.md", ["fresh narwhal"])
    nan_vector = np.full(DIM, np.nan, dtype=np.float32)
    with pytest.raises(StoreError, match="NaN"):
        store.apply(
            IndexChange(
                upserts=[(new, new_chunks)], deletes=["gone.md", "keep.md"], vectors={new_chunks[0].hash: nan_vector}
            )
        )
    after = (store.note_hashes(), store.known_hashes(), store.stats(), store.generation(), store.get_note("keep.md"))
    assert after == before
    assert paths(store.keyword("lemming", 3)) == ["gone.md"]
    assert store.keyword("narwhal", 3) == []
    assert paths(store.nearest(axis(2), 1)) == ["gone.md"]
    assert store.integrity_check() == ["ok"]


def test_chunks_must_belong_to_their_note(fresh_store):
    note, _ = make_note("a.md", ["x"])
    _, other_chunks = make_note("b.md", ["y"])
    with pytest.raises(StoreError, match="claims note"):
        fresh_store.apply(IndexChange(upserts=[(note, other_chunks)]))
    assert fresh_store.note_hashes() == {}


def test_reserved_meta_keys_cannot_be_overwritten_but_others_are_recorded(fresh_store):
    with pytest.raises(StoreError):
        fresh_store.apply(IndexChange(meta={"generation": "0"}))
    fresh_store.apply(IndexChange(meta={"chunking": "v1"}))
    assert fresh_store.get_meta("chunking") == "v1"
    assert fresh_store.get_meta("never-set") is None


def test_generation_moves_only_when_searchable_content_changes(fresh_store):
    store = with_model(fresh_store)
    g0 = store.generation()
    store.apply(IndexChange())
    assert store.generation() == g0
    note, chunks = make_note("a.md", ["x words"])
    store.apply(IndexChange(upserts=[(note, chunks)]))
    assert store.generation() == g0 + 1


def test_a_retitled_note_is_found_by_its_new_title_only(fresh_store):
    note, chunks = make_note("t.md", ["body text"], title="Zeppelin manual")
    fresh_store.apply(IndexChange(upserts=[(note, chunks)]))
    assert paths(fresh_store.keyword("zeppelin", 3)) == ["t.md"]
    renamed, renamed_chunks = make_note("t.md", ["body text"], title="Airship handbook", version="2")
    fresh_store.apply(IndexChange(upserts=[(renamed, renamed_chunks)]))
    assert fresh_store.keyword("zeppelin", 3) == []
    assert paths(fresh_store.keyword("airship", 3)) == ["t.md"]


def test_get_note_returns_decoded_row_and_ordered_chunks(fresh_store):
    note, chunks = make_note("dir/n.md", ["first part", "second part"], tags=("A", "b"))
    fresh_store.apply(IndexChange(upserts=[(note, chunks)]))
    got = fresh_store.get_note("dir/n.md")
    assert got["title"] == "N" and got["tags"] == ["A", "b"] and got["frontmatter"] == {"tags": ["A", "b"]}
    assert [c["ordinal"] for c in got["chunks"]] == [0, 1]
    assert [c["text"] for c in got["chunks"]] == ["first part", "second part"]
    assert got["chunks"][1]["heading_trail"] == ["N", "Part 1"]
    assert got["chunks"][0]["hash"] == chunks[0].hash


# --- model guard and vectors --------------------------------------------------------------------


def test_model_mismatch_tells_the_user_to_rebuild(fresh_store):
    store = with_model(fresh_store)
    note, chunks = make_note("a.md", ["x"])
    store.apply(IndexChange(upserts=[(note, chunks)], vectors=vectors_for(chunks, [axis(0)])))
    with pytest.raises(ModelMismatch, match=r"qmdr index --rebuild") as info:
        store.set_embedding_model("other", 4)
    assert info.value.stored == (MODEL, DIM) and info.value.requested == ("other", 4)
    with pytest.raises(ModelMismatch):  # a change that names another model is refused whole
        store.apply(IndexChange(upserts=[(note, chunks)], model=("other", 4)))
    with pytest.raises(ModelMismatch):
        store.nearest(np.ones(4, np.float32), 3)  # query from another model's space


def test_replace_vectors_switches_model_in_the_same_transaction_and_the_cache_brings_vectors_back(fresh_store):
    store = with_model(fresh_store)
    note, chunks = make_note("a.md", ["alpha text", "beta text"])
    first = vectors_for(chunks, [axis(0), axis(1)])
    store.apply(IndexChange(upserts=[(note, chunks)], vectors=first))

    other = {h: np.ones(4, np.float32) / 2 for h in first}
    store.apply(IndexChange(upserts=[(note, chunks)], vectors=other, model=("other", 4), replace_vectors=True))
    assert store.embedding_model() == ("other", 4)
    assert store.stats().vectors == 2 and store.known_hashes() == set(first)

    # Back to the first model: no vectors given, every one restored from the embedding cache.
    store.apply(IndexChange(upserts=[(note, chunks)], model=(MODEL, DIM), replace_vectors=True))
    assert store.embedding_model() == (MODEL, DIM)
    assert store.stats().vectors == 2
    assert [h.text for h in store.nearest(axis(1), 1)] == ["beta text"]
    assert store.cached_hashes(MODEL, DIM, list(first) + ["nope"]) == set(first)
    assert store.cached_hashes("other", 4, first) == set(first)


def test_reset_vectors_keeps_notes_searchable_by_keyword(fresh_store):
    store = with_model(fresh_store)
    note, chunks = make_note("a.md", ["lonely keyword"])
    store.apply(IndexChange(upserts=[(note, chunks)], vectors=vectors_for(chunks, [axis(0)])))
    store.reset_vectors()
    assert store.embedding_model() is None and store.stats().vectors == 0
    assert store.nearest(axis(0), 3) == []
    assert paths(store.keyword("lonely", 3)) == ["a.md"]
    assert store.hashes_without_vector() == {chunks[0].hash}
    store.set_embedding_model("new", 4)  # nothing stored any more: switching is allowed


def test_orphaned_vectors_leave_the_index_but_stay_cached_and_return_with_their_text(fresh_store):
    store = with_model(fresh_store)
    note, chunks = make_note("a.md", ["recurring paragraph"])
    store.apply(IndexChange(upserts=[(note, chunks)], vectors=vectors_for(chunks, [axis(5)])))
    store.apply(IndexChange(deletes=["a.md"]))
    assert store.stats().vectors == 0
    assert store.stats().extra["embedding_cache_entries"] == 1
    assert store.known_hashes() == {chunks[0].hash}  # cached: the indexer will not embed it again
    back, back_chunks = make_note("b.md", ["recurring paragraph"])
    store.apply(IndexChange(upserts=[(back, back_chunks)]))  # no vectors passed
    assert paths(store.nearest(axis(5), 1)) == ["b.md"]
    assert store.hashes_without_vector() == set()


def test_vectors_for_unreferenced_text_are_cached_but_not_indexed(fresh_store):
    store = with_model(fresh_store)
    store.cache_vectors(MODEL, DIM, {"f" * 64: axis(1)})
    store.apply(IndexChange(vectors={"e" * 64: axis(2)}))
    assert store.stats().vectors == 0
    assert store.cached_hashes(MODEL, DIM, ["e" * 64, "f" * 64]) == {"e" * 64, "f" * 64}
    with pytest.raises(StoreError, match="shape"):
        store.cache_vectors(MODEL, DIM, {"d" * 64: np.ones(DIM + 1, np.float32)})


# --- nearest: exactness ------------------------------------------------------------------------


@pytest.mark.parametrize("vector_search", ["memory", "vec0"])
def test_nearest_equals_exact_brute_force_on_random_vectors(vector_search):
    rng = np.random.default_rng(7)
    store = with_model(SqliteStore(memory=True, vector_search=vector_search))
    n = 300
    rows = random_unit_rows(rng, n)
    upserts, vectors, meta = [], {}, []
    for i in range(n):
        folder = "even" if i % 2 == 0 else "odd"
        tags = ("three",) if i % 3 == 0 else ()
        note, chunks = make_note(f"{folder}/n{i}.md", [f"text number {i}"], tags=tags)
        upserts.append((note, chunks))
        vectors[chunks[0].hash] = rows[i]
        meta.append((note.path, tags))
    store.apply(IndexChange(upserts=upserts, vectors=vectors))
    for q in random_unit_rows(rng, 10):
        sims = rows @ q
        for filters in (
            Filters(),
            Filters(path_prefix="odd/"),
            Filters(tags=("three",)),
            Filters(path_prefix="even/", tags=("three",)),
        ):
            allowed = [
                i
                for i, (p, t) in enumerate(meta)
                if (not filters.path_prefix or p.startswith(filters.path_prefix))
                and all(tag in t for tag in filters.tags)
            ]
            expected = sorted(allowed, key=lambda i: -sims[i])[:10]
            hits = store.nearest(q, 10, filters)
            assert paths(hits) == [meta[i][0] for i in expected]
            np.testing.assert_allclose([h.score for h in hits], sims[expected], atol=1e-5)
    store.close()


def test_vector_index_snapshot_search_matches_numpy_and_shares_rows_by_hash():
    rng = np.random.default_rng(3)
    rows = random_unit_rows(rng, 50)
    chunks = [(i + 1, f"n{i % 10}.md", f"h{i % 40}") for i in range(50)]  # 10 duplicated texts
    index = VectorIndex.build(
        model=("m", DIM),
        generation=1,
        chunks=chunks,
        note_tags={},
        fetch_vectors=lambda hs: {h: rows[int(h[1:])] for h in hs},
    )
    assert index.matrix.shape == (40, DIM) and len(index) == 50
    q = rows[3]
    sims = np.array([rows[int(h[1:])] @ q for _, _, h in chunks])
    expected = sorted(range(50), key=lambda i: (-sims[i], chunks[i][0]))[:7]
    assert [cid for cid, _ in index.search(q, 7)] == [chunks[i][0] for i in expected]
    # A later generation drops some chunks and adds one text: old rows are reused, one new fetched.
    fetched: list[list[str]] = []

    def fetch(hs):
        fetched.append(hs)
        return {h: rows[int(h[1:]) % 50] for h in hs}

    later = VectorIndex.build(
        model=("m", DIM),
        generation=2,
        chunks=chunks[:30] + [(99, "new.md", "h45")],
        note_tags={},
        fetch_vectors=fetch,
        previous=index,
    )
    assert fetched == [["h45"]]
    assert len(later) == 31 and later.search(rows[45], 1)[0][0] == 99
    # the old snapshot still answers as before: new rows went after its rows, not over them
    assert [cid for cid, _ in index.search(q, 7)] == [chunks[i][0] for i in expected]
    assert index.matrix.shape == (40, DIM)


def test_snapshot_is_reused_until_the_generation_moves(fresh_store):
    store = with_model(fresh_store)
    note, chunks = make_note("a.md", ["x"])
    store.apply(IndexChange(upserts=[(note, chunks)], vectors=vectors_for(chunks, [axis(0)])))
    first = store.vector_index()
    assert store.vector_index() is first
    other, other_chunks = make_note("b.md", ["y"])
    store.apply(IndexChange(upserts=[(other, other_chunks)], vectors=vectors_for(other_chunks, [axis(1)])))
    second = store.vector_index()
    assert second is not first and second.generation == store.generation() and len(second) == 2


def test_a_second_connection_sees_another_writers_reindex(tmp_path):
    path = tmp_path / "shared.sqlite"
    writer = with_model(SqliteStore(path))
    reader = SqliteStore(path)
    a, a_chunks = make_note("a.md", ["first owl"])
    writer.apply(IndexChange(upserts=[(a, a_chunks)], vectors=vectors_for(a_chunks, [axis(0)])))
    assert paths(reader.nearest(axis(0), 5)) == ["a.md"]  # the reader's snapshot is now loaded
    b, b_chunks = make_note("b.md", ["second owl"])
    writer.apply(IndexChange(upserts=[(b, b_chunks)], deletes=["a.md"], vectors=vectors_for(b_chunks, [unit(1, 0.2)])))
    assert paths(reader.nearest(axis(0), 5)) == ["b.md"]
    assert paths(reader.keyword("owl", 5)) == ["b.md"]
    assert reader.vector_index().generation == writer.generation()
    writer.close()
    reader.close()


# --- concurrency --------------------------------------------------------------------------------


def test_a_held_write_lock_becomes_index_busy(tmp_path):
    path = tmp_path / "busy.sqlite"
    store = SqliteStore(path, busy_timeout_ms=50)
    other = apsw.Connection(str(path))
    other.execute("BEGIN IMMEDIATE")
    note, chunks = make_note("a.md", ["x"])
    with pytest.raises(IndexBusy):
        store.apply(IndexChange(upserts=[(note, chunks)]))
    other.execute("ROLLBACK")
    store.apply(IndexChange(upserts=[(note, chunks)]))
    assert set(store.note_hashes()) == {"a.md"}
    other.close()
    store.close()


def test_reindex_lock_is_exclusive_across_stores_on_one_file(tmp_path):
    path = tmp_path / "locked.sqlite"
    first, second = SqliteStore(path), SqliteStore(path)
    with first.reindex_lock(), pytest.raises(IndexBusy), second.reindex_lock():
        pass
    with second.reindex_lock():  # released
        pass
    first.close()
    second.close()


def test_reindex_lock_in_memory_is_exclusive(fresh_store):
    with fresh_store.reindex_lock(), pytest.raises(IndexBusy), fresh_store.reindex_lock():
        pass


def test_stats_report_cache_and_generation(file_store):
    store = with_model(file_store)
    note, chunks = make_note("a.md", ["one", "two"])
    store.apply(IndexChange(upserts=[(note, chunks)], vectors=vectors_for(chunks[:1], [axis(0)])))
    stats = store.stats()
    assert (stats.notes, stats.chunks, stats.vectors) == (1, 2, 1)
    assert stats.extra["texts_without_vector"] == 1
    assert stats.extra["generation"] == store.generation()
    assert stats.extra["size_bytes"] > 0


@pytest.mark.parametrize("vector_search", ["memory", "vec0"])
def test_only_vectors_in_the_index_are_searchable_whatever_the_cache_holds(vector_search):
    store = with_model(SqliteStore(memory=True, vector_search=vector_search))
    note, chunks = make_note("a.md", ["cached text"])
    store.apply(IndexChange(upserts=[(note, chunks)], vectors=vectors_for(chunks, [axis(0)])))
    store.reset_vectors()
    store.set_embedding_model(MODEL, DIM)  # same model again: the cache has the vector, the index does not
    assert store.nearest(axis(0), 3) == []
    store.close()


def test_snapshot_reads_the_index_when_the_cache_is_mostly_history(tmp_path):
    path = tmp_path / "history.sqlite"
    writer = with_model(SqliteStore(path))
    rng = np.random.default_rng(11)
    writer.cache_vectors(MODEL, DIM, {f"{i:064x}": row for i, row in enumerate(random_unit_rows(rng, 20))})
    note, chunks = make_note("a.md", ["one", "two"])
    writer.apply(IndexChange(upserts=[(note, chunks)], vectors=vectors_for(chunks, [axis(0), axis(1)])))
    reader = SqliteStore(path)  # a fresh snapshot: 2 stored vectors, 22 cached ones
    assert [h.text for h in reader.nearest(axis(1), 2)] == ["two", "one"]
    writer.close()
    reader.close()


# --- scripts written without spaces: the trigram table --------------------------------------------

CJK_NOTES = {
    "travel/tokyo.md": "東京タワーに行った。夜景がとてもきれいだった。",
    "study/beijing.md": "我们在北京大学学习中文和历史。",
    "travel/latin.md": "Tokyo tower at night, seen from the bay.",
}


def cjk_store(store: SqliteStore) -> SqliteStore:
    store.apply(
        IndexChange(upserts=[make_note(path, [text], tags=(path.split("/")[0],)) for path, text in CJK_NOTES.items()])
    )
    return store


def trigram_rows(store: SqliteStore) -> int:
    return store._conn.execute("SELECT count(*) FROM chunks_trigram").fetchone()[0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("東京", "travel/tokyo.md"),
        ("夜景", "travel/tokyo.md"),
        ("タワー", "travel/tokyo.md"),
        ("北京大学", "study/beijing.md"),
        ("学习中文", "study/beijing.md"),
    ],
)
def test_a_word_inside_a_longer_cjk_run_is_found(fresh_store, query, expected):
    store = cjk_store(fresh_store)
    # unicode61 alone cannot: the whole run between punctuation is one token
    assert (
        store._conn.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'"{query}"',)).fetchone()[0]
        == 0
    )
    assert paths(store.keyword(query, 5)) == [expected]


def test_cjk_keyword_search_applies_filters(fresh_store):
    store = cjk_store(fresh_store)
    assert paths(store.keyword("東京タワー", 5, Filters(path_prefix="travel/"))) == ["travel/tokyo.md"]
    assert store.keyword("東京タワー", 5, Filters(path_prefix="study/")) == []
    assert store.keyword("東京", 5, Filters(tags=("study",))) == []  # the 1-2 character scan filters too
    assert paths(store.keyword("北京", 5, Filters(tags=("study",)))) == ["study/beijing.md"]


def test_a_latin_query_is_plain_unicode61_bm25(fresh_store):
    store = cjk_store(fresh_store)
    hits = store.keyword("tokyo tower", 5)
    assert paths(hits) == ["travel/latin.md", "travel/tokyo.md"]  # the Japanese note by its title "Tokyo"
    assert hits[0].score > hits[1].score > 0  # exact bm25 scores: test_keyword_scores_are_bm25_computed_by_hand


# BM25 as FTS5 documents it (k1 = 1.2, b = 0.75): per query term,
# idf * f * (k1 + 1) / (f + k1 * (1 - b + b * D / avgdl)), idf = ln((N - n + 0.5) / (n + 0.5)); f sums the
# term's count per column times the column weight (title 4, headings 2, text 1); D counts the row's tokens
# over all columns, avgdl is their mean over the rows.
BM25_NOTES = {  # each chunk's headings column is "<title> Part 0" (store_contract.make_note)
    "birds.md": "kestrel kestrel hover over the field",  # title 1 token + headings 3 + text 6: D = 10
    "kestrel.md": "a small falcon",  # D = 1 + 3 + 3 = 7; "kestrel" in title and headings
    "fish.md": "trout swim upstream",
    "trees.md": "oak ash elm",
    "rocks.md": "granite basalt slate",
    "rivers.md": "delta bank bend",  # D = 7 each, no query term
}


def test_keyword_scores_are_bm25_computed_by_hand(fresh_store):
    fresh_store.apply(IndexChange(upserts=[make_note(path, [text]) for path, text in BM25_NOTES.items()]))
    n_rows, avgdl = 6, (10 + 5 * 7) / 6  # 7.5

    def term(f: float, doc_len: int, hits: int) -> float:
        idf = math.log((n_rows - hits + 0.5) / (hits + 0.5))
        return idf * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * doc_len / avgdl))

    kestrel = {
        "kestrel.md": term(4 * 1 + 2 * 1, 7, hits=2),  # title x4 + headings x2 = 0.5878 * 1.8487
        "birds.md": term(2 * 1, 10, hits=2),
    }  # text x1, twice, longer row = 0.5878 * 1.2571
    assert math.isclose(kestrel["kestrel.md"], 1.0866, abs_tol=1e-4)
    assert math.isclose(kestrel["birds.md"], 0.7389, abs_tol=1e-4)
    hits = fresh_store.keyword("kestrel", 5)
    assert paths(hits) == ["kestrel.md", "birds.md"]
    for hit in hits:
        assert math.isclose(hit.score, kestrel[hit.note_path], rel_tol=1e-9)

    # two terms: scores add; "hover" is rarer (one row), so its idf is higher and birds.md overtakes
    both = fresh_store.keyword("kestrel hover", 5)
    assert paths(both) == ["birds.md", "kestrel.md"]
    assert math.isclose(both[0].score, kestrel["birds.md"] + term(1, 10, hits=1), rel_tol=1e-9)
    assert math.isclose(both[1].score, kestrel["kestrel.md"], rel_tol=1e-9)


def test_a_mixed_query_fuses_both_indexes(fresh_store):
    store = cjk_store(fresh_store)
    hits = store.keyword("夜景 Tokyo", 5)
    assert sorted(paths(hits)) == ["travel/latin.md", "travel/tokyo.md"]
    assert all(0 < h.score < 1 for h in hits)  # RRF scores, not bm25


def test_only_chunks_with_unspaced_scripts_are_trigram_indexed_and_kept_in_step(fresh_store):
    store = cjk_store(fresh_store)
    assert trigram_rows(store) == 2  # not the Latin note
    store.apply(IndexChange(upserts=[make_note("travel/tokyo.md", ["大阪城を見た。"], version="2")]))
    assert trigram_rows(store) == 2
    assert store.keyword("東京タワー", 5) == [] and store.keyword("東京", 5) == []
    assert paths(store.keyword("大阪城", 5)) == ["travel/tokyo.md"]
    store.apply(IndexChange(deletes=["travel/tokyo.md", "study/beijing.md"]))
    assert trigram_rows(store) == 0 and store.keyword("大阪城", 5) == []


def test_short_cjk_queries_scan_a_bounded_number_of_chunks(fresh_store, monkeypatch):
    store = cjk_store(fresh_store)
    assert paths(store.keyword("京", 5)) == ["travel/tokyo.md", "study/beijing.md"]  # both hold 京
    monkeypatch.setattr(sqlite_store, "SHORT_RUN_SCAN_ROWS", 1)
    assert paths(store.keyword("京", 5)) == ["travel/tokyo.md"]  # only the first indexed chunk is scanned


def test_a_schema_1_index_is_migrated_and_backfilled(tmp_path):
    path = tmp_path / "old.sqlite"
    cjk_store(SqliteStore(path)).close()
    conn = apsw.Connection(str(path))  # make it what schema 1 wrote: no trigram table, no triggers
    conn.execute(
        "DROP TRIGGER chunks_trigram_insert; DROP TRIGGER chunks_trigram_delete;"
        "DROP TABLE chunks_trigram; UPDATE meta SET value = '1' WHERE key = 'schema_version'"
    )
    conn.close()
    with SqliteStore(path) as store:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION) == "3"
        assert trigram_rows(store) == 2
        assert paths(store.keyword("北京大学", 5)) == ["study/beijing.md"]
        store.apply(IndexChange(deletes=["study/beijing.md"]))  # the triggers exist too
        assert trigram_rows(store) == 1


def test_a_schema_2_index_gets_filterable_fields_from_its_stored_notes(tmp_path):
    """An index written before metadata filters existed is backfilled when opened: no reindex, and the
    result is what indexing would have stored."""
    path = tmp_path / "old.sqlite"
    with SqliteStore(path) as store:
        store.set_embedding_model(MODEL, DIM)
        old, chunks = make_note(
            "plans/q3.md",
            ["walrus budget"],
            fields={"status": "decided", "owner": ["ann"]},
            dates={"date": "2026-02-01"},
        )
        store.apply(IndexChange(upserts=[(old, chunks)], vectors={chunks[0].hash: axis(0)}))
    conn = apsw.Connection(str(path))  # make it what schema 2 wrote: no note_fields, no note_date
    conn.execute(
        "DROP TABLE note_fields; DROP INDEX notes_by_date; ALTER TABLE notes DROP COLUMN note_date;"
        "UPDATE meta SET value = '2' WHERE key = 'schema_version'"
    )
    conn.close()
    with SqliteStore(path) as store:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION) == "3"
        decided = make_filters(where={"status": "decided", "owner": "ann"}, after="2026-01-31")
        assert paths(store.keyword("walrus", 5, decided)) == ["plans/q3.md"]
        assert paths(store.nearest(axis(0), 5, decided)) == ["plans/q3.md"]
        assert store.keyword("walrus", 5, make_filters(before="2026-02-01")) == []


# --- building the snapshot beside the shared connection -------------------------------------------


class HeldBuild:
    """An ``on_snapshot_build`` hook that holds the next build open until released."""

    def __init__(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, chunks: int) -> None:
        self.started.set()
        assert self.release.wait(HOLD_LIMIT_S), "the test never released the build"


#: a held build gives up after this long, so a regression fails instead of hanging the run
HOLD_LIMIT_S = 30


def test_keyword_search_stats_and_writes_do_not_wait_for_a_snapshot_build(tmp_path):
    hold = HeldBuild()
    store = with_model(SqliteStore(tmp_path / "index.sqlite", on_snapshot_build=hold))
    note, chunks = make_note("a.md", ["patient aardvark", "quick otter"])
    store.apply(IndexChange(upserts=[(note, chunks)], vectors=vectors_for(chunks, [axis(0), axis(1)])))
    builder = threading.Thread(target=store.warm)
    builder.start()
    assert hold.started.wait(HOLD_LIMIT_S)
    # all on the shared connection while the builder sits inside its read transaction
    assert paths(store.keyword("aardvark", 3)) == ["a.md"]
    assert store.stats().chunks == 2
    later, later_chunks = make_note("b.md", ["late heron"])
    store.apply(IndexChange(upserts=[(later, later_chunks)], vectors=vectors_for(later_chunks, [axis(2)])))
    assert builder.is_alive()  # none of the above waited for the build to end
    hold.release.set()
    builder.join()
    built = store._snapshot
    assert built is not None and len(built) == 2  # what the build's transaction saw: before b.md
    assert paths(store.nearest(axis(2), 1)) == ["b.md"]  # the next search catches up
    store.close()


def test_warm_is_a_no_op_for_vec0_and_counts_chunks_for_memory(fresh_store):
    store = with_model(fresh_store)
    note, chunks = make_note("a.md", ["one", "two"])
    store.apply(IndexChange(upserts=[(note, chunks)], vectors=vectors_for(chunks, [axis(0), axis(1)])))
    assert store.warm() == 2 and store.vector_index().generation == store.generation()
    vec0 = SqliteStore(memory=True, vector_search="vec0")
    assert vec0.warm() == 0 and vec0._snapshot is None
    vec0.close()
