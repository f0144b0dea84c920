"""Retrieval metrics against values worked out by hand."""

import math

import pytest

from qmdr.bench.metrics import (
    collapse_to_docs,
    mean_metrics,
    mrr_at_k,
    ndcg_at_k,
    overlap_at_k,
    percentile,
    query_metrics,
    recall_at_k,
)

JUDGED = {"a": 2, "b": 1, "c": 0, "z": 3}  # z is judged relevant but never retrieved


def test_ndcg_uses_exponential_gain_and_ideal_from_all_judged_docs():
    # ranking b, x, a: gains 1, 0, 3 -> DCG = 1/log2(2) + 0 + 3/log2(4) = 1 + 1.5 = 2.5
    # ideal z(7), a(3), b(1): 7 + 3/log2(3) + 1/2
    ideal = 7 + 3 / math.log2(3) + 0.5
    assert ndcg_at_k(["b", "x", "a"], JUDGED, 10) == pytest.approx(2.5 / ideal)


def test_ndcg_is_one_for_the_ideal_order_and_zero_without_relevant_docs():
    assert ndcg_at_k(["z", "a", "b"], JUDGED, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0
    assert ndcg_at_k([], JUDGED, 10) == 0.0


def test_ndcg_cuts_at_k():
    # only the first doc counts at k=1: gain of b is 1 vs ideal 7
    assert ndcg_at_k(["b", "z"], JUDGED, 1) == pytest.approx(1 / 7)


def test_recall_counts_score_above_zero_as_relevant():
    assert recall_at_k(["a", "c", "x"], JUDGED, 10) == pytest.approx(1 / 3)
    assert recall_at_k(["x", "a", "b", "z"], JUDGED, 2) == pytest.approx(1 / 3)
    assert recall_at_k(["a"], {"a": 0}, 10) == 0.0


def test_mrr_is_reciprocal_rank_of_first_relevant_within_k():
    assert mrr_at_k(["c", "x", "b"], JUDGED, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["c", "x", "b"], JUDGED, 2) == 0.0
    assert mrr_at_k(["a"], JUDGED, 10) == 1.0


def test_chunks_of_one_document_collapse_to_its_best_rank():
    paths = ["d1.md", "d2.md", "d1.md", "junk.md", "d3.md"]
    docs = {"d1.md": "1", "d2.md": "2", "d3.md": "3"}
    assert collapse_to_docs(paths, docs.get) == ["1", "2", "3"]


def test_query_metrics_and_macro_mean():
    perfect = query_metrics(["z", "a", "b"], JUDGED)
    assert perfect == {"ndcg@10": pytest.approx(1.0), "recall@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}
    miss = query_metrics(["x"], JUDGED)
    assert mean_metrics([perfect, miss])["mrr@10"] == pytest.approx(0.5)
    assert mean_metrics([])["ndcg@10"] == 0.0


def test_recall_at_100_sees_docs_beyond_10():
    ranked = [f"n{i}" for i in range(50)] + ["a"]
    metrics = query_metrics(ranked, {"a": 1})
    assert metrics["recall@10"] == 0.0 and metrics["recall@100"] == 1.0


def test_percentile_interpolates_linearly():
    assert percentile([10, 20, 30, 40], 50) == pytest.approx(25.0)
    assert percentile([1.0], 95) == 1.0
    assert percentile([], 50) == 0.0


def test_overlap_at_k_against_exact():
    assert overlap_at_k([1, 2, 3], [3, 2, 1], 3) == 1.0
    assert overlap_at_k([1, 9, 8], [1, 2, 3], 3) == pytest.approx(1 / 3)
