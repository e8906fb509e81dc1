"""Cost of the hybrid batch sampler: one epoch of batches, and per batch vs ST's DefaultBatchSampler.

Datasets: the MLQA-R parallel pairs (all 7 languages, from ``<repo>/../shared/data`` or
``HBT_BENCH_DATA_DIR``; skipped when absent) and a synthetic fully parallel set of 100k groups x 3
languages (900k rows). Batch size 100. Prints JSON.

    python benchmarks/bench_sampler.py
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
from datasets import Dataset
from sentence_transformers.base.sampler import DefaultBatchSampler
from torch.utils.data import RandomSampler

from hbt_bench.training.samplers import HybridBatchSampler

BATCH = 100
REPEATS = 3


def synthetic(n_groups: int, langs: tuple[str, ...] = ("ar", "de", "en")) -> Dataset:
    k = len(langs)
    g = np.repeat(np.arange(n_groups), k * k)
    x = np.tile(np.repeat(np.arange(k), k), n_groups)
    y = np.tile(np.arange(k), n_groups * k)
    lang = np.array(langs)
    return Dataset.from_dict(
        {
            "group": [f"g{i}" for i in g],
            "query_lang": lang[x].tolist(),
            "passage_lang": lang[y].tolist(),
        }
    )


def mlqa_pairs() -> Dataset | None:
    data_dir = Path(
        os.environ.get("HBT_BENCH_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    if not (data_dir / "mlqa-r").is_dir():
        return None
    from hbt_bench.data.lareqa import load_lareqa
    from hbt_bench.training.pairs import parallel_pairs

    return parallel_pairs(load_lareqa("mlqa-r", data_dir=data_dir))


def best(fn) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench(name: str, ds: Dataset) -> dict:
    t0 = time.perf_counter()
    sampler = HybridBatchSampler(ds, batch_size=BATCH, alpha=0.5, seed=0)
    init_s = time.perf_counter() - t0

    epoch = iter(range(10**6))

    def one_epoch() -> int:
        sampler.set_epoch(next(epoch))
        return sum(1 for _ in sampler)

    n_batches = one_epoch()
    epoch_s = best(one_epoch)
    default = DefaultBatchSampler(RandomSampler(ds), batch_size=BATCH, drop_last=False)
    default_s = best(lambda: sum(1 for _ in default))
    return {
        "dataset": name,
        "rows": len(ds),
        "groups": len(sampler.group_ids),
        "languages": len(sampler.languages),
        "batch_size": BATCH,
        "init_s": round(init_s, 4),
        "hybrid_epoch_s": round(epoch_s, 4),
        "hybrid_batches": n_batches,
        "hybrid_us_per_batch": round(1e6 * epoch_s / n_batches, 2),
        "default_epoch_s": round(default_s, 4),
        "default_batches": len(default),
        "default_us_per_batch": round(1e6 * default_s / len(default), 2),
    }


def main() -> None:
    results = []
    mlqa = mlqa_pairs()
    if mlqa is not None:
        results.append(bench("mlqa-r pairs", mlqa))
    results.append(bench("synthetic 100k groups x 3 langs", synthetic(100_000)))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
