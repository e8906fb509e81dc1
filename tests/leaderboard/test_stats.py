"""Paired tests: expected values from exact enumeration and hand computation, not from scipy's output."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from hbt_bench.leaderboard.stats import SEED, holm, paired_test


def test_hand_case_all_sign_flips():
    # d = x - y = [1, 2, 3, 4]: of the 16 sign flips only the identity reaches sum 10 and only its mirror
    # -10, so the two-sided p is 2/16; the mean difference is 2.5.
    x, y = [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]
    res = paired_test(x, y)
    assert res.delta == pytest.approx(2.5)
    assert res.p == pytest.approx(2 / 16)


def test_matches_an_independent_enumeration():
    rng = np.random.default_rng(7)
    x, y = rng.random(9), rng.random(9)
    d = x - y
    obs = d.mean()
    null = np.array([np.mean(np.array(s) * d) for s in itertools.product((1, -1), repeat=len(d))])
    expected = min(1.0, 2 * min(np.mean(null <= obs + 1e-12), np.mean(null >= obs - 1e-12)))
    assert paired_test(x, y).p == pytest.approx(expected)


def test_weights_make_the_statistic_the_macro_difference():
    # two subsets of 2 and 4 queries: macro difference = mean of the per-subset mean differences
    x = np.array([0.5, 0.7, 0.1, 0.2, 0.3, 0.4])
    y = np.array([0.4, 0.4, 0.1, 0.1, 0.1, 0.1])
    w = np.array([1 / 4, 1 / 4, 1 / 8, 1 / 8, 1 / 8, 1 / 8])
    macro = ((0.1 + 0.3) / 2 + (0.0 + 0.1 + 0.2 + 0.3) / 4) / 2
    res = paired_test(x, y, w)
    assert res.delta == pytest.approx(macro)
    assert res.ci[0] <= res.delta <= res.ci[1]


def test_deterministic_and_interval_brackets_delta():
    rng = np.random.default_rng(1)
    x, y = rng.random(300), rng.random(300) * 0.9
    a, b = paired_test(x, y), paired_test(x, y)
    assert a == b
    assert a.ci[0] < a.delta < a.ci[1]
    assert paired_test(x, x).p == pytest.approx(1.0) and paired_test(x, x).ci == (0.0, 0.0)


def test_holm_hand_example():
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005=0.02, 3*0.01=0.03, 2*0.03=0.06, max(0.06, 1*0.04)=0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_test_cache_reuses_only_the_exact_computation(tmp_path, monkeypatch):
    """A cached entry stands for one exact input: the same vectors are not recomputed, any changed value is;
    the file keeps only the entries the last board used and names itself when damaged."""
    import numpy as np

    from hbt_bench.errors import HbtBenchError
    from hbt_bench.leaderboard import stats

    calls = []
    real = stats.paired_test

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(stats, "paired_test", counting)
    x, y = np.array([0.5, 0.25, 1.0, 0.0]), np.array([0.25, 0.25, 0.5, 0.5])
    cache = stats.TestCache()
    first = cache.test(x, y)
    assert first == real(x, y) and len(calls) == 1
    again = stats.TestCache.load(tmp_path / "missing.json")
    path = tmp_path / "cache.json"
    path.write_text(cache.to_json(), encoding="utf-8")
    again = stats.TestCache.load(path)
    assert again.test(x.copy(), y.copy()) == first and len(calls) == 1
    changed = y.copy()
    changed[0] = 0.26
    again.test(x, changed)
    assert len(calls) == 2
    pruned = stats.TestCache(again.entries)
    pruned.test(x, changed)
    assert list(json.loads(pruned.to_json())["entries"]) == [stats.TestCache.key(x, changed, None)]
    path.write_text("{half", encoding="utf-8")
    with pytest.raises(HbtBenchError, match=str(path)):
        stats.TestCache.load(path)


def test_weighted_exact_enumeration_at_the_largest_exact_n():
    # 2**13 = 8192 <= 9999 resamples: every flip is enumerated, so p is exact (no +1, no randomness)
    rng = np.random.default_rng(11)
    x, y, w = rng.random(13), rng.random(13), rng.random(13) + 0.5
    v = w / w.sum() * (x - y)
    obs = v.sum()
    null = np.array([np.dot(s, v) for s in itertools.product((1, -1), repeat=13)])
    tol = 1e-12
    expected = min(1.0, 2 * min(np.mean(null <= obs + tol), np.mean(null >= obs - tol)))
    assert paired_test(x, y, w).p == pytest.approx(expected)
    assert paired_test(x, y, w, seed=1).p == paired_test(x, y, w).p  # no randomness when exact


@pytest.mark.parametrize("shift", [0.0, 0.02, 0.05])
def test_random_flips_agree_with_scipy_within_monte_carlo_error(shift):
    """Large n (random flips): p and interval agree with scipy's permutation_test / bootstrap up to the
    Monte-Carlo error of 9,999 resamples (sd of a p near .05 is ~.002; the tolerance is 5 sd)."""
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    x = rng.random(400)
    y = x - shift + rng.normal(0, 0.3, 400)
    ours = paired_test(x, y)
    ref = stats.permutation_test(
        (x, y),
        lambda a, b, axis=-1: np.mean(a - b, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=9999,
        rng=np.random.default_rng(5),
    )
    sd = np.sqrt(max(ref.pvalue * (1 - ref.pvalue), 0.01) / 9999) * 2
    assert ours.p == pytest.approx(ref.pvalue, abs=5 * sd + 1e-4)
    boot = stats.bootstrap(
        (x - y,), np.mean, n_resamples=9999, method="percentile", rng=np.random.default_rng(5)
    )
    width = boot.confidence_interval.high - boot.confidence_interval.low
    assert ours.ci[0] == pytest.approx(boot.confidence_interval.low, abs=0.03 * width)
    assert ours.ci[1] == pytest.approx(boot.confidence_interval.high, abs=0.03 * width)


@pytest.mark.parametrize("n", [7, 3000, 150_000])
def test_the_interval_is_scipys_paired_bootstrap_of_the_weighted_mean(n):
    """The interval is scipy.stats.bootstrap's; checked against a plain numpy resampling written here (the
    same draws: blocks of ``2**22 // n`` resamples of n query indices from the seeded generator), exactly."""
    rng = np.random.default_rng(11)
    x, y, w = rng.random(n), rng.random(n), rng.random(n) + 0.5
    got = paired_test(x, y, w, n_resamples=999)
    d, w = x - y, w / w.sum()
    draws = np.random.default_rng(SEED)
    means: list[np.ndarray] = []
    block = max(1, 2**22 // n)
    while (done := sum(len(m) for m in means)) < 999:
        idx = draws.integers(0, n, size=(min(block, 999 - done), n))
        means.append((d[idx] * w[idx]).sum(axis=1) / w[idx].sum(axis=1))
    expected = np.percentile(np.concatenate(means), [2.5, 97.5])
    assert got.ci == pytest.approx(tuple(expected), rel=1e-12, abs=1e-15)


def test_a_null_difference_is_not_significant_and_a_real_one_is():
    rng = np.random.default_rng(8)
    x = rng.random(5000)
    y = x + rng.normal(0, 0.1, 5000)  # pure noise around x
    assert paired_test(x, y).p > 0.05
    assert paired_test(x + 0.01, x + rng.normal(0, 0.1, 5000)).p < 1e-3
    with pytest.raises(ValueError, match="n_resamples"):
        paired_test(x, y, n_resamples=0)
