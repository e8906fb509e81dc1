"""``hbt-bench sweep``: one hybrid training per (α, seed), each evaluated, summarised and plotted against α.

Layout of ``--output DIR``::

    DIR/alpha-<a>/                 one seed (the default): one training run per α (model/, config.toml,
                                   training_summary.json)
    DIR/alpha-<a>-seed-<s>/        several seeds (``--seeds 42,43,44``): one run per (α, seed)
    DIR/base/                      with --baseline: the untrained base model (model/, base.toml)
    DIR/results/<model>/<rev>/     mteb results (ResultCache layout), model name hbt-sweep/<DIR>-<run dir>
    DIR/sweep_summary.json         per run: mono / cross / multi mAP, language bias, robustness, files;
                                   per α ("by_alpha"): each metric's mean and sample sd over the seeds
    DIR/sweep_summary.csv          the per-run numbers, one row per (α, seed)
    DIR/sweep_by_alpha.csv         the per-α means and sample sds, one row per α
    DIR/sweep.png                  those numbers against α, mean ± sd error bars

α = 1 is X-X-mono and α = 0 is X-Y, so a sweep over [0, 1] covers both baselines. The seed is the
config's ``seed`` (trainer, samplers and validation hold-out), so seeds measure how much a number owes
to the draws. ``--baseline`` adds the untrained base model (``DIR/base/model``: the config's model at
its ``max_seq_length``, without the training prompts, i.e. as published), model name
hbt-sweep/<DIR>-base, as the reference every α is read against; it has no seed.

A run directory that already holds a finished run with the same resolved config is reused, together
with its stored evaluation, so an interrupted sweep resumes and adding α values, seeds or the baseline
later costs only the new runs (a single-seed sweep's ``alpha-<a>/`` is reused for its seed when the
sweep grows to several seeds); a different config there is an error (use --overwrite). The summaries
are :func:`hbt_bench.plugin.benchmark.setting_scores` of the result files; ``XQuADR-Adv`` is evaluated
when the installation provides it and reported as skipped otherwise.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hbt_bench.atomic import atomic_writer, staged_dir
from hbt_bench.errors import HbtBenchError
from hbt_bench.training.config import TrainConfig, dump_toml
from hbt_bench.training.errors import TrainingConfigError

__all__ = [
    "DEFAULT_TASKS",
    "OPTIONAL_TASKS",
    "aggregate",
    "format_ratio",
    "mean_sd",
    "parse_ratios",
    "parse_seeds",
    "plot_sweep",
    "run_dir_name",
    "run_sweep",
]

DEFAULT_TASKS = ("XQuADR", "XQuADR-Adv")
OPTIONAL_TASKS = ("XQuADR-Adv", "MLQAR-Adv")
SUMMARY_JSON = "sweep_summary.json"
SUMMARY_CSV = "sweep_summary.csv"
BY_ALPHA_CSV = "sweep_by_alpha.csv"
PLOT = "sweep.png"
METRICS = ("mono", "cross", "multi", "language_bias", "robustness")
BASE_DIR = "base"
BASE_SPEC = "base.toml"

Log = Callable[[str], None]


def parse_ratios(text: str) -> list[float]:
    """``"0,0.25,0.5"`` -> ``[0.0, 0.25, 0.5]``; each in [0, 1], no duplicates (errors name --ratios)."""
    values: list[float] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise HbtBenchError(f"--ratios: {part!r} is not a number") from None
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise HbtBenchError(f"--ratios: {part} is outside [0, 1]")
        if value in values:
            raise HbtBenchError(f"--ratios: {part} is given twice")
        values.append(value)
    if not values:
        raise HbtBenchError("--ratios: no ratio given (e.g. 0,0.25,0.5,0.75,1)")
    return values


def format_ratio(alpha: float) -> str:
    """The α of a run directory name: 0, 0.25, 1 (``alpha-<this>``)."""
    return f"{alpha:g}"


def parse_seeds(text: str) -> list[int]:
    """``"42,43,44"`` -> ``[42, 43, 44]``; integers in [0, 2**32), no duplicates (errors name --seeds).

    The bound is numpy's: :func:`transformers.set_seed` seeds numpy too.
    """
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = int(part)
        except ValueError:
            raise HbtBenchError(f"--seeds: {part!r} is not an integer") from None
        if not 0 <= value < 2**32:
            raise HbtBenchError(f"--seeds: {part} is outside [0, 2**32)")
        if value in values:
            raise HbtBenchError(f"--seeds: {part} is given twice")
        values.append(value)
    if not values:
        raise HbtBenchError("--seeds: no seed given (e.g. 42,43,44)")
    return values


def run_dir_name(alpha: float, seed: int, *, several: bool) -> str:
    """``alpha-<a>`` for a single-seed sweep (the layout before seeds existed), ``alpha-<a>-seed-<s>``
    when the sweep has several seeds."""
    tag = f"alpha-{format_ratio(alpha)}"
    return f"{tag}-seed-{seed}" if several else tag


def _run_config(config: TrainConfig, alpha: float, seed: int, run_dir: Path) -> TrainConfig:
    cfg = copy.deepcopy(config)
    cfg.seed = seed
    cfg.sampler.kind = "hybrid"
    cfg.sampler.alpha = alpha
    cfg.output_dir = str(run_dir)
    cfg.evaluation.tasks = []  # the sweep evaluates into its shared results folder
    return cfg


def _place_run(config: TrainConfig, out: Path, alpha: float, seed: int, several: bool) -> TrainConfig:
    """The config of run (α, seed), with its directory: the layout's name, unless only the other
    layout's directory holds a finished run of this seed (a single-seed sweep grown to several seeds,
    or back), which is then reused or, with another config, refused."""
    from hbt_bench.training.rundir import CONFIG_FILE, SUMMARY_FILE

    def holds_seed(run_dir: Path) -> bool:
        stored = _stored(run_dir / CONFIG_FILE) if (run_dir / SUMMARY_FILE).is_file() else None
        return stored is not None and stored.seed == seed

    preferred = out / run_dir_name(alpha, seed, several=several)
    other = out / run_dir_name(alpha, seed, several=not several)
    if not holds_seed(preferred) and holds_seed(other):
        return _run_config(config, alpha, seed, other)
    return _run_config(config, alpha, seed, preferred)


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def run_sweep(
    config: TrainConfig,
    ratios: Sequence[float],
    output: str | Path,
    *,
    seeds: Sequence[int] | None = None,
    overwrite: bool = False,
    baseline: bool = False,
    log: Log | None = None,
) -> dict[str, Any]:
    """Train and evaluate one model per (α, seed) (and the base model with ``baseline``); write the
    summaries and the plot under ``output``. ``seeds`` defaults to the config's seed alone."""
    from hbt_bench.training.evaluation import evaluate_model
    from hbt_bench.training.recipe import train
    from hbt_bench.training.rundir import CONFIG_FILE, MODEL_DIR, SUMMARY_FILE

    seeds = [config.seed] if seeds is None else list(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise HbtBenchError(f"seeds: need at least one seed and no duplicates, got {seeds}")
    several = len(seeds) > 1
    train_log = log  # None keeps the trainer quiet too
    log = log or (lambda msg: None)
    out = Path(output).expanduser().resolve()
    tasks = list(config.evaluation.tasks) or list(DEFAULT_TASKS)
    eval_cfg = copy.deepcopy(config.evaluation)
    eval_cfg.tasks = tasks
    runs = [
        (alpha, seed, _place_run(config, out, alpha, seed, several)) for alpha in ratios for seed in seeds
    ]
    finished: dict[Path, bool] = {}
    for _, _, cfg in runs:  # refuse a run of another config before training anything
        run_dir = Path(cfg.output_dir)
        finished[run_dir] = (run_dir / SUMMARY_FILE).is_file() and not overwrite
        if finished[run_dir] and _stored_config(run_dir / CONFIG_FILE) != dump_toml(cfg):
            raise TrainingConfigError(
                f"{run_dir} holds a run with a different config; pass --overwrite or another --output"
            )
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for alpha, seed, cfg in runs:
        run_dir = Path(cfg.output_dir)
        label = f"alpha={format_ratio(alpha)}" + (f" seed={seed}" if several else "")
        reused = finished[run_dir]
        if reused:
            log(f"{label}: reusing the finished run in {run_dir}")
            training = json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
        else:
            log(f"{label}: training into {run_dir}")
            training = train(cfg, overwrite=overwrite, log=train_log)
        row: dict[str, Any] = {
            "alpha": alpha,
            "seed": seed,
            "run_dir": run_dir.name,
            "model_dir": f"{run_dir.name}/{MODEL_DIR}",
            "steps": training.get("steps"),
            "best_eval_loss": training.get("best_eval_loss"),
        }
        if _is_main():
            name = f"hbt-sweep/{out.name}-{run_dir.name}"  # unique per (α, seed): one run per folder
            evaluation = evaluate_model(
                run_dir / MODEL_DIR,
                eval_cfg,
                results_folder=out,
                model_name=name,
                optional=OPTIONAL_TASKS,
                reuse=reused,
                log=log,
            )
            skipped.update(evaluation["skip_reasons"])
            row.update(model_name=name, tasks=evaluation["tasks"], result_files=evaluation["files"])
        rows.append(row)
    base_row = None
    if baseline and _is_main():
        base_row = _evaluate_base(config, out, eval_cfg, overwrite=overwrite, log=log)
        skipped.update(base_row.pop("skip_reasons"))
    report = {
        "ratios": list(ratios),
        "seeds": seeds,
        "tasks": [t for t in tasks if t not in skipped],
        "skipped_tasks": sorted(skipped),
        "skip_reasons": skipped,
        "evaluation_languages": list(config.evaluation.languages),
        "runs": rows,
        "by_alpha": aggregate(rows),
        "baseline": base_row,
    }
    if _is_main():
        with atomic_writer(out / SUMMARY_JSON) as f:  # whole or absent, mode 0644
            f.write(json.dumps(report, indent=2) + "\n")
        with atomic_writer(out / SUMMARY_CSV) as f:
            f.write(_csv(rows, report["tasks"], baseline=base_row))
        with atomic_writer(out / BY_ALPHA_CSV) as f:
            f.write(_csv_by_alpha(report["by_alpha"], report["tasks"], baseline=base_row))
        plot_sweep(rows, out / PLOT, tasks=report["tasks"], baseline=base_row)
        report["files"] = [SUMMARY_JSON, SUMMARY_CSV, BY_ALPHA_CSV, PLOT]
    return report


def mean_sd(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "sd", "n"}`` of ``values``: the sample sd (n - 1), None below two values (one seed
    says nothing about the spread); mean None when there is no value."""
    values = [float(v) for v in values]
    return {
        "mean": statistics.fmean(values) if values else None,
        "sd": statistics.stdev(values) if len(values) > 1 else None,
        "n": len(values),
    }


def aggregate(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per α (in the order the rows first give it): the seeds and, per task and metric, :func:`mean_sd`
    over the runs that have the metric. Rows without ``seed`` (summaries written before seeds
    existed) count as one run each."""
    by_alpha: dict[float, list[dict[str, Any]]] = {}
    for row in rows:
        by_alpha.setdefault(float(row["alpha"]), []).append(row)
    out = []
    for alpha, group in by_alpha.items():
        tasks: dict[str, dict[str, Any]] = {}
        for row in group:
            for task, scores in (row.get("tasks") or {}).items():
                for metric in METRICS:
                    if scores.get(metric) is not None:
                        tasks.setdefault(task, {}).setdefault(metric, []).append(scores[metric])
        out.append(
            {
                "alpha": alpha,
                "seeds": [row.get("seed") for row in group],
                "n": len(group),
                "tasks": {
                    task: {m: mean_sd(values[m]) for m in METRICS if m in values}
                    for task, values in tasks.items()
                },
            }
        )
    return out


def _stored(path: Path) -> TrainConfig | None:
    """A finished run's config as this version reads it; None when missing or unreadable."""
    from hbt_bench.training.config import load_config

    if not path.is_file():
        return None
    try:
        return load_config(path)
    except (HbtBenchError, OSError, ValueError):
        return None


def _stored_config(path: Path) -> str | None:
    """A finished run's config, re-resolved by this version (fields added since get their defaults, so
    a run written by an older hbt-bench still matches); None when missing or unreadable. Its
    ``output_dir`` is the folder it lies in now, so a sweep folder moved or copied elsewhere is reused."""
    stored = _stored(path)
    if stored is None:
        return None
    stored.output_dir = str(path.parent)
    return dump_toml(stored)


def _evaluate_base(
    config: TrainConfig, out: Path, evaluation: Any, *, overwrite: bool, log: Log
) -> dict[str, Any]:
    """Save the untrained base model as ``out/base/model`` (reused when unchanged) and evaluate it.

    The folder is written staged and swapped in (:func:`hbt_bench.atomic.staged_dir`): replacing it
    with ``--overwrite`` never loses the previous base, whatever fails."""
    from hbt_bench.training.evaluation import evaluate_model
    from hbt_bench.training.lora import load_base_model
    from hbt_bench.training.rundir import MODEL_DIR

    base_dir = out / BASE_DIR
    spec = _base_spec(config)
    reused = (base_dir / BASE_SPEC).is_file() and not overwrite
    if reused and (base_dir / BASE_SPEC).read_text(encoding="utf-8") != spec:
        raise TrainingConfigError(
            f"{base_dir} holds another base model; pass --overwrite or another --output"
        )
    if reused:
        log(f"baseline: reusing {base_dir}")
    else:
        log(f"baseline: saving the untrained {config.model} into {base_dir}")
        model = load_base_model(config.model, max_seq_length=config.training.max_seq_length)
        with staged_dir(base_dir) as staging:
            model.save(str(staging / MODEL_DIR))
            (staging / BASE_SPEC).write_text(spec, encoding="utf-8")
    name = f"hbt-sweep/{out.name}-base"
    evaluation = evaluate_model(
        base_dir / MODEL_DIR,
        evaluation,
        results_folder=out,
        model_name=name,
        optional=OPTIONAL_TASKS,
        reuse=reused,
        log=log,
    )
    return {
        "alpha": None,
        "run_dir": BASE_DIR,
        "model_dir": f"{BASE_DIR}/{MODEL_DIR}",
        "steps": 0,
        "best_eval_loss": None,
        "model_name": name,
        "tasks": evaluation["tasks"],
        "result_files": evaluation["files"],
        "skip_reasons": evaluation["skip_reasons"],
    }


def _base_spec(config: TrainConfig) -> str:
    """What determines the saved base model (TOML): the model spec and ``max_seq_length``."""
    return f"model = {json.dumps(config.model)}\nmax_seq_length = {config.training.max_seq_length}\n"


def _columns(rows: Sequence[dict[str, Any]], tasks: Sequence[str]) -> list[tuple[str, str]]:
    """(task, metric) of the columns: those some row has, in task then :data:`METRICS` order."""
    return [
        (t, m) for t in tasks for m in METRICS if any(m in (r.get("tasks") or {}).get(t, {}) for r in rows)
    ]


def _csv(
    rows: Sequence[dict[str, Any]], tasks: Sequence[str], *, baseline: dict[str, Any] | None = None
) -> str:
    """One row per run (α, seed); the baseline, when given, is a first row with alpha ``base``."""
    rows = [baseline, *rows] if baseline is not None else list(rows)
    columns = _columns(rows, tasks)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["alpha", "seed", "steps", "best_eval_loss", *(f"{t}.{m}" for t, m in columns)])
    for r in rows:
        alpha = BASE_DIR if r is baseline else r["alpha"]
        values = [alpha, r.get("seed"), r.get("steps"), r.get("best_eval_loss")]
        values += [(r.get("tasks") or {}).get(t, {}).get(m) for t, m in columns]
        writer.writerow(["" if v is None else v for v in values])
    return buf.getvalue()


def _csv_by_alpha(
    groups: Sequence[dict[str, Any]], tasks: Sequence[str], *, baseline: dict[str, Any] | None = None
) -> str:
    """One row per α: the number of runs and, per task and metric, ``.mean`` and ``.sd`` (empty with one
    seed); the baseline, when given, is a first row with alpha ``base`` and n 1."""
    rows = list(groups)
    if baseline is not None:
        base_tasks = {
            t: {m: mean_sd([v]) for m, v in scores.items() if m in METRICS and v is not None}
            for t, scores in (baseline.get("tasks") or {}).items()
        }
        rows.insert(0, {"alpha": BASE_DIR, "n": 1, "tasks": base_tasks})
    columns = _columns(rows, tasks)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = ["alpha", "n"]
    for t, m in columns:
        header += [f"{t}.{m}.mean", f"{t}.{m}.sd"]
    writer.writerow(header)
    for r in rows:
        values = [r["alpha"], r["n"]]
        for t, m in columns:
            stats = (r.get("tasks") or {}).get(t, {}).get(m) or {}
            values += [stats.get("mean"), stats.get("sd")]
        writer.writerow(["" if v is None else v for v in values])
    return buf.getvalue()


def plot_sweep(
    rows: Sequence[dict[str, Any]],
    path: str | Path,
    *,
    tasks: Sequence[str],
    baseline: dict[str, Any] | None = None,
) -> Path:
    """Per task (one row of panels): mAP by setting, language bias and (for an adversarial task)
    robustness against α, each point the mean over the seeds with ± sample sd error bars, as a PNG.

    ``rows`` are the runs (several per α with several seeds; a single seed has no error bar). The
    untrained ``baseline``, when given, is a dotted horizontal line in the same colour. Uses matplotlib's
    object API with the Agg canvas: no pyplot, no global backend change.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups = sorted(aggregate(rows), key=lambda g: g["alpha"])  # lines along α, whatever the run order
    alphas = [g["alpha"] for g in groups]

    def series(task: str, metric: str) -> tuple[list[float], list[float]]:
        means, sds = [], []
        for g in groups:
            stats = g["tasks"].get(task, {}).get(metric) or {}
            mean, sd = stats.get("mean"), stats.get("sd")
            means.append(float("nan") if mean is None else float(mean))
            sds.append(0.0 if sd is None else float(sd))
        return means, sds

    def has(task: str, metric: str) -> bool:
        return not all(math.isnan(v) for v in series(task, metric)[0])

    tasks = list(tasks) or ["(none)"]
    has_robustness = any(has(t, "robustness") for t in tasks)
    n_cols = 3 if has_robustness else 2
    fig = Figure(figsize=(4.2 * n_cols, 3.4 * len(tasks)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(tasks), n_cols, squeeze=False)
    colors = {"mono": "tab:blue", "cross": "tab:orange", "multi": "tab:green"}
    n_seeds = max((g["n"] for g in groups), default=0)
    spread = f"mean ± sd over {n_seeds} seeds" if n_seeds > 1 else "one seed"
    for i, task in enumerate(tasks):
        panels = [(0, m, c, m) for m, c in colors.items()] + [(1, "language_bias", "tab:red", "")]
        if has_robustness:
            panels.append((2, "robustness", "tab:purple", ""))
        for col, metric, color, label in panels:
            ax = axes[i][col]
            if has(task, metric):
                means, sds = series(task, metric)
                ax.errorbar(alphas, means, yerr=sds, marker="o", capsize=3, color=color, label=label or None)
            value = (baseline or {}).get("tasks", {}).get(task, {}).get(metric)
            if value is not None:
                ax.axhline(
                    float(value),
                    color=color,
                    linestyle=":",
                    linewidth=1,
                    label=f"{label} untrained".strip(),
                )
        axes[i][0].set(title=f"{task}: mAP by setting", xlabel="α (share of X-X-mono batches)", ylabel="mAP")
        axes[i][1].set(
            title=f"{task}: language bias (lower is better)", xlabel="α", ylabel="mean rank distance"
        )
        if has_robustness:
            if has(task, "robustness"):
                axes[i][2].set(title=f"{task}: robustness", xlabel="α", ylabel="adversarial / clean mAP")
            else:
                axes[i][2].set_visible(False)  # a clean task has no robustness
        for ax in axes[i]:
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
    fig.suptitle(f"hybrid ratio sweep ({spread})", fontsize=10)
    target = Path(path)
    with atomic_writer(target, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    return target
