"""Markdown table of one or more ``hbt-bench sweep`` outputs: per α, the mean (± sample sd over the runs,
i.e. the seeds) of mono / cross / multi mAP and language bias, plus the untrained baseline when present.

The runs of an α are pooled over everything given: the seeds of one ``--seeds 42,43,44`` sweep, or
several single-seed sweeps (one per seed, as the stored GPU sweeps are), or both; the same sweep
given twice is an error rather than a run counted twice. n is the number of runs per α.

Reads ``sweep_summary.json`` (whose numbers are those of the stored mteb result files); a task the
summary lacks (e.g. XQuADR-Adv evaluated after the sweep) is read from the sweep's result files, and
an adversarial task adds its robustness. By hand:

    python benchmarks/sweep_table.py leaderboard/training/minilm-mlqar-gpu{,-seed43,-seed44}
    python benchmarks/sweep_table.py runs/sweep-seeds --task XQuADR-Adv   # hbt-bench sweep --seeds 42,43,44
    python benchmarks/sweep_table.py leaderboard/training/minilm-mlqar --task XQuADR-Adv
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

METRICS = ("mono", "cross", "multi", "language_bias", "robustness")


def _scores(sweep: Path, row: dict, task: str) -> dict | None:
    """The row's scores on ``task``: from the summary, else from its stored result file, else None."""
    if task in row.get("tasks", {}):
        return row["tasks"][task]
    files = sorted((sweep / "results" / row["model_name"].replace("/", "__")).glob(f"*/{task}.json"))
    if not files:
        return None
    from mteb.results import TaskResult

    from hbt_bench.plugin import benchmark

    result = TaskResult.from_disk(files[-1])
    scores = benchmark.setting_scores(result)
    if benchmark.is_adversarial(task):
        scores["robustness"] = benchmark.robustness(result)
    return scores


def _cell(values: list[float], metric: str) -> str:
    if not values:
        return "-"
    fmt = "{:.1f}" if metric == "language_bias" else "{:.4f}"
    text = fmt.format(statistics.fmean(values))
    if len(values) > 1:
        text += " ± " + fmt.format(statistics.stdev(values))
    return text


def table(sweeps: list[Path], task: str) -> str:
    """The markdown table of ``task`` over the runs of ``sweeps`` (one row per α, untrained first)."""
    resolved = [sweep.resolve() for sweep in sweeps]
    if len(set(resolved)) != len(resolved):
        raise SystemExit(
            f"the same sweep is given twice in {[str(s) for s in sweeps]}: its runs would count twice"
        )
    by_alpha: dict[str, dict[str, list[float]]] = {}
    for sweep in sweeps:
        path = sweep / "sweep_summary.json"
        if not path.is_file():
            raise SystemExit(f"{path}: no sweep summary (run hbt-bench sweep --output {sweep})")
        report = json.loads(path.read_text(encoding="utf-8"))
        rows = [("untrained", report.get("baseline"))] + [(f"{r['alpha']:g}", r) for r in report["runs"]]
        for label, row in rows:
            scores = _scores(sweep, row, task) if row else None
            if scores is None:
                continue
            cell = by_alpha.setdefault(label, {m: [] for m in METRICS})
            for metric in METRICS:
                if metric in scores:
                    cell[metric].append(float(scores[metric]))
    order = sorted(by_alpha, key=lambda a: (a != "untrained", -1.0 if a == "untrained" else -float(a)))
    metrics = [m for m in METRICS if any(by_alpha[a][m] for a in by_alpha)]
    names = {
        "mono": "Mono",
        "cross": "Cross",
        "multi": "Multi",
        "language_bias": "LB",
        "robustness": "Robustness",
    }
    lines = [
        f"| α ({task}) | n | " + " | ".join(names[m] for m in metrics) + " |",
        "|" + "---|" * (len(metrics) + 2),
    ]
    for label in order:
        cells = by_alpha[label]
        n = len(cells["mono"])
        lines.append(f"| {label} | {n} | " + " | ".join(_cell(cells[m], m) for m in metrics) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sweeps", nargs="+", type=Path, help="sweep output directories")
    parser.add_argument("--task", default="XQuADR")
    args = parser.parse_args()
    print(table(args.sweeps, args.task))


if __name__ == "__main__":
    main()
