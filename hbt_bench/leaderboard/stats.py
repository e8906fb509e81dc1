"""Paired significance over queries: permutation test, Holm's step-down, bootstrap interval (scipy).

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
TEST_DESCRIPTION = (
    f"paired two-sided permutation test over queries (scipy.stats.permutation_test, "
    f"permutation_type='samples', {N_RESAMPLES} resamples, seed {SEED}; statistic: query-weighted mean "
    f"difference = the difference of the column's macro means: per-query AP for the mAP columns, per-query "
    f"rank distance of the X-multi subsets for language bias, and for the -Adv columns each query's AP and "
    f"rank distance averaged over the core recipes), Holm-corrected across a row's columns at alpha {ALPHA}; "
    f"95% interval: paired percentile bootstrap (scipy.stats.bootstrap, {N_RESAMPLES} resamples, seed "
    f"{SEED}). Not tested: robustness (per subset a ratio adversarial/clean mAP, then averaged: no mean of "
    f"per-query values, and a query's ratio is undefined where its clean AP is 0) and the domain-shift "
    f"main scores (no per-query scores stored)"
)


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

    Deterministic: fixed ``seed``; for small n scipy enumerates all ``2**n`` sign flips exactly.
    """
    from scipy import stats

    x = np.asarray(model, dtype=np.float64)
    y = np.asarray(baseline, dtype=np.float64)
    w = np.full(x.shape, 1.0 / len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.shape != w.shape or len(x) < 2:
        raise ValueError(
            f"paired vectors must be 1-D, equally long and >= 2 (got {x.shape}, {y.shape}, {w.shape})"
        )
    w = w / w.sum()
    delta = float(np.dot(w, x - y))

    def perm_stat(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.sum(w * (a - b), axis=axis)

    batch = max(1, 2**22 // len(x))  # bounds memory on ~10^4 queries
    perm = stats.permutation_test(
        (x, y),
        perm_stat,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        batch=batch,
        rng=np.random.default_rng(seed),
    )

    def boot_stat(a: np.ndarray, b: np.ndarray, ww: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.sum(ww * (a - b), axis=axis) / np.sum(ww, axis=axis)

    if np.all(x == y):  # no variation: the interval is the point
        ci = (0.0, 0.0)
    else:
        boot = stats.bootstrap(
            (x, y, w),
            boot_stat,
            paired=True,
            vectorized=True,
            n_resamples=n_resamples,
            confidence_level=0.95,
            method="percentile",
            batch=batch,
            rng=np.random.default_rng(seed),
        )
        ci = (float(boot.confidence_interval.low), float(boot.confidence_interval.high))
    return PairedResult(delta=delta, p=float(perm.pvalue), ci=ci)


class TestCache:
    """Paired-test results by content: the key is a sha256 of the three vectors, the resamples, the seed and
    scipy's version, so an entry can only ever stand for the exact computation it recorded.

    One test over a cross-lingual column (110 subsets x 1,190 queries) costs tens of seconds; a board holds
    dozens. The leaderboard keeps the entries in ``leaderboard/stats_cache.json`` (written by ``build``), so a
    rebuild, ``show`` and the test that the committed board is current only compute what changed.
    """

    def __init__(self, entries: dict[str, dict[str, Any]] | None = None) -> None:
        self.entries: dict[str, dict[str, Any]] = dict(entries or {})
        self.used: set[str] = set()

    @staticmethod
    def key(x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> str:
        from importlib.metadata import version

        digest = hashlib.sha256(f"{N_RESAMPLES}|{SEED}|scipy {version('scipy')}|".encode())
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
