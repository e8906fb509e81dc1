"""Exact ranks of the relevant candidates in full rankings computed from embedding matrices.

LAReQA-style evaluation ranks *every* candidate for every query (mAP over the whole pool, rank
distance over the pooled corpus), so nothing here is approximate or truncated. Only the ranks of the
relevant candidates are needed: for a relevant candidate ``d`` with score ``t``, its rank is a count
over the query's score row, so :func:`rank_relevant` never sorts a row. It computes the scores in
chunks of queries with one single-threaded float32 GEMM per tile and counts, per relevant item, how
many candidates score higher, in cache-sized blocks with vectorised comparisons. The measures
computed from these ranks live in :mod:`hbt_bench.metrics`.

Ranking rule (deterministic, with ties)
    Candidates are sorted by descending score; ties are broken by ascending candidate index, i.e. a
    stable sort on ``-score``::

        rank(d) = 1 + #{c : s_c > s_d} + #{c : s_c == s_d and c < d}

    Exact ties do occur in real data: duplicate candidate sentences get identical embeddings.
    :func:`best_relevant_rank` is the same rule on one score row (for callers that score a few
    queries at a time, e.g. a targeted attack).

Determinism of the scores
    ``scores = query_emb @ cand_emb.T`` in float32. BLAS rounding depends on how a product is split
    up, so three things are pinned down:

    - the GEMM always runs on the same fixed, aligned tiles of ``_GEMM_TILE`` query rows by
      ``_GEMM_COLS`` candidates (a BLAS rounds an entry differently in a product of another shape),
      so the results do not depend on ``chunk_size`` (they may differ from a one-shot ``Q @ C.T``
      in the last bit);
    - each tile's GEMM runs on exactly one BLAS thread (``threadpoolctl``), because a multi-threaded
      BLAS splits a product differently for another thread count and rounds differently: with
      numpy's OpenBLAS, one and two threads gave hash-ngram's XQuAD-R zh-multi rank distance as
      11062.7311 and 11062.7269. The tiles are spread over as many Python threads as the BLAS had
      (``OPENBLAS_NUM_THREADS`` etc. still bound the cores used), so the speed stays that of a
      multi-threaded GEMM while every score is computed the same way whatever the thread count
      (measured on 2 cores, XQuAD-R pooled size: no slower than one 2-thread GEMM per chunk);
    - candidates with bitwise-identical vectors (-0.0 counted as 0.0) get the score computed for the
      first of them (:func:`duplicate_candidates`, :func:`share_duplicate_scores`), because BLAS may
      round the same dot product differently in another column, and that must not split a real tie.

    So the ranks depend only on the inputs, the BLAS library and the CPU's kernel (OpenBLAS picks
    one per CPU family): the same on every run and thread count on one machine, but not promised
    bit-for-bit across machines. While scoring, every BLAS library of the process is limited to one
    thread (restored afterwards), which slows BLAS calls other threads make at the same time.

    The relevant item's score is read from the same score row it is compared against.

This module imports only numpy and the stdlib at import time (``threadpoolctl`` when scoring).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

__all__ = [
    "RelevantRanks",
    "best_relevant_rank",
    "duplicate_candidates",
    "rank_relevant",
    "rank_relevant_scores",
    "share_duplicate_scores",
]

#: Query rows per GEMM call. Fixed (not derived from ``chunk_size``) so the float32 scores, and with
#: them the ranks, are the same for every chunk size. 256 rows cost ~8% over 1024-row calls.
_GEMM_TILE = 256
#: Candidate columns per GEMM call. Fixed too: a BLAS rounds an entry differently in a product of
#: another shape, even on one thread. Column blocks give the tile runner enough tiles to keep many
#: cores busy (a 1024-row chunk of the 13,014-candidate pool makes 28) without a larger score buffer.
_GEMM_COLS = 2048
#: Size of the boolean comparison buffer: small enough to stay in L2/L3 cache.
_COMPARE_BUFFER_BYTES = 1 << 21
#: Largest number of uint64 words whose 0/1 bytes can be summed lane-wise without carrying (255).
_MAX_WORDS_PER_GROUP = 255
#: Tie corrections processed at once (each one reads a full score row).
_TIE_BATCH = 64


@dataclass(frozen=True)
class RelevantRanks:
    """1-based ranks of each query's relevant candidates in the full ranking of all candidates.

    ``ranks`` is int64 ``(n_queries, max_relevant)``, sorted ascending per row and padded with 0;
    ``n_relevant`` is int64 ``(n_queries,)`` with values >= 1.
    """

    ranks: np.ndarray
    n_relevant: np.ndarray
    n_candidates: int

    @property
    def n_queries(self) -> int:
        return int(self.n_relevant.shape[0])

    def valid(self) -> np.ndarray:
        """Boolean mask of the non-padding entries of ``ranks``."""
        return np.arange(self.ranks.shape[1]) < self.n_relevant[:, None]


def rank_relevant(
    query_emb: np.ndarray,
    cand_emb: np.ndarray,
    relevant: Sequence[np.ndarray],
    *,
    chunk_size: int = 1024,
    duplicates: tuple[np.ndarray, np.ndarray] | None = None,
) -> RelevantRanks:
    """Exact ranks of ``relevant[i]`` when all candidates are ranked for query ``i`` by dot product.

    Inputs are cast to float32 (the caller normalises them for cosine). ``chunk_size`` bounds memory
    (``chunk_size x n_candidates`` float32 scores at a time) and is rounded up to a multiple of the
    fixed GEMM tile; it never changes the result. See the module docstring for the tie rule.
    ``duplicates`` is :func:`duplicate_candidates` of ``cand_emb`` when the caller already has it (a
    candidate matrix ranked for many query sets); it is computed here otherwise.
    """
    q = np.asarray(query_emb)
    c = np.asarray(cand_emb)
    if q.ndim != 2 or c.ndim != 2 or q.shape[1] != c.shape[1]:
        raise ValueError(
            f"query_emb has shape {q.shape} and cand_emb has shape {c.shape}; both must be 2-D "
            "with the same number of columns"
        )
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    q = np.ascontiguousarray(q, dtype=np.float32)
    c = np.ascontiguousarray(c, dtype=np.float32)
    n_q, n_c = q.shape[0], c.shape[0]
    rel, n_rel = _relevant_matrix(relevant, n_q, n_c)
    if n_q == 0:
        return RelevantRanks(np.zeros((0, 0), np.int64), np.zeros(0, np.int64), n_c)

    max_rel = rel.shape[1]
    dups, reps = duplicate_candidates(c) if duplicates is None else duplicates
    check_nan = not _scores_surely_finite(q, c)
    chunk_rows = min(n_q, -(-chunk_size // _GEMM_TILE) * _GEMM_TILE)
    scores = np.empty((chunk_rows, n_c), dtype=np.float32)
    counter = _ThresholdCounter(n_c, max_rel)
    ranks = np.zeros((n_q, max_rel), dtype=np.int64)
    c_t = c.T
    col_blocks = range(0, n_c, _GEMM_COLS)
    tiles_per_chunk = -(-chunk_rows // _GEMM_TILE) * len(col_blocks)
    with _one_blas_thread() as workers, _tile_runner(min(workers, tiles_per_chunk)) as run:
        for start in range(0, n_q, chunk_rows):
            stop = min(start + chunk_rows, n_q)
            s = scores[: stop - start]

            def gemm(tile: tuple[int, int], start: int = start, stop: int = stop, s: np.ndarray = s) -> None:
                (t0, j0), t1 = tile, min(tile[0] + _GEMM_TILE, stop)
                j1 = min(j0 + _GEMM_COLS, n_c)
                with np.errstate(over="ignore", invalid="ignore"):  # NaN is checked below; inf ranks fine
                    np.matmul(q[t0:t1], c_t[:, j0:j1], out=s[t0 - start : t1 - start, j0:j1])

            # start is a multiple of the tile height, so the tiles are the same for every chunk_size
            run(gemm, [(t0, j0) for t0 in range(start, stop, _GEMM_TILE) for j0 in col_blocks])
            if check_nan:
                bad = np.isnan(s).any(axis=1)
                if bad.any():
                    raise ValueError(f"scores of query {start + int(np.argmax(bad))} contain NaN")
            share_duplicate_scores(s, dups, reps)
            ranks[start:stop] = _chunk_ranks(s, rel[start:stop], n_rel[start:stop], counter)

    return _sorted_ranks(ranks, n_rel, n_c)


def rank_relevant_scores(scores: np.ndarray, relevant: Sequence[np.ndarray]) -> RelevantRanks:
    """Exact ranks of ``relevant[i]`` in score row ``i`` (all candidates scored), same tie rule.

    For a model that gives full score rows rather than embeddings (a lexical engine scoring every
    candidate): the same counting as :func:`rank_relevant` without the GEMM, so a run's dict of hits
    (:func:`hbt_bench.runs.relevant_ranks_from_run`) and its score matrix rank alike.
    """
    s = np.asarray(scores)
    if s.ndim != 2:
        raise ValueError(f"scores must be a 2-D (queries x candidates) array, got shape {s.shape}")
    if s.dtype.kind != "f":
        raise ValueError(f"scores must be floating point, got dtype {s.dtype}")
    n_q, n_c = s.shape
    rel, n_rel = _relevant_matrix(relevant, n_q, n_c, rows_of="scores")
    if n_q == 0:
        return RelevantRanks(np.zeros((0, 0), np.int64), np.zeros(0, np.int64), n_c)
    bad = np.isnan(s).any(axis=1)
    if bad.any():
        raise ValueError(f"scores of query {int(np.argmax(bad))} contain NaN")
    ranks = _chunk_ranks(s, rel, n_rel, _ThresholdCounter(n_c, rel.shape[1]))
    return _sorted_ranks(ranks, n_rel, n_c)


def _sorted_ranks(ranks: np.ndarray, n_rel: np.ndarray, n_c: int) -> RelevantRanks:
    """Each row's valid ranks in ascending order, padding set to 0 (the layout of :class:`RelevantRanks`)."""
    valid = np.arange(ranks.shape[1]) < n_rel[:, None]
    ranks[~valid] = n_c + 1  # sorts after every real rank
    ranks.sort(axis=1)
    ranks[~valid] = 0
    return RelevantRanks(ranks=ranks, n_relevant=n_rel, n_candidates=n_c)


# Nesting count and saved limits of :func:`_one_blas_thread`, shared by every thread of the process:
# the BLAS thread count is process-wide, so only the outermost entry limits it and only the last
# exit restores it (concurrent calls must not restore it under each other's feet).
_T = TypeVar("_T")
_BLAS_LOCK = threading.Lock()
_blas_depth = 0
_blas_limiter: object | None = None
_blas_threads = 1


@contextmanager
def _one_blas_thread() -> Iterator[int]:
    """Limit every BLAS library of the process to one thread; yield the thread count it had before.

    A GEMM's rounding must not depend on how many threads share it (see the module docstring); the
    previous count (the smallest among the process's BLAS libraries, so a limit the user set on one
    of them holds) becomes the number of Python threads that run tiles side by side.
    """
    global _blas_depth, _blas_limiter, _blas_threads
    with _BLAS_LOCK:
        if _blas_depth == 0:
            from threadpoolctl import ThreadpoolController  # lazy: ~20 ms, only needed to score

            blas = ThreadpoolController().select(user_api="blas")
            _blas_threads = min([lib.num_threads for lib in blas.lib_controllers], default=1)
            _blas_limiter = blas.limit(limits=1)  # applied on creation
        _blas_depth += 1
        threads = _blas_threads
    try:
        yield threads
    finally:
        with _BLAS_LOCK:
            _blas_depth -= 1
            if _blas_depth == 0 and _blas_limiter is not None:
                _blas_limiter.restore_original_limits()  # type: ignore[attr-defined]
                _blas_limiter = None


@contextmanager
def _tile_runner(workers: int) -> Iterator[Callable[[Callable[[_T], None], Sequence[_T]], None]]:
    """Yield ``run(fn, items)``, which calls ``fn`` on every item and returns when all are done.

    With ``workers > 1`` the calls run on that many threads (numpy's GEMM releases the GIL). Which
    thread computes a tile never changes its result: each tile is one single-threaded BLAS call.
    """
    if workers <= 1:

        def run_here(fn: Callable[[_T], None], items: Sequence[_T]) -> None:
            for item in items:
                fn(item)

        yield run_here
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hbt-gemm") as pool:

        def run_pooled(fn: Callable[[_T], None], items: Sequence[_T]) -> None:
            for future in [pool.submit(fn, item) for item in items]:
                future.result()  # re-raises a worker's exception here

        yield run_pooled


def _chunk_ranks(s: np.ndarray, rel: np.ndarray, n_rel: np.ndarray, counter: _ThresholdCounter) -> np.ndarray:
    """Ranks (unsorted, padding undefined) of one chunk's relevant candidates from its score rows."""
    t = np.take_along_axis(s, rel, axis=1)  # the relevant scores, from the very rows compared against
    gt, ge = counter.count(s, t, n_rel)
    ranks = gt + 1
    valid = np.arange(rel.shape[1]) < n_rel[:, None]
    # ge - gt counts the candidates scoring exactly t, the relevant one included; only those rows
    # need the index tie-break, and they are rare.
    tie_rows, tie_cols = np.nonzero(((ge - gt) > 1) & valid)
    if tie_rows.size:
        cols = np.arange(s.shape[1])
        for b in range(0, tie_rows.size, _TIE_BATCH):
            r, j = tie_rows[b : b + _TIE_BATCH], tie_cols[b : b + _TIE_BATCH]
            before = (s[r] == t[r, j][:, None]) & (cols < rel[r, j][:, None])
            ranks[r, j] += np.count_nonzero(before, axis=1)
    return ranks


class _ThresholdCounter:
    """Counts ``#{c : s_c > t}`` and ``#{c : s_c >= t}`` for several thresholds per score row.

    Comparisons go to a cache-sized boolean buffer whose rows are padded with zeros to a whole
    number of groups of at most 255 uint64 words; summing the words of a group adds the 0/1 bytes
    lane-wise without carries, which is ~4x faster than ``bool.sum(axis=...)``.
    """

    def __init__(self, n_candidates: int, max_thresholds: int) -> None:
        words = max(1, -(-n_candidates // 8))
        self.groups = -(-words // _MAX_WORDS_PER_GROUP)
        self.group_words = -(-words // self.groups)
        self.width = self.groups * self.group_words * 8
        self.n = n_candidates
        per_row = 2 * max_thresholds * self.width
        self.block_rows = max(1, min(_GEMM_TILE, _COMPARE_BUFFER_BYTES // per_row))
        self.buffer = np.zeros((self.block_rows, 2 * max_thresholds, self.width), dtype=bool)

    def count(self, s: np.ndarray, t: np.ndarray, n_thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(gt, ge)``, int64, shaped like ``t``; only ``j < n_thresholds[row]`` is meaningful.

        Costs two comparison passes over ``s`` per threshold, so it suits a few relevant items per
        query (<= 11 here); a block only pays for the largest count among its rows.
        """
        gt = np.zeros(t.shape, dtype=np.int64)
        ge = np.zeros(t.shape, dtype=np.int64)
        n = self.n
        for b0 in range(0, s.shape[0], self.block_rows):
            b1 = min(b0 + self.block_rows, s.shape[0])
            k = int(n_thresholds[b0:b1].max())
            rows = s[b0:b1, None, :]
            thr = t[b0:b1, :k, None]
            out = self.buffer[: b1 - b0, : 2 * k]
            np.greater(rows, thr, out=out[:, :k, :n])
            np.greater_equal(rows, thr, out=out[:, k:, :n])
            words = out.view(np.uint64).reshape(b1 - b0, 2 * k, self.groups, self.group_words)
            lanes = words.sum(axis=3)  # each byte lane <= 255: no carry into the next byte
            counts = lanes.view(np.uint8).reshape(b1 - b0, 2 * k, -1).sum(axis=2, dtype=np.int64)
            gt[b0:b1, :k] = counts[:, :k]
            ge[b0:b1, :k] = counts[:, k:]
        return gt, ge


def _relevant_matrix(
    relevant: Sequence[np.ndarray], n_queries: int, n_candidates: int, rows_of: str = "query_emb"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``relevant`` and pad it to an int64 matrix (padding repeats the row's first index).
    ``rows_of`` names the caller's argument that has one row per query (for the error)."""
    if len(relevant) != n_queries:
        raise ValueError(f"relevant has {len(relevant)} entries but {rows_of} has {n_queries} rows")
    arrays = [np.asarray(r) for r in relevant]
    for i, a in enumerate(arrays):
        if a.ndim != 1:
            raise ValueError(f"relevant[{i}] must be a 1-D array of candidate indices, got shape {a.shape}")
        if a.size == 0:
            raise ValueError(f"relevant[{i}] is empty: every query needs at least one relevant candidate")
        if a.dtype.kind not in "iu":
            raise ValueError(f"relevant[{i}] must hold integer candidate indices, got dtype {a.dtype}")
    n_rel = np.fromiter((a.size for a in arrays), dtype=np.int64, count=n_queries)
    if n_queries == 0:
        return np.zeros((0, 0), dtype=np.int64), n_rel
    flat = np.concatenate(arrays).astype(np.int64, copy=False)
    query_of = np.repeat(np.arange(n_queries), n_rel)
    bad = (flat < 0) | (flat >= n_candidates)
    if bad.any():
        pos = int(np.argmax(bad))
        raise ValueError(
            f"relevant[{query_of[pos]}] holds candidate index {flat[pos]}, out of range for "
            f"{n_candidates} candidates"
        )
    max_rel = int(n_rel.max())
    offsets = np.concatenate([[0], np.cumsum(n_rel)[:-1]])
    slot = np.arange(flat.size) - np.repeat(offsets, n_rel)
    rel = np.empty((n_queries, max_rel), dtype=np.int64)
    rel[:] = flat[offsets][:, None]
    rel[query_of, slot] = flat
    ordered = np.sort(rel, axis=1)  # padding repeats a real index, so duplicates show as equal neighbours
    dup = (ordered[:, 1:] == ordered[:, :-1]).sum(axis=1) != (max_rel - n_rel)
    if dup.any():
        i = int(np.argmax(dup))
        values, counts = np.unique(arrays[i], return_counts=True)
        raise ValueError(f"relevant[{i}] lists candidate {values[counts > 1][0]} more than once")
    return rel, n_rel


def duplicate_candidates(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(dups, reps)``: every candidate whose vector equals an earlier one, and that earliest one.

    Rows are first grouped by the bits of their first two coordinates (cheap), then only rows
    sharing such a key are compared in full.
    """
    empty = np.zeros(0, dtype=np.int64)
    n, d = c.shape
    if n < 2 or d == 0:  # d == 0: every score is exactly 0.0 already
        return empty, empty
    head = np.ascontiguousarray(c[:, : min(d, 2)] + np.float32(0)).view(np.uint32)  # -0.0 -> 0.0
    key = head[:, 0].astype(np.uint64)
    if d > 1:
        key = (key << np.uint64(32)) | head[:, 1].astype(np.uint64)
    order = np.argsort(key, kind="stable")
    same = key[order][1:] == key[order][:-1]
    shared = np.zeros(n, dtype=bool)
    shared[1:] |= same
    shared[:-1] |= same
    cand = np.sort(order[shared])
    if cand.size == 0:
        return empty, empty
    rows = np.ascontiguousarray(c[cand] + np.float32(0))
    _, first, inverse = np.unique(
        rows.view(np.dtype((np.void, rows.itemsize * d))).ravel(), return_index=True, return_inverse=True
    )
    rep = cand[first[inverse.ravel()]]  # cand is ascending, so this is the smallest index of the group
    is_dup = rep != cand
    return cand[is_dup], rep[is_dup]


def _scores_surely_finite(q: np.ndarray, c: np.ndarray) -> bool:
    """True when no dot product (nor partial sum) can overflow, so the scores hold no NaN.

    Every partial sum is bounded by ``d * max|q| * max|c|``; this saves a full NaN scan of the scores.
    """
    if q.size == 0 or c.size == 0:
        return True
    q_lo, q_hi, c_lo, c_hi = float(q.min()), float(q.max()), float(c.min()), float(c.max())
    if not all(math.isfinite(b) for b in (q_lo, q_hi, c_lo, c_hi)):  # NaN propagates through min/max
        return False
    return q.shape[1] * max(-q_lo, q_hi) * max(-c_lo, c_hi) < 1e37


def share_duplicate_scores(scores: np.ndarray, dups: np.ndarray, reps: np.ndarray) -> None:
    """Give every duplicate candidate the score of its representative, in place (``scores[..., dups]``).

    ``(dups, reps)`` come from :func:`duplicate_candidates`; ``scores`` is one row or a matrix whose last
    axis is the candidates. Identical vectors must tie even where BLAS rounded their columns apart.
    """
    if dups.size:
        scores[..., dups] = scores[..., reps]


def best_relevant_rank(scores: np.ndarray, relevant: np.ndarray) -> int:
    """Rank of the best relevant candidate in one score row, under the tie rule of this module.

    ``rank(d) = 1 + #{c : s_c > s_d} + #{c : s_c == s_d and c < d}``, minimised over the relevant ``d``.
    ``scores`` is the query's ``(n_candidates,)`` row (duplicates already shared, see
    :func:`share_duplicate_scores`); ``relevant`` holds candidate indices. A few queries at a time this
    is cheaper than :func:`rank_relevant`, and gives the same rank for the same row.
    """
    if scores.ndim != 1:
        raise ValueError(f"scores must be one 1-D score row, got shape {scores.shape}")
    rel = np.asarray(relevant)
    if rel.ndim != 1 or rel.size == 0 or rel.dtype.kind not in "iu":
        raise ValueError(
            f"relevant must be a non-empty 1-D array of candidate indices, got shape {rel.shape} "
            f"and dtype {rel.dtype}"
        )
    best = int(scores.shape[0]) + 1
    for d in rel.tolist():
        t = scores[d]
        rank = 1 + int(np.count_nonzero(scores > t)) + int(np.count_nonzero(scores[:d] == t))
        best = min(best, rank)
    return best
