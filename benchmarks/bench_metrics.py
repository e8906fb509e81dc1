"""By-hand benchmark of :mod:`hbt_bench.metrics` at the size of the XQuAD-R pooled setting.

13,090 queries x 13,014 candidates, d=512 float32, 11 relevant per query: the largest subset the
evaluator scores. Prints one JSON line with wall times and memory. Not a test; run it by hand:

    python benchmarks/bench_metrics.py [--mode planted|random] [--repeats 5]

``planted`` (default) gives LAReQA-like structure: 1,183 answers x 11 languages, queries near their
answer, a per-language offset (language bias) and a few exact duplicate candidates, so ranks and
ties look like real data. ``random`` puts the relevant items at random ranks (the cost is the same;
only the tie corrections differ).

``rank_relevant`` runs every GEMM tile on one BLAS thread (so its scores do not depend on the thread
count) and spreads the tiles over as many Python threads as the BLAS had; ``blas_threads`` reports
that count and ``gemm_only_1024_chunks_s_best`` is numpy's own multi-threaded GEMM, for comparison.
Set ``OPENBLAS_NUM_THREADS`` to compare thread counts.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hbt_bench.metrics import evaluate_ranks
from hbt_bench.ranking import rank_relevant

N_QUERIES, N_CANDIDATES, DIM, N_LANGS = 13_090, 13_014, 512, 11
N_ANSWERS = N_CANDIDATES // N_LANGS  # 1,183 answers x 11 languages = 13,013 (+1 distractor)
SEED = 20240817


def _normalise(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def make_problem(mode: str) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Unit-norm float32 queries/candidates and each query's 11 relevant candidate indices."""
    rng = np.random.default_rng(SEED)
    answer_of_query = np.arange(N_QUERIES) % N_ANSWERS
    relevant = [np.arange(N_LANGS, dtype=np.int64) * N_ANSWERS + a for a in answer_of_query]
    if mode == "random":
        q = _normalise(rng.standard_normal((N_QUERIES, DIM), dtype=np.float32))
        c = _normalise(rng.standard_normal((N_CANDIDATES, DIM), dtype=np.float32))
        return q, c, relevant
    answers = rng.standard_normal((N_ANSWERS, DIM), dtype=np.float32)
    lang_offset = 0.6 * rng.standard_normal((N_LANGS, DIM), dtype=np.float32)
    c = np.empty((N_CANDIDATES, DIM), dtype=np.float32)
    for lang in range(N_LANGS):
        rows = slice(lang * N_ANSWERS, (lang + 1) * N_ANSWERS)
        c[rows] = answers + lang_offset[lang] + 2.0 * rng.standard_normal((N_ANSWERS, DIM), dtype=np.float32)
    c[-1] = rng.standard_normal(DIM, dtype=np.float32)
    _normalise(c)
    # duplicate candidate sentences get identical embeddings: copy a few vectors over others
    src = rng.choice(N_CANDIDATES, size=40, replace=False)
    dst = rng.choice(np.setdiff1d(np.arange(N_CANDIDATES), src), size=40, replace=False)
    c[dst] = c[src]
    q_lang = np.arange(N_QUERIES) // N_ANSWERS % N_LANGS
    q = (
        answers[answer_of_query]
        + lang_offset[q_lang]
        + 2.0 * rng.standard_normal((N_QUERIES, DIM), dtype=np.float32)
    )
    return _normalise(q), c, relevant


def _rss_mb() -> float:
    """Current resident set size (Linux /proc), in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["planted", "random"], default="planted")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs; best, median and first are reported"
    )
    args = parser.parse_args()

    from threadpoolctl import threadpool_info

    blas_threads = max([i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] + [1])
    q, c, relevant = make_problem(args.mode)
    gc.collect()
    rss_before = _rss_mb()

    times_rank, times_eval = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        rr = rank_relevant(q, c, relevant)
        t1 = time.perf_counter()
        scores = evaluate_ranks(rr)
        t2 = time.perf_counter()
        times_rank.append(t1 - t0)
        times_eval.append(t2 - t1)
        del rr
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    gc.collect()
    tracemalloc.start()
    rank_relevant(q, c, relevant)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # reference point: the float32 GEMM alone in 1024-row chunks, nothing else (best of 3: the
    # machine may be shared, so single timings are noisy)
    buf = np.empty((1024, N_CANDIDATES), dtype=np.float32)
    gemm_times = []
    for _ in range(3):
        t0 = time.perf_counter()
        for start in range(0, N_QUERIES, 1024):
            part = q[start : start + 1024]
            np.matmul(part, c.T, out=buf[: len(part)])
        gemm_times.append(time.perf_counter() - t0)

    totals = [a + b for a, b in zip(times_rank, times_eval, strict=True)]
    print(
        json.dumps(
            {
                "mode": args.mode,
                "n_queries": N_QUERIES,
                "n_candidates": N_CANDIDATES,
                "dim": DIM,
                "n_relevant": N_LANGS,
                "repeats": args.repeats,
                "blas_threads": blas_threads,
                "rank_relevant_s_best": round(min(times_rank), 3),
                "evaluate_ranks_s_best": round(min(times_eval), 4),
                "total_s_best": round(min(totals), 3),
                "total_s_median": round(float(np.median(totals)), 3),
                "total_s_first": round(totals[0], 3),
                "gemm_only_1024_chunks_s_best": round(min(gemm_times), 3),
                "tracemalloc_peak_mb": round(traced_peak / 2**20, 1),
                "rss_peak_increase_mb": round(max(0.0, peak_rss - rss_before), 1),
                "scores": {k: round(v, 4) for k, v in scores.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
