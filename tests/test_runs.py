"""Runs -> relevant ranks: hand-computed cases, ir_measures on full runs, the truncation rule."""

from __future__ import annotations

import numpy as np
import pytest

from hbt_bench.metrics import AP, RankDistance, evaluate_ranks
from hbt_bench.runs import RunError, relevant_ranks_from_run, top_k_indices
from tests.helpers import assert_agrees_with_ir_measures

IDS = ["a", "b", "c", "d", "e"]
INDEX = {d: i for i, d in enumerate(IDS)}


def test_hand_computed_ranks_with_ties_by_candidate_index():
    # Query 0: scores a=.1 b=.9 c=.5 d=.5 e=.2; listed in a scrambled order on purpose.
    # Order: b(.9), c(.5, index 2), d(.5, index 3), e, a -> relevant {d, a} at ranks 3 and 5.
    # Query 1: every score equal -> order by index a b c d e; relevant {e} at rank 5.
    run = [
        {"d": 0.5, "a": 0.1, "c": 0.5, "e": 0.2, "b": 0.9},
        {"e": 1.0, "c": 1.0, "a": 1.0, "b": 1.0, "d": 1.0},
    ]
    rr = relevant_ranks_from_run(run, INDEX, [np.array([3, 0]), np.array([4])])
    assert rr.ranks.ranks.tolist() == [[3, 5], [5, 0]]
    assert rr.depth.tolist() == [5, 5] and rr.unreturned == 0
    # AP by hand: q0 (1/3 + 2/5) / 2 = 0.366667; q1 1/5.
    ap = AP().per_query(rr.ranks)
    np.testing.assert_allclose(ap, [(1 / 3 + 2 / 5) / 2, 1 / 5])


def test_full_runs_agree_with_ir_measures():
    rng = np.random.default_rng(0)
    n_q, n_c = 40, 60
    ids = [f"doc{i}" for i in range(n_c)]
    index = {d: i for i, d in enumerate(ids)}
    scores = rng.permutation(n_q * n_c).reshape(n_q, n_c).astype(float)  # no ties: trec_eval agrees
    relevant = [rng.choice(n_c, size=rng.integers(1, 6), replace=False) for _ in range(n_q)]
    run = [{ids[j]: float(scores[i, j]) for j in rng.permutation(n_c)} for i in range(n_q)]
    rr = relevant_ranks_from_run(run, index, relevant)
    qrels = {str(i): {ids[j]: 1 for j in rel} for i, rel in enumerate(relevant)}
    assert_agrees_with_ir_measures(rr.ranks, qrels, {str(i): r for i, r in enumerate(run)})


def test_ties_match_an_independent_python_sort():
    rng = np.random.default_rng(1)
    n_q, n_c = 30, 25
    ids = [f"d{i:02d}" for i in range(n_c)]
    index = {d: i for i, d in enumerate(ids)}
    relevant = [rng.choice(n_c, size=3, replace=False) for _ in range(n_q)]
    run = [{ids[j]: float(rng.integers(0, 4)) for j in rng.permutation(n_c)} for _ in range(n_q)]
    rr = relevant_ranks_from_run(run, index, relevant)
    for i, row in enumerate(run):
        order = [d for d, _ in sorted(row.items(), key=lambda kv: (-kv[1], index[kv[0]]))]
        expected = sorted(order.index(ids[j]) + 1 for j in relevant[i])
        assert rr.ranks.ranks[i].tolist() == expected


def test_truncated_run_ranks_unreturned_relevant_last_and_reports_depth():
    # 5 candidates; the run returns only b, c (depth 2). Relevant {c, a, e}: c at rank 2, a and e
    # missing -> the last two ranks, 4 and 5 (the worst full ranking consistent with the run).
    rr = relevant_ranks_from_run([{"b": 2.0, "c": 1.0}], INDEX, [np.array([2, 0, 4])])
    assert rr.ranks.ranks.tolist() == [[2, 4, 5]]
    assert rr.depth.tolist() == [2] and rr.min_depth == 2 and rr.unreturned == 2
    scores = evaluate_ranks(rr.ranks, [AP(), RankDistance()])
    assert scores["map"] == pytest.approx((1 / 2 + 2 / 4 + 3 / 5) / 3)
    assert scores["rank_distance"] == 3
    # An empty run: every relevant candidate is last.
    empty = relevant_ranks_from_run([{}], INDEX, [np.array([1])])
    assert empty.ranks.ranks.tolist() == [[5]] and empty.min_depth == 0


def test_truncated_run_is_a_lower_bound_of_the_full_one():
    rng = np.random.default_rng(2)
    n_q, n_c = 20, 50
    ids = [str(i) for i in range(n_c)]
    index = {d: i for i, d in enumerate(ids)}
    relevant = [rng.choice(n_c, size=4, replace=False) for _ in range(n_q)]
    full = [{ids[j]: float(s) for j, s in enumerate(rng.random(n_c))} for _ in range(n_q)]
    cut = [dict(sorted(r.items(), key=lambda kv: -kv[1])[:10]) for r in full]
    full_ap = AP().per_query(relevant_ranks_from_run(full, index, relevant).ranks)
    cut_rr = relevant_ranks_from_run(cut, index, relevant)
    cut_ap = AP().per_query(cut_rr.ranks)
    assert (cut_ap <= full_ap + 1e-12).all() and cut_rr.min_depth == 10
    # and within |R|/(n-|R|+1) of trec_eval's rule (unreturned relevant count 0)
    import ir_measures

    qrels = {str(i): {ids[j]: 1 for j in rel} for i, rel in enumerate(relevant)}
    trec = {
        m.query_id: m.value
        for m in ir_measures.iter_calc([ir_measures.AP], qrels, {str(i): r for i, r in enumerate(cut)})
    }
    trec_ap = np.array([trec[str(i)] for i in range(n_q)])
    assert (cut_ap >= trec_ap - 1e-12).all() and (cut_ap - trec_ap <= 4 / (n_c - 4 + 1)).all()


@pytest.mark.parametrize(
    ("run", "relevant", "message"),
    [
        ([{"zz": 1.0}], [np.array([0])], "returned 'zz', which is not a candidate"),
        ([{"a": float("nan")}], [np.array([0])], "candidate 'a' a NaN score"),
        ([{"a": "x"}], [np.array([0])], "not a number"),
        ([{"a": 1.0}], [np.array([0]), np.array([1])], "1 ranked lists for 2 queries"),
        ([{"a": 1.0}], [np.array([7])], "outside 0..4"),
        ([{"a": 1.0}], [np.array([1, 1])], "more than once"),
        ([[("a", 1.0)]], [np.array([0])], "expected a dict"),
    ],
)
def test_bad_runs_are_clear_errors(run, relevant, message):
    with pytest.raises(RunError, match=message) as info:
        relevant_ranks_from_run(run, INDEX, relevant, what="model m on subset en-en")
    assert "model m on subset en-en" in str(info.value)


def test_top_k_indices_follow_the_tie_rule():
    rng = np.random.default_rng(3)
    s = rng.integers(0, 5, size=(12, 30)).astype(np.float32)
    for k in (1, 7, 30, 50):
        got = top_k_indices(s, k)
        for i in range(s.shape[0]):
            expected = sorted(range(30), key=lambda j: (-s[i, j], j))[: min(k, 30)]
            assert got[i].tolist() == expected
    with pytest.raises(ValueError, match="positive int"):
        top_k_indices(s, 0)
