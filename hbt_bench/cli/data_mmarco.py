"""``hbt-bench data build mmarco-r`` and ``hbt-bench data stats mmarco-r``: the mMARCO-R dataset (web
search)."""

from __future__ import annotations

import argparse
import json

from hbt_bench.cli.common import _name_key, apply_data_dir
from hbt_bench.errors import HbtBenchError

DATASET_KEY = "mmarcor"  # mmarco-r, mMARCOR, mmarcor: one name


def is_mmarco(name: str) -> bool:
    """Whether a dataset or task name (any case, with or without '-') means mMARCO-R."""
    return _name_key(name) == DATASET_KEY


def _data_subparsers(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The subcommand group of ``hbt-bench data`` (built in cli/__init__.py)."""
    data = sub.choices["data"]
    for action in data._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError("hbt-bench data has no subcommands")  # pragma: no cover - parser layout changed


def add_commands(sub: argparse._SubParsersAction) -> None:
    from hbt_bench.data.mmarco import (
        DEFAULT_LANGUAGES,
        DEFAULT_NEGATIVES,
        DEFAULT_QUERIES,
        DEFAULT_SEED,
        HUB_REVISION,
    )

    build = _data_subparsers(sub).add_parser(
        "build",
        help="build a dataset that cannot ship (mmarco-r): streams only the needed rows, resumable",
        description="Build mMARCO-R (MS MARCO web search in the LAReQA settings) into the cache (or "
        "--output): a seeded sample of dev-small queries, their judged passages and BM25 hard negatives, "
        "the same passage ids in every language. Streams the hub's unicamp-dl/mmarco files (never loading "
        "a collection whole) or a local copy laid out like it; a killed build resumes when run again with "
        "the same arguments.",
    )
    build.add_argument("dataset", help="mmarco-r")
    build.add_argument(
        "--languages",
        default=",".join(DEFAULT_LANGUAGES),
        help=f"comma-separated mMARCO languages (default: {','.join(DEFAULT_LANGUAGES)}; any of ar de en es "
        "fr hi "
        "id it ja nl pt ru vi zh)",
    )
    build.add_argument(
        "--queries", type=int, default=DEFAULT_QUERIES, help=f"sampled queries (default {DEFAULT_QUERIES})"
    )
    build.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"sample seed (default {DEFAULT_SEED})")
    build.add_argument(
        "--negatives",
        type=int,
        default=DEFAULT_NEGATIVES,
        help=f"BM25 hard negatives per query per language (default {DEFAULT_NEGATIVES})",
    )
    build.add_argument(
        "--source",
        help="a local folder laid out like the hub repository, or https://huggingface.co/datasets/<repo> "
        "(default: the hub's unicamp-dl/mmarco)",
    )
    build.add_argument("--revision", default=HUB_REVISION, help=f"hub revision (default {HUB_REVISION})")
    build.add_argument("--output", help="the dataset folder to write (default: <cache>/mmarco-r)")
    build.add_argument(
        "--qrels-dir",
        help="a data dir holding mmarco/qrels.msmarco-passage.dev-subset.txt (default: "
        "HBT_BENCH_DATA_DIR, else downloaded into the cache)",
    )
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.set_defaults(func=cmd_build)


def cmd_build(args: argparse.Namespace) -> int:
    from hbt_bench.data.mmarco_build import build_mmarco_r

    if not is_mmarco(args.dataset):
        raise HbtBenchError(f"data build: unknown dataset {args.dataset!r} (buildable: mmarco-r)")
    report = build_mmarco_r(
        [x.strip() for x in args.languages.split(",") if x.strip()],
        queries=args.queries,
        seed=args.seed,
        negatives=args.negatives,
        source=args.source,
        revision=args.revision,
        output=args.output,
        qrels=args.qrels_dir,
        progress=not args.quiet,
    )
    counts = report.manifest["counts"]
    print(
        f"mmarco-r: {counts['queries']} queries, {counts['passages_per_language']} passages per language, "
        f"pool of {counts['pool']} in {len(counts['languages'])} languages -> {report.path}"
    )
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """``data stats mmarco-r``: the sizes of the built dataset, from its manifest."""
    from hbt_bench.data.mmarco import mmarco_stats

    apply_data_dir(args)
    stats = mmarco_stats()
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(
        f"{stats['dataset']}: {stats['queries']} queries, {stats['passages_per_language']} passages per "
        "language, "
        f"pool of {stats['pool']} ({stats['path']})"
    )
    print(f"{'lang':<6}{'queries':>10}{'passages':>12}")
    for lang, row in stats["languages"].items():
        print(f"{lang:<6}{row['queries']:>10}{row['passages']:>12}")
    return 0
