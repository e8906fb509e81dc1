"""Arguments and checks shared by the ``hbt-bench`` subcommands (eval, data, attack, train)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from hbt_bench.errors import HbtBenchError


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help="directory laid out like <dir>/xquad-r/<lang>.json (overrides HBT_BENCH_DATA_DIR; files are "
        "still checked against their pinned sha256)",
    )


def add_model(parser: argparse.ArgumentParser) -> None:
    from hbt_bench.encoders import BUILTIN_ENCODERS  # numpy only; the one list of built-ins

    parser.add_argument(
        "--model",
        required=True,
        help=f"hub id, a model name mteb registers (loaded as `mteb run -m` does, e.g. mteb/baseline-bm25s), "
        f"local sentence-transformers directory, builtin:<name> ({', '.join(BUILTIN_ENCODERS)}) "
        "or package.module:factory",
    )


def apply_data_dir(args: argparse.Namespace) -> None:
    # Through the environment so that task objects built by mteb (mteb.get_task) see it too.
    if getattr(args, "data_dir", None):
        path = Path(args.data_dir).expanduser().resolve()
        if not path.is_dir():
            raise HbtBenchError(f"--data-dir {args.data_dir}: not a directory")
        os.environ["HBT_BENCH_DATA_DIR"] = str(path)


def _name_key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _same_name(value: str, choices: Sequence[str]) -> list[str]:
    return [c for c in choices if _name_key(c) == _name_key(value)]


def resolve_name(value: str, choices: Sequence[str], option: str) -> str:
    """The entry of ``choices`` that ``value`` names, ignoring case, ``-`` and ``_``.

    Dataset ids and task names are one namespace for the user: ``xquad-r``, ``XQuADR`` and ``xquadr`` are the
    same thing in every command (``data stats``, ``eval --tasks``, ``attack build/run``).
    """
    matches = _same_name(value, choices)
    if len(matches) != 1:
        raise HbtBenchError(f"{option}: unknown name {value!r} (choose from {', '.join(choices)})")
    return matches[0]


def canonical_name(value: str, choices: Sequence[str]) -> str:
    """The entry of ``choices`` that ``value`` names (as :func:`resolve_name`), or ``value`` unchanged
    (the command then reports it with its own message)."""
    matches = _same_name(value, choices)
    return matches[0] if len(matches) == 1 else value


def dataset_of_task(name: str) -> str:
    """The LAReQA dataset id (``xquad-r``) that a task or dataset name (``XQuADR``, ``XQuADR-Adv``) reads."""
    from hbt_bench.data.sources import SOURCES

    matches = _same_name(_name_key(name).removesuffix("adv"), list(SOURCES))
    if len(matches) == 1:
        return matches[0]
    raise HbtBenchError(f"unknown dataset {name!r} (choose from {', '.join(SOURCES)})")


def check_device(device: str) -> None:
    """Fail before anything loads when ``--device`` is not a torch device this machine has."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise HbtBenchError(f"--device {device}: not a torch device ({exc})") from exc
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise HbtBenchError(f"--device {device}: no CUDA device is available (torch {torch.__version__})")
        if dev.index is not None and dev.index >= count:
            raise HbtBenchError(f"--device {device}: there are only {count} CUDA devices")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise HbtBenchError(f"--device {device}: MPS is not available on this machine")


#: Switches that third-party libraries read for their own progress bars (``--quiet`` cannot reach them
#: through mteb): bm25s reads DISABLE_TQDM when imported, HF datasets and the hub read theirs when used.
_PROGRESS_ENV = {
    "DISABLE_TQDM": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}


def silence_progress_bars() -> None:
    """``--quiet``: turn off the progress bars that libraries below mteb draw on their own (bm25s's
    tokenize/index/retrieve, datasets' map), for the rest of this process."""
    import sys

    os.environ.update(_PROGRESS_ENV)
    if "datasets" in sys.modules:  # already imported: its switch was read; flip it directly
        from datasets.utils import disable_progress_bars

        disable_progress_bars()
