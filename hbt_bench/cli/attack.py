"""``hbt-bench attack ...``: build the frozen perturbation sets and run model-targeted attacks.

Only argparse and the attack parameters' defaults (:mod:`hbt_bench.attacks.params`, stdlib only) are
imported at module level; the commands import what they need when they run.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from hbt_bench.attacks.params import SEARCH_METHODS, AttackParameters
from hbt_bench.cli.common import add_data_dir, add_model, apply_data_dir, canonical_name


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the ``attack`` command group to the top-level parser's subparsers."""
    attack = sub.add_parser("attack", help="adversarial perturbation sets and targeted attacks")
    attack_sub = attack.add_subparsers(dest="attack_command", required=True)
    _add_build_command(attack_sub)
    _add_compose_command(attack_sub)
    _add_run_command(attack_sub)


# --- attack run ------------------------------------------------------------------------------------

_DEFAULTS = {f.name: f.default for f in fields(AttackParameters)}  # one home for the defaults
_SET_VERSION = "v2"  # hbt_bench.adversarial.perturbation_sets.SET_VERSION (a test keeps them equal)


def _add_run_command(attack_sub: argparse._SubParsersAction) -> None:
    """``hbt-bench attack run``: model-targeted attacks, results kept apart as ``<Task>-TargetedAttack``."""

    run = attack_sub.add_parser(
        "run",
        help="attack one model: perturb queries until their answer leaves the top k (TextAttack search)",
        description="Model-targeted attack on XQuADR / MLQAR. For each selected subset, the first --limit "
        "queries (file order) are perturbed by a TextAttack search against --model until the best relevant "
        "candidate ranks below --k; queries already there are skipped. Prints success rate, words "
        "perturbed, model queries per example and mAP before -> after per subset, setting and language; "
        "--output-folder writes an mteb TaskResult '<Task>-TargetedAttack' and the adversarial examples "
        "(JSONL).",
    )
    add_model(run)
    run.add_argument("--task", default="XQuADR", help="XQuADR (default) or MLQAR")
    run.add_argument(
        "--limit", type=int, required=True, help="queries attacked per subset: the first N, in file order"
    )
    run.add_argument(
        "--subsets",
        help="comma-separated subsets, e.g. en-de,en-multi (default: every subset of --settings)",
    )
    run.add_argument(
        "--settings",
        help="comma-separated settings among mono, cross, multi (default: mono,multi, i.e. X-X and X-multi)",
    )
    run.add_argument(
        "--k",
        type=int,
        default=_DEFAULTS["k"],
        help=f"success once the best relevant ranks below k (default {_DEFAULTS['k']})",
    )
    run.add_argument(
        "--search",
        choices=SEARCH_METHODS,
        default=_DEFAULTS["search"],
        help="greedy word importance ranking (wir_method=delete; default) or beam search",
    )
    run.add_argument(
        "--beam-width",
        type=int,
        default=_DEFAULTS["beam_width"],
        help=f"beam width for --search beam (default {_DEFAULTS['beam_width']})",
    )
    run.add_argument(
        "--query-budget",
        type=int,
        default=_DEFAULTS["query_budget"],
        help=f"model queries per example, clean query included (default {_DEFAULTS['query_budget']})",
    )
    run.add_argument(
        "--max-words",
        type=int,
        default=_DEFAULTS["max_words"],
        help=f"at most this many words perturbed (default {_DEFAULTS['max_words']})",
    )
    run.add_argument(
        "--recipe",
        default=_DEFAULTS["recipe"],
        help=f"perturbation recipe id (default {_DEFAULTS['recipe']})",
    )
    run.add_argument(
        "--seed",
        type=int,
        default=_DEFAULTS["seed"],
        help=f"mixed into every query's seed (default {_DEFAULTS['seed']})",
    )
    run.add_argument("--output-folder", help="write results in mteb's layout under <folder>/results/")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    add_data_dir(run)
    run.set_defaults(func=cmd_attack_run)


def cmd_attack_run(args: argparse.Namespace) -> int:
    """Run the attack, print the table and, with ``--output-folder``, write the results."""

    from hbt_bench.attacks.report import format_report, save_report
    from hbt_bench.attacks.run import run_targeted_attack

    apply_data_dir(args)
    params = AttackParameters(
        limit=args.limit,
        k=args.k,
        search=args.search,
        beam_width=args.beam_width,
        query_budget=args.query_budget,
        max_words=args.max_words,
        recipe=args.recipe,
        seed=args.seed,
    )
    from hbt_bench.attacks.tasks import ATTACK_TASKS

    report = run_targeted_attack(
        args.model,
        canonical_name(args.task, ATTACK_TASKS),  # xquad-r = XQuADR; an unknown name is reported below
        params,
        subsets=args.subsets,
        settings=args.settings,
        show_progress=not args.quiet,
    )
    print(
        format_report(
            report.task_name,
            report.model_meta.name,
            report.subset_scores,
            report.languages,
            report.parameters,
        )
    )
    if args.output_folder:
        written = save_report(report, args.output_folder)
        print(f"\nwrote {len(written)} files under {Path(args.output_folder) / 'results'}")
    return 0


# --- attack build / attack recipes -------------------------------------------------------------------


def _add_seed_and_jobs(parser: argparse.ArgumentParser) -> None:
    """The recipes' base seed and worker count (``attack build``, ``attack compose``)."""
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument(
        "--jobs", type=int, default=1, help="worker processes; the output does not depend on it"
    )


def _add_build_command(attack_sub: argparse._SubParsersAction) -> None:
    """``hbt-bench attack build`` (write or --check the frozen sets) and ``attack recipes`` (list them)."""

    build = attack_sub.add_parser(
        "build",
        help="build the frozen perturbation sets into tasks/perturbations (needs TextAttack)",
        description="Run every recipe over every question of each dataset and write the versioned set "
        "(manifest + one edit-script file per recipe) under tasks/perturbations/<dataset>/<version>/, "
        "atomically. --check rebuilds in memory and compares every file's content sha256 with the shipped "
        "manifest instead of writing (exit 1 on any difference).",
    )
    build.add_argument(
        "--datasets",
        "--dataset",
        default="xquad-r,mlqa-r",
        help="comma-separated (default: xquad-r,mlqa-r). mmarco-r: every language of your mMARCO-R "
        "build (`hbt-bench data build mmarco-r`), written inside the build "
        "(<build>/perturbations/mmarco-r/<version>/); its pinned languages (English) must reproduce the "
        "shipped reference byte for byte",
    )
    build.add_argument(
        "--reference",
        action="store_true",
        help="mmarco-r, maintainers: build the shipped English reference instead, from the MS MARCO "
        "dev-small topics file under --data-dir/$HBT_BENCH_DATA_DIR (with --into-package: the set that "
        "ships)",
    )
    build.add_argument(
        "--version",
        default=_SET_VERSION,
        help=f"set version folder, a plain name such as v3 (default: {_SET_VERSION}, the -Adv tasks' set)",
    )
    build.add_argument("--recipes", help="comma-separated recipe ids (default: the leaderboard recipes)")
    _add_seed_and_jobs(build)
    where = build.add_mutually_exclusive_group()
    where.add_argument(
        "--out",
        help="root folder to write into (or, with --check, to compare with); default for writing: "
        "$HBT_BENCH_PERTURBATIONS_DIR if set, else ~/.local/share/hbt-bench/perturbations (evaluate with "
        "HBT_BENCH_PERTURBATIONS_DIR=<root>)",
    )
    where.add_argument(
        "--into-package",
        action="store_true",
        help="write into the package's own tasks/perturbations (maintainers, in a source checkout: the sets "
        "that ship)",
    )
    build.add_argument("--check", action="store_true", help="compare with the shipped set, write nothing")
    add_data_dir(build)
    build.set_defaults(func=_cmd_build)

    recipes = attack_sub.add_parser("recipes", help="list the perturbation recipes")
    recipes.set_defaults(func=_cmd_recipes)


def _cmd_build(args: argparse.Namespace) -> int:
    from hbt_bench.adversarial.build import build_set
    from hbt_bench.data.sources import SOURCES
    from hbt_bench.errors import HbtBenchError
    from hbt_bench.paths import safe_component

    apply_data_dir(args)
    safe_component(args.version, "--version")  # a folder name: "", ".", "../mlqa-r" would hit other sets
    from hbt_bench.cli.data_mmarco import is_mmarco
    from hbt_bench.data.mmarco import DATASET as MMARCO

    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    datasets = [MMARCO if is_mmarco(d) else canonical_name(d, list(SOURCES)) for d in names]
    unknown = [d for d in datasets if d not in SOURCES and d != MMARCO]
    if unknown or not datasets:
        raise HbtBenchError(
            f"--datasets: unknown {', '.join(unknown) or '(none)'}; choose from "
            f"{', '.join([*SOURCES, MMARCO])}"
        )
    if args.reference and datasets != [MMARCO]:
        raise HbtBenchError("--reference applies to --dataset mmarco-r alone")
    if args.jobs < 1:
        raise HbtBenchError(f"--jobs must be >= 1, got {args.jobs}")
    recipe_ids = [r.strip() for r in args.recipes.split(",") if r.strip()] if args.recipes else None
    if recipe_ids:
        from hbt_bench.adversarial.recipes import RECIPES

        bad = [r for r in recipe_ids if r not in RECIPES]
        if bad:
            raise HbtBenchError(f"--recipes: unknown {', '.join(bad)}; see `hbt-bench attack recipes`")
    status = 0
    for dataset in datasets:
        if dataset == MMARCO and not args.reference:
            status = _build_mmarco_local(args, recipe_ids) or status
            continue
        if dataset == MMARCO:
            from hbt_bench.adversarial.mmarco_sets import build_reference_set

            built = build_reference_set(
                args.version, recipe_ids, seed=args.seed, jobs=args.jobs, progress=True
            )
            status = _check_or_write(args, dataset, built) or status
            continue
        built = build_set(dataset, args.version, recipe_ids, seed=args.seed, jobs=args.jobs, progress=True)
        status = _check_or_write(args, dataset, built) or status
    return status


def _check_or_write(args: argparse.Namespace, dataset: str, built: Any) -> int:
    """``--check``: compare with the shipped (or --out) set, 1 on a difference; else write the set."""
    from hbt_bench.adversarial.build import check_set, write_set

    if args.check:
        problems = check_set(built, _build_destination(args) if args.into_package else args.out)
        for p in problems:
            print(f"{dataset} {args.version}: {p}")
        print(f"{dataset} {args.version}: {'DIFFERS' if problems else 'identical to the shipped set'}")
        return 1 if problems else 0
    folder = write_set(built, _build_destination(args))
    n = sum(e["records"] for e in built.manifest["recipes"])
    print(f"wrote {folder} ({len(built.manifest['recipes'])} recipes, {n} records)")
    return 0


def _build_mmarco_local(args: argparse.Namespace, recipe_ids: list[str] | None) -> int:
    """``--dataset mmarco-r``: the user's full set, written into (``--check``: compared with) their build."""
    from hbt_bench.adversarial.build import check_set
    from hbt_bench.adversarial.local_sets import local_sets_root
    from hbt_bench.adversarial.mmarco_sets import build_local_set, write_local_set
    from hbt_bench.errors import HbtBenchError

    if args.out or args.into_package:
        raise HbtBenchError(
            "--dataset mmarco-r: the set is written inside the mMARCO-R build (<build>/perturbations/); "
            "--out and --into-package do not apply (--reference builds the shipped English reference)"
        )
    build, built = build_local_set(args.version, recipe_ids, seed=args.seed, jobs=args.jobs, progress=True)
    for lang, outcome in built.manifest["source"]["pinned"].items():
        print(f"mmarco-r {args.version} {lang}: {outcome}")
    if args.check:
        problems = check_set(built, local_sets_root(build))
        for p in problems:
            print(f"mmarco-r {args.version}: {p}")
        print(f"mmarco-r {args.version}: {'DIFFERS' if problems else 'identical to the local set'}")
        return 1 if problems else 0
    folder = write_local_set(build, built)
    n = sum(e["records"] for e in built.manifest["recipes"])
    print(f"wrote {folder} ({len(built.manifest['recipes'])} recipes, {n} records)")
    return 0


def _build_destination(args: argparse.Namespace) -> Path:
    """Where ``attack build`` writes: never into an installed package unless asked (``--into-package``)."""
    from hbt_bench.adversarial.perturbation_sets import PERTURBATIONS_DIR_ENV
    from hbt_bench.resources import tasks_dir

    if args.into_package:
        return tasks_dir() / "perturbations"
    if args.out or os.environ.get(PERTURBATIONS_DIR_ENV):
        return Path(args.out or os.environ[PERTURBATIONS_DIR_ENV]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data_home) / "hbt-bench" / "perturbations"


def _add_compose_command(attack_sub: argparse._SubParsersAction) -> None:
    """``hbt-bench attack compose``: chain shipped recipes into an external recipe file."""
    compose = attack_sub.add_parser(
        "compose",
        help="chain recipes into an external recipe file (for eval --perturbations)",
        description="Apply --recipes in order (each to the previous one's output) to every question of "
        "--dataset and write an external recipe file (header + {qid, lang, text} lines) for "
        "`hbt-bench eval --tasks XQuADR-Adv --perturbations FILE`: e.g. a paraphrase-style stand-in, "
        "en-synonym@10pct,word-shuffle@10pct, where no paraphrase generator is available. The file holds "
        "question text; it is never overwritten.",
    )
    compose.add_argument("--recipes", required=True, help="comma-separated recipe ids, applied in order")
    compose.add_argument("--dataset", default="xquad-r", help="xquad-r (default) or mlqa-r")
    compose.add_argument("--id", required=True, help="the recipe's id in results (map_<id>); no '@'")
    compose.add_argument("--out", required=True, help="the file to write (must not exist)")
    compose.add_argument(
        "--languages", help="comma-separated (default: every language all the recipes apply to)"
    )
    _add_seed_and_jobs(compose)
    add_data_dir(compose)
    compose.set_defaults(func=_cmd_compose)


def _cmd_compose(args: argparse.Namespace) -> int:
    from hbt_bench.adversarial.build import generator_versions
    from hbt_bench.adversarial.compose import (
        check_recipe_id,
        compose_languages,
        compose_recipe,
        write_external_recipe,
    )
    from hbt_bench.adversarial.recipes import get_recipe
    from hbt_bench.adversarial.textattack_adapter import import_textattack
    from hbt_bench.data.lareqa import load_lareqa
    from hbt_bench.data.sources import SOURCES, get_source
    from hbt_bench.errors import HbtBenchError

    apply_data_dir(args)
    if args.jobs < 1:
        raise HbtBenchError(f"--jobs must be >= 1, got {args.jobs}")
    dataset = canonical_name(args.dataset, list(SOURCES))
    if dataset not in SOURCES:
        raise HbtBenchError(f"--dataset: unknown {args.dataset!r}; choose from {', '.join(SOURCES)}")
    out = Path(args.out)
    if out.exists() or out.is_symlink():  # before minutes of work
        raise HbtBenchError(f"--out {out} exists: not overwriting it")
    if not out.parent.is_dir():
        raise HbtBenchError(f"--out {out}: folder {out.parent} does not exist")
    check_recipe_id(args.id)  # every argument is checked before TextAttack loads and the questions are read
    ids = [r.strip() for r in args.recipes.split(",") if r.strip()]
    if not ids:
        raise HbtBenchError("--recipes: give at least one recipe id; see `hbt-bench attack recipes`")
    try:
        recipes = [get_recipe(r) for r in ids]
    except ValueError as exc:
        raise HbtBenchError(f"--recipes: {exc}") from None
    languages = (
        [lang.strip() for lang in args.languages.split(",") if lang.strip()] if args.languages else None
    )
    import_textattack()
    corpus = load_lareqa(dataset)
    source = get_source(dataset)
    languages = compose_languages(recipes, corpus, languages)
    composed = compose_recipe(
        recipes,
        corpus,
        recipe_id=args.id,
        seed=args.seed,
        languages=languages,
        jobs=args.jobs,
        provenance={
            "source_sha256": {lang: source.file(lang).sha256 for lang in languages},
            "generator": generator_versions(),
        },
    )
    path = write_external_recipe(out, composed)
    for lang, counts in composed.counts().items():
        print(f"{lang}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    print(f"wrote {path} ({len(composed.records)} questions, recipe id {args.id!r})")
    return 0


def _cmd_recipes(args: argparse.Namespace) -> int:
    from hbt_bench.adversarial.recipes import LEADERBOARD_RECIPES, RECIPES

    print(f"{'recipe':<22}{'core':<6}{'languages':<12}description")
    for rid, r in RECIPES.items():
        langs = "all" if r.languages is None else ",".join(r.languages)
        mark = "*" if rid in LEADERBOARD_RECIPES else " "
        print(f"{mark}{rid:<21}{'yes' if r.core else 'no':<6}{langs:<12}{r.description}")
    print("\n* = in the frozen leaderboard sets; core = counted in the -Adv tasks' main score")
    # The descriptions are frozen in the sets' manifests; this one needs a gloss, not a new set version.
    print("word-drop: 'never the last word' = the last *remaining* word: a question never loses all words")
    return 0
