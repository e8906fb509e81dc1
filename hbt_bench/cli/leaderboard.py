"""``hbt-bench leaderboard add / build / show``: put a model on the board, rebuild it, print it.

``add`` runs the board's tasks through ``hbt-bench eval``'s own parser and command (taken from the
top-level parser, so this module imports no ``hbt_bench.cli``: the same resume rule, writer and per-query
side files) and appends a registry row when the model has none (a
user's rows are never rewritten). ``build`` writes LEADERBOARD.md, site/ and the README sections; ``show``
prints the tables.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hbt_bench.cli.common import add_data_dir

DEFAULT_REGISTRY = "leaderboard/registry.toml"
#: Files whose ``<!-- leaderboard:begin -->`` section ``build`` rewrites (skipped without the marker).
DEFAULT_READMES = ("README.md", "leaderboard/README.md")


def default_tasks() -> list[str]:
    """The HBT and HBT-Adv tasks, plus HBT-DomainShift's that ``hbt-bench eval`` runs and whose data is
    present (mMARCOR only once `hbt-bench data build mmarco-r` has run)."""
    import mteb

    from hbt_bench.plugin.benchmark import ALL_TASKS
    from hbt_bench.plugin.register import register

    register()
    runnable = {c.metadata.name for c in ALL_TASKS if c.data_available()}
    names: list[str] = []
    for bench in ("HBT", "HBT-Adv", "HBT-DomainShift"):
        try:
            tasks = mteb.get_benchmark(bench).tasks
        except (KeyError, ValueError):
            continue
        names += [
            t.metadata.name for t in tasks if t.metadata.name in runnable and t.metadata.name not in names
        ]
    return names


def cmd_add(args: argparse.Namespace) -> int:
    from hbt_bench.cli.common import apply_data_dir, check_device
    from hbt_bench.leaderboard.entry_points import resolve_spec
    from hbt_bench.leaderboard.registry import append_row, load_registry
    from hbt_bench.plugin.models import mteb_encoder

    apply_data_dir(args)
    registry_path = Path(args.registry)
    registry = load_registry(registry_path) if registry_path.exists() else None
    root = Path(args.results) if args.results else registry_path.parent
    tasks = args.tasks or ",".join(default_tasks())
    spec = resolve_spec(args.model)
    if args.device:
        check_device(args.device)
    eval_argv = ["--model", spec, "--tasks", tasks, "--output-folder", str(root)]
    eval_argv += ["--batch-size", str(args.batch_size), *(["--quiet"] if args.quiet else [])]
    eval_argv += ["--languages", args.languages] if args.languages else []
    eval_args = args.eval_parser.parse_args(eval_argv)  # `hbt-bench eval`'s parser, defaults included
    model = mteb_encoder(spec, device=args.device)  # loaded once: its meta names the registry row
    eval_args.model = model
    meta = model.mteb_model_meta
    eval_args.func(eval_args)  # cmd_eval: resumes (reuses complete stored results), writes atomically
    row = registry.row(meta.name) if registry is not None else None
    if row is not None:
        print(f"registry: {meta.name} already has a row in {registry_path}; left as it is")
        return 0
    fields = {
        "name": meta.name,
        "spec": args.model,
        "label": args.name,
        "revision": meta.revision,
        "results": None if args.results is None else str(Path(args.results)),
        "n_parameters": meta.n_parameters,
        "license": meta.license,
        "languages": list(meta.languages) if meta.languages else None,
        "trained_here": False,
        "is_baseline": False,
        "description": args.description,
    }
    append_row(registry_path, fields)
    print(f"registry: added {meta.name} to {registry_path}; run `hbt-bench leaderboard build`")
    return 0


def _load(args: argparse.Namespace) -> tuple[dict, str]:
    from hbt_bench.leaderboard.build import render

    return render(Path(args.registry), Path(args.results) if args.results else None)


def cmd_build(args: argparse.Namespace) -> int:
    from hbt_bench.leaderboard.build import build

    readmes = [] if args.no_readmes else list(DEFAULT_READMES)
    result = build(args.registry, results_root=args.results, out_dir=args.out, readmes=readmes)
    for path in result.written:
        print(f"wrote {path}")
    for note in result.skipped:
        print(f"note: {note}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from hbt_bench.leaderboard.tables import terminal

    board, _ = _load(args)
    print(terminal(board, use_rich=False if args.plain else None), end="")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``leaderboard add / build / show`` to the top-level parser's subparsers."""
    lb = sub.add_parser(
        "leaderboard", help="the leaderboard: add a model, build the tables and site, show them"
    )
    lb_sub = lb.add_subparsers(dest="leaderboard_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--registry", default=DEFAULT_REGISTRY, help=f"registry file (default: {DEFAULT_REGISTRY})"
    )
    common.add_argument(
        "--results",
        help="ResultCache root of rows without their own `results` (default: the registry's folder, i.e. "
        "leaderboard/results/...)",
    )
    add = lb_sub.add_parser(
        "add", parents=[common], help="evaluate a model on the board's tasks and register it"
    )
    add.add_argument(
        "--model",
        required=True,
        help="builtin:<name>, hub id, a model name mteb registers (e.g. mteb/baseline-bm25s), local "
        "sentence-transformers folder, package.module:factory, or "
        "ep:<name> of an installed 'hbt_bench.models' entry point",
    )
    add.add_argument("--tasks", help="comma-separated tasks (default: the HBT and HBT-Adv benchmarks' tasks)")
    add.add_argument(
        "--name", help="display label of the new registry row (results stay under the model's name)"
    )
    add.add_argument("--description", help="description of the new registry row")
    add.add_argument(
        "--languages",
        help="comma-separated languages: a reduced variant of the tasks (as `hbt-bench eval --languages`: "
        "quick trials, recorded in the dataset revision)",
    )
    add.add_argument("--batch-size", type=int, default=64, help="texts per encoder call (default: 64)")
    add.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: sentence-transformers' choice)")
    add.add_argument("--quiet", action="store_true", help="no progress bars")
    add_data_dir(add)
    add.set_defaults(func=cmd_add, eval_parser=sub.choices["eval"])
    build = lb_sub.add_parser(
        "build", parents=[common], help="write LEADERBOARD.md, site/ and the README tables"
    )
    build.add_argument("--out", help="output folder (default: the registry's folder)")
    build.add_argument(
        "--no-readmes", action="store_true", help="leave README.md / leaderboard/README.md alone"
    )
    build.set_defaults(func=cmd_build)
    show = lb_sub.add_parser("show", parents=[common], help="print the leaderboard tables")
    show.add_argument("--plain", action="store_true", help="plain text even when rich is installed")
    show.set_defaults(func=cmd_show)
