"""Encode-once vs stock mteb on a LAReQA task: encoder inputs, wall time, peak memory.

Each path runs in its own subprocess (clean peak RSS), through ``mteb.evaluate`` with no cache:

- ``ours``:  the registered task (XQuADR / MLQAR): every distinct text encoded once, exact full-list
  ranking from the embedding matrices. Also times the pooled (X-multi) subsets' scoring alone.
- ``stock``: the same subsets through mteb's own per-subset retrieval path (``StockXQuADR``), which
  re-encodes the corpus of every subset and keeps a top-1000 run.

Usage (by hand, not a test; figures go into the developer's note):

    python benchmarks/bench_encode_once.py --model builtin:use-m --task XQuADR --path both
    python benchmarks/bench_encode_once.py --model builtin:hash-ngram --path ours --subsets en-en,de-multi

Prints one JSON line per path. Needs the data (HBT_BENCH_DATA_DIR or the pinned downloads).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np


class CountingEncoder:
    """Wraps a TextEncoder and counts the texts it is asked to encode and the time spent doing it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "bench/encoder")
        self.n_texts = 0
        self.n_calls = 0
        self.seconds = 0.0

    def encode(self, texts: list[str]) -> np.ndarray:
        start = time.perf_counter()
        out = self.inner.encode(texts)
        self.seconds += time.perf_counter() - start
        self.n_texts += len(texts)
        self.n_calls += 1
        return out


def _pooled_scoring_seconds(task: Any, model: Any) -> float:
    """Time to score the task's pooled subsets from embeddings already in the process-wide store."""
    from hbt_bench.evaluate import Setting, Subset
    from hbt_bench.plugin.tasks import embedding_store_for

    evaluator = task.evaluator
    pooled = [Subset.parse(f"{lang}-multi", evaluator.languages) for lang in evaluator.languages]
    store = embedding_store_for(model, task.metadata, "test", {})
    prepared = evaluator.prepare(store, pooled)  # all texts cached: no encoding here
    start = time.perf_counter()
    for subset in pooled:
        assert subset.setting is Setting.MULTI
        evaluator.score_subset(prepared, subset)
    return time.perf_counter() - start


def run_child(args: argparse.Namespace) -> dict[str, Any]:
    import mteb

    import hbt_bench
    from hbt_bench.encoders import load_model
    from hbt_bench.plugin.models import to_mteb_model
    from hbt_bench.plugin.tasks import MLQAR, XQuADR
    from tests.plugin.stock_tasks import StockMLQAR, StockXQuADR

    hbt_bench.register()
    inner = load_model(args.model)
    if not hasattr(inner, "encode") or hasattr(inner, "model_card_data"):
        raise SystemExit(
            "this benchmark counts the inputs of TextEncoder models: builtin:... or module:factory"
        )
    counting = CountingEncoder(inner)
    model = to_mteb_model(counting)
    classes = {"XQuADR": (XQuADR, StockXQuADR), "MLQAR": (MLQAR, StockMLQAR)}[args.task]
    task = (classes[0] if args.path == "ours" else classes[1])()
    if args.subsets:
        task = task.filter_languages(None, hf_subsets=args.subsets.split(","))
    n_subsets = len(task.hf_subsets)
    task.load_data()
    start = time.perf_counter()
    result = mteb.evaluate(
        model, task, cache=None, co2_tracker=False, show_progress_bar=False, encode_kwargs={"batch_size": 64}
    )
    wall = time.perf_counter() - start
    scores = result.task_results[0].scores["test"]
    row: dict[str, Any] = {
        "path": args.path,
        "model": args.model,
        "task": args.task,
        "subsets": n_subsets,
        "encoder_texts": counting.n_texts,
        "encoder_calls": counting.n_calls,
        "encoder_seconds": round(counting.seconds, 2),
        "wall_seconds": round(wall, 2),
        "outside_encoder_seconds": round(wall - counting.seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "mean_main_score": round(float(np.mean([s["main_score"] for s in scores])), 6),
    }
    if args.path == "ours" and any(s["hf_subset"].endswith("-multi") for s in scores):
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        row["pooled_scoring_seconds"] = round(_pooled_scoring_seconds(task, model), 2)
        row["pooled_scoring_peak_rss_growth_mb"] = round(
            (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024, 1
        )
    return row


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--model", default="builtin:hash-ngram")
    parser.add_argument("--task", default="XQuADR", choices=["XQuADR", "MLQAR"])
    parser.add_argument("--path", default="both", choices=["ours", "stock", "both"])
    parser.add_argument("--subsets", help="comma-separated hf_subsets (default: all)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args)), flush=True)
        return
    rows = []
    for path in ["ours", "stock"] if args.path == "both" else [args.path]:
        cmd = [sys.executable, __file__, "--child", "--model", args.model, "--task", args.task]
        cmd += ["--path", path]
        if args.subsets:
            cmd += ["--subsets", args.subsets]
        out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        if out.returncode != 0:
            sys.exit(f"{path} failed:\n{out.stderr[-4000:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    if len(rows) == 2:
        ours, stock = rows
        print(
            json.dumps(
                {
                    "speedup_wall": round(stock["wall_seconds"] / ours["wall_seconds"], 2),
                    "encoder_texts_ratio": round(stock["encoder_texts"] / ours["encoder_texts"], 2),
                }
            )
        )


if __name__ == "__main__":
    main()
