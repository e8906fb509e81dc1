"""Full-depth BM25 on a LAReQA task: score rows (the fast path) against mteb's dict-per-query runs.

A search model is asked for every candidate (full-list mAP). mteb's ``BM25Search.search`` returns one
``{candidate id: score}`` dict per query: 13k entries per query on the XQuAD-R pool. For mteb's BM25
(and ``hbt-bench/bm25``) ``MtebSearchEngine.score_rows`` takes the same ``bm25s`` retrieve call as a
matrix instead. Each path runs in its own subprocess (clean peak RSS); the scores of both must be
identical, and the CPU seconds of the scoring (``time.process_time``, less sensitive to other load than
wall time) are compared.

Usage (by hand, not a test; figures go into the developer's note):

    python benchmarks/bench_search_rows.py --model builtin:bm25 --languages en,de,zh
    python benchmarks/bench_search_rows.py --model mteb/baseline-bm25s            # all 11 languages

Prints one JSON line per path, then whether their scores are identical. Needs the data
(HBT_BENCH_DATA_DIR or the pinned downloads).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any


def run_child(args: argparse.Namespace) -> dict[str, Any]:
    import hbt_bench
    from hbt_bench.plugin.models import mteb_encoder
    from hbt_bench.plugin.tasks import MtebSearchEngine, XQuADR

    hbt_bench.register()
    task = XQuADR(languages=args.languages.split(",") if args.languages else None)
    task.load_data()
    evaluator = task.evaluator
    engine = MtebSearchEngine(mteb_encoder(args.model), task.metadata, "test", {})
    # any run sink makes score_by_search take the dict path (the sink must see the hits)
    on_run = (lambda *a: None) if args.path == "dicts" else None
    wall, cpu = time.perf_counter(), time.process_time()
    scores = evaluator.score_by_search(engine, evaluator.subsets(), on_run=on_run)["clean"]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "path": args.path,
        "model": args.model,
        "subsets": len(scores),
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "scores": scores,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="builtin:bm25", help="a BM25 spec: builtin:bm25, mteb/baseline-bm25s"
    )
    parser.add_argument("--languages", default="", help="comma-separated XQuAD-R languages (default: all 11)")
    parser.add_argument("--path", choices=["rows", "dicts", "both"], default="both")
    args = parser.parse_args()
    if args.path != "both":
        print(json.dumps(run_child(args)))
        return
    results = {}
    for path in ("rows", "dicts"):
        cmd = [sys.executable, __file__, "--model", args.model, "--languages", args.languages, "--path", path]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        results[path] = json.loads(out)
        print(json.dumps({k: v for k, v in results[path].items() if k != "scores"}))
    same = results["rows"]["scores"] == results["dicts"]["scores"]
    print(json.dumps({"identical_scores": same}))
    if not same:
        raise SystemExit("the two paths gave different scores")


if __name__ == "__main__":
    main()
