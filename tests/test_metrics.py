"""Exact full-ranking metrics: hand-computed values, the tie rule, ir_measures and brute-force sorts."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hbt_bench.metrics import (
    AP,
    DEFAULT_MEASURES,
    NDCG,
    RR,
    RankDistance,
    Recall,
    RelevantRanks,
    evaluate_ranks,
    parse_measure,
    rank_relevant,
)
from tests.helpers import assert_agrees_with_ir_measures

REPO_ROOT = Path(__file__).resolve().parents[1]


def _rr(rank_lists: list[list[int]], n_candidates: int = 100) -> RelevantRanks:
    """RelevantRanks from per-query rank lists (sorted and padded here)."""
    width = max(len(r) for r in rank_lists)
    ranks = np.zeros((len(rank_lists), width), dtype=np.int64)
    for i, r in enumerate(rank_lists):
        ranks[i, : len(r)] = sorted(r)
    return RelevantRanks(ranks, np.array([len(r) for r in rank_lists], dtype=np.int64), n_candidates)


def _brute_force_ranks(q: np.ndarray, c: np.ndarray) -> np.ndarray:
    """1-based rank of every candidate for every query: stable argsort of -scores."""
    order = np.argsort(-(q @ c.T), axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, c.shape[0] + 1)[None, :].repeat(len(q), 0), axis=1)
    return ranks


def _random_relevant(rng: np.random.Generator, n_queries: int, n_candidates: int, most: int) -> list:
    return [
        rng.choice(n_candidates, size=int(rng.integers(1, most + 1)), replace=False) for _ in range(n_queries)
    ]


# --------------------------------------------------------------------------------------------------
# Measures on hand-computed ranks

# Query 0: relevant at ranks 1, 3, 6. Query 1: one relevant, at rank 12 (beyond every k <= 10).
# Query 2: relevant at ranks 2 and 4.
HAND = _rr([[1, 3, 6], [12], [2, 4]])
L3, L4, L5 = math.log2(3), math.log2(4), math.log2(5)


@pytest.mark.parametrize(
    ("measure", "expected"),
    [
        (AP(), [(1 + 2 / 3 + 3 / 6) / 3, 1 / 12, (1 / 2 + 2 / 4) / 2]),
        (AP(5), [(1 + 2 / 3) / 3, 0.0, (1 / 2 + 2 / 4) / 2]),
        (AP(2), [1 / 2, 0.0, (1 / 2) / 2]),  # divides by min(|R|, k)
        (AP(20), [(1 + 2 / 3 + 3 / 6) / 3, 1 / 12, (1 / 2 + 2 / 4) / 2]),
        (Recall(1), [1 / 3, 0.0, 0.0]),
        (Recall(3), [2 / 3, 0.0, 1 / 2]),
        (Recall(10), [1.0, 0.0, 1.0]),
        (NDCG(5), [(1 + 1 / L4) / (1 + 1 / L3 + 1 / L4), 0.0, (1 / L3 + 1 / L5) / (1 + 1 / L3)]),
        (NDCG(3), [(1 + 1 / L4) / (1 + 1 / L3 + 1 / L4), 0.0, (1 / L3) / (1 + 1 / L3)]),
        (NDCG(1), [1.0, 0.0, 0.0]),
        (RR(), [1.0, 1 / 12, 1 / 2]),
        (RR(10), [1.0, 0.0, 1 / 2]),
        (RR(1), [1.0, 0.0, 0.0]),
        (RankDistance(), [5.0, 0.0, 2.0]),
    ],
    ids=lambda x: x.name if hasattr(x, "name") else "",
)
def test_measures_on_hand_computed_ranks(measure, expected):
    values = measure.per_query(HAND)
    assert values.dtype == np.float64
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-12)
    assert evaluate_ranks(HAND, [measure]) == pytest.approx(
        {measure.name: float(np.mean(expected))}, abs=1e-12
    )


def test_evaluate_ranks_returns_python_floats_for_default_measures():
    scores = evaluate_ranks(HAND)
    assert list(scores) == [
        "map",
        "map_at_20",
        "recall_at_1",
        "recall_at_10",
        "ndcg_at_10",
        "mrr",
        "mrr_at_10",
        "rank_distance",
    ]
    assert all(type(v) is float for v in scores.values())
    assert scores["rank_distance"] == pytest.approx(7 / 3)


def test_names_round_trip_through_parse_measure():
    for measure in (*DEFAULT_MEASURES, AP(100), Recall(100), NDCG(1), RR(3)):
        assert parse_measure(measure.name) == measure
    assert parse_measure("map_at_20") == AP(20)
    assert AP(np.int64(20)).name == "map_at_20"


@pytest.mark.parametrize(
    "name", ["", "MAP", "map_at_", "map_at_0", "map_at_020", "recall", "ndcg@10", "p_at_5"]
)
def test_parse_measure_rejects_unknown_names(name):
    with pytest.raises(ValueError, match="valid forms: map, map_at_<k>"):
        parse_measure(name)


@pytest.mark.parametrize("make", [lambda: AP(0), lambda: Recall(0), lambda: NDCG(-1), lambda: RR(True)])
def test_cutoffs_must_be_positive_ints(make):
    with pytest.raises(ValueError, match="cutoff must be a positive int"):
        make()


def test_evaluate_ranks_rejects_zero_queries_and_duplicate_names():
    empty = RelevantRanks(np.zeros((0, 0), np.int64), np.zeros(0, np.int64), 5)
    with pytest.raises(ValueError, match="zero queries"):
        evaluate_ranks(empty)
    with pytest.raises(ValueError, match="duplicate names"):
        evaluate_ranks(HAND, [AP(), AP()])


# --------------------------------------------------------------------------------------------------
# rank_relevant: the tie rule


def test_rank_relevant_on_a_hand_example_with_a_tie():
    q = np.array([[1.0, 0.0]], dtype=np.float32)
    c = np.array([[0.5, 0], [1, 0], [0.2, 0], [1, 0], [0.9, 0]], dtype=np.float32)
    # scores 0.5, 1, 0.2, 1, 0.9 -> order c1, c3 (tie: lower index first), c4, c0, c2
    rr = rank_relevant(q, c, [np.array([3, 0])])
    assert rr.ranks.tolist() == [[2, 4]]
    assert rr.n_relevant.tolist() == [2]
    assert rr.n_candidates == 5
    assert rank_relevant(q, c, [np.array([2])]).ranks.tolist() == [[5]]
    assert rank_relevant(q, c, [np.array([1])]).ranks.tolist() == [[1]]


def test_query_equidistant_to_several_candidates_ranks_them_by_index():
    q = np.array([[1.0, 1.0]], dtype=np.float32)
    c = np.array([[2, 0], [0, 2], [1, 1], [3, -1], [0, 0]], dtype=np.float32)  # scores 2, 2, 2, 2, 0
    for d in range(4):
        assert rank_relevant(q, c, [np.array([d])]).ranks.tolist() == [[d + 1]]
    rr = rank_relevant(np.repeat(q, 2, axis=0), c, [np.array([3, 0]), np.array([4, 2, 1])])
    assert rr.ranks.tolist() == [[1, 4, 0], [2, 3, 5]]
    assert RankDistance().per_query(rr).tolist() == [3.0, 3.0]


def test_identical_candidate_vectors_rank_in_index_order():
    """Copies of one vector far apart in the matrix: BLAS may round their dot products differently
    (OpenBLAS does, by column position), yet they must tie and rank consecutively, lower index first."""
    rng = np.random.default_rng(1)
    q = rng.standard_normal((300, 64), dtype=np.float32)
    c = rng.standard_normal((2000, 64), dtype=np.float32)
    group = [3, 1500, 1777, 1999]
    c[group[1:]] = c[group[0]]
    together = rank_relevant(q, c, [np.array(group)] * len(q)).ranks
    np.testing.assert_array_equal(together - together[:, :1], np.tile(np.arange(4), (len(q), 1)))
    for k, d in enumerate(group):
        alone = rank_relevant(q, c, [np.array([d])] * len(q)).ranks[:, 0]
        np.testing.assert_array_equal(alone, together[:, k])


def test_rank_relevant_equals_brute_force_stable_sort_with_many_ties():
    """Small-integer embeddings: exact float32 dot products and ties everywhere, plus injected duplicate
    candidates; every relevant rank must equal the stable argsort of -scores."""
    rng = np.random.default_rng(7)
    q = rng.integers(-2, 3, size=(400, 4)).astype(np.float32)
    c = rng.integers(-2, 3, size=(700, 4)).astype(np.float32)
    c[rng.choice(700, 60, replace=False)] = c[rng.choice(700, 60, replace=False)]
    relevant = _random_relevant(rng, len(q), len(c), 11)
    full = _brute_force_ranks(q, c)
    rr = rank_relevant(q, c, relevant)
    expected = np.zeros_like(rr.ranks)
    for i, rel in enumerate(relevant):
        expected[i, : len(rel)] = np.sort(full[i, rel])
    np.testing.assert_array_equal(rr.ranks, expected)
    np.testing.assert_array_equal(rr.n_relevant, [len(r) for r in relevant])
    assert rr.ranks.dtype == np.int64 and rr.n_relevant.dtype == np.int64


def test_rank_relevant_with_every_candidate_tied():
    q = np.ones((3, 5), dtype=np.float32)
    c = np.zeros((50, 5), dtype=np.float32)
    rr = rank_relevant(q, c, [np.array([49, 0, 7]), np.array([10]), np.arange(50)])
    assert rr.ranks[0].tolist()[:3] == [1, 8, 50]
    assert rr.ranks[1].tolist()[:1] == [11]
    assert rr.ranks[2].tolist() == list(range(1, 51))


def test_chunk_size_does_not_change_ranks():
    """Candidates within a few ulps of each other, so the ranking is decided by float32 rounding, which
    BLAS varies with the shape of each GEMM call; the ranks must not depend on the chunk size."""
    rng = np.random.default_rng(3)
    q = rng.standard_normal((700, 48), dtype=np.float32)
    base = rng.standard_normal(48, dtype=np.float32)
    c = (base + 1e-6 * rng.standard_normal((3000, 48))).astype(np.float32)
    relevant = _random_relevant(rng, len(q), len(c), 11)
    results = [rank_relevant(q, c, relevant, chunk_size=size).ranks for size in (7, 64, 300, 1024)]
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])


# --------------------------------------------------------------------------------------------------
# Agreement with ir_measures (trec_eval)


def test_measures_agree_with_ir_measures_on_random_data():
    """300 queries x 2,000 candidates, 1-11 relevant, full runs. Integer-valued float32 embeddings make
    every dot product exact, so ir_measures sees exactly our scores; no relevant score is tied (asserted),
    since trec_eval breaks ties by doc id, not by our rule."""
    rng = np.random.default_rng(12)  # a seed without tied relevant scores
    q = rng.integers(-1000, 1001, size=(300, 16)).astype(np.float32)
    c = rng.integers(-1000, 1001, size=(2000, 16)).astype(np.float32)
    relevant = _random_relevant(rng, len(q), len(c), 11)
    scores = q.astype(np.float64) @ c.astype(np.float64).T  # exact: |score| < 2**24
    for i, rel in enumerate(relevant):
        assert np.isin(scores[i], scores[i, rel]).sum() == len(rel), f"query {i} has a tied relevant score"

    rr = rank_relevant(q, c, relevant)
    qrels = {str(i): {str(d): 1 for d in rel.tolist()} for i, rel in enumerate(relevant)}
    run = {str(i): dict(zip(map(str, range(len(c))), scores[i].tolist(), strict=True)) for i in range(len(q))}
    ours_mean = assert_agrees_with_ir_measures(rr, qrels, run)
    assert 0 < ours_mean["map"] < 0.2  # non-trivial: not everything at rank 1


# --------------------------------------------------------------------------------------------------
# Validation


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5, 3\)"):
        rank_relevant(np.zeros((3, 4), np.float32), np.zeros((5, 3), np.float32), [np.array([0])] * 3)
    with pytest.raises(ValueError, match=r"\(4,\).*\(5, 4\)"):
        rank_relevant(np.zeros(4, np.float32), np.zeros((5, 4), np.float32), [np.array([0])])


@pytest.mark.parametrize(
    ("relevant", "message"),
    [
        ([np.array([0]), np.array([], dtype=np.int64), np.array([1])], r"relevant\[1\] is empty"),
        (
            [np.array([0]), np.array([1]), np.array([2, 4, 2])],
            r"relevant\[2\] lists candidate 2 more than once",
        ),
        (
            [np.array([0]), np.array([5]), np.array([1])],
            r"relevant\[1\] holds candidate index 5, out of range",
        ),
        ([np.array([-1]), np.array([0]), np.array([1])], r"relevant\[0\] holds candidate index -1"),
        ([np.array([0]), np.array([1.0]), np.array([1])], r"relevant\[1\] must hold integer"),
        ([np.array([0]), np.array([[1]]), np.array([1])], r"relevant\[1\] must be a 1-D array"),
        ([np.array([0]), np.array([1])], "relevant has 2 entries but query_emb has 3 rows"),
    ],
)
def test_invalid_relevant_sets_are_rejected(relevant, message):
    q = np.ones((3, 2), np.float32)
    c = np.arange(10, dtype=np.float32).reshape(5, 2)
    with pytest.raises(ValueError, match=message):
        rank_relevant(q, c, relevant)


def test_nan_scores_are_rejected():
    q = np.ones((3, 2), np.float32)
    c = np.ones((4, 2), np.float32)
    rel = [np.array([0])] * 3
    with pytest.raises(ValueError, match="query 1 contain NaN"):
        rank_relevant(np.where([[False], [True], [False]], np.nan, q).astype(np.float32), c, rel)
    c_nan = c.copy()
    c_nan[2, 1] = np.nan
    with pytest.raises(ValueError, match="query 0 contain NaN"):
        rank_relevant(q, c_nan, rel)
    # finite inputs whose products overflow: inf - inf = NaN
    big = np.array([[1e30, 1e30]], np.float32)
    with pytest.raises(ValueError, match="NaN"):
        rank_relevant(big, np.array([[1e30, -1e30]], np.float32), [np.array([0])])


@pytest.mark.parametrize("chunk_size", [0, -5, 2.5, True])
def test_chunk_size_must_be_a_positive_int(chunk_size):
    with pytest.raises(ValueError, match="chunk_size"):
        rank_relevant(
            np.ones((1, 2), np.float32), np.ones((1, 2), np.float32), [np.array([0])], chunk_size=chunk_size
        )


def test_zero_queries_give_empty_ranks():
    rr = rank_relevant(np.zeros((0, 3), np.float32), np.ones((4, 3), np.float32), [])
    assert rr.ranks.shape == (0, 0) and rr.n_relevant.shape == (0,) and rr.n_candidates == 4


def _near_tie_problem(n_c: int = 300) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Candidates within a few float32 ulps of each other: their order is decided by GEMM rounding.

    With numpy's OpenBLAS, one and two BLAS threads rounded ~2/3 of these relevant ranks differently
    before scoring pinned its GEMM to one BLAS thread per tile.
    """
    rng = np.random.default_rng(0)
    q = rng.standard_normal((16, 128)).astype(np.float32)
    base = rng.standard_normal(128).astype(np.float32)
    c = (base + 1e-6 * rng.standard_normal((n_c, 128))).astype(np.float32)
    return q, c, [np.array([i, (7 * i + 3) % n_c]) for i in range(16)]


@pytest.mark.parametrize(("chunk_size", "n_c"), [(1024, 300), (4, 300), (1024, 4500)])
def test_ranks_do_not_depend_on_the_blas_thread_count(chunk_size, n_c):
    """Invariant: the caller's BLAS thread count is not an input of the ranking."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    q, c, rel = _near_tie_problem(n_c)
    results = []
    for threads in (1, 2, 3):
        with threadpoolctl.threadpool_limits(threads, user_api="blas"):
            results.append(rank_relevant(q, c, rel, chunk_size=chunk_size).ranks)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


def test_rank_relevant_equals_brute_force_across_several_column_blocks():
    """More candidates than one GEMM column block (and queries than one row tile): ranks stay exact."""
    rng = np.random.default_rng(11)
    q = rng.standard_normal((300, 8)).astype(np.float32)
    c = rng.standard_normal((5000, 8)).astype(np.float32)
    c[4999] = c[10]  # a tie across column blocks: index order decides
    relevant = [np.array([20 + i, 4999, 10, 2100 + i]) for i in range(300)]
    brute = _brute_force_ranks(q, c)
    expected = np.sort(np.stack([brute[i, r] for i, r in enumerate(relevant)]), axis=1)
    np.testing.assert_array_equal(rank_relevant(q, c, relevant, chunk_size=256).ranks, expected)


def test_ranks_do_not_depend_on_openblas_num_threads_across_processes():
    """The same check through the environment, as a user sets it (fresh processes, no in-process limit)."""
    code = (
        "import json, numpy as np; from tests.test_metrics import _near_tie_problem; "
        "from hbt_bench.metrics import rank_relevant; q, c, rel = _near_tie_problem(); "
        "print(json.dumps(rank_relevant(q, c, rel).ranks.tolist()))"
    )
    outs = []
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=REPO_ROOT
        )
        outs.append(run.stdout)
    assert outs[0] == outs[1]


def test_blas_thread_limit_is_restored_after_scoring():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    q, c, rel = _near_tie_problem()
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        rank_relevant(q, c, rel)
        after = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert before == after
