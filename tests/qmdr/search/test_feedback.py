"""Pseudo-relevance feedback: the pure scoring functions, and what it does inside a real hybrid search."""

from __future__ import annotations

import numpy as np
import pytest

from qmdr.memory.indexer import reindex
from qmdr.search.feedback import (
    MIN_FEEDBACK_CANDIDATES,
    expansion_terms,
    pool_bm25,
    query_terms,
    rocchio,
    tokenise,
)
from qmdr.search.searcher import KEYWORD_FEEDBACK, VECTOR_FEEDBACK, Searcher
from tests.qmdr.conftest import write_vault


def test_query_terms_drop_stop_words_unless_nothing_else_is_left():
    assert query_terms("How do the Uploads retry? uploads") == ["uploads", "retry"]
    assert query_terms("to be or not to be") == ["to", "be", "or", "not"]


def test_expansion_terms_weigh_words_of_the_top_chunks_by_rank_and_share():
    top = [
        ["backoff", "backoff", "jitter", "uploads", "the"],
        ["backoff", "queue", "uploads"],
        ["queue", "storage"],
    ]
    terms = expansion_terms(top, {"uploads"}, docs=3, terms=3)
    # backoff: 2/5 in the first chunk + 1/3 / 2 in the second; query words and stop words never appear
    assert terms[0] == "backoff" and "uploads" not in terms and "the" not in terms
    assert set(terms) == {"backoff", "jitter", "queue"}


def test_expansion_terms_read_only_the_feedback_chunks():
    top = [["alpha", "beta"]] * 2 + [["gamma", "gamma", "gamma"]]
    assert "gamma" not in expansion_terms(top, set(), docs=2, terms=10)
    assert "gamma" in expansion_terms(top, set(), docs=3, terms=10)


def test_expansion_terms_skip_numbers_and_short_words():
    assert expansion_terms([["42", "ab", "nozzle"]], set()) == ["nozzle"]


def test_pool_bm25_ranks_by_the_words_that_tell_candidates_apart():
    pool = [
        tokenise("", text)
        for text in ("shock wave boundary layer", "boundary layer transition", "boundary layer heat", "boundary layer")
    ]
    scores = pool_bm25(pool, ["boundary", "shock"])
    # "boundary" is in every candidate and weighs little; "shock" decides
    assert scores[0] == max(scores) and scores[0] > 2 * scores[1]
    assert pool_bm25(pool, ["absent"]) == [0.0] * 4
    assert pool_bm25([], ["boundary"]) == []


def test_pool_bm25_prefers_the_shorter_of_two_chunks_with_the_same_count():
    short, long = tokenise("", "nozzle flow"), tokenise("", "nozzle " + "filler " * 40)
    other = tokenise("", "unrelated words here")
    scores = pool_bm25([short, long, other], ["nozzle"])
    assert scores[0] > scores[1] > scores[2] == 0.0


def test_rocchio_moves_the_query_toward_the_feedback_centroid_at_unit_length():
    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    feedback = [np.array([0.0, 1.0, 0.0], dtype=np.float32), np.array([0.0, 0.0, 1.0], dtype=np.float32)]
    moved = rocchio(query, feedback, beta=0.5)
    assert np.isclose(np.linalg.norm(moved), 1.0)
    assert moved[0] > moved[1] > 0 and moved[1] == pytest.approx(moved[2])
    assert np.array_equal(rocchio(query, []), query)


#: a vault of topics on which feedback has something to go on: the retry notes share "backoff" and
#: "jitter"; one note says only those words, never the query's
def _feedback_vault() -> dict[str, str]:
    notes = {
        f"retry/{i}.md": f"# Upload retry {i}\n\nFailed uploads retry with exponential backoff and jitter, "
        f"attempt {i}.\n"
        for i in range(6)
    }
    notes["retry/policy.md"] = "# Policy\n\nExponential backoff with jitter, capped at a minute.\n"
    topics = [
        "sourdough bread starter",
        "heron falcon lake",
        "garden tomato soil",
        "violin practice scales",
        "tax return receipts",
        "bicycle chain grease",
        "coffee grinder burr",
        "chess opening gambit",
        "kayak paddle river",
        "printer toner cartridge",
        "moth wool sweater",
        "tent pole repair",
        "piano tuning pitch",
        "orchid watering light",
        "pasta sauce basil",
        "clock battery swap",
    ]
    for i, topic in enumerate(topics):
        notes[f"misc/{i}.md"] = f"# {topic.title()}\n\nNotes about {topic}, written down one day.\n"
    return notes


@pytest.fixture
async def feedback_index(tmp_path, fresh_store, embedder):
    await reindex(fresh_store, write_vault(tmp_path / "fb", _feedback_vault()), embedder)
    return fresh_store


@pytest.mark.anyio
async def test_feedback_lifts_a_note_that_uses_the_top_hits_words_but_not_the_querys(feedback_index, embedder):
    query = "failed uploads retry"
    plain = await Searcher(feedback_index, embedder, feedback=False).search(query, k=25)
    fed = await Searcher(feedback_index, embedder).search(query, k=25)

    def rank(response) -> int:
        return [r.path for r in response.results].index("retry/policy.md")

    assert rank(fed) < rank(plain)
    policy = fed.results[rank(fed)]
    assert policy.ranks["keyword"] is None and policy.ranks[KEYWORD_FEEDBACK] is not None
    assert VECTOR_FEEDBACK in policy.ranks and "feedback" in fed.timings_ms
    assert "feedback" not in plain.timings_ms and KEYWORD_FEEDBACK not in plain.results[0].ranks


@pytest.mark.anyio
async def test_feedback_runs_only_for_hybrid_search(feedback_index, embedder):
    searcher = Searcher(feedback_index, embedder)
    for mode in ("keyword", "vector"):
        response = await searcher.search("failed uploads retry", mode=mode, k=25)
        assert "feedback" not in response.timings_ms
        assert all(set(r.ranks) == {mode} for r in response.results)


@pytest.mark.anyio
async def test_feedback_leaves_a_small_vault_alone(vault, fresh_store, embedder):
    await reindex(fresh_store, vault, embedder)
    assert fresh_store.stats().chunks < MIN_FEEDBACK_CANDIDATES
    fed = await Searcher(fresh_store, embedder).search("failed uploads retried", k=10)
    plain = await Searcher(fresh_store, embedder, feedback=False).search("failed uploads retried", k=10)
    assert [r.chunk_hash for r in fed.results] == [r.chunk_hash for r in plain.results]
    assert "feedback" not in fed.timings_ms


@pytest.mark.anyio
async def test_stored_vectors_come_back_by_hash(feedback_index, embedder):
    hits = feedback_index.keyword("backoff jitter", 3)
    vectors = feedback_index.vectors_of([h.chunk_hash for h in hits] + ["no-such-hash"])
    assert set(vectors) == {h.chunk_hash for h in hits}
    expected = np.asarray((await embedder.embed([hits[0].text]))[0], dtype=np.float32)
    assert np.allclose(
        vectors[hits[0].chunk_hash] / np.linalg.norm(vectors[hits[0].chunk_hash]),
        expected / np.linalg.norm(expected),
        atol=1e-5,
    )
