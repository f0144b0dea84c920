"""The in-memory keyword index ranks exactly as FTS5's bm25() does, and is only used for its own state.

The oracle is FTS5 itself: the same store file opened by a second, never
warmed ``SqliteStore`` (which ranks every keyword search with FTS5's bm25()),
or the bm25() SQL run directly; never the index's own arithmetic.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from qmdr.store import keyword_index, keyword_keeper, sqlite
from qmdr.store.base import Filters, Hit, IndexChange
from qmdr.store.keyword_index import KeywordIndex
from qmdr.store.sqlite import SqliteStore
from tests.qmdr.store_contract import make_note

#: a background rebuild that has not landed by then is a failure, not a hang
REBUILD_LIMIT_S = 60

WORDS = [
    "retry",
    "upload",
    "falcon",
    "heron",
    "quarry",
    "lake",
    "mill",
    "budget",
    "deploy",
    "rollback",
    "schema",
    "index",
    "vector",
    "keyword",
    "rank",
    "question",
    "answer",
    "meeting",
    "incident",
    "review",
    "cache",
    "latency",
    "token",
    "model",
    "embedding",
    "chunk",
    "note",
    "vault",
    "runs",
    "running",
    "ran",
    "runner",
    "deploys",
    "deployed",
    "deploying",
]
#: pieces that FTS5 reads as phrases of several tokens, stop words, punctuation and repeats
ODD_QUERIES = (
    "don't-repeat-yourself",
    "e-mail retry",
    "Retry retry? RETRY",
    "the of and",
    "C++ templates",
    "runs running",
    "zzz-not-there falcon",
    "incident-review meeting",
    "heron",
)


def _text(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS[: rng.randint(4, len(WORDS))]) for _ in range(n)]
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words) + 1), rng.choice(["incident-review", "don't", "e-mail", "C++"]))
    return " ".join(words)


def _fill(store: SqliteStore, rng: random.Random, notes: int, prefix: str = "n") -> None:
    upserts = []
    for i in range(notes):
        sections = [_text(rng, rng.randint(3, 40)) for _ in range(rng.randint(1, 3))]
        upserts.append(
            make_note(f"{prefix}/{i:03d}.md", sections, title=_text(rng, rng.randint(1, 4)), tags=(f"t{i % 3}",))
        )
    store.apply(IndexChange(upserts=upserts))


def _filled_and_warmed(store: SqliteStore, seed: int, notes: int) -> random.Random:
    """Fill ``store`` with ``notes`` random notes, warm it (the in-memory index is built), return the rng."""
    rng = random.Random(seed)
    _fill(store, rng, notes)
    store.warm()
    return rng


def _queries(rng: random.Random, n: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5))) for _ in range(n)] + list(ODD_QUERIES)


def _ranking(hits: list[Hit]) -> list[tuple[int, float]]:
    return [(hit.chunk_id, hit.score) for hit in hits]


def _wait_for_current(store: SqliteStore) -> KeywordIndex:
    deadline = time.monotonic() + REBUILD_LIMIT_S
    while time.monotonic() < deadline:
        index = store._keyword_keeper.index  # noqa: SLF001 - the test watches the background build land
        if index is not None and index.generation == store.generation():
            return index
        time.sleep(0.02)
    raise AssertionError("the keyword index was not rebuilt after the change")


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[SqliteStore, SqliteStore]]:
    """(warmed store, FTS5-only store) over one index file."""
    warmed = SqliteStore(tmp_path / "index.sqlite")
    plain = SqliteStore(tmp_path / "index.sqlite")
    try:
        yield warmed, plain
    finally:
        warmed.close()
        plain.close()


def test_rankings_and_scores_equal_fts5_bm25_exactly(pair) -> None:
    warmed, plain = pair
    rng = _filled_and_warmed(warmed, 5, 120)
    index = warmed._keyword_keeper.index  # noqa: SLF001
    assert index is not None and index.generation == warmed.generation()
    used = 0
    for query in _queries(rng, 150):
        for k in (1, 3, 10, 500):
            mine, theirs = warmed.keyword(query, k), plain.keyword(query, k)
            assert _ranking(mine) == _ranking(theirs), (query, k)  # same ids, same order, same float scores
            assert [hit.text for hit in mine] == [hit.text for hit in theirs]
        used += 1
    assert used > 150
    # the in-memory path really ran: with FTS5 broken for the warmed store's single-term queries, it still answers
    weights = ", ".join(str(w) for w in sqlite.BM25_WEIGHTS)
    with warmed._read() as conn:  # noqa: SLF001
        direct = conn.execute(
            f"SELECT rowid, -bm25(chunks_fts, {weights}) s FROM chunks_fts WHERE chunks_fts MATCH ?"  # noqa: S608
            " ORDER BY s DESC, rowid LIMIT 10",
            ('"falcon" OR "heron"',),
        ).fetchall()
    assert index.rank(["falcon", "heron"], 10) == [(rowid, score) for rowid, score in direct]


def test_filters_give_what_fts5_gives(pair) -> None:
    warmed, plain = pair
    rng = random.Random(11)
    _fill(warmed, rng, 60, "projects")
    _fill(warmed, rng, 60, "archive")
    warmed.warm()
    filters = (Filters(path_prefix="projects/"), Filters(tags=("t1",)), Filters(path_prefix="archive/", tags=("t2",)))
    for query in _queries(rng, 40):
        for where in filters:
            assert _ranking(warmed.keyword(query, 10, where)) == _ranking(plain.keyword(query, 10, where))
    assert warmed.keyword("falcon", 10, Filters(path_prefix="nowhere/")) == []


def test_a_change_is_searched_at_once_and_the_index_catches_up(pair) -> None:
    warmed, plain = pair
    rng = _filled_and_warmed(warmed, 3, 40)
    before = warmed._keyword_keeper.index  # noqa: SLF001
    note, chunks = make_note("n/new.md", ["the zeppelin hangar by the quarry"], title="Zeppelin")
    warmed.apply(IndexChange(upserts=[(note, chunks)], deletes=["n/000.md"]))
    # right after the commit the old index is not used: the new note is found, the deleted one is not
    hits = warmed.keyword("zeppelin quarry", 50)
    assert hits[0].note_path == "n/new.md"
    assert "n/000.md" not in {hit.note_path for hit in hits}
    assert _ranking(hits) == _ranking(plain.keyword("zeppelin quarry", 50))
    after = _wait_for_current(warmed)
    assert after is not before
    assert after.term_postings("zeppelin") == 1
    for query in _queries(rng, 30) + ["zeppelin quarry"]:
        assert _ranking(warmed.keyword(query, 10)) == _ranking(plain.keyword(query, 10))


def test_a_commit_by_another_process_is_caught_up_by_the_next_search(pair) -> None:
    warmed, plain = pair
    _filled_and_warmed(warmed, 8, 30)
    note, chunks = make_note("n/other.md", ["a kestrel over the ice"], title="Kestrel")
    plain.apply(IndexChange(upserts=[(note, chunks)]))  # the warmed store did not write this
    assert [hit.note_path for hit in warmed.keyword("kestrel", 5)] == ["n/other.md"]
    assert _wait_for_current(warmed).term_postings("kestrel") == 1
    assert [hit.note_path for hit in warmed.keyword("kestrel", 5)] == ["n/other.md"]


def test_memory_store_builds_on_the_search_itself() -> None:
    store = SqliteStore(memory=True)
    try:
        rng = random.Random(2)
        _fill(store, rng, 30)
        store.warm()
        first = store._keyword_keeper.index  # noqa: SLF001
        assert first is not None
        note, chunks = make_note("n/late.md", ["an ibis in the reeds"], title="Ibis")
        store.apply(IndexChange(upserts=[(note, chunks)]))
        assert [hit.note_path for hit in store.keyword("ibis", 3)] == ["n/late.md"]
        assert store._keyword_keeper.index is not first  # noqa: SLF001
        assert store._keyword_keeper.index.term_postings("ibi") == 1  # noqa: SLF001 - porter's stem of "ibis"
    finally:
        store.close()


def test_a_vault_too_large_for_memory_is_ranked_by_fts5(pair, monkeypatch) -> None:
    warmed, plain = pair
    rng = random.Random(4)
    _fill(warmed, rng, 20)
    monkeypatch.setattr(keyword_index, "MAX_POSTINGS", 10)
    warmed.warm()
    assert warmed._keyword_keeper.index is None  # noqa: SLF001
    for query in _queries(rng, 10):
        assert _ranking(warmed.keyword(query, 10)) == _ranking(plain.keyword(query, 10))


def test_ties_go_to_the_lower_chunk_id_as_in_fts5(pair) -> None:
    warmed, plain = pair
    same = [make_note(f"same/{i}.md", ["identical words here"], title="Same") for i in range(12)]
    warmed.apply(IndexChange(upserts=same))
    warmed.warm()
    mine = warmed.keyword("identical", 5)
    assert len({hit.score for hit in mine}) == 1
    assert [hit.chunk_id for hit in mine] == sorted(hit.chunk_id for hit in plain.keyword("identical", 12))[:5]
    assert _ranking(mine) == _ranking(plain.keyword("identical", 5))


def test_allowed_mask_keeps_exactly_the_given_chunks() -> None:
    index = KeywordIndex(
        generation=1,
        chunk_ids=np.array([3, 7, 9, 20], np.int64),
        terms={"a": 0},
        starts=np.array([0, 4], np.int64),
        docs=np.array([0, 1, 2, 3], np.int32),
        impacts=np.array([1.0, 4.0, 2.0, 3.0]),
    )
    mask = index.allowed(np.array([9, 21, 3, 8], np.int64))  # 21 and 8 are not in the index
    assert mask.tolist() == [True, False, True, False]
    assert index.rank(["a"], 2, mask) == [(9, 2.0), (3, 1.0)]
    assert index.rank(["a"], 2) == [(7, 4.0), (20, 3.0)]
    assert index.rank(["missing"], 2) == []


def test_closing_waits_for_a_build_in_progress(tmp_path: Path, monkeypatch) -> None:
    store = SqliteStore(tmp_path / "index.sqlite")
    _fill(store, random.Random(1), 10)
    store.warm()
    started, release = threading.Event(), threading.Event()
    build = KeywordIndex.build

    def slow_build(*args, **kwargs):
        started.set()
        assert release.wait(REBUILD_LIMIT_S)
        return build(*args, **kwargs)

    monkeypatch.setattr(KeywordIndex, "build", slow_build)
    note, chunks = make_note("n/x.md", ["a kestrel"], title="Kestrel")
    store.apply(IndexChange(upserts=[(note, chunks)]))
    assert started.wait(REBUILD_LIMIT_S)
    closer = threading.Thread(target=store.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # waits for the build, which still holds a reader connection
    release.set()
    closer.join(REBUILD_LIMIT_S)
    assert not closer.is_alive()


def _counting_builds(monkeypatch) -> list[int]:
    """Record the generation of every keyword index build from now on."""
    built: list[int] = []
    build = KeywordIndex.build

    def counted(conn, generation, weights):
        built.append(generation)
        return build(conn, generation, weights)

    monkeypatch.setattr(KeywordIndex, "build", counted)
    return built


def test_a_burst_of_commits_costs_one_build_once_it_settles(pair, monkeypatch) -> None:
    warmed, plain = pair
    _filled_and_warmed(warmed, 6, 10)
    built = _counting_builds(monkeypatch)
    monkeypatch.setattr(keyword_keeper, "SETTLE_S", 5.0)  # far longer than five small commits take
    for i in range(5):
        note, chunks = make_note(f"burst/{i}.md", [f"burst note {i} about herons"], title="Burst")
        warmed.apply(IndexChange(upserts=[(note, chunks)]))
    assert built == []  # nothing is built while the changes keep coming
    assert _ranking(warmed.keyword("burst herons", 10)) == _ranking(plain.keyword("burst herons", 10))
    index = _wait_for_current(warmed)
    assert built == [index.generation]  # one build, of the last state
    assert index.term_postings("burst") == 5


def test_a_steady_stream_of_writes_still_gets_the_index_caught_up(pair, monkeypatch) -> None:
    warmed, _ = pair
    _filled_and_warmed(warmed, 9, 10)
    built = _counting_builds(monkeypatch)
    monkeypatch.setattr(keyword_keeper, "SETTLE_S", 0.3)
    monkeypatch.setattr(keyword_keeper, "MAX_BEHIND_S", 1.0)
    deadline = time.monotonic() + REBUILD_LIMIT_S
    i = 0
    while not built and time.monotonic() < deadline:  # a write every 0.1 s never settles for 0.3 s
        note, chunks = make_note(f"stream/{i}.md", [f"stream note {i}"], title="Stream")
        warmed.apply(IndexChange(upserts=[(note, chunks)]))
        i += 1
        time.sleep(0.1)
    assert built, "the index was never rebuilt while writes kept coming"


@pytest.mark.parametrize("matched_share", [1.0, 0.5, 0.05, 0.001])
def test_top_k_is_the_sorted_order_whatever_share_of_chunks_matched(matched_share: float) -> None:
    rng = np.random.default_rng(int(matched_share * 1000))
    n = 5_000
    chunk_ids = np.sort(rng.choice(10 * n, n, replace=False)).astype(np.int64)
    index = KeywordIndex(1, chunk_ids, {}, np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0))
    scores = np.where(rng.random(n) < matched_share, rng.integers(1, 40, n) / 8.0, 0.0)  # many ties
    expected = sorted(((-s, int(i)) for i, s in zip(chunk_ids, scores, strict=True) if s > 0))
    for k in (1, 10, 100, n):
        assert index._top(scores.copy(), k) == [(i, -s) for s, i in expected[:k]]


def test_a_pasted_paragraph_keeps_the_same_rarest_words_as_fts5(pair) -> None:
    warmed, plain = pair
    _filled_and_warmed(warmed, 12, 80)
    for shuffle in range(5):
        words = [*WORDS, "incident-review", "don't", "e-mail"]
        random.Random(shuffle).shuffle(words)
        paragraph = " ".join(words)  # more distinct words than one query keeps: the rarest ones are kept
        assert _ranking(warmed.keyword(paragraph, 20)) == _ranking(plain.keyword(paragraph, 20))


def test_stats_say_whether_the_index_is_kept_current_or_catching_up(pair, monkeypatch) -> None:
    warmed, plain = pair
    _fill(warmed, random.Random(13), 10)
    assert plain.stats().extra["keyword_index"]["state"].startswith("not kept")
    warmed.warm()
    described = warmed.stats().extra["keyword_index"]
    assert described["state"] == "current"
    assert described["chunks"] == warmed.stats().chunks and described["postings"] > described["chunks"]
    monkeypatch.setattr(keyword_keeper, "SETTLE_S", 30.0)  # keep the rebuild from landing during the check
    note, chunks = make_note("n/late.md", ["a late note"], title="Late")
    warmed.apply(IndexChange(upserts=[(note, chunks)]))
    assert warmed.stats().extra["keyword_index"]["state"].startswith("catching up")
    assert warmed.stats().summary()["keyword_index"]["state"].startswith("catching up")


def test_idf_is_the_c_library_log_as_in_fts5(pair) -> None:
    # numpy's vectorised log and the C library's differ in the last bit for (1250 - 432 + 0.5) / (432 + 0.5)
    # on this machine's numpy; FTS5 calls the C library's, so the scores must follow it
    warmed, plain = pair
    notes = [
        make_note(f"idf/{i:04d}.md", ["alpha words here" if i < 432 else "beta words here"], title="T")
        for i in range(1250)
    ]
    warmed.apply(IndexChange(upserts=notes))
    warmed.warm()
    assert _ranking(warmed.keyword("alpha", 500)) == _ranking(plain.keyword("alpha", 500))


def test_builds_rest_between_them_and_closing_ends_the_rest(pair, monkeypatch) -> None:
    warmed, _ = pair
    _filled_and_warmed(warmed, 14, 10)
    built = _counting_builds(monkeypatch)
    monkeypatch.setattr(keyword_keeper, "SETTLE_S", 0.05)
    warmed._keyword_keeper._rested_at = time.monotonic() + 3600  # noqa: SLF001 - as after a one-hour build
    note, chunks = make_note("n/rest.md", ["resting"], title="Rest")
    warmed.apply(IndexChange(upserts=[(note, chunks)]))
    time.sleep(0.5)
    assert built == []  # settled, but still resting
    assert warmed.stats().extra["keyword_index"]["state"].startswith("catching up")
    closer = threading.Thread(target=warmed.close)
    closer.start()
    closer.join(REBUILD_LIMIT_S)
    assert not closer.is_alive()  # close() does not wait out the rest
    assert built == []


def test_the_index_mirrors_the_fts_table_the_schema_makes() -> None:
    # keyword_index cannot import the store (that would be an import circle): its copy of the table's
    # name, columns and tokenizer must match the schema, or query terms would not be the indexed ones
    tokenizer = " ".join([keyword_index.TOKENIZER[0], *keyword_index.TOKENIZER[1]])
    columns = ", ".join(keyword_index.FTS_COLUMNS)
    assert f"CREATE VIRTUAL TABLE IF NOT EXISTS {keyword_index.FTS_TABLE} USING fts5(\n    {columns}," in sqlite.SCHEMA
    assert f"tokenize='{tokenizer}'" in sqlite.SCHEMA
    assert len(sqlite.BM25_WEIGHTS) == len(keyword_index.FTS_COLUMNS)


def _postings_read_both_ways(store: SqliteStore) -> tuple[keyword_index.Postings, keyword_index.Postings]:
    with store._read() as conn:  # noqa: SLF001
        KeywordIndex.build(conn, 0, sqlite.BM25_WEIGHTS)  # makes the vocabulary views
        instances, term_rows = "temp.chunks_fts_instances", "temp.chunks_fts_terms"
        fast = keyword_index._read_postings(conn, instances, term_rows)
        grouped = keyword_index._group_postings(conn, instances)
    assert fast is not None
    return fast, grouped


@pytest.mark.parametrize("batch", [1, 7, 1_000_000])
def test_the_instance_reader_and_the_sql_grouping_give_the_same_postings(pair, monkeypatch, batch: int) -> None:
    warmed, _ = pair
    _fill(warmed, random.Random(15), 40)
    monkeypatch.setattr(keyword_index, "READ_BATCH_INSTANCES", batch)  # one term per read, a few, or all at once
    (fast_terms, fast_starts, fast_columns), (terms, starts, columns) = _postings_read_both_ways(warmed)
    assert fast_terms == terms and len(terms) > 20
    assert fast_starts.tolist() == starts.tolist()
    for fast_column, column in zip(fast_columns, columns, strict=True):
        assert fast_column.tolist() == column.tolist()


def test_an_instance_stream_out_of_order_is_refused() -> None:
    counts = np.array([3, 2], np.int64)
    in_order = np.array([1 * 4 + 1, 1 * 4, 5 * 4 + 2, 2 * 4, 3 * 4], np.int64)  # term 0: chunks 1, 1, 5
    columns, terms = keyword_index._group_instances(in_order, 0, 2, counts)
    assert [c.tolist() for c in columns] == [[1, 5, 2, 3], [1, 0, 0, 0], [0, 1, 0, 0], [2, 1, 1, 1]]
    assert terms.tolist() == [0, 0, 1, 1]
    shuffled = np.array([5 * 4 + 2, 1 * 4, 1 * 4 + 1, 2 * 4, 3 * 4], np.int64)
    assert keyword_index._group_instances(shuffled, 0, 2, counts) is None
    assert keyword_index._group_instances(in_order[:4], 0, 2, counts) is None  # an instance missing
