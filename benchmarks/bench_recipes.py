"""By-hand benchmark of the character-level perturbation recipes on every XQuAD-R and MLQA-R question.

Builds char-noise@1edit/10pct/30pct, homoglyph@10pct and invisible@10pct for all questions of both
datasets (13,090 + 5 x MLQA-R languages' questions) and prints queries/s per recipe and overall.
TextAttack import and the jieba / pythainlp dictionary loads are done before timing (they cost
7-10 s once per process). Not a test; run it by hand:

    HBT_BENCH_DATA_DIR=../shared/data python benchmarks/bench_recipes.py [--jobs 2] [--recipes ...]

``--check`` also reruns every set with ``jobs=1`` (untimed) and fails if any output differs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hbt_bench.adversarial.recipes import perturb
from hbt_bench.adversarial.text import words
from hbt_bench.data.lareqa import load_lareqa

CHARACTER_RECIPES = (
    "char-noise@1edit",
    "char-noise@10pct",
    "char-noise@30pct",
    "homoglyph@10pct",
    "invisible@10pct",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--recipes", nargs="+", default=list(CHARACTER_RECIPES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="compare with a jobs=1 run (untimed)")
    args = parser.parse_args()
    data_dir = Path(
        os.environ.get("HBT_BENCH_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
    )

    sets: list[tuple[str, str, list[tuple[str, str]]]] = []
    for dataset in ("xquad-r", "mlqa-r"):
        corpus = load_lareqa(dataset, data_dir=data_dir)
        for lang, data in corpus.languages.items():
            sets.append((dataset, lang, [(q.qid, q.text) for q in data.questions]))
    n_queries = sum(len(items) for _, _, items in sets)

    t0 = time.perf_counter()
    perturb(args.recipes[0], "en", [("warm-up", "warm up")])  # imports TextAttack
    for sample in ("中文", "ภาษาไทย"):
        words(sample)
    setup_s = time.perf_counter() - t0

    report: dict[str, object] = {
        "jobs": args.jobs,
        "cpus": os.cpu_count(),
        "datasets": {f"{d}/{lang}": len(items) for d, lang, items in sets},
        "queries_per_recipe": n_queries,
        "setup_s": round(setup_s, 2),
        "recipes": {},
    }
    total_s = 0.0
    for rid in args.recipes:
        t = time.perf_counter()
        outputs = {
            (d, lang): perturb(rid, lang, items, seed=args.seed, jobs=args.jobs) for d, lang, items in sets
        }
        dt = time.perf_counter() - t
        total_s += dt
        statuses: dict[str, int] = {}
        for out in outputs.values():
            for p in out:
                statuses[p.status] = statuses.get(p.status, 0) + 1
        entry = {"seconds": round(dt, 2), "queries_per_s": round(n_queries / dt), "statuses": statuses}
        if args.check and args.jobs > 1:
            same = all(
                perturb(rid, lang, items, seed=args.seed) == outputs[(d, lang)] for d, lang, items in sets
            )
            entry["same_as_jobs_1"] = same
            if not same:
                print(json.dumps(report, indent=2))
                print(f"{rid}: jobs={args.jobs} output differs from jobs=1", file=sys.stderr)
                return 1
        report["recipes"][rid] = entry  # type: ignore[index]
        print(f"{rid:18s} {n_queries} queries  {dt:7.2f} s  {n_queries / dt:8.0f} queries/s", flush=True)
    report["overall_queries_per_s"] = round(n_queries * len(args.recipes) / total_s)
    print(
        f"{'overall':18s} {n_queries * len(args.recipes)} queries  {total_s:7.2f} s  "
        f"{n_queries * len(args.recipes) / total_s:8.0f} queries/s"
    )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
