"""Paired tests: expected values from exact enumeration and hand computation, not from scipy's output."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from hbt_bench.leaderboard.stats import holm, paired_test


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
