"""``hbt-bench train`` and ``hbt-bench sweep``: the hybrid batch training recipe from the command line.

Only argparse is imported at module level; the commands import what they need when they run.

    hbt-bench train --config examples/train_hybrid.toml [--set sampler.alpha=0.25 ...] [--overwrite]
    hbt-bench train --describe-config          # every config field with its default and meaning
    hbt-bench sweep --config F --ratios 0,0.25,0.5,0.75,1 --output runs/sweep [--seeds 42,43,44]

Several GPUs (``training.batch_size`` is per device; only rank 0 writes)::

    torchrun --nproc_per_node 4 -m hbt_bench.cli train --config F
    accelerate launch --num_processes 4 -m hbt_bench.cli train --config F
"""

from __future__ import annotations

import argparse
import os
import sys

from hbt_bench.formatting import fmt_score

DEFAULT_RATIOS = "0,0.25,0.5,0.75,1"


def _log(quiet: bool):
    """Progress lines on stderr, from rank 0 only (torchrun / accelerate set RANK); None when quiet."""
    if quiet:
        return None

    def log(msg: str) -> None:
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"hbt-bench: {msg}", file=sys.stderr, flush=True)

    return log


def _load(args: argparse.Namespace):
    from hbt_bench.training.config import load_config

    return load_config(args.config, args.set)


def cmd_train(args: argparse.Namespace) -> int:
    from hbt_bench.errors import HbtBenchError

    if args.describe_config:
        from hbt_bench.training.config import describe

        print(describe())
        return 0
    if not args.config:
        raise HbtBenchError("train: --config is required (see --describe-config for the fields)")
    config = _load(args)
    if args.print_config:
        from hbt_bench.training.config import dump_toml

        print(dump_toml(config), end="")
        return 0
    from hbt_bench.training.recipe import train

    summary = train(config, overwrite=args.overwrite, log=_log(args.quiet))
    if int(os.environ.get("RANK", "0")) == 0:
        best = summary.get("best_eval_loss")
        print(
            f"trained {summary['steps']} steps"
            + (
                f", best validation loss {best:.4f} at step {summary['best_step']}"
                if best is not None
                else ""
            )
            + f"; model in {os.path.join(config.output_dir, 'model')}"
        )
        for task, s in (summary.get("evaluation") or {}).get("tasks", {}).items():
            print(_row(task, s))
    return 0


def _row(label: str, s: dict) -> str:
    line = (
        f"{label:<22}{fmt_score(s.get('mono')):>8}{fmt_score(s.get('cross')):>8}{fmt_score(s.get('multi')):>8}"
        f"{fmt_score(s.get('language_bias'), 1):>9}"
    )
    if s.get("robustness") is not None:
        line += f"{fmt_score(s['robustness']):>12}"
    return line


def cmd_sweep(args: argparse.Namespace) -> int:
    from hbt_bench.training.sweep import parse_ratios, parse_seeds, run_sweep

    ratios = parse_ratios(args.ratios)
    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    config = _load(args)
    report = run_sweep(
        config,
        ratios,
        args.output,
        seeds=seeds,
        overwrite=args.overwrite,
        baseline=args.baseline,
        log=_log(args.quiet),
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    several = len(report["seeds"]) > 1
    print(f"{'run':<22}{'Mono':>8}{'Cross':>8}{'Multi':>8}{'Bias':>9}{'Robustness':>12}")
    if report.get("baseline"):
        for task, s in report["baseline"]["tasks"].items():
            print(_row(f"untrained {task}", s))
    for row in report["runs"]:
        seed = f" seed={row['seed']}" if several else ""
        for task, s in row.get("tasks", {}).items():
            print(_row(f"alpha={row['alpha']:g}{seed} {task}", s))
    if several:
        print(f"mean ± sample sd over seeds {', '.join(map(str, report['seeds']))}:")
        for group in report["by_alpha"]:
            for task, stats in group["tasks"].items():
                print(_spread_row(f"alpha={group['alpha']:g} {task}", stats))
    for task, reason in report["skip_reasons"].items():
        print(f"{task}: skipped, {reason}")
    print(f"wrote {', '.join(report.get('files', []))} under {args.output}")
    return 0


def _spread_row(label: str, stats: dict) -> str:
    """One α's ``mean ± sd`` per metric (the sweep's ``by_alpha`` entry of one task)."""
    cells = []
    for metric, digits in (("mono", 4), ("cross", 4), ("multi", 4), ("language_bias", 1), ("robustness", 4)):
        if metric in stats:
            m = stats[metric]
            cells.append(f"{metric} {fmt_score(m['mean'], digits)} ± {fmt_score(m['sd'], digits)}")
    return f"{label:<22}  " + "; ".join(cells)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the training commands to the top-level parser's subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set sampler.alpha=0.25 --set data.0.limit=1000 "
        '(values are TOML: numbers, true/false, ["en", "de"]; anything else is a string)',
    )
    common.add_argument("--overwrite", action="store_true", help="replace existing output directories")
    common.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    tr = sub.add_parser(
        "train",
        parents=[common],
        help="train a retriever with hybrid batch sampling (arXiv 2408.10536) from a TOML config",
        description="Train a sentence-transformers retriever with X-X-mono / X-Y / hybrid batches and "
        "InfoNCE; writes <output_dir>/model (loads in mteb and hbt-bench), config.toml, "
        "training_summary.json and, with [evaluation], mteb results.",
    )
    tr.add_argument("--config", help="TOML config file (see examples/train_hybrid.toml)")
    tr.add_argument("--describe-config", action="store_true", help="list every config field and exit")
    tr.add_argument("--print-config", action="store_true", help="print the resolved config (TOML) and exit")
    tr.set_defaults(func=cmd_train)

    sw = sub.add_parser(
        "sweep",
        parents=[common],
        help="train and evaluate one model per hybrid ratio alpha (and seed); write a summary and a plot",
        description="One training per alpha and seed (sampler.kind = hybrid), each evaluated on XQuADR "
        "and, when installed, XQuADR-Adv (or on [evaluation] tasks); writes DIR/alpha-<a>/ (one seed) or "
        "DIR/alpha-<a>-seed-<s>/ (several), DIR/results/, DIR/sweep_summary.{json,csv}, "
        "DIR/sweep_by_alpha.csv (mean and sample sd over the seeds) and DIR/sweep.png. Finished runs "
        "with the same config are reused, so an interrupted sweep resumes.",
    )
    sw.add_argument("--config", required=True, help="TOML config file of the runs")
    sw.add_argument(
        "--ratios", default=DEFAULT_RATIOS, help=f"comma-separated alphas (default {DEFAULT_RATIOS})"
    )
    sw.add_argument(
        "--seeds",
        help="comma-separated seeds, one run per (alpha, seed), e.g. 42,43,44 (default: the config's seed); "
        "with several, runs go to DIR/alpha-<a>-seed-<s>/ and the summaries add mean and sample sd per alpha",
    )
    sw.add_argument("--output", required=True, help="output directory of the sweep")
    sw.add_argument(
        "--baseline",
        action="store_true",
        help="also evaluate the untrained base model (at the config's max_seq_length) as the reference",
    )
    sw.set_defaults(func=cmd_sweep)
