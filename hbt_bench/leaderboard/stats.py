"""Paired significance over queries: sign-flip permutation test, Holm's step-down, bootstrap interval.

A column's per-query vector is the concatenation over the column's subsets (sorted by name) of each
subset's per-query value (AP; rank distance for language bias; for -Adv columns the mean over core recipes),
the two models' vectors aligned by (subset, query id). Each query carries the weight
``1 / (n_subsets * n_queries_of_its_subset)``, so the weighted mean difference *is* the difference of the
column's macro means (the number shown); with equal subset sizes (XQuAD-R) it is the plain mean difference.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hbt_bench.errors import HbtBenchError

__all__ = [
    "ALPHA",
    "METHOD",
    "N_RESAMPLES",
    "SEED",
    "TEST_DESCRIPTION",
    "PairedResult",
    "TestCache",
    "holm",
    "paired_test",
]

N_RESAMPLES = 9999
SEED = 20240820
ALPHA = 0.05
METHOD = "numpy sign-flip / scipy paired bootstrap v1"  # part of the cache key: a new method recomputes
TEST_DESCRIPTION = (
    f"paired two-sided permutation test over queries (random sign flips of the per-query differences, "
    f"{N_RESAMPLES} resamples, seed {SEED}, p = (1 + #flips at least as extreme) / ({N_RESAMPLES} + 1) per "
    f"side, doubled, as scipy.stats.permutation_test; all 2^n flips when 2^n <= {N_RESAMPLES}; statistic: "
    f"query-weighted mean difference = the difference of the column's macro means: per-query AP for the mAP "
    f"columns, per-query rank distance of the X-multi subsets for language bias, and for the -Adv columns "
    f"each query's AP and rank distance averaged over the core recipes), Holm-corrected across a row's "
    f"columns at alpha {ALPHA}; 95% interval: scipy.stats.bootstrap, paired percentile ({N_RESAMPLES} "
    f"resamples of the queries, seed {SEED}). Not tested: robustness (per subset a ratio adversarial/clean "
    f"mAP, then averaged: no mean of per-query values, and a query's ratio is undefined where its clean AP "
    f"is 0) and the domain-shift main scores (no per-query scores stored)"
)

_CHUNK_ELEMENTS = 2**22  # resamples x queries per block: bounds memory (~100 MB) on 131k-query columns


@dataclass(frozen=True)
class PairedResult:
    """One column's difference (model - baseline), its permutation p-value and bootstrap 95% interval."""

    delta: float
    p: float
    ci: tuple[float, float]


def paired_test(
    model: Sequence[float],
    baseline: Sequence[float],
    weights: Sequence[float] | None = None,
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
) -> PairedResult:
    """Permutation p-value and bootstrap CI of the weighted mean of ``model - baseline`` (paired by index).

    Under the null a query's two values are exchangeable, so swapping them flips the sign of its weighted
    difference ``v_i = w_i (x_i - y_i)``: the null statistic is ``sum_i s_i v_i``. Drawn as random bits and
    one matrix-vector product per block, this is what ``scipy.stats.permutation_test`` computes with
    ``permutation_type='samples'``, far faster on a 131k-query column (scipy: 44 s for 999 resamples; this:
    2.9 s for 9,999, ``benchmarks/bench_paired_test.py``). The interval is ``scipy.stats.bootstrap``'s
    (paired percentile). Deterministic: fixed ``seed``; for small n all ``2**n`` flips are enumerated exactly.
    """
    x = np.asarray(model, dtype=np.float64)
    y = np.asarray(baseline, dtype=np.float64)
    w = np.full(x.shape, 1.0 / len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.shape != w.shape or len(x) < 2:
        raise ValueError(
            f"paired vectors must be 1-D, equally long and >= 2 (got {x.shape}, {y.shape}, {w.shape})"
        )
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1 (got {n_resamples})")
    w = w / w.sum()
    d = x - y
    v = w * d
    delta = float(v.sum())
    p = _sign_flip_p(v, delta, n_resamples, np.random.default_rng(seed))
    ci = (0.0, 0.0) if np.all(d == 0) else _bootstrap_ci(d, w, n_resamples, np.random.default_rng(seed))
    return PairedResult(delta=delta, p=p, ci=ci)


def _sign_flip_p(v: np.ndarray, observed: float, n_resamples: int, rng: np.random.Generator) -> float:
    """Two-sided p of ``observed = sum(v)`` among ``sum(s * v)`` over sign vectors ``s`` (scipy's p)."""
    n = len(v)
    total = float(v.sum())
    exact = n < 63 and 2**n <= n_resamples
    if exact:  # every flip once: bit j of row k says whether query j is flipped
        bits = (np.arange(2**n, dtype=np.int64)[:, None] >> np.arange(n)) & 1
        null = total - 2.0 * (bits.astype(np.float64) @ v)
    else:
        null = np.empty(n_resamples)
        nbytes = (n + 7) // 8
        block = _block(n)
        for start in range(0, n_resamples, block):
            m = min(block, n_resamples - start)
            raw = np.frombuffer(rng.bytes(m * nbytes), dtype=np.uint8).reshape(m, nbytes)
            bits = np.unpackbits(raw, axis=1, count=n).astype(np.float64)
            null[start : start + m] = total - 2.0 * (bits @ v)
    gamma = abs(observed) * np.finfo(np.float64).eps * 100  # ties within rounding count, as in scipy
    extra = 0 if exact else 1
    greater = (np.count_nonzero(null >= observed - gamma) + extra) / (len(null) + extra)
    less = (np.count_nonzero(null <= observed + gamma) + extra) / (len(null) + extra)
    return float(min(1.0, 2.0 * min(greater, less)))


def _bootstrap_ci(
    d: np.ndarray, w: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Percentile 95% interval of the weighted mean difference over query resamples (with replacement):
    ``scipy.stats.bootstrap`` resampling (difference, weight) pairs, in blocks that bound memory."""
    from scipy import stats

    res = stats.bootstrap(
        (d, w),
        _weighted_mean,
        paired=True,
        vectorized=True,
        n_resamples=n_resamples,
        batch=_block(len(d)),
        method="percentile",
        confidence_level=0.95,
        rng=rng,
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _weighted_mean(d: np.ndarray, w: np.ndarray, axis: int = -1) -> np.ndarray:
    return (d * w).sum(axis=axis) / w.sum(axis=axis)


def _block(n: int) -> int:
    """Resamples per block for an ``n``-query column (about 100 MB of indices and values)."""
    return max(1, _CHUNK_ELEMENTS // n)


class TestCache:
    """Paired-test results by content: the key is a sha256 of the three vectors, the resamples, the seed, the
    method and numpy's version, so an entry can only ever stand for the exact computation it recorded.

    One test over a cross-lingual column (110 subsets x 1,190 queries) costs seconds; a board holds
    dozens. The leaderboard keeps the entries in ``leaderboard/stats_cache.json`` (written by ``build``), so a
    rebuild, ``show`` and the test that the committed board is current only compute what changed.
    """

    def __init__(self, entries: dict[str, dict[str, Any]] | None = None) -> None:
        self.entries: dict[str, dict[str, Any]] = dict(entries or {})
        self.used: set[str] = set()

    @staticmethod
    def key(x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> str:
        digest = hashlib.sha256(f"{N_RESAMPLES}|{SEED}|{METHOD}|numpy {np.__version__}|".encode())
        for arr in (x, y, w if w is not None else np.empty(0)):
            digest.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
            digest.update(b"|")
        return digest.hexdigest()

    def test(self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> PairedResult:
        """:func:`paired_test` of the vectors, from the cache when this exact test was computed before."""
        key = self.key(x, y, w)
        self.used.add(key)
        hit = self.entries.get(key)
        if hit is None:
            res = paired_test(x, y, w)
            self.entries[key] = hit = {"delta": res.delta, "p": res.p, "ci": list(res.ci)}
        return PairedResult(delta=float(hit["delta"]), p=float(hit["p"]), ci=(hit["ci"][0], hit["ci"][1]))

    def to_json(self) -> str:
        """The entries the last board used (stale ones dropped), sorted: a deterministic file."""
        kept = {k: self.entries[k] for k in sorted(self.used)}
        return json.dumps({"schema": 1, "entries": kept}, indent=0, sort_keys=True) + "\n"

    @classmethod
    def load(cls, path: Path) -> TestCache:
        """The cache file at ``path`` (an empty cache when there is none; a damaged one is named)."""
        if not path.is_file():
            return cls()
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            entries = doc["entries"]
            if not isinstance(entries, dict):
                raise TypeError("entries is not an object")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HbtBenchError(f"{path}: not a paired-test cache ({exc}); delete it to recompute") from exc
        return cls(entries)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given): ``max_{j<=i} min(1, (m-j+1) p_(j))``."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        adjusted[idx] = running
    return adjusted.tolist()
