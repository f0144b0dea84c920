"""Calibrated relevance: the model's pieces, and what users see through search, the hub and context."""

from __future__ import annotations

import pytest

from qmdr.memory.context import build_context
from qmdr.memory.indexer import reindex
from qmdr.search.limits import DEFAULT_CONTEXT_MIN_RELEVANCE
from qmdr.search.relevance import coverage, non_increasing, relevance_probability, stems
from qmdr.search.searcher import Searcher
from tests.qmdr.memory_service import make_service, write_notes


def test_coverage_counts_the_querys_words_on_their_first_characters():
    wanted = stems("compressibility effects on the wing")
    assert coverage(wanted, "Wings", (), "compressible flow effects") == pytest.approx(2 / 3)
    assert coverage(wanted, "Sourdough", ("Bread",), "starter and flour") == 0.0
    assert coverage([], "anything", (), "at all") == 0.0


def test_evidence_moves_the_probability_the_right_way():
    base = relevance_probability("hybrid", 0.5, 3, 0.4)
    assert relevance_probability("hybrid", 1.0, 3, 0.4) > base
    assert relevance_probability("hybrid", 0.5, 1, 0.4) > base > relevance_probability("hybrid", 0.5, 30, 0.4)
    assert relevance_probability("hybrid", 0.5, 3, 0.8) > base
    # nothing in common, even at rank 1: low
    assert relevance_probability("hybrid", 0.0, 1, 0.0) * 100 < DEFAULT_CONTEXT_MIN_RELEVANCE
    assert relevance_probability("keyword", 1.0, 1, None) * 100 > 50


def test_non_increasing_is_the_closest_monotone_sequence():
    assert non_increasing([0.9, 0.5, 0.1]) == [0.9, 0.5, 0.1]
    assert non_increasing([0.1, 0.9, 0.2]) == pytest.approx([0.5, 0.5, 0.2])
    assert non_increasing([0.2, 0.4, 0.6]) == pytest.approx([0.4, 0.4, 0.4])
    assert non_increasing([]) == []


NOTES = {
    "retries.md": "# Upload retries\n\nFailed uploads retry with exponential backoff and jitter.\n",
    "bread.md": "# Sourdough\n\nFeed the starter the night before baking.\n",
    "birds.md": "# Lake walk\n\nA heron and two falcons by the water.\n",
}


@pytest.mark.anyio
async def test_a_relevant_note_scores_visibly_higher_than_an_unrelated_one(tmp_path, fresh_store, embedder):
    await reindex(fresh_store, write_notes(tmp_path / "v", NOTES), embedder)
    searcher = Searcher(fresh_store, embedder)
    found = (await searcher.search("failed uploads retry with backoff", k=3)).results
    assert found[0].path == "retries.md" and "cosine" in found[0].scores
    assert found[0].relevance > 50 and all(r.relevance < DEFAULT_CONTEXT_MIN_RELEVANCE for r in found[1:])
    unrelated = (await searcher.search("quarterly tax receipts", k=3)).results
    assert unrelated and max(r.relevance for r in unrelated) < DEFAULT_CONTEXT_MIN_RELEVANCE
    relevances = [r.relevance for r in found]
    assert relevances == sorted(relevances, reverse=True)


@pytest.mark.anyio
async def test_search_and_context_drop_results_under_the_floor(tmp_path):
    service = make_service(tmp_path, write_notes(tmp_path / "notes", NOTES))
    try:
        await service.memory.reindex("default")
        every = await service.memory.search("failed uploads retry", k=3)
        assert len(every.results) == 3  # search drops nothing by default
        floored = await service.memory.search("failed uploads retry", k=3, min_relevance=DEFAULT_CONTEXT_MIN_RELEVANCE)
        assert [h.result.path for h in floored.results] == ["retries.md"]
        block = await build_context(service.memory, ["failed uploads retry"], budget=2000)
        assert [e.path for e in block.entries if e.kind == "hit"] == ["retries.md"]
        nothing = await build_context(service.memory, ["quarterly tax receipts"], budget=2000)
        assert [e for e in nothing.entries if e.kind == "hit"] == []
        everything = await build_context(service.memory, ["quarterly tax receipts"], budget=2000, min_relevance=0)
        assert len([e for e in everything.entries if e.kind == "hit"]) == 3
    finally:
        await service.aclose()
