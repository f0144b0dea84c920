"""Reciprocal rank fusion and rank bookkeeping, as plain functions."""

from __future__ import annotations

import math

import pytest

from qmdr.fusion import RRF_K, max_rrf_score, rank_positions, reciprocal_rank_fusion


def test_rrf_scores_are_the_sum_of_reciprocal_ranks():
    fused = dict(reciprocal_rank_fusion({"kw": ["x", "y"], "vec": ["y", "z"]}, k=60))
    assert math.isclose(fused["y"], 1 / 62 + 1 / 61)
    assert math.isclose(fused["x"], 1 / 61)
    assert math.isclose(fused["z"], 1 / 62)


def test_a_key_found_by_both_lists_beats_a_key_ranked_first_by_one():
    order = [key for key, _ in reciprocal_rank_fusion({"kw": ["a", "b", "c"], "vec": ["d", "c", "e"]})]
    assert order[0] == "c"
    assert set(order) == {"a", "b", "c", "d", "e"}


def test_default_k_is_60():
    assert RRF_K == 60
    ((key, score),) = reciprocal_rank_fusion({"only": ["k"]})
    assert key == "k" and math.isclose(score, 1 / 61)


def test_weights_scale_each_list_and_zero_mutes_it():
    fused = dict(reciprocal_rank_fusion({"kw": ["a"], "vec": ["b"]}, k=10, weights={"kw": 2.0}))
    assert math.isclose(fused["a"], 2 / 11) and math.isclose(fused["b"], 1 / 11)
    muted = reciprocal_rank_fusion({"kw": ["a"], "vec": ["b"]}, k=10, weights={"kw": 0.0})
    assert muted[0][0] == "b" and muted[1] == ("a", 0.0)


def test_a_key_repeated_in_one_list_counts_once_at_its_best_rank():
    fused = dict(reciprocal_rank_fusion({"kw": ["a", "b", "a"]}, k=0))
    assert math.isclose(fused["a"], 1.0) and math.isclose(fused["b"], 0.5)


def test_ties_break_by_best_rank_then_first_seen():
    # symmetric lists: p and q tie on score and on best rank (1), so the first seen (p) comes first
    tied = reciprocal_rank_fusion({"kw": ["p", "q"], "vec": ["q", "p"]}, k=5)
    assert math.isclose(tied[0][1], tied[1][1])
    assert [key for key, _ in tied] == ["p", "q"]  # same best rank (1): first seen wins
    # z and n both score 1/61 at best rank 1: z was seen first (its list comes first)
    deeper = reciprocal_rank_fusion({"kw": ["m", "x"], "vec": ["z", "m"], "third": ["n"]}, k=60)
    assert [key for key, _ in deeper] == ["m", "z", "n", "x"]


def test_invalid_parameters_are_refused():
    with pytest.raises(ValueError):
        reciprocal_rank_fusion({"kw": ["a"]}, k=-1)
    with pytest.raises(ValueError):
        reciprocal_rank_fusion({"kw": ["a"]}, weights={"kw": -0.5})


def test_empty_input_gives_empty_output():
    assert reciprocal_rank_fusion({}) == []
    assert reciprocal_rank_fusion({"kw": [], "vec": []}) == []


def test_rank_positions_report_one_based_rank_or_none():
    positions = rank_positions({"kw": ["a", "b", "a"], "vec": ["b"]})
    assert positions == {"a": {"kw": 1, "vec": None}, "b": {"kw": 2, "vec": 1}}


def test_max_rrf_score_is_the_score_of_a_key_first_everywhere():
    lists = {"kw": ["a", "b"], "vec": ["a"]}
    top = reciprocal_rank_fusion(lists, k=60, weights={"vec": 0.5})[0][1]
    assert math.isclose(top, max_rrf_score(["kw", "vec"], k=60, weights={"vec": 0.5}))
