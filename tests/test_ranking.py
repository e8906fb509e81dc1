"""Exact ranks of relevant candidates: the tie rule by hand and against brute-force sorts, duplicate
candidates, chunk and BLAS-thread independence, and the single-row :func:`best_relevant_rank`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hbt_bench.metrics import RankDistance
from hbt_bench.ranking import (
    best_relevant_rank,
    duplicate_candidates,
    rank_relevant,
    rank_relevant_scores,
    share_duplicate_scores,
)
from hbt_bench.runs import relevant_ranks_from_run

REPO_ROOT = Path(__file__).resolve().parents[1]


def brute_force_ranks(q: np.ndarray, c: np.ndarray) -> np.ndarray:
    """1-based rank of every candidate for every query: stable argsort of -scores."""
    return brute_force_score_ranks(q @ c.T)


def brute_force_score_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of every column in every row: stable argsort of -scores."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, scores.shape[1] + 1)[None, :].repeat(len(scores), 0), axis=1)
    return ranks


def random_relevant(rng: np.random.Generator, n_queries: int, n_candidates: int, most: int) -> list:
    return [
        rng.choice(n_candidates, size=int(rng.integers(1, most + 1)), replace=False) for _ in range(n_queries)
    ]


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
    relevant = random_relevant(rng, len(q), len(c), 11)
    full = brute_force_ranks(q, c)
    rr = rank_relevant(q, c, relevant)
    expected = np.zeros_like(rr.ranks)
    for i, rel in enumerate(relevant):
        expected[i, : len(rel)] = np.sort(full[i, rel])
    np.testing.assert_array_equal(rr.ranks, expected)
    np.testing.assert_array_equal(rr.n_relevant, [len(r) for r in relevant])
    assert rr.ranks.dtype == np.int64 and rr.n_relevant.dtype == np.int64


def test_rank_relevant_scores_equals_brute_force_stable_sort_and_the_run_path():
    """Score rows with ties everywhere (small integers, many zeros, as BM25 gives): the ranks equal a
    stable argsort of -scores, and the dict-of-hits path over the same rows."""
    rng = np.random.default_rng(11)
    scores = rng.integers(0, 4, size=(300, 500)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.6] = 0.0
    relevant = random_relevant(rng, len(scores), scores.shape[1], 11)
    full = brute_force_score_ranks(scores)
    expected = np.zeros((len(scores), 11), dtype=np.int64)
    for i, rel in enumerate(relevant):
        expected[i, : len(rel)] = np.sort(full[i, rel])
    got = rank_relevant_scores(scores, relevant)
    np.testing.assert_array_equal(got.ranks, expected[:, : got.ranks.shape[1]])
    np.testing.assert_array_equal(got.n_relevant, [len(r) for r in relevant])
    assert got.n_candidates == scores.shape[1]
    ids = [f"c{j}" for j in range(scores.shape[1])]
    run = [{ids[j]: float(row[j]) for j in rng.permutation(len(ids))} for row in scores]
    by_run = relevant_ranks_from_run(run, {d: j for j, d in enumerate(ids)}, relevant)
    np.testing.assert_array_equal(got.ranks, by_run.ranks.ranks)
    np.testing.assert_array_equal(rank_relevant_scores(scores.astype(np.float64), relevant).ranks, got.ranks)


@pytest.mark.parametrize(
    ("scores", "relevant", "message"),
    [
        (np.zeros(5), [np.array([0])], "2-D"),
        (np.zeros((1, 5), dtype=np.int64), [np.array([0])], "floating point"),
        (np.array([[0.0, np.nan, 1.0]]), [np.array([0])], "query 0 contain NaN"),
        (np.zeros((2, 3)), [np.array([0])], "relevant has 1 entries but scores has 2 rows"),
        (np.zeros((1, 3)), [np.array([3])], "out of range"),
    ],
)
def test_rank_relevant_scores_rejects_bad_input(scores, relevant, message):
    with pytest.raises(ValueError, match=message):
        rank_relevant_scores(scores, relevant)


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
    relevant = random_relevant(rng, len(q), len(c), 11)
    results = [rank_relevant(q, c, relevant, chunk_size=size).ranks for size in (7, 64, 300, 1024)]
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])


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
    brute = brute_force_ranks(q, c)
    expected = np.sort(np.stack([brute[i, r] for i, r in enumerate(relevant)]), axis=1)
    np.testing.assert_array_equal(rank_relevant(q, c, relevant, chunk_size=256).ranks, expected)


def test_ranks_do_not_depend_on_openblas_num_threads_across_processes():
    """The same check through the environment, as a user sets it (fresh processes, no in-process limit)."""
    code = (
        "import json, numpy as np; from tests.test_ranking import _near_tie_problem; "
        "from hbt_bench.ranking import rank_relevant; q, c, rel = _near_tie_problem(); "
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


# --------------------------------------------------------------------------------------------------
# Duplicate candidates and the single-row rank


def test_duplicate_candidates_on_a_hand_example():
    c = np.array([[1, 2], [3, 4], [1, 2], [-0.0, 5], [0.0, 5], [3, 4], [1, 2.5]], dtype=np.float32)
    dups, reps = duplicate_candidates(c)
    # rows 2 and 5 repeat rows 0 and 1; row 4 repeats row 3 (-0.0 counts as 0.0); row 6 is new
    assert sorted(zip(dups.tolist(), reps.tolist(), strict=True)) == [(2, 0), (4, 3), (5, 1)]


def test_share_duplicate_scores_copies_the_representatives_score_in_place():
    scores = np.array([[0.5, 0.1, 0.49, 0.7], [1.0, 2.0, 3.0, 4.0]])
    share_duplicate_scores(scores, np.array([2, 3]), np.array([0, 1]))
    assert scores.tolist() == [[0.5, 0.1, 0.5, 0.1], [1.0, 2.0, 1.0, 2.0]]
    row = np.array([1.0, 2.0, 3.0])
    share_duplicate_scores(row, np.array([2]), np.array([0]))  # one row works too
    assert row.tolist() == [1.0, 2.0, 1.0]
    share_duplicate_scores(row, np.zeros(0, np.int64), np.zeros(0, np.int64))  # no duplicates: no-op
    assert row.tolist() == [1.0, 2.0, 1.0]


@pytest.mark.parametrize(
    ("relevant", "expected"),
    [
        # scores 0.5, 1, 0.2, 1, 0.9 -> order c1, c3 (tie: lower index first), c4, c0, c2
        ([3], 2),
        ([1], 1),
        ([2], 5),
        ([0, 2], 4),
        ([3, 0], 2),
        ([4, 2], 3),
        ([2, 4, 3, 0], 2),
    ],
)
def test_best_relevant_rank_by_hand_with_ties(relevant, expected):
    scores = np.array([0.5, 1.0, 0.2, 1.0, 0.9], dtype=np.float32)
    assert best_relevant_rank(scores, np.array(relevant)) == expected


def test_best_relevant_rank_with_every_score_tied():
    scores = np.zeros(20, dtype=np.float32)
    assert best_relevant_rank(scores, np.array([19, 7, 12])) == 8  # index order decides
    assert best_relevant_rank(scores, np.array([0])) == 1


def test_best_relevant_rank_equals_rank_relevant_on_random_data():
    """Small-integer embeddings (exact scores, ties everywhere) with duplicate candidates: the single-row
    rule on the duplicate-shared score row gives rank_relevant's best relevant rank, query by query."""
    rng = np.random.default_rng(5)
    q = rng.integers(-2, 3, size=(200, 4)).astype(np.float32)
    c = rng.integers(-2, 3, size=(500, 4)).astype(np.float32)
    c[rng.choice(500, 40, replace=False)] = c[rng.choice(500, 40, replace=False)]
    relevant = random_relevant(rng, len(q), len(c), 11)
    expected = rank_relevant(q, c, relevant).ranks[:, 0]
    dups, reps = duplicate_candidates(c)
    assert dups.size > 0
    scores = q @ c.T
    share_duplicate_scores(scores, dups, reps)
    got = [best_relevant_rank(scores[i], rel) for i, rel in enumerate(relevant)]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("scores", "relevant", "message"),
    [
        (np.zeros((2, 3)), np.array([0]), "1-D score row"),
        (np.zeros(3), np.array([], dtype=np.int64), "non-empty 1-D array"),
        (np.zeros(3), np.array([[0]]), "non-empty 1-D array"),
        (np.zeros(3), np.array([0.0]), "candidate indices"),
    ],
)
def test_best_relevant_rank_rejects_bad_input(scores, relevant, message):
    with pytest.raises(ValueError, match=message):
        best_relevant_rank(scores, relevant)
