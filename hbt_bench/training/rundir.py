"""The run directory of a training: its layout, the staging folder, the atomic swap and the summary.

::

    <output_dir>/model/                  the sentence-transformers model (LoRA merged), prompts in its config
    <output_dir>/adapter/                with [lora]: the adapter alone (PEFT format, needs the base model)
    <output_dir>/config.toml             the resolved config (hbt-bench train --config reads it back)
    <output_dir>/training_summary.json   steps, losses, batch types, timings, versions, evaluation summary
    <output_dir>/results/                with [evaluation]: mteb results (ResultCache layout: the folder
                                         is a cache root, files under results/<model>/<revision>/)

A run is written into ``.<name>.partial`` next to ``output_dir`` (one path that every rank agrees on:
the trainer's checkpoints go there too) and swapped in by :func:`hbt_bench.atomic.replace_dir`, so a
failed or interrupted run leaves no half-written ``output_dir`` and a replaced one is never lost.
"""

from __future__ import annotations

import contextlib
import json
import platform
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hbt_bench.atomic import recover_dir, replace_dir
from hbt_bench.training.config import TrainConfig, dump_toml
from hbt_bench.training.errors import TrainingConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "ADAPTER_DIR",
    "CONFIG_FILE",
    "MODEL_DIR",
    "RESULTS_DIR",
    "SUMMARY_FILE",
    "check_output_dir",
    "finalize",
    "staging_dir",
    "training_summary",
    "write_run",
    "write_summary",
]

SUMMARY_FILE = "training_summary.json"
CONFIG_FILE = "config.toml"
MODEL_DIR = "model"
ADAPTER_DIR = "adapter"
RESULTS_DIR = "results"

Log = Callable[[str], None]


def staging_dir(output_dir: Path) -> Path:
    """Where a run is written before the final swap (the same path on every rank)."""
    return output_dir.parent / f".{output_dir.name}.partial"


def check_output_dir(output_dir: Path, overwrite: bool) -> None:
    """Fail before training when ``output_dir`` is in the way."""
    if output_dir.exists() and not overwrite:
        raise TrainingConfigError(f"output_dir {output_dir} exists; choose another or pass --overwrite")
    if output_dir.exists() and not output_dir.is_dir():
        raise TrainingConfigError(f"output_dir {output_dir} exists and is not a directory")


def finalize(staging: Path, output_dir: Path, overwrite: bool) -> None:
    """Put the finished run ``staging`` at ``output_dir`` (rank 0), replacing an old run crash-safely.

    A previous swap that was killed is undone first, so a run that reappears that way counts as
    existing; without ``overwrite`` the new run is then left in ``staging``.
    """
    recover_dir(output_dir, keep=staging)
    if output_dir.exists() and not overwrite:
        raise TrainingConfigError(f"output_dir {output_dir} appeared during training; left {staging}")
    replace_dir(staging, output_dir)


def write_run(
    config: TrainConfig, model: SentenceTransformer, staging: Path, summary: dict, log: Log
) -> None:
    """Model (+ adapter), resolved config and evaluation results into the staging directory (rank 0)."""
    from hbt_bench.training.lora import merge_lora, set_prompts

    shutil.rmtree(staging / "checkpoints", ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    summary["prompts"] = set_prompts(model, config.prompts.query, config.prompts.passage)
    if config.lora.enabled:
        model.save(str(staging / ADAPTER_DIR))
        summary["lora_merged_layers"] = merge_lora(model)
    model.save(str(staging / MODEL_DIR))
    (staging / CONFIG_FILE).write_text(dump_toml(config), encoding="utf-8")
    if config.evaluation.tasks:
        from hbt_bench.training.evaluation import evaluate_model

        name = f"local/{Path(config.output_dir).name}"
        summary["evaluation"] = evaluate_model(
            staging / MODEL_DIR, config.evaluation, results_folder=staging, model_name=name, log=log
        )


def write_summary(staging: Path, summary: dict[str, Any]) -> None:
    """The summary file of the run (inside the staging folder: the swap makes it visible)."""
    (staging / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("hbt-bench", "torch", "sentence-transformers", "transformers", "accelerate", "peft", "mteb"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def training_summary(
    config: TrainConfig,
    trainer: Any,
    factory: Any,
    stats: dict[str, Any],
    output: Any,
    world_size: int,
    n_params: int,
    n_trainable: int,
) -> dict[str, Any]:
    """The ``training_summary.json`` record of a finished ``trainer`` run (the sampler's last plan too)."""
    state = trainer.state
    sampler = factory.samplers[-1] if factory.samplers else None
    planned = trainer.args.max_steps if trainer.args.max_steps > 0 else None
    history = [
        {k: v for k, v in entry.items() if k in ("step", "epoch", "loss", "eval_loss", "learning_rate")}
        for entry in state.log_history
    ]
    best_step = None
    if state.best_model_checkpoint:
        best_step = int(str(state.best_model_checkpoint).rsplit("-", 1)[-1])
    return {
        "model": config.model,
        "output_dir": config.output_dir,
        "sampler": {"kind": config.sampler.kind, "alpha": config.sampler.alpha},
        "data": stats,
        "steps": state.global_step,
        "epochs": state.epoch,
        "max_steps": planned,
        "stopped_early": bool(
            state.best_model_checkpoint is not None and state.global_step < state.max_steps
        ),
        "train_loss": getattr(output, "training_loss", None),
        "train_runtime_s": (getattr(output, "metrics", None) or {}).get("train_runtime"),
        "best_eval_loss": state.best_metric,
        "best_step": best_step,
        "log_history": history,
        "batches_per_epoch": len(sampler) if sampler is not None else None,
        # What the trainer's sampler really used (seed and epoch are the whole of a batch plan).
        "sampler_seed": int(sampler.seed) if sampler is not None else None,
        "sampler_last_epoch": int(sampler.epoch) if sampler is not None else None,
        "batch_types_last_epoch": dict(Counter(sampler.batch_types)) if sampler is not None else None,
        "batch_sources_last_epoch": (
            dict(Counter(sampler.batch_sources)) if sampler is not None and len(sampler.sources) > 1 else None
        ),
        "world_size": world_size,
        "parameters": n_params,
        "trainable_parameters": n_trainable,
        "lora": config.lora.enabled,
        "versions": _versions(),
    }
