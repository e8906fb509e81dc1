"""Markdown table of one or more ``hbt-bench sweep`` outputs: per α, the mean (± sample sd over the sweeps,
e.g. seeds) of mono / cross / multi mAP and language bias, plus the untrained baseline when present.

Reads only ``sweep_summary.json`` (whose numbers are those of the stored mteb result files). By hand:

    python benchmarks/sweep_table.py leaderboard/training/minilm-mlqar-gpu{,-seed43,-seed44}
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

METRICS = ("mono", "cross", "multi", "language_bias")


def _cell(values: list[float], metric: str) -> str:
    fmt = "{:.1f}" if metric == "language_bias" else "{:.4f}"
    text = fmt.format(statistics.fmean(values))
    if len(values) > 1:
        text += " ± " + fmt.format(statistics.stdev(values))
    return text


def table(sweeps: list[Path], task: str) -> str:
    by_alpha: dict[str, dict[str, list[float]]] = {}
    for sweep in sweeps:
        path = sweep / "sweep_summary.json"
        if not path.is_file():
            raise SystemExit(f"{path}: no sweep summary (run hbt-bench sweep --output {sweep})")
        report = json.loads(path.read_text(encoding="utf-8"))
        rows = [("untrained", report.get("baseline"))] + [(f"{r['alpha']:g}", r) for r in report["runs"]]
        for label, row in rows:
            scores = (row or {}).get("tasks", {}).get(task)
            if scores is None:
                continue
            cell = by_alpha.setdefault(label, {m: [] for m in METRICS})
            for metric in METRICS:
                cell[metric].append(float(scores[metric]))
    order = sorted(by_alpha, key=lambda a: (a != "untrained", -1.0 if a == "untrained" else -float(a)))
    lines = [
        f"| α ({task}) | n | Mono | Cross | Multi | LB |",
        "|---|---|---|---|---|---|",
    ]
    for label in order:
        cells = by_alpha[label]
        n = len(cells["mono"])
        lines.append(f"| {label} | {n} | " + " | ".join(_cell(cells[m], m) for m in METRICS) + " |")
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
