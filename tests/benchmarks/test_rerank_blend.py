"""Smoke tests of the rerank blend simulation (``benchmarks/rerank_blend.py``) on tiny synthetic queries."""

import pytest

from benchmarks.rerank_blend import (
    ONE_BAD_TOP,
    Draw,
    QueryCandidates,
    evaluate,
    one_bad_top,
    oracle_grades,
    random_noise,
    reranked_docs,
    sweep,
)
from qmdr.bench.metrics import ndcg_at_k
from qmdr.search.rerank import BlendWeights

# fused order puts the complete answer ("best") fourth, behind an unjudged doc and a weak one;
# "weak" appears twice (two chunks of one document)
Q1 = QueryCandidates("1", ("noise", "weak", "weak", "best", "other", "mid"), {"best": 4, "mid": 2, "weak": 1})
Q2 = QueryCandidates("2", ("hit", "x", "y", "z"), {"hit": 3})
QUERIES = [Q1, Q2]
GRADES_ONLY = BlendWeights(w_llm=1.0, w_rank=0.0)
FUSED_ONLY = BlendWeights(w_llm=0.0, w_rank=1.0)


def test_oracle_grades_follow_the_documented_map_and_unjudged_is_zero():
    assert oracle_grades(Q1) == [0, 1, 1, 3, 0, 2]
    assert oracle_grades(Q2) == [2, 0, 0, 0]


def test_w_llm_zero_keeps_fused_order_and_scores_like_the_metrics_module():
    grades = [oracle_grades(q) for q in QUERIES]
    scores = evaluate(QUERIES, grades, FUSED_ONLY)
    fused = [["noise", "weak", "best", "other", "mid"], ["hit", "x", "y", "z"]]
    assert reranked_docs(Q1, grades[0], FUSED_ONLY) == fused[0]
    assert scores["ndcg@10"] == pytest.approx(sum(ndcg_at_k(f, q.judged, 10) for f, q in zip(fused, QUERIES)) / 2)
    assert scores["mrr@10"] == pytest.approx((1 / 2 + 1) / 2)


def test_oracle_grades_alone_put_the_complete_answer_first():
    grades = [oracle_grades(q) for q in QUERIES]
    assert reranked_docs(Q1, grades[0], GRADES_ONLY)[:3] == ["best", "mid", "weak"]
    assert evaluate(QUERIES, grades, GRADES_ONLY)["ndcg@10"] > evaluate(QUERIES, grades, FUSED_ONLY)["ndcg@10"]


def test_only_the_top_n_are_reordered_and_the_rest_keep_fused_order():
    ranked = reranked_docs(Q1, oracle_grades(Q1), GRADES_ONLY, top_n=3)
    assert ranked == ["weak", "noise", "best", "other", "mid"]


def test_one_bad_top_grade_drops_a_true_top_hit_only_when_grades_dominate():
    bad = one_bad_top(oracle_grades(Q2))
    assert bad == [0, 0, 0, 0]
    assert reranked_docs(Q2, bad, GRADES_ONLY)[0] == "hit"  # all tied at 0: fused rank breaks the tie
    bad_q1 = one_bad_top([3, 0, 0, 2])  # a true complete answer at fused rank 1, graded 0
    q = QueryCandidates("3", ("a", "b", "c", "d"), {"a": 4, "d": 2})
    assert reranked_docs(q, bad_q1, GRADES_ONLY)[0] == "d"
    assert reranked_docs(q, bad_q1, BlendWeights(w_llm=0.2, w_rank=0.8))[0] == "a"


def test_random_noise_replaces_exactly_the_draws_below_p():
    draws = [Draw(0.05, 3), Draw(0.5, 3), Draw(0.95, 0)]
    assert random_noise([1, 1, 1], draws, 0.0) == [1, 1, 1]
    assert random_noise([1, 1, 1], draws, 0.1) == [3, 1, 1]
    assert random_noise([1, 1, 1], draws, 1.0) == [3, 3, 0]


def test_sweep_is_reproducible_and_noise_costs_quality_at_high_w_llm():
    kwargs = {"probabilities": (0.0, 0.5), "w_grid": (0.0, 0.5, 1.0), "k_grid": (1.0, 5.0), "reps": 4}
    first, again = sweep(QUERIES, seed=7, **kwargs), sweep(QUERIES, seed=7, **kwargs)
    assert first.values == again.values
    assert first.reps == {"p=0.0": 1, "p=0.5": 4, ONE_BAD_TOP: 1}
    oracle, noisy = first.mean("p=0.0", (1.0, 1.0)), first.mean("p=0.5", (1.0, 1.0))
    assert noisy < oracle
    # the fused order ignores grades, so every noise level scores it the same and with no spread
    assert first.mean("p=0.5", (0.0, 1.0)) == pytest.approx(first.mean("p=0.0", (0.0, 1.0)))
    assert first.sd("p=0.5", (0.0, 1.0)) == 0.0
    assert first.best("p=0.0")[0] > 0.0
    gain, spread = first.paired_diff("p=0.5", (1.0, 1.0), (0.0, 1.0))
    assert gain == pytest.approx(first.mean("p=0.5", (1.0, 1.0)) - first.mean("p=0.5", (0.0, 1.0)))
    assert spread == pytest.approx(first.sd("p=0.5", (1.0, 1.0)))  # the fused baseline has no spread


def test_sweep_with_another_seed_draws_other_noise():
    kwargs = {"probabilities": (0.5,), "w_grid": (1.0,), "k_grid": (1.0,), "reps": 3, "one_bad": False}
    assert sweep(QUERIES, seed=1, **kwargs).values != sweep(QUERIES, seed=2, **kwargs).values
