"""Behaviour every ``Store`` backend must share, written once and run against each.

Each ``contract_*`` function takes a ``make_store`` factory: a zero-argument
callable returning a fresh, empty store (each call a new one, so a case that
needs one store calls it once). ``test_store_postgres.py`` and
``test_store_contract_sqlite.py`` run every case in ``CASES`` against their
backend, so a behaviour cannot drift between SQLite and PostgreSQL unnoticed.

Only the protocol in ``qmdr.store.base`` and the error types in ``qmdr.errors``
are used here: nothing backend-specific.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ParamSpec, TypeVar

import numpy as np
import pytest

from qmdr.errors import IndexBusy, ModelMismatch, StoreError
from qmdr.store.base import EmbeddingCache, Filters, Hit, IndexChange, Store, chunk_ids_unique
from qmdr.store.filtering import make_filters, stored_note_passes
from vault.model import Chunk, Note

StoreFactory = Callable[[], Store]
OpenArgs = ParamSpec("OpenArgs")
OpenedStore = TypeVar("OpenedStore", bound=Store)

MODEL = "test-model"
DIM = 8

# Queries a user (or an agent) might type that are operators or syntax in FTS5 or tsquery.
NASTY_QUERIES = (
    'C++ "unbalanced (paren',
    "AND OR NOT NEAR",
    "don't * :col ^ -minus !bang & | <-> <2>",
    "'single' \"double\" `back`",
    "\\ / % _ [ ] { } $",
)


@contextlib.contextmanager
def closing_every_store(open_store: Callable[OpenArgs, OpenedStore]) -> Iterator[Callable[OpenArgs, OpenedStore]]:
    """``open_store`` as a factory for a fixture: every store it opens is closed when the block ends."""
    opened: list[OpenedStore] = []

    def factory(*args: OpenArgs.args, **kwargs: OpenArgs.kwargs) -> OpenedStore:
        store = open_store(*args, **kwargs)
        opened.append(store)
        return store

    try:
        yield factory
    finally:
        for store in opened:
            store.close()


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_note(
    path: str,
    sections: Sequence[str],
    *,
    title: str | None = None,
    tags: tuple[str, ...] = (),
    version: str = "1",
    fields: dict[str, Any] | None = None,
    dates: dict[str, str] | None = None,
    mtime: float = 1_700_000_000.0,
) -> tuple[Note, list[Chunk]]:
    """A note whose chunks are ``sections`` (one chunk each), with hashes derived from their text;
    ``fields`` join its frontmatter, ``dates`` are its parsed frontmatter dates."""
    title = title or path.rsplit("/", 1)[-1].removesuffix(".md").replace("-", " ").title()
    body = "\n\n".join(sections)
    note = Note(
        path=path,
        title=title,
        tags=tags,
        frontmatter={"tags": list(tags), **(fields or {})},
        body=body,
        content_hash=_hash(path + body + version),
        mtime=mtime,
        size=len(body),
        dates=dict(dates or {}),
    )
    chunks = [
        Chunk(
            note_path=path,
            ordinal=i,
            heading_trail=(title, f"Part {i}"),
            start_line=1 + 3 * i,
            end_line=2 + 3 * i,
            text=text,
            hash=_hash(text),
        )
        for i, text in enumerate(sections)
    ]
    return note, chunks


def unit(*components: float) -> np.ndarray:
    """A float32 unit vector of length ``DIM`` starting with ``components``."""
    vector = np.zeros(DIM, dtype=np.float32)
    vector[: len(components)] = components
    return vector / np.linalg.norm(vector)


def axis(i: int) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[i] = 1.0
    return vector


def vectors_for(chunks: Sequence[Chunk], vectors: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    return {chunk.hash: vector for chunk, vector in zip(chunks, vectors, strict=True)}


def paths(hits: Sequence[Hit]) -> list[str]:
    return [hit.note_path for hit in hits]


def _store_with_model(make_store: StoreFactory) -> Store:
    store = make_store()
    store.set_embedding_model(MODEL, DIM)
    return store


# --- cases -------------------------------------------------------------------------------------


def contract_fresh_store_is_empty(make_store: StoreFactory) -> None:
    store = make_store()
    assert store.embedding_model() is None
    assert store.note_hashes() == {}
    assert store.known_hashes() == set()
    assert store.keyword("anything", 5) == []
    stats = store.stats()
    assert (stats.notes, stats.chunks, stats.vectors, stats.model_id, stats.dim) == (0, 0, 0, None, None)
    assert store.get_note("missing.md") is None


def contract_apply_upserts_then_replaces_then_deletes(make_store: StoreFactory) -> None:
    store = _store_with_model(make_store)
    a_note, a_chunks = make_note("notes/alpha.md", ["kiwi orchard planning", "mango harvest schedule"])
    b_note, b_chunks = make_note("notes/beta.md", ["papaya export rules"])
    store.apply(
        IndexChange(
            upserts=[(a_note, a_chunks), (b_note, b_chunks)],
            vectors=vectors_for(a_chunks + b_chunks, [axis(0), axis(1), axis(2)]),
        )
    )
    assert store.note_hashes() == {"notes/alpha.md": a_note.content_hash, "notes/beta.md": b_note.content_hash}
    assert paths(store.keyword("mango", 5)) == ["notes/alpha.md"]
    stored = store.get_note("notes/alpha.md")
    assert stored is not None and stored["title"] == "Alpha"

    # Re-upserting a note replaces all its chunks: the old text is gone, the new one found.
    a2_note, a2_chunks = make_note("notes/alpha.md", ["kiwi orchard planning"], version="2")
    store.apply(IndexChange(upserts=[(a2_note, a2_chunks)]))
    assert store.keyword("mango", 5) == []
    assert store.note_hashes()["notes/alpha.md"] == a2_note.content_hash
    assert store.stats().chunks == 2

    store.apply(IndexChange(deletes=["notes/beta.md"]))
    assert store.keyword("papaya", 5) == []
    assert set(store.note_hashes()) == {"notes/alpha.md"}
    assert store.get_note("notes/beta.md") is None
    assert paths(store.nearest(axis(2), 5)) == ["notes/alpha.md"]  # beta's vector no longer answers


def contract_apply_is_all_or_nothing(make_store: StoreFactory) -> None:
    store = _store_with_model(make_store)
    old_note, old_chunks = make_note("keep.md", ["original walrus text"])
    store.apply(IndexChange(upserts=[(old_note, old_chunks)], vectors=vectors_for(old_chunks, [axis(0)])))

    new_note, new_chunks = make_note("keep.md", ["rewritten narwhal text"], version="2")
    other_note, other_chunks = make_note("other.md", ["brand new otter text"])
    bad_vector = np.ones(DIM + 3, dtype=np.float32)  # wrong dim: the whole change must be refused
    with pytest.raises(StoreError):
        store.apply(
            IndexChange(
                upserts=[(new_note, new_chunks), (other_note, other_chunks)],
                vectors={new_chunks[0].hash: axis(1), other_chunks[0].hash: bad_vector},
            )
        )
    assert store.note_hashes() == {"keep.md": old_note.content_hash}
    assert paths(store.keyword("walrus", 5)) == ["keep.md"]
    assert store.keyword("narwhal otter", 5) == []
    assert store.known_hashes() == {old_chunks[0].hash}
    assert store.stats().vectors == 1


def contract_model_is_recorded_and_guarded(make_store: StoreFactory) -> None:
    store = make_store()
    note, chunks = make_note("m.md", ["model guarded text"])
    with pytest.raises(StoreError):  # vectors before any model: nothing to compare them with
        store.apply(IndexChange(upserts=[(note, chunks)], vectors=vectors_for(chunks, [axis(0)])))
    assert store.note_hashes() == {}

    store.set_embedding_model("first-model", DIM)
    store.set_embedding_model("second-model", 4)  # no vectors yet: switching is allowed
    store.set_embedding_model(MODEL, DIM)
    assert store.embedding_model() == (MODEL, DIM)
    store.apply(IndexChange(upserts=[(note, chunks)], vectors=vectors_for(chunks, [axis(0)])))

    store.set_embedding_model(MODEL, DIM)  # the same model again is a no-op
    with pytest.raises(ModelMismatch):
        store.set_embedding_model("other-model", DIM)
    with pytest.raises(ModelMismatch):
        store.set_embedding_model(MODEL, DIM * 2)
    assert store.embedding_model() == (MODEL, DIM)
    stats = store.stats()
    assert (stats.model_id, stats.dim, stats.vectors) == (MODEL, DIM, 1)


def contract_keyword_ranks_and_filters(make_store: StoreFactory) -> None:
    store = _store_with_model(make_store)
    both, both_chunks = make_note("projects/both.md", ["the falcon and the heron share a lake"], tags=("Birds",))
    one, one_chunks = make_note(
        "projects/one.md", ["a falcon circles over the quarry road"], tags=("#birds", "Raptors")
    )
    other, other_chunks = make_note("archive/wading.md", ["a heron waits by the old mill"], tags=("birds",))
    none, none_chunks = make_note("archive/none.md", ["nothing about any animal here at all"])
    store.apply(
        IndexChange(upserts=[(both, both_chunks), (one, one_chunks), (other, other_chunks), (none, none_chunks)])
    )

    hits = store.keyword("falcon heron", 10)
    assert paths(hits)[0] == "projects/both.md"  # matches both words: ranked first
    assert set(paths(hits)) == {"projects/both.md", "projects/one.md", "archive/wading.md"}
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))
    assert chunk_ids_unique(hits)
    assert len(store.keyword("falcon heron", 1)) == 1

    assert set(paths(store.keyword("falcon heron", 10, Filters(path_prefix="projects/")))) == {
        "projects/both.md",
        "projects/one.md",
    }
    # Tags compare case-folded and without '#', and all given tags must be present.
    assert set(paths(store.keyword("falcon heron", 10, Filters(tags=("BIRDS",))))) == {
        "projects/both.md",
        "projects/one.md",
        "archive/wading.md",
    }
    assert paths(store.keyword("falcon heron", 10, Filters(tags=("birds", "raptors")))) == ["projects/one.md"]
    assert store.keyword("falcon", 10, Filters(path_prefix="archive/")) == []

    hit = store.keyword("quarry", 1)[0]
    assert (hit.note_path, hit.title, hit.text) == ("projects/one.md", "One", one_chunks[0].text)
    assert hit.chunk_hash == one_chunks[0].hash
    assert (hit.start_line, hit.end_line, hit.heading_trail) == (1, 2, ("One", "Part 0"))


def contract_keyword_never_fails_on_user_punctuation(make_store: StoreFactory) -> None:
    store = _store_with_model(make_store)
    note, chunks = make_note("c.md", ["notes on C++ templates and don't-repeat-yourself"])
    store.apply(IndexChange(upserts=[(note, chunks)]))
    for query in NASTY_QUERIES:
        assert isinstance(store.keyword(query, 5), list), query
    assert store.keyword("", 5) == []
    assert store.keyword("  ?!... ", 5) == []
    assert paths(store.keyword('"templates', 5)) == ["c.md"]


def contract_nearest_orders_by_cosine_and_filters(make_store: StoreFactory) -> None:
    store = _store_with_model(make_store)
    docs = {
        "east/a.md": (unit(1, 0.1), ("x",)),
        "east/b.md": (unit(1, 0.5), ("y",)),
        "west/c.md": (unit(1, 1.5), ("x",)),
        "west/d.md": (unit(0, 1), ("y",)),
    }
    upserts, vectors = [], {}
    for path, (vector, tags) in docs.items():
        note, chunks = make_note(path, [f"text of {path}"], tags=tags)
        upserts.append((note, chunks))
        vectors[chunks[0].hash] = vector
    store.apply(IndexChange(upserts=upserts, vectors=vectors))

    query = unit(1, 0)
    hits = store.nearest(query, 4)
    assert paths(hits) == ["east/a.md", "east/b.md", "west/c.md", "west/d.md"]
    for hit in hits:
        expected = float(np.dot(query, docs[hit.note_path][0]))
        assert math.isclose(hit.score, expected, abs_tol=1e-4)
    assert len(store.nearest(query, 2)) == 2
    assert paths(store.nearest(query, 4, Filters(path_prefix="west/"))) == ["west/c.md", "west/d.md"]
    assert paths(store.nearest(query, 4, Filters(tags=("y",)))) == ["east/b.md", "west/d.md"]
    assert paths(store.nearest(query, 4, Filters(path_prefix="west/", tags=("x",)))) == ["west/c.md"]
    assert store.nearest(query, 4, Filters(path_prefix="north/")) == []


def contract_vectors_are_shared_by_hash(make_store: StoreFactory) -> None:
    store = _store_with_model(make_store)
    text = "identical boilerplate paragraph"
    first, first_chunks = make_note("one.md", [text])
    second, second_chunks = make_note("two.md", [text])
    assert first_chunks[0].hash == second_chunks[0].hash
    store.apply(
        IndexChange(upserts=[(first, first_chunks), (second, second_chunks)], vectors={first_chunks[0].hash: axis(3)})
    )
    stats = store.stats()
    assert (stats.chunks, stats.vectors) == (2, 1)
    assert store.known_hashes() == {first_chunks[0].hash}
    hits = store.nearest(axis(3), 5)
    assert sorted(paths(hits)) == ["one.md", "two.md"]  # every chunk carrying the text is found
    assert chunk_ids_unique(hits)

    store.apply(IndexChange(deletes=["one.md"]))  # the other note still uses the vector
    assert paths(store.nearest(axis(3), 5)) == ["two.md"]
    assert first_chunks[0].hash in store.known_hashes()


def contract_stats_count_what_was_applied(make_store: StoreFactory) -> None:
    store = _store_with_model(make_store)
    assert store.stats().last_reindex is None
    upserts, vectors = [], {}
    for i in range(5):
        note, chunks = make_note(f"s/{i}.md", [f"first part {i}", f"second part {i}"])
        upserts.append((note, chunks))
        vectors.update(vectors_for(chunks, [axis(i % DIM), unit(1, i + 1)]))
    store.apply(IndexChange(upserts=upserts, vectors=vectors))
    stats = store.stats()
    assert (stats.notes, stats.chunks, stats.vectors) == (5, 10, 10)
    assert stats.last_reindex is not None and stats.last_reindex[:2] == "20"
    assert store.known_hashes() == set(vectors)


def contract_change_records_model_and_meta_in_its_transaction(make_store: StoreFactory) -> None:
    store = make_store()
    note, chunks = make_note("first.md", ["first index of a vault"])
    store.apply(
        IndexChange(
            upserts=[(note, chunks)],
            vectors=vectors_for(chunks, [axis(0)]),
            model=(MODEL, DIM),
            meta={"chunking": "tokens=400 overlap=60"},
        )
    )
    assert store.embedding_model() == (MODEL, DIM)
    assert store.get_meta("chunking") == "tokens=400 overlap=60"
    assert store.get_meta("never-set") is None
    assert store.known_hashes() == {chunks[0].hash}
    with pytest.raises(StoreError):  # the store's own keys are not for callers
        store.apply(IndexChange(meta={"model_id": "forged"}))
    assert store.embedding_model() == (MODEL, DIM)

    # Another model's vectors need replace_vectors (a rebuild), and then it is one transaction.
    with pytest.raises(ModelMismatch):
        store.apply(IndexChange(vectors=vectors_for(chunks, [axis(0)[:4]]), model=("small-model", 4)))
    assert store.embedding_model() == (MODEL, DIM)
    small = np.array([0, 1, 0, 0], dtype=np.float32)
    store.apply(IndexChange(vectors={chunks[0].hash: small}, model=("small-model", 4), replace_vectors=True))
    assert store.embedding_model() == ("small-model", 4)
    assert paths(store.nearest(small, 3)) == ["first.md"]
    assert store.stats().vectors == 1


def contract_embedding_cache_outlives_the_index(make_store: StoreFactory) -> None:
    store = _store_with_model(make_store)
    assert isinstance(store, EmbeddingCache)
    note, chunks = make_note("cached.md", ["text worth embedding once"])
    unused = _hash("text no chunk carries")
    store.apply(IndexChange(upserts=[(note, chunks)], vectors={chunks[0].hash: axis(2), unused: axis(5)}))
    assert store.stats().vectors == 1  # a vector no chunk uses is cached, not indexed
    assert store.known_hashes() == {chunks[0].hash, unused}  # ...but never needs embedding again
    assert store.cached_hashes(MODEL, DIM, [chunks[0].hash, unused, _hash("never embedded")]) == {
        chunks[0].hash,
        unused,
    }
    assert store.cached_hashes("other-model", DIM, [chunks[0].hash]) == set()

    store.apply(IndexChange(deletes=["cached.md"]))
    assert store.stats().vectors == 0
    assert chunks[0].hash in store.known_hashes()
    # The text comes back without a vector in the change: apply restores it from the cache.
    store.apply(IndexChange(upserts=[(note, chunks)]))
    assert store.stats().vectors == 1
    hit = store.nearest(axis(2), 1)[0]
    assert hit.note_path == "cached.md" and math.isclose(hit.score, 1.0, abs_tol=1e-5)
    assert store.hashes_without_vector() == set()

    early = {_hash("embedded before the index changes"): unit(1, 1)}
    store.cache_vectors("next-model", DIM, early)  # any model, ahead of its own index change
    assert store.cached_hashes("next-model", DIM, early) == set(early)
    assert store.embedding_model() == (MODEL, DIM)
    with pytest.raises(StoreError):
        store.cache_vectors(MODEL, DIM, {_hash("bad"): np.full(DIM, np.nan, dtype=np.float32)})


def contract_reset_vectors_keeps_text_searchable(make_store: StoreFactory) -> None:
    store = _store_with_model(make_store)
    note, chunks = make_note("reset.md", ["heron feathers under the bridge"])
    store.apply(IndexChange(upserts=[(note, chunks)], vectors=vectors_for(chunks, [axis(1)])))
    store.reset_vectors()
    assert store.embedding_model() is None
    assert store.known_hashes() == set()
    assert store.hashes_without_vector() == {chunks[0].hash}
    assert store.nearest(axis(1), 3) == []
    assert paths(store.keyword("heron", 3)) == ["reset.md"]
    store.set_embedding_model("another-model", 4)  # free to switch now
    assert store.embedding_model() == ("another-model", 4)


def contract_reindex_lock_is_not_reentrant(make_store: StoreFactory) -> None:
    store = make_store()
    with store.reindex_lock():
        with pytest.raises(IndexBusy), store.reindex_lock():
            pass
        assert store.keyword("anything", 3) == []  # searches never take it
    with pytest.raises(RuntimeError), store.reindex_lock():
        raise RuntimeError("a failed reindex")
    with store.reindex_lock():  # released both times
        pass


UNSPACED_NOTES = {
    "日記/東京.md": ["昨日は東京タワーに行った。夜景がとてもきれいだった。"],
    "学习/北京.md": ["我们在北京大学学习中文和历史。"],
    "notes/tokyo.md": ["Took the train to Tokyo tower at night."],
}


def contract_keyword_finds_words_inside_unspaced_scripts(make_store: StoreFactory) -> None:
    """A word inside a sentence written without spaces is found (東京 in 東京タワーに行った), filters hold."""
    store = _store_with_model(make_store)
    upserts = [
        make_note(path, sections, tags=("study",) if path.startswith("学习") else ())
        for path, sections in UNSPACED_NOTES.items()
    ]
    store.apply(IndexChange(upserts=upserts))
    for query, expected in (
        ("東京", "日記/東京.md"),
        ("東京タワー", "日記/東京.md"),
        ("夜景", "日記/東京.md"),
        ("北京大学", "学习/北京.md"),
        ("中文", "学习/北京.md"),
    ):
        assert paths(store.keyword(query, 5))[:1] == [expected], query
    assert store.keyword("東京", 5, Filters(path_prefix="学习/")) == []
    assert store.keyword("東京タワー", 5, Filters(tags=("study",))) == []
    assert paths(store.keyword("北京大学", 5, Filters(tags=("study",)))) == ["学习/北京.md"]
    assert paths(store.keyword("train tower", 5)) == ["notes/tokyo.md"]  # a Latin query is unaffected


#: enough chunks that a filter can keep few (20) or many (2,100) of them while most lie nearer the query
FILTER_NEAR_CHUNKS = 600
FILTER_BROAD_CHUNKS = 2_100
FILTER_RARE_CHUNKS = 20


def contract_filtered_nearest_returns_k_when_k_exist(make_store: StoreFactory) -> None:
    """A filter whose chunks all lie far from the query still yields k of them, best first.

    ``near/`` chunks crowd the query's neighbourhood; ``broad/`` (many chunks) and
    ``rare/`` (few) lie farther out, so an index walk near the query meets no chunk
    that passes those filters until it has gone past all of ``near/``.
    """
    store = _store_with_model(make_store)
    rng = np.random.default_rng(2024)
    change = IndexChange()
    stored: dict[str, tuple[str, np.ndarray]] = {}
    for prefix, count, direction, spread in (
        ("near/", FILTER_NEAR_CHUNKS, 0, 0.1),
        ("broad/", FILTER_BROAD_CHUNKS, 1, 0.6),
        ("rare/", FILTER_RARE_CHUNKS, 2, 0.6),
    ):
        for i in range(count):
            note, chunks = make_note(
                f"{prefix}{i}.md",
                [f"{prefix} chunk {i}"],
                tags=("few",) if prefix == "rare/" else (),
                fields={"status": "decided" if prefix == "rare/" else "open", "kind": [prefix.rstrip("/"), "any"]},
                dates={"updated": "2025-06-01" if prefix == "near/" else "2026-06-01"},
            )
            vector = axis(direction) + spread * rng.standard_normal(DIM).astype(np.float32)
            vector /= np.linalg.norm(vector)
            change.upserts.append((note, chunks))
            change.vectors[chunks[0].hash] = vector
            stored[chunks[0].hash] = (note.path, vector)
    store.apply(change)
    query = axis(0)
    k = 10
    for filters, prefix in (
        (Filters(path_prefix="broad/"), "broad/"),
        (Filters(tags=("few",)), "rare/"),
        (Filters(path_prefix="rare/", tags=("few",)), "rare/"),
        (make_filters(where={"kind": "broad"}), "broad/"),
        (make_filters(where={"status": "decided"}), "rare/"),
        (make_filters(where={"status": "decided"}, after="2026-01-01"), "rare/"),
        (make_filters(where={"kind": ["rare", "broad"]}, after="2026-01-01"), ""),
    ):
        keyword_hits = store.keyword("chunk", k, filters)  # every chunk holds the word
        assert len(keyword_hits) == k and all(
            hit.note_path.startswith(prefix or ("rare/", "broad/")) for hit in keyword_hits
        ), filters
        hits = store.nearest(query, k, filters)
        assert len(hits) == k, filters
        assert all(hit.note_path.startswith(prefix or ("rare/", "broad/")) for hit in hits)
        scores = [hit.score for hit in hits]
        assert scores == sorted(scores, reverse=True)
        best = max(
            (float(np.dot(query, v)), path)
            for path, v in stored.values()
            if path.startswith(prefix or ("rare/", "broad/"))
        )
        assert hits[0].note_path == best[1] and math.isclose(hits[0].score, best[0], abs_tol=1e-4)
    assert len(store.nearest(query, 50, Filters(tags=("few",)))) == FILTER_RARE_CHUNKS  # all there are
    assert len(store.nearest(query, 50, make_filters(where={"status": "decided"}))) == FILTER_RARE_CHUNKS


def contract_where_and_dates_filter_every_retriever(make_store: StoreFactory) -> None:
    """Frontmatter equality and any-of (strings, numbers, booleans; lists match any element) and date
    ranges on the note's date (updated, else date, else created, else mtime) hold in keyword and vector
    search alike."""
    store = _store_with_model(make_store)
    jan, feb, mar = "2026-01-15", "2026-02-15", "2026-03-15"
    notes = {  # path: (frontmatter fields, dates, mtime)
        "a.md": (
            {"status": "decided", "project": ["alpha", "beta"], "priority": 2, "done": True},
            {"updated": feb, "created": jan},
            1_000.0,
        ),
        "b.md": ({"status": "open", "project": "beta", "priority": 2.0, "done": False}, {"date": jan}, 1_000.0),
        "c.md": ({"status": "Decided", "project": "gamma", "priority": "2", "done": 1}, {"created": mar}, 1_000.0),
        "d.md": (
            {"status": ["decided", "archived"], "nested": {"status": "decided"}},
            {},
            1_775_000_000.0,
        ),  # no frontmatter date: the mtime, 2026-03-31
    }
    change = IndexChange()
    for i, (path, (fields, dates, mtime)) in enumerate(notes.items()):
        note, chunks = make_note(
            path, ["quarterly walrus report"], fields=fields, dates=dates, mtime=mtime, title=f"Walrus {i}"
        )
        chunks = [
            Chunk(
                **{
                    **{f: getattr(c, f) for f in Chunk.__slots__},
                    "text": f"quarterly walrus report {i}",
                    "hash": _hash(f"walrus {i}"),
                }
            )
            for c in chunks
        ]
        change.upserts.append((note, chunks))
        change.vectors[chunks[0].hash] = unit(1.0, 0.1 * i)
    store.apply(change)

    def found(**spec: Any) -> tuple[list[str], list[str]]:
        filters = make_filters(**spec)
        return (
            sorted(paths(store.keyword("walrus", 10, filters))),
            sorted(paths(store.nearest(unit(1.0), 10, filters))),
        )

    def both(expected: list[str], **spec: Any) -> None:
        assert found(**spec) == (expected, expected), spec
        # the Python statement of the rules (context blocks use it for linked notes) agrees with the SQL
        stored = [store.get_note(path) for path in notes]
        assert sorted(n["path"] for n in stored if n and stored_note_passes(n, make_filters(**spec))) == expected

    both(["a.md", "d.md"], where={"status": "decided"})  # exact string; a list matches through any element
    both(["a.md", "b.md", "c.md"], where={"project": ["alpha", "gamma", "beta"]})  # any-of
    both(["a.md", "b.md"], where={"project": "beta"})
    both(["a.md", "b.md"], where={"priority": 2})  # 2 and 2.0 are one number; "2" is a string
    both(["c.md"], where={"priority": "2"})
    both(["a.md"], where={"done": True})  # true is not the number 1
    both(["c.md"], where={"done": 1})
    both(["b.md"], where={"done": {"$eq": False}})
    both(["a.md", "b.md"], where={"status": {"$in": ["decided", "open"]}, "project": "beta"})  # keys: all hold
    both([], where={"nested": "decided"})  # nested mappings are not fields
    both([], where={"missing": "x"})
    both(["a.md", "c.md", "d.md"], after="2026-02-01")  # a: updated (Feb) wins over created (Jan)
    both(["b.md"], before="2026-02-01")
    both(["a.md"], after="2026-02-15", before="2026-03-15")  # after inclusive, before exclusive
    both(["c.md", "d.md"], after="2026-03-01T00:00:00+00:00")
    both(["d.md"], after="2026-03-20", where={"status": "decided"})
    both(["a.md"], where={"status": "decided"}, path_prefix="a")


CASES = [
    contract_fresh_store_is_empty,
    contract_apply_upserts_then_replaces_then_deletes,
    contract_apply_is_all_or_nothing,
    contract_model_is_recorded_and_guarded,
    contract_keyword_ranks_and_filters,
    contract_keyword_never_fails_on_user_punctuation,
    contract_nearest_orders_by_cosine_and_filters,
    contract_vectors_are_shared_by_hash,
    contract_stats_count_what_was_applied,
    contract_change_records_model_and_meta_in_its_transaction,
    contract_embedding_cache_outlives_the_index,
    contract_reset_vectors_keeps_text_searchable,
    contract_reindex_lock_is_not_reentrant,
    contract_keyword_finds_words_inside_unspaced_scripts,
    contract_filtered_nearest_returns_k_when_k_exist,
    contract_where_and_dates_filter_every_retriever,
]


def case_id(case: Callable[[StoreFactory], None]) -> str:
    """Readable pytest ids: the case name without its ``contract_`` prefix."""
    return case.__name__.removeprefix("contract_")
