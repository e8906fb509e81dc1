"""Runs (``query -> {candidate id: score}``, mteb's ``RetrievalOutputType``) as ranks for the metrics.

A search model (mteb's ``SearchProtocol``: BM25, a hybrid engine, a user's own index) does not give
embeddings, only a ranked list per query. :func:`relevant_ranks_from_run` turns such a list into the
1-based ranks of the query's relevant candidates, the :class:`~hbt_bench.ranking.RelevantRanks` that
every measure of :mod:`hbt_bench.metrics` is computed from, so search models and encoders share one
metric code path.

Ranking rule (the one of :mod:`hbt_bench.ranking`)
    Returned candidates are sorted by descending score; ties are broken by ascending candidate index::

        rank(d) = 1 + #{c returned : s_c > s_d} + #{c returned : s_c == s_d and c < d}

    The order in which the model listed the hits is ignored (a dict's order is not a ranking, and
    engines order equal scores arbitrarily), so the ranks are deterministic.

Candidates missing from the run (a truncated run)
    A model asked for the whole candidate list may return fewer (a capped ``top_k``, hits with score
    zero dropped). Relevant candidates it did not return are ranked *last*: with ``m`` of them, they
    take ranks ``n - m + 1 .. n`` of the ``n`` candidates. That is the worst full ranking consistent
    with the run, so every reported measure is a bound that the full list can only improve (mAP,
    recall, nDCG, MRR: lower bounds; rank distance: an upper bound). trec_eval instead counts an
    unreturned relevant candidate as 0 in AP; the two differ by at most ``|R| / (n - |R| + 1)`` per
    query (< 0.001 on the XQuAD-R pool). The returned depth is reported next to the scores
    (:attr:`RunRanks.depth`) so that a truncated run is never mistaken for a full one.

numpy and the stdlib only; no mteb import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hbt_bench.errors import HbtBenchError
from hbt_bench.ranking import RelevantRanks

__all__ = ["RunError", "RunRanks", "relevant_ranks_from_run", "top_k_indices"]


class RunError(HbtBenchError, ValueError):
    """A search model's run cannot be scored: unknown candidate id, NaN score, missing query."""


@dataclass(frozen=True)
class RunRanks:
    """Relevant ranks of a run plus what the run covered.

    ``depth[i]`` is the number of candidates returned for query ``i``; ``unreturned`` counts the
    relevant candidates (over all queries) that the run did not return and that were ranked last.
    """

    ranks: RelevantRanks
    depth: np.ndarray
    unreturned: int

    @property
    def min_depth(self) -> int:
        """The depth every query of the run reaches (0 for no query)."""
        return int(self.depth.min()) if self.depth.size else 0


def relevant_ranks_from_run(
    run: Sequence[Mapping[str, float]],
    candidate_index: Mapping[str, int],
    relevant: Sequence[np.ndarray],
    *,
    what: str = "run",
) -> RunRanks:
    """Ranks of ``relevant[i]`` (candidate indices) in ``run[i]`` (``{candidate id: score}``).

    ``candidate_index`` maps every candidate id to its index ``0..n-1``, which is the tie-breaking
    order. ``what`` names the run in errors (model and subset). See the module docstring for the
    tie rule and for relevant candidates the run does not contain.
    """
    n = len(candidate_index)
    if len(run) != len(relevant):
        raise RunError(f"{what}: {len(run)} ranked lists for {len(relevant)} queries")
    n_rel = np.fromiter((np.asarray(r).size for r in relevant), dtype=np.int64, count=len(relevant))
    max_rel = int(n_rel.max()) if n_rel.size else 0
    ranks = np.zeros((len(relevant), max_rel), dtype=np.int64)
    depth = np.zeros(len(relevant), dtype=np.int64)
    unreturned = 0
    scores = np.empty(n, dtype=np.float64)
    returned = np.zeros(n, dtype=bool)
    for i, (row, rel_raw) in enumerate(zip(run, relevant, strict=True)):
        rel = _check_relevant(rel_raw, n, i, what)
        idx, values = _row_arrays(row, candidate_index, i, what)
        depth[i] = idx.size
        returned[:] = False
        returned[idx] = True
        scores[idx] = values
        hit = returned[rel]
        m = int(rel.size - hit.sum())
        out = np.empty(rel.size, dtype=np.int64)
        out[~hit] = np.arange(n - m + 1, n + 1)  # unreturned relevant: the last m ranks
        d = rel[hit]
        t = scores[d][:, None]
        above = np.count_nonzero(values[None, :] > t, axis=1)
        ties_before = np.count_nonzero((values[None, :] == t) & (idx[None, :] < d[:, None]), axis=1)
        out[hit] = 1 + above + ties_before
        unreturned += m
        ranks[i, : rel.size] = np.sort(out)
    return RunRanks(RelevantRanks(ranks=ranks, n_relevant=n_rel, n_candidates=n), depth, unreturned)


def _check_relevant(rel_raw: np.ndarray, n: int, i: int, what: str) -> np.ndarray:
    rel = np.asarray(rel_raw)
    if rel.ndim != 1 or rel.size == 0:
        raise RunError(f"{what}: query {i} needs a non-empty 1-D list of relevant candidates")
    if rel.dtype.kind not in "iu":
        raise RunError(f"{what}: relevant candidates of query {i} must be integer indices, got {rel.dtype}")
    rel = rel.astype(np.int64, copy=False)
    if (rel < 0).any() or (rel >= n).any():
        raise RunError(f"{what}: query {i} lists a relevant candidate outside 0..{n - 1}")
    if np.unique(rel).size != rel.size:
        raise RunError(f"{what}: query {i} lists a relevant candidate more than once")
    return rel


def _row_arrays(
    row: Mapping[str, float], candidate_index: Mapping[str, int], i: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate indices and float64 scores of one query's hits; unknown ids and NaN are errors."""
    if not isinstance(row, Mapping):
        raise RunError(
            f"{what}: the hits of query {i} are a {type(row).__name__}, expected a dict id -> score"
        )
    try:
        idx = np.fromiter((candidate_index[d] for d in row), dtype=np.int64, count=len(row))
    except KeyError as exc:
        raise RunError(f"{what}: query {i} returned {exc.args[0]!r}, which is not a candidate") from None
    try:
        values = np.fromiter(row.values(), dtype=np.float64, count=len(row))
    except (TypeError, ValueError):
        raise RunError(f"{what}: query {i} has a score that is not a number") from None
    if np.isnan(values).any():
        bad = next(d for d, s in row.items() if isinstance(s, float | int) and math.isnan(s))
        raise RunError(f"{what}: query {i} gave candidate {bad!r} a NaN score")
    return idx, values


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the indices of the ``k`` best candidates in rank order (same tie rule as above).

    ``scores`` is ``(n_queries, n_candidates)``; returns ``(n_queries, min(k, n_candidates))`` int64.
    Used to write a capped run (mteb predictions) from scores without sorting whole rows.
    """
    s = np.asarray(scores)
    if s.ndim != 2:
        raise ValueError(f"scores must be 2-D, got shape {s.shape}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    n_q, n_c = s.shape
    k = min(k, n_c)
    if k == 0 or n_q == 0:
        return np.zeros((n_q, k), dtype=np.int64)
    out = np.empty((n_q, k), dtype=np.int64)
    cols = np.arange(n_c)
    for i in range(n_q):
        row = s[i]
        if k < n_c:
            # Everything scoring at least the k-th best score, so that ties at the cut-off are all seen.
            kth = np.partition(row, n_c - k)[n_c - k]
            cand = cols[row >= kth]
        else:
            cand = cols
        order = np.lexsort((cand, -row[cand]))  # by descending score, then ascending index
        out[i] = cand[order[:k]]
    return out
