"""Arguments and checks shared by the ``hbt-bench`` subcommands (eval, data, attack, train)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from hbt_bench.errors import HbtBenchError


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help="directory laid out like <dir>/xquad-r/<lang>.json (overrides HBT_BENCH_DATA_DIR; files are "
        "still checked against their pinned sha256)",
    )


def add_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="hub id, local sentence-transformers directory, builtin:<name> (hash-ngram, use-m) "
        "or package.module:factory",
    )


def apply_data_dir(args: argparse.Namespace) -> None:
    # Through the environment so that task objects built by mteb (mteb.get_task) see it too.
    if getattr(args, "data_dir", None):
        path = Path(args.data_dir).expanduser().resolve()
        if not path.is_dir():
            raise HbtBenchError(f"--data-dir {args.data_dir}: not a directory")
        os.environ["HBT_BENCH_DATA_DIR"] = str(path)
