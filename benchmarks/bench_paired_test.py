"""Time the leaderboard's paired test on a cross-lingual-sized column against scipy's permutation_test
(the same sign-flip test; the interval is already scipy.stats.bootstrap's).

A cross-lingual XQuAD-R column holds 110 subsets x 1,190 queries = 130,900 paired values; a board runs a few
dozen such tests. Run: ``python benchmarks/bench_paired_test.py [--n 130900] [--scipy-resamples 999]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hbt_bench.leaderboard.stats import N_RESAMPLES, SEED, _bootstrap_ci, _sign_flip_p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=130_900, help="paired values (default: a cross column)")
    parser.add_argument("--scipy-resamples", type=int, default=999, help="0 skips scipy (slow)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.random(args.n)
    y = x + rng.normal(0.0, 0.03, args.n)
    w = np.full(args.n, 1.0 / args.n)
    v = w * (x - y)

    start = time.perf_counter()
    p = _sign_flip_p(v, float(v.sum()), N_RESAMPLES, np.random.default_rng(SEED))
    print(f"sign flips      {N_RESAMPLES} resamples: {time.perf_counter() - start:7.2f} s  p={p:.4f}")
    start = time.perf_counter()
    ci = _bootstrap_ci(x - y, w, N_RESAMPLES, np.random.default_rng(SEED))
    took = time.perf_counter() - start
    print(f"scipy bootstrap {N_RESAMPLES} resamples: {took:7.2f} s  ci=({ci[0]:.5f}, {ci[1]:.5f})")
    if args.scipy_resamples:
        from scipy import stats

        start = time.perf_counter()
        ref = stats.permutation_test(  # one sample: scipy flips the signs of the differences, our test
            (v,),
            lambda a, axis=-1: np.sum(a, axis=axis),
            permutation_type="samples",
            vectorized=True,
            n_resamples=args.scipy_resamples,
            batch=max(1, 2**23 // args.n),
            rng=np.random.default_rng(SEED),
        )
        took = time.perf_counter() - start
        print(f"scipy flips     {args.scipy_resamples} resamples: {took:7.2f} s  p={ref.pvalue:.4f}")


if __name__ == "__main__":
    main()
