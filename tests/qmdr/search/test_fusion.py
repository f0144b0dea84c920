"""Reciprocal rank fusion and rank bookkeeping, as plain functions."""

from __future__ import annotations

import math

import pytest

from qmdr.search.fusion import RRF_K, max_rrf_score, normalise, rank_positions, reciprocal_rank_fusion, score_blend


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


def test_rrf_ties_on_score_go_to_the_better_best_rank_before_first_seen():
    # k=0: "a" scores 1/2 + 1/2 at rank 2 in two lists, "b" scores 1/1 at rank 1 in a third: an exact tie.
    # "a" is seen first, so without the best-rank tie-break it would come before "b"; reversed, before x too.
    fused = reciprocal_rank_fusion({"kw": ["x", "a"], "vec": ["y", "a"], "third": ["b"]}, k=0)
    assert [score for _, score in fused] == [1.0, 1.0, 1.0, 1.0]
    assert [key for key, _ in fused] == ["x", "y", "b", "a"]


def test_blend_ties_on_score_go_to_the_better_best_rank_before_first_seen():
    # min-max: "a" and "d" top their lists (1.0 each); "b" is halfway in both (0.5 + 0.5): a three-way tie.
    # "b" is seen before "d", so without the best-rank tie-break it would come second; reversed, first.
    fused = score_blend({"kw": [("a", 2.0), ("b", 1.0), ("c", 0.0)], "vec": [("d", 2.0), ("b", 1.0), ("e", 0.0)]})
    assert [score for _, score in fused[:3]] == [1.0, 1.0, 1.0]
    assert [key for key, _ in fused[:3]] == ["a", "d", "b"]


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


def test_minmax_scales_to_the_unit_range_and_zscore_to_mean_zero_spread_one():
    assert normalise([2.0, 4.0, 3.0]) == [0.0, 1.0, 0.5]
    z = normalise([1.0, 2.0, 3.0], "zscore")
    assert math.isclose(sum(z), 0.0, abs_tol=1e-12) and math.isclose(sum(v * v for v in z) / 3, 1.0)
    assert normalise([5.0, 5.0]) == [1.0, 1.0] and normalise([5.0], "zscore") == [0.0]
    assert normalise([]) == []
    with pytest.raises(ValueError):
        normalise([1.0], "rank")  # type: ignore[arg-type]


def test_score_blend_is_the_weighted_sum_of_normalised_scores():
    lists = {"kw": [("a", 10.0), ("b", 6.0), ("c", 2.0)], "vec": [("c", 0.9), ("a", 0.5), ("d", 0.1)]}
    fused = dict(score_blend(lists, {"kw": 0.4, "vec": 0.6}))
    assert math.isclose(fused["a"], 0.4 * 1.0 + 0.6 * 0.5)
    assert math.isclose(fused["b"], 0.4 * 0.5 + 0.6 * 0.0)  # absent from vec: that list's floor (0)
    assert math.isclose(fused["c"], 0.4 * 0.0 + 0.6 * 1.0)
    assert math.isclose(fused["d"], 0.0)
    assert [key for key, _ in score_blend(lists, {"kw": 0.4, "vec": 0.6})] == ["a", "c", "b", "d"]


def test_score_blend_keeps_score_gaps_that_rrf_drops():
    # keyword: "a" far ahead of "b"; vector: "b" barely ahead of "a". RRF ties them, the blend does not.
    lists = {"kw": [("a", 20.0), ("b", 1.0), ("x", 0.0)], "vec": [("b", 0.80), ("a", 0.79), ("y", 0.1)]}
    rrf = dict(reciprocal_rank_fusion({n: [key for key, _ in entries] for n, entries in lists.items()}))
    assert math.isclose(rrf["a"], rrf["b"])
    assert score_blend(lists)[0][0] == "a"


def test_score_blend_zscore_floor_is_the_lists_lowest_and_a_repeat_counts_once():
    lists = {"kw": [("a", 3.0), ("a", 1.0), ("b", 1.0)], "vec": [("b", 0.5)]}
    # kw z: a=+1, b=-1 (lowest) -> a 2.0 above the floor; vec: a lone hit b, lifted to the widest list's top (2.0)
    fused = dict(score_blend(lists, normalisation="zscore"))
    assert math.isclose(fused["a"], 2.0 + 0.0) and math.isclose(fused["b"], 0.0 + 2.0)


def test_blend_scores_are_never_negative_and_a_list_shift_keeps_the_order():
    lists = {"kw": [("a", -3.0), ("b", -5.0), ("c", -9.0)], "vec": [("c", -0.1), ("d", -0.2), ("a", -0.9)]}
    shifted = {"kw": [(k, s + 100) for k, s in lists["kw"]], "vec": [(k, s + 1) for k, s in lists["vec"]]}
    for normalisation in ("minmax", "zscore"):
        fused = score_blend(lists, normalisation=normalisation)
        assert all(score >= 0 for _, score in fused)
        assert [k for k, _ in fused] == [k for k, _ in score_blend(shifted, normalisation=normalisation)]


def test_score_blend_refuses_negative_weights_and_handles_empty_lists():
    with pytest.raises(ValueError):
        score_blend({"kw": [("a", 1.0)]}, {"kw": -1.0})
    assert score_blend({}) == [] and score_blend({"kw": [], "vec": [("a", 0.3)]}) == [("a", 1.0)]


@pytest.mark.parametrize("normalisation", ["minmax", "zscore"])
def test_a_lone_hit_still_beats_a_miss_in_the_blend(normalisation):
    # one exact keyword match (no spread to scale by) against a full vector list
    lists = {"kw": [("exact", 7.5)], "vec": [("v1", 0.9), ("exact", 0.5), ("v2", 0.1)]}
    fused = dict(score_blend(lists, normalisation=normalisation))
    scaled = normalise([0.9, 0.5, 0.1], normalisation)
    vec = dict(zip(["v1", "exact", "v2"], [v - min(scaled) for v in scaled], strict=True))
    # the lone hit counts as much as the best entry of the spread list, a miss 0
    assert math.isclose(fused["exact"], max(vec.values()) + vec["exact"])
    assert math.isclose(fused["v1"], 0.0 + vec["v1"]) and math.isclose(fused["v2"], 0.0)
    assert fused["exact"] > fused["v1"]
    assert score_blend({"kw": [("a", 2.0), ("b", 2.0)]}, normalisation=normalisation) == [("a", 1.0), ("b", 1.0)]
