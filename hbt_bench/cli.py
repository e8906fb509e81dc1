"""``hbt-bench``: command-line entry point. It parses arguments and calls the package, nothing more."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hbt_bench.errors import HbtBenchError

DATASETS_HELP = "xquad-r or mlqa-r"


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help="directory laid out like <dir>/xquad-r/<lang>.json (overrides HBT_BENCH_DATA_DIR; files are "
        "still checked against their pinned sha256)",
    )


def _add_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="hub id, local sentence-transformers directory, builtin:<name> (hash-ngram, use-m) "
        "or package.module:factory",
    )


def _apply_data_dir(args: argparse.Namespace) -> None:
    # Through the environment so that task objects built by mteb (mteb.get_task) see it too.
    if getattr(args, "data_dir", None):
        path = Path(args.data_dir).expanduser().resolve()
        if not path.is_dir():
            raise HbtBenchError(f"--data-dir {args.data_dir}: not a directory")
        os.environ["HBT_BENCH_DATA_DIR"] = str(path)


def cmd_data_stats(args: argparse.Namespace) -> int:
    from hbt_bench.data.lareqa import load_lareqa

    _apply_data_dir(args)
    stats = load_lareqa(args.dataset).stats()
    if args.json:
        print(json.dumps(stats, indent=2, sort_keys=False))
        return 0
    print(f"{stats['dataset']}: {stats['questions']} questions, pool of {stats['pool']} candidate sentences")
    print(f"{'lang':<6}{'questions':>10}{'candidates':>12}")
    for lang, row in stats["languages"].items():
        print(f"{lang:<6}{row['questions']:>10}{row['candidates']:>12}")
    return 0


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_task_summary(result: Any, out: Any = None) -> None:
    """The paper's layout: per query language mono / cross / multi mAP and rank distance, then the means."""
    out = out or sys.stdout
    from hbt_bench.evaluate import per_language
    from hbt_bench.plugin.benchmark import is_adversarial, setting_scores, subset_scores, task_languages

    scores = subset_scores(result)
    langs = task_languages(result.task_name)
    print(f"\n{result.task_name}  (mAP, full list; RD = rank distance, lower is better)", file=out)
    print(f"{'query':<7}{'Mono':>8}{'Cross':>8}{'Multi':>8}{'RD':>9}", file=out)
    for lang, row in per_language(scores, langs).items():
        print(
            f"{lang:<7}{_fmt(row['mono']):>8}{_fmt(row['cross']):>8}{_fmt(row['multi']):>8}"
            f"{_fmt(row['rank_distance'], 1):>9}",
            file=out,
        )
    s = setting_scores(result)
    print(
        f"{'mean':<7}{_fmt(s['mono']):>8}{_fmt(s['cross']):>8}{_fmt(s['multi']):>8}"
        f"{_fmt(s['language_bias'], 1):>9}",
        file=out,
    )
    if is_adversarial(result.task_name):
        print_adversarial_details(result, out)


def print_adversarial_details(result: Any, out: Any = None) -> None:
    """Clean vs adversarial per query language and setting, then each recipe's mean mAP per setting."""
    out = out or sys.stdout
    from hbt_bench.evaluate import per_language, summarize_settings
    from hbt_bench.plugin.benchmark import robustness, subset_scores, task_languages

    scores = subset_scores(result)
    langs = task_languages(result.task_name)
    clean_rd = {k: {**v, "rank_distance": v.get("clean_rank_distance")} for k, v in scores.items()}
    adv_rows = per_language(scores, langs)
    clean_rows = per_language(clean_rd, langs, metric="clean_map")
    means = (summarize_settings(scores, langs), summarize_settings(clean_rd, langs, metric="clean_map"))
    for m in means:
        m["rank_distance"] = m["language_bias"]
    print("\nadversarial (mean over the core recipes) / clean", file=out)
    head = "".join(f"{name:>16}" for name in ("Mono", "Cross", "Multi", "RD"))
    print(f"{'query':<7}{head}", file=out)
    for lang, (adv, clean) in [
        *((lang, (row, clean_rows[lang])) for lang, row in adv_rows.items()),
        ("mean", means),
    ]:
        cells = [
            f"{_fmt(adv[k], d)} / {_fmt(clean[k], d)}"
            for k, d in (("mono", 3), ("cross", 3), ("multi", 3), ("rank_distance", 0))
        ]
        print(f"{lang:<7}" + "".join(f"{c:>16}" for c in cells), file=out)
    print(
        f"relative robustness (mean adversarial / clean mAP over subsets): {_fmt(robustness(result))}",
        file=out,
    )
    prefix = "perturbed_fraction_"
    recipes = sorted({k[len(prefix) :] for v in scores.values() for k in v if k.startswith(prefix)})
    print(f"\n{'recipe':<24}{'Mono':>8}{'Cross':>8}{'Multi':>8}{'RD':>9}  (mAP under each recipe)", file=out)
    for rid in recipes:
        key = f"map_{rid}"
        having = {
            k: {**v, "rank_distance": v.get(f"rank_distance_{rid}")} for k, v in scores.items() if key in v
        }
        having = {k: {kk: vv for kk, vv in v.items() if vv is not None} for k, v in having.items()}
        r = summarize_settings(having, langs, metric=key)
        print(
            f"{rid:<24}{_fmt(r['mono']):>8}{_fmt(r['cross']):>8}{_fmt(r['multi']):>8}"
            f"{_fmt(r['language_bias'], 1):>9}",
            file=out,
        )


def cmd_eval(args: argparse.Namespace) -> int:
    import mteb

    import hbt_bench
    from hbt_bench.plugin.benchmark import ALL_TASKS, is_adversarial
    from hbt_bench.plugin.models import mteb_encoder
    from hbt_bench.results import save_results_atomically

    _apply_data_dir(args)
    hbt_bench.register()
    names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    classes = {cls.metadata.name: cls for cls in ALL_TASKS}
    unknown = [name for name in names if name not in classes]
    if unknown:
        raise HbtBenchError(
            f"--tasks: unknown task {', '.join(unknown)} (hbt-bench provides {', '.join(classes)})"
        )
    if args.perturbations and not any(is_adversarial(n) for n in names):
        raise HbtBenchError("--perturbations: only the -Adv tasks take external perturbations")
    for path in args.perturbations or ():
        if not Path(path).is_file():
            raise HbtBenchError(f"--perturbations {path}: no such file")
    tasks = [
        classes[name](candidate_mode=args.candidate_text, external_recipes=args.perturbations or ())
        if is_adversarial(name)
        else classes[name](candidate_mode=args.candidate_text)
        for name in names
    ]
    model = mteb_encoder(args.model)
    meta = model.mteb_model_meta
    encode_kwargs = {"batch_size": args.batch_size}
    result = mteb.evaluate(
        model,
        tasks,
        cache=None,  # nothing is written until every task has succeeded
        encode_kwargs=encode_kwargs,
        co2_tracker=False,
        show_progress_bar=not args.quiet,
    )
    for tr in result.task_results:
        print_task_summary(tr)
    if args.output_folder:
        written = save_results_atomically(result.task_results, meta, Path(args.output_folder), encode_kwargs)
        print(f"\nwrote {len(written)} files under {Path(args.output_folder) / 'results'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hbt-bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="inspect the benchmark data")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    stats = data_sub.add_parser("stats", help="question and candidate counts (paper Table 10)")
    stats.add_argument("dataset", help=DATASETS_HELP)
    stats.add_argument("--json", action="store_true", help="print JSON")
    _add_data_dir(stats)
    stats.set_defaults(func=cmd_data_stats)

    ev = sub.add_parser("eval", help="evaluate a model on LAReQA tasks and print the per-setting table")
    _add_model(ev)
    ev.add_argument(
        "--tasks",
        default="XQuADR",
        help="comma-separated task names: XQuADR, MLQAR, XQuADR-Adv, MLQAR-Adv (default: XQuADR)",
    )
    ev.add_argument("--output-folder", help="write results in mteb's layout under <folder>/results/")
    ev.add_argument("--batch-size", type=int, default=64)
    ev.add_argument(
        "--candidate-text",
        choices=["sentence", "sentence+context"],
        default="sentence",
        help="encode candidates as the sentence alone (default) or sentence plus its paragraph (LAReQA's "
        "official encoding; recorded in the results' dataset revision)",
    )
    ev.add_argument(
        "--perturbations",
        action="append",
        metavar="JSONL",
        help="an external recipe for the -Adv tasks: JSONL of {qid, lang, text} lines (optional first line "
        '{"recipe": {"id", "description", "provenance"}}); reported per recipe, recorded in the revision; '
        "repeatable",
    )
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_data_dir(ev)
    ev.set_defaults(func=cmd_eval)

    # Each area owns its subcommands; these modules import only argparse at module level.
    from hbt_bench.adversarial.cli import add_commands as add_attack_commands
    from hbt_bench.training.cli import add_commands as add_training_commands

    add_attack_commands(sub)
    add_training_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HbtBenchError as exc:
        print(f"hbt-bench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
