"""``hbt-bench sweep``: one hybrid training per α, each evaluated, summarised and plotted against α.

Layout of ``--output DIR``::

    DIR/alpha-<a>/                 one training run per α (model/, config.toml, training_summary.json)
    DIR/base/                      with --baseline: the untrained base model (model/, base.toml)
    DIR/results/<model>/<rev>/     mteb results (ResultCache layout), model name hbt-sweep/<DIR>-alpha-<a>
    DIR/sweep_summary.json         per α: mono / cross / multi mAP, language bias, robustness, files
    DIR/sweep_summary.csv          the same numbers, one row per α
    DIR/sweep.png                  those numbers against α

α = 1 is X-X-mono and α = 0 is X-Y, so a sweep over [0, 1] covers both baselines. ``--baseline`` adds
the untrained base model (``DIR/base/model``: the config's model at its ``max_seq_length``, without the
training prompts, i.e. as published), model name hbt-sweep/<DIR>-base, as the reference every α is
read against. A run directory that already holds a finished run with the same resolved config is
reused, together with its stored evaluation, so an interrupted sweep resumes and adding α values or
the baseline later costs only the new runs; a different config there is an error (use --overwrite).
The summaries are :func:`hbt_bench.plugin.benchmark.setting_scores` of the result files;
``XQuADR-Adv`` is evaluated when the installation provides it and reported as skipped otherwise.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hbt_bench.atomic import atomic_writer, staged_dir
from hbt_bench.errors import HbtBenchError
from hbt_bench.training.config import TrainConfig, dump_toml
from hbt_bench.training.errors import TrainingConfigError

__all__ = ["DEFAULT_TASKS", "OPTIONAL_TASKS", "format_ratio", "parse_ratios", "plot_sweep", "run_sweep"]

DEFAULT_TASKS = ("XQuADR", "XQuADR-Adv")
OPTIONAL_TASKS = ("XQuADR-Adv", "MLQAR-Adv")
SUMMARY_JSON = "sweep_summary.json"
SUMMARY_CSV = "sweep_summary.csv"
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


def _run_config(config: TrainConfig, alpha: float, run_dir: Path) -> TrainConfig:
    cfg = copy.deepcopy(config)
    cfg.sampler.kind = "hybrid"
    cfg.sampler.alpha = alpha
    cfg.output_dir = str(run_dir)
    cfg.evaluation.tasks = []  # the sweep evaluates into its shared results folder
    return cfg


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def run_sweep(
    config: TrainConfig,
    ratios: Sequence[float],
    output: str | Path,
    *,
    overwrite: bool = False,
    baseline: bool = False,
    log: Log | None = None,
) -> dict[str, Any]:
    """Train and evaluate one model per α (and the base model with ``baseline``); write the summaries
    and the plot under ``output``."""
    from hbt_bench.training.evaluation import evaluate_model
    from hbt_bench.training.recipe import train
    from hbt_bench.training.rundir import CONFIG_FILE, MODEL_DIR, SUMMARY_FILE

    train_log = log  # None keeps the trainer quiet too
    log = log or (lambda msg: None)
    out = Path(output).expanduser().resolve()
    tasks = list(config.evaluation.tasks) or list(DEFAULT_TASKS)
    eval_cfg = copy.deepcopy(config.evaluation)
    eval_cfg.tasks = tasks
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for alpha in ratios:
        tag = format_ratio(alpha)
        run_dir = out / f"alpha-{tag}"
        cfg = _run_config(config, alpha, run_dir)
        summary_path = run_dir / SUMMARY_FILE
        reused = summary_path.is_file() and not overwrite
        if reused:
            if _stored_config(run_dir / CONFIG_FILE) != dump_toml(cfg):
                raise TrainingConfigError(
                    f"{run_dir} holds a run with a different config; pass --overwrite or another --output"
                )
            log(f"alpha={tag}: reusing the finished run in {run_dir}")
            training = json.loads(summary_path.read_text(encoding="utf-8"))
        else:
            log(f"alpha={tag}: training into {run_dir}")
            training = train(cfg, overwrite=overwrite, log=train_log)
        row: dict[str, Any] = {
            "alpha": alpha,
            "run_dir": run_dir.name,
            "model_dir": f"{run_dir.name}/{MODEL_DIR}",
            "steps": training.get("steps"),
            "best_eval_loss": training.get("best_eval_loss"),
        }
        if _is_main():
            name = f"hbt-sweep/{out.name}-alpha-{tag}"
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
        "tasks": [t for t in tasks if t not in skipped],
        "skipped_tasks": sorted(skipped),
        "skip_reasons": skipped,
        "evaluation_languages": list(config.evaluation.languages),
        "runs": rows,
        "baseline": base_row,
    }
    if _is_main():
        with atomic_writer(out / SUMMARY_JSON) as f:  # whole or absent, mode 0644
            f.write(json.dumps(report, indent=2) + "\n")
        with atomic_writer(out / SUMMARY_CSV) as f:
            f.write(_csv(rows, report["tasks"], baseline=base_row))
        plot_sweep(rows, out / PLOT, tasks=report["tasks"], baseline=base_row)
        report["files"] = [SUMMARY_JSON, SUMMARY_CSV, PLOT]
    return report


def _stored_config(path: Path) -> str | None:
    """A finished run's config, re-resolved by this version (fields added since get their defaults, so
    a run written by an older hbt-bench still matches); None when missing or unreadable."""
    from hbt_bench.training.config import load_config

    if not path.is_file():
        return None
    try:
        return dump_toml(load_config(path))
    except (HbtBenchError, OSError, ValueError):
        return None


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


def _csv(
    rows: Sequence[dict[str, Any]], tasks: Sequence[str], *, baseline: dict[str, Any] | None = None
) -> str:
    """One row per α; the baseline, when given, is a first row with alpha ``base``."""
    rows = [baseline, *rows] if baseline is not None else list(rows)
    header = ["alpha", "steps", "best_eval_loss"]
    header += [
        f"{task}.{m}"
        for task in tasks
        for m in METRICS
        if any(m in r.get("tasks", {}).get(task, {}) for r in rows)
    ]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for r in rows:
        alpha = BASE_DIR if r is baseline else r["alpha"]
        values = [alpha, r.get("steps"), r.get("best_eval_loss")]
        for col in header[3:]:
            task, _, metric = col.rpartition(".")
            values.append(r.get("tasks", {}).get(task, {}).get(metric))
        writer.writerow(["" if v is None else v for v in values])
    return buf.getvalue()


def plot_sweep(
    rows: Sequence[dict[str, Any]],
    path: str | Path,
    *,
    tasks: Sequence[str],
    baseline: dict[str, Any] | None = None,
) -> Path:
    """mAP by setting, language bias and (when evaluated) robustness against α, as a PNG.

    The untrained ``baseline``, when given, is drawn as dotted horizontal lines in the same colours.
    Uses matplotlib's object API with the Agg canvas: no pyplot, no global backend change.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = sorted(rows, key=lambda r: r["alpha"])  # lines along α, whatever order the runs had
    alphas = [r["alpha"] for r in rows]

    def series(task: str, metric: str) -> list[float]:
        out = []
        for r in rows:
            value = r.get("tasks", {}).get(task, {}).get(metric)
            out.append(float("nan") if value is None else float(value))
        return out

    def base(task: str, metric: str) -> float | None:
        value = (baseline or {}).get("tasks", {}).get(task, {}).get(metric)
        return None if value is None else float(value)

    has_robustness = any(not all(math.isnan(v) for v in series(t, "robustness")) for t in tasks)
    n_panels = 3 if has_robustness else 2
    fig = Figure(figsize=(4.2 * n_panels, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n_panels)
    colors = {"mono": "tab:blue", "cross": "tab:orange", "multi": "tab:green"}
    for i, task in enumerate(tasks):
        style = "-" if i == 0 else "--"
        for metric, color in colors.items():
            axes[0].plot(
                alphas, series(task, metric), style, marker="o", color=color, label=f"{task} {metric}"
            )
        axes[1].plot(alphas, series(task, "language_bias"), style, marker="o", color="tab:red", label=task)
        if has_robustness and not all(math.isnan(v) for v in series(task, "robustness")):
            axes[2].plot(
                alphas, series(task, "robustness"), style, marker="o", color="tab:purple", label=task
            )
        panels = [(0, m, c) for m, c in colors.items()] + [(1, "language_bias", "tab:red")]
        panels += [(2, "robustness", "tab:purple")] if has_robustness else []
        for ax, metric, color in panels:
            value = base(task, metric)
            if value is not None:
                label = f"{task} {metric} untrained" if ax == 0 else f"{task} untrained"
                axes[ax].axhline(value, color=color, linestyle=":", linewidth=1, label=label)
    axes[0].set(title="mAP by setting", xlabel="α (share of X-X-mono batches)", ylabel="mAP")
    axes[1].set(title="language bias (lower is better)", xlabel="α", ylabel="mean rank distance")
    if has_robustness:
        axes[2].set(title="robustness (adversarial / clean mAP)", xlabel="α", ylabel="relative robustness")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    target = Path(path)
    with atomic_writer(target, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    return target
