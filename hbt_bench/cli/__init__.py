"""hbt-bench: multilingual answer retrieval (XQuAD-R, MLQA-R) in the LAReQA settings, clean and under attack.

Scores any encoder on monolingual (X-X), cross-lingual (X-Y) and pooled multilingual (X-multi) retrieval
with full-list mAP and the language-bias metric (rank distance), on the clean tasks and on frozen
adversarial perturbation sets; builds those sets, runs model-targeted attacks, and trains encoders with the
hybrid batch recipe. The same tasks run through ``mteb run`` (they register with mteb on install).

examples:
  hbt-bench eval --model ./my-model --tasks XQuADR --languages en,de     a small first run
  hbt-bench eval --model intfloat/multilingual-e5-small --tasks XQuADR,XQuADR-Adv --output-folder out
  hbt-bench data stats xquad-r                                          questions and candidates
  hbt-bench attack recipes                                              the perturbation recipes
  hbt-bench train --config examples/train_hybrid.toml                   the hybrid batch recipe
  mteb run -t XQuADR-Adv -m ./my-model                                  the same through mteb

Task and dataset names are one namespace: XQuADR, xquad-r and xquadr name the same data everywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hbt_bench.cli.common import (
    add_data_dir,
    add_model,
    apply_data_dir,
    check_device,
    dataset_of_task,
    resolve_name,
    silence_progress_bars,
)
from hbt_bench.errors import HbtBenchError
from hbt_bench.formatting import fmt_score

DATASETS_HELP = "xquad-r or mlqa-r (XQuADR / MLQAR work too)"


def cmd_data_stats(args: argparse.Namespace) -> int:
    from hbt_bench.cli.data_mmarco import cmd_stats, is_mmarco
    from hbt_bench.data.lareqa import load_lareqa

    if is_mmarco(args.dataset):
        return cmd_stats(args)
    apply_data_dir(args)
    stats = load_lareqa(dataset_of_task(args.dataset)).stats()
    if args.json:
        print(json.dumps(stats, indent=2, sort_keys=False))
        return 0
    print(f"{stats['dataset']}: {stats['questions']} questions, pool of {stats['pool']} candidate sentences")
    print(f"{'lang':<6}{'questions':>10}{'candidates':>12}")
    for lang, row in stats["languages"].items():
        print(f"{lang:<6}{row['questions']:>10}{row['candidates']:>12}")
    return 0


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
            f"{lang:<7}{fmt_score(row['mono']):>8}{fmt_score(row['cross']):>8}{fmt_score(row['multi']):>8}"
            f"{fmt_score(row['rank_distance'], 1):>9}",
            file=out,
        )
    s = setting_scores(result)
    print(
        f"{'mean':<7}{fmt_score(s['mono']):>8}{fmt_score(s['cross']):>8}{fmt_score(s['multi']):>8}"
        f"{fmt_score(s['language_bias'], 1):>9}",
        file=out,
    )
    # A search model that returned fewer candidates than the pool holds gave a truncated run: say so.
    cut = {
        name: (int(v["search_depth"]), int(v["num_candidates"]))
        for name, v in scores.items()
        if "search_depth" in v and "num_candidates" in v and v["search_depth"] < v["num_candidates"]
    }
    if cut:
        depth = min(d for d, _ in cut.values())
        print(
            f"truncated runs: search depth {depth} (fewest candidates returned for a query) below the "
            f"candidate count in {len(cut)} of {len(scores)} subsets; unreturned relevant candidates are "
            "ranked last, so these mAPs are lower bounds",
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
            f"{fmt_score(adv[k], d)} / {fmt_score(clean[k], d)}"
            for k, d in (("mono", 3), ("cross", 3), ("multi", 3), ("rank_distance", 0))
        ]
        print(f"{lang:<7}" + "".join(f"{c:>16}" for c in cells), file=out)
    print(
        f"relative robustness (mean adversarial / clean mAP over subsets): {fmt_score(robustness(result))}",
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
            f"{rid:<24}{fmt_score(r['mono']):>8}{fmt_score(r['cross']):>8}{fmt_score(r['multi']):>8}"
            f"{fmt_score(r['language_bias'], 1):>9}",
            file=out,
        )


def _check_output_folder(folder: str | None) -> Path | None:
    """Fail before any model loads when ``--output-folder`` can never be written (a file, no permission)."""
    if not folder:
        return None
    path = Path(folder).expanduser()
    if path.exists() and not path.is_dir():
        raise HbtBenchError(f"--output-folder {folder}: exists and is not a directory")
    probe = path
    while not probe.exists():  # the nearest existing ancestor must be a writable directory
        probe = probe.parent
    if not probe.is_dir():
        raise HbtBenchError(f"--output-folder {folder}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise HbtBenchError(f"--output-folder {folder}: {probe} is not writable")
    return path


def _stored_result(out: Path | None, meta: Any, task: Any, strategy: str) -> Any:
    """The complete stored result of ``task`` to reuse, or ``None`` to compute it (checked up front).

    A stored file on another dataset revision is never reused nor replaced (ResultConflictError); an
    incomplete one is recomputed as a whole (our tasks encode every text once anyway).
    """
    from mteb.results import TaskResult

    from hbt_bench.results import check_no_conflict, result_path

    name = task.metadata.name
    if out is None:
        if strategy == "only-cache":
            raise HbtBenchError("--overwrite-strategy only-cache needs --output-folder")
        return None
    path = result_path(out, meta, name)
    check_no_conflict(path, name, task.metadata.revision)
    try:
        stored = TaskResult.from_disk(path) if path.is_file() else None
    except Exception as exc:  # pydantic / JSON errors of a damaged file
        raise HbtBenchError(f"{path}: not a readable {name} result ({exc}); move it away") from exc
    missing = stored.get_missing_evaluations(task) if stored is not None else None
    if strategy == "only-cache" and (stored is None or missing):
        raise HbtBenchError(f"--overwrite-strategy only-cache: no complete {name} result at {path}")
    if strategy == "never" and stored is not None and missing:
        raise HbtBenchError(
            f"--overwrite-strategy never: {path} lacks {name} subsets {missing}; use only-missing to rerun"
        )
    if strategy == "always" or stored is None or missing:
        return None
    return stored


def _cached_encoder(model: Any, cache_dir: str, meta: Any, tasks: list[Any]) -> Any:
    """The embedding cache in ``<dir>/<model>/<revision>`` (mteb keys by task and text only); see
    :mod:`hbt_bench.plugin.embedding_cache`."""
    from hbt_bench.plugin.embedding_cache import cached_encoder
    from hbt_bench.results import check_result_names

    check_result_names(meta)
    root = Path(cache_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise HbtBenchError(f"--embedding-cache {cache_dir}: exists and is not a directory")
    return cached_encoder(model, root / meta.model_name_as_path() / meta.revision, tasks)


def _matching_subsets(task: Any, patterns: str) -> list[str]:
    """The task's subsets matching any of the comma-separated shell patterns (``en-*,*-multi``)."""
    from fnmatch import fnmatchcase

    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    names = [n for n in task.hf_subsets if any(fnmatchcase(n, p) for p in wanted)]
    if not names:
        raise HbtBenchError(
            f"--subsets {patterns}: matches none of {task.metadata.name}'s subsets "
            f"({', '.join(task.hf_subsets[:4])}, ...)"
        )
    return names


def cmd_eval(args: argparse.Namespace) -> int:
    if args.quiet:
        silence_progress_bars()  # before mteb imports datasets, and before a bm25s model is loaded
    import mteb

    from hbt_bench.plugin.benchmark import ALL_TASKS, is_adversarial
    from hbt_bench.plugin.models import mteb_encoder
    from hbt_bench.plugin.register import register
    from hbt_bench.results import check_result_names, result_path, save_results_atomically

    apply_data_dir(args)
    out = _check_output_folder(args.output_folder)
    register()
    names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    classes = {cls.metadata.name: cls for cls in ALL_TASKS}
    names = [resolve_name(name, list(classes), "--tasks") for name in names]
    if args.perturbations and not any(is_adversarial(n) for n in names):
        raise HbtBenchError("--perturbations: only the -Adv tasks take external perturbations")
    for path in args.perturbations or ():
        if not Path(path).is_file():
            raise HbtBenchError(f"--perturbations {path}: no such file")
    options: dict[str, Any] = {"candidate_mode": args.candidate_text}
    if args.languages:
        options["languages"] = [x.strip() for x in args.languages.split(",") if x.strip()]
    tasks = []
    for name in names:
        extra = {"external_recipes": args.perturbations or ()} if is_adversarial(name) else {}
        try:
            task = classes[name](**options, **extra)
        except ValueError as exc:
            raise HbtBenchError(f"--languages: {exc}") from exc
        if args.subsets:
            task.filter_languages(None, hf_subsets=_matching_subsets(task, args.subsets))
        tasks.append(task)
    if args.device:
        check_device(args.device)
    model = mteb_encoder(args.model, device=args.device)
    meta = model.mteb_model_meta
    # Every name that becomes a path, and every stored result, is checked before anything is computed.
    check_result_names(meta, names)
    stored = {task.metadata.name: _stored_result(out, meta, task, args.overwrite_strategy) for task in tasks}
    with contextlib.ExitStack() as stack:  # the cache's folders are released when the run ends
        if args.embedding_cache:
            model = stack.enter_context(_cached_encoder(model, args.embedding_cache, meta, tasks))
        encode_kwargs = {"batch_size": args.batch_size}
        for task in tasks:
            name = task.metadata.name
            tr = stored[name]
            if tr is not None:
                print(f"{name}: reusing the complete stored result {result_path(out, meta, name)}")
            else:
                result = mteb.evaluate(
                    model,
                    [task],
                    cache=None,  # our writer: atomic, locked, never replaces another dataset revision
                    # per-encode bars (texts done, rate, ETA) and per-recipe bars on -Adv, unless --quiet
                    encode_kwargs={**encode_kwargs, "show_progress_bar": not args.quiet},
                    co2_tracker=False,
                    show_progress_bar=not args.quiet,
                )
                [tr] = result.task_results
                if out is not None:  # written as soon as the task is done, so a killed run resumes from here
                    written = save_results_atomically([tr], meta, out, encode_kwargs)
                    print(f"{name}: wrote {len(written)} files under {out / 'results'}")
            print_task_summary(tr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hbt-bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="inspect the benchmark data")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    stats = data_sub.add_parser("stats", help="question and candidate counts (paper Table 10)")
    stats.add_argument("dataset", help=DATASETS_HELP)
    stats.add_argument("--json", action="store_true", help="print JSON")
    add_data_dir(stats)
    stats.set_defaults(func=cmd_data_stats)

    ev = sub.add_parser("eval", help="evaluate a model on LAReQA tasks and print the per-setting table")
    add_model(ev)
    ev.add_argument(
        "--tasks",
        default="XQuADR",
        help="comma-separated task names: XQuADR, MLQAR, XQuADR-Adv, MLQAR-Adv (default: XQuADR)",
    )
    ev.add_argument(
        "--output-folder",
        help="write each task's result in mteb's layout under <folder>/results/ as soon as it is done; a "
        "re-run reuses complete results (see --overwrite-strategy), so a killed run resumes",
    )
    ev.add_argument(
        "--batch-size",
        type=int,
        default=64,
        help="texts per encoder call (default: 64); lower it if memory runs out",
    )
    ev.add_argument(
        "--candidate-text",
        choices=["sentence", "sentence+context-xtreme"],
        default="sentence",
        help="encode candidates as the sentence alone (default) or as sentence plus paragraph joined exactly "
        "as XTREME-R does, (sentence + context).replace('\\n', '') (recorded in the results' dataset "
        "revision)",
    )
    ev.add_argument(
        "--perturbations",
        action="append",
        metavar="JSONL",
        help="an external recipe for the -Adv tasks: JSONL of {qid, lang, text} lines (optional first line "
        '{"recipe": {"id", "description", "provenance"}}); reported per recipe, recorded in the revision; '
        "repeatable",
    )
    ev.add_argument(
        "--languages",
        help="comma-separated LAReQA languages (e.g. en,de): the tasks, pooled corpus included, are reduced "
        "to them (a variant: recorded in the dataset revision, never replaces a full result)",
    )
    ev.add_argument(
        "--subsets",
        metavar="PATTERNS",
        help="comma-separated subset names or shell patterns (e.g. 'en-*,de-*' = English and German "
        "queries against every candidate language and the full pool): the standard scores of just those "
        "subsets (unlike --languages, the task and its pool stay whole; the result file is partial)",
    )
    ev.add_argument(
        "--overwrite-strategy",
        choices=["only-missing", "always", "never", "only-cache"],
        default="only-missing",
        help="as mteb's: only-missing (default) reuses a complete stored result of the same dataset revision "
        "and computes the rest, so a killed run resumes; always recomputes; never refuses to complete a "
        "partial file; only-cache only reads stored results",
    )
    ev.add_argument(
        "--embedding-cache",
        metavar="DIR",
        help="keep embeddings on disk (mteb's CachedEmbeddingWrapper, under DIR/<model>/<revision>/): a "
        "re-run encodes only texts not seen before, and an -Adv task reuses its clean task's candidates "
        "(for encoders whose embeddings do not depend on the task); one run per task folder at a time",
    )
    ev.add_argument(
        "--device",
        help="where a loaded model runs: cpu, cuda, cuda:1, mps (default: sentence-transformers' choice, "
        "a GPU when there is one); ignored by the built-in encoders",
    )
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    add_data_dir(ev)
    ev.set_defaults(func=cmd_eval)

    # Each area owns its subcommands; these modules import only argparse at module level.
    from hbt_bench.cli.attack import add_commands as add_attack_commands
    from hbt_bench.cli.data_mmarco import add_commands as add_mmarco_commands
    from hbt_bench.cli.leaderboard import add_commands as add_leaderboard_commands
    from hbt_bench.cli.models import add_commands as add_model_commands
    from hbt_bench.cli.report import add_commands as add_report_commands
    from hbt_bench.cli.scale import add_commands as add_scale_commands
    from hbt_bench.cli.train import add_commands as add_training_commands

    add_attack_commands(sub)
    add_model_commands(sub)
    add_mmarco_commands(sub)
    add_training_commands(sub)
    add_leaderboard_commands(sub)
    add_report_commands(sub)
    add_scale_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HbtBenchError as exc:
        print(f"hbt-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Results are written atomically per task, so what is on disk is complete: a re-run resumes.
        print("hbt-bench: interrupted", file=sys.stderr)
        return 130
