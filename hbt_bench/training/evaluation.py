"""Evaluate a trained model directory on mteb tasks and summarise it the paper's way.

The model is loaded the way users load it, ``mteb.get_model(<dir>)`` (hbt-bench's local-directory
``ModelMeta``, which passes the saved "Query: " / "Passage: " prompts to mteb), so a passing evaluation
is also the check that the saved model works in mteb and in our tasks. Results are written in mteb's
``ResultCache`` layout under a chosen model name (several runs of one sweep share a folder).

``languages`` restricts the LAReQA tasks (the pooled setting included) to a few languages for smoke
tests; such a task reads only those files and its dataset revision gets a ``+langs-...`` tag, so its
results never merge with full-task results.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hbt_bench.formatting import fmt_score
from hbt_bench.training.config import EvalConfig
from hbt_bench.training.errors import TrainingConfigError

__all__ = ["build_tasks", "evaluate_model", "restricted_task", "summarize_result"]

Log = Callable[[str], None]


def restricted_task(cls: type, languages: Sequence[str], **kwargs: Any) -> Any:
    """An instance of LAReQA task class ``cls`` reduced to ``languages`` (pool included; revision tagged)."""
    try:
        return cls(languages=languages, **kwargs)
    except ValueError as exc:
        raise TrainingConfigError(f"evaluation.{exc}") from exc


def build_tasks(
    names: Sequence[str], *, languages: Sequence[str] = (), data_dir: str = "", optional: Sequence[str] = ()
) -> tuple[list[Any], list[str]]:
    """mteb task objects for ``names`` and the names that were skipped (only ``optional`` ones may be)."""
    import mteb

    from hbt_bench.plugin.register import register
    from hbt_bench.plugin.tasks import LareqaTask

    register()
    tasks, skipped = [], []
    for name in names:
        try:
            template = mteb.get_task(name)
        except Exception as exc:
            if name in optional:
                skipped.append(name)
                continue
            raise TrainingConfigError(f"evaluation.tasks: unknown task {name!r} ({exc})") from exc
        if isinstance(template, LareqaTask):
            cls = type(template)
            kwargs = {"data_dir": data_dir or None}
            task = restricted_task(cls, languages, **kwargs) if languages else cls(**kwargs)
        elif languages:
            raise TrainingConfigError(f"evaluation.languages applies to LAReQA tasks only, not {name!r}")
        else:
            task = template
        tasks.append(task)
    return tasks, skipped


def summarize_result(result: Any) -> dict[str, Any]:
    """Mono / cross / multi mAP and language bias (``setting_scores``), plus robustness for -Adv tasks."""
    from hbt_bench.plugin import benchmark

    out: dict[str, Any] = {"main_score": result.get_score()}
    with contextlib.suppress(KeyError, ValueError):  # not a LAReQA-style task: main score only
        out.update(benchmark.setting_scores(result))
    if benchmark.is_adversarial(result.task_name):
        out["robustness"] = benchmark.robustness(result)
    return out


def evaluate_model(
    model_dir: str | Path,
    evaluation: EvalConfig,
    *,
    results_folder: str | Path,
    model_name: str,
    optional: Sequence[str] = (),
    reuse: bool = False,
    log: Log | None = None,
) -> dict[str, Any]:
    """Evaluate ``model_dir`` on ``evaluation.tasks``; write results under ``results_folder``; summarise.

    ``results_folder`` is a ResultCache root (files go to ``results/<model>/<revision>/``). Returns
    ``{"tasks": {task: summary}, "skipped": [names], "skip_reasons": {name: why}, "files": [paths
    relative to results_folder], "reused": [task names]}``. Tasks in ``optional`` that are missing or
    fail are skipped. ``reuse`` takes a task's stored result for ``model_name`` instead of evaluating
    again when its dataset revision is the task's: only for a model known to be the one that produced
    it (the sweep passes it for runs it did not retrain).
    """
    import mteb

    from hbt_bench.results import save_results_atomically

    log = log or (lambda msg: None)
    tasks, missing = build_tasks(
        evaluation.tasks, languages=evaluation.languages, data_dir=evaluation.data_dir, optional=optional
    )
    reasons = {name: "not available in this installation" for name in missing}
    out: dict[str, Any] = {"tasks": {}, "skipped": [], "skip_reasons": reasons, "files": [], "reused": []}
    model = mteb.get_model(str(Path(model_dir).resolve())) if tasks else None
    meta = model.mteb_model_meta.model_copy(update={"name": model_name}) if model is not None else None
    cache = mteb.ResultCache(Path(results_folder))
    encode_kwargs = {"batch_size": evaluation.batch_size}
    results = []
    paths: dict[str, Path] = {}
    for task in tasks:  # one at a time, so an optional task that cannot run is skipped, not fatal
        name = task.metadata.name
        if reuse and _stored(cache, task, meta) is not None:
            paths[name] = cache.get_task_result_path(name, meta)
            out["reused"].append(name)
            log(f"{name}: reusing the stored result {paths[name]}")
            continue
        try:
            result = mteb.evaluate(
                model,
                [task],
                cache=None,
                encode_kwargs=encode_kwargs,
                co2_tracker=False,
                show_progress_bar=False,
            )
        except Exception as exc:
            if name not in optional:
                raise
            reasons[name] = f"could not run ({type(exc).__name__}: {exc})"
            continue
        results.extend(result.task_results)
    for name, reason in reasons.items():
        log(f"{name}: skipped, {reason}")
    out["skipped"] = list(reasons)
    if not results and not paths:
        return out
    assert meta is not None
    files = save_results_atomically(results, meta, Path(results_folder), encode_kwargs) if results else []
    for tr in results:
        [paths[tr.task_name]] = [f for f in files if f.name == f"{tr.task_name}.json"]
    root = Path(results_folder)
    files += [paths[name] for name in out["reused"]]
    out["files"] = [str(f.relative_to(root)) if f.is_relative_to(root) else str(f) for f in files]
    from mteb.results import TaskResult

    for task in tasks:
        name = task.metadata.name
        if name not in paths:
            continue
        # Summarise what is on disk (scores are rounded there), so the summary equals the files.
        out["tasks"][name] = summarize_result(TaskResult.from_disk(paths[name]))
        s = out["tasks"][name]
        log(
            f"{name}: mono {fmt_score(s.get('mono'))} cross {fmt_score(s.get('cross'))} multi "
            f"{fmt_score(s.get('multi'))} bias {fmt_score(s.get('language_bias'), 1)}"
            + (f" robustness {fmt_score(s.get('robustness'))}" if "robustness" in s else "")
        )
    return out


def _stored(cache: Any, task: Any, meta: Any) -> Any:
    """The stored TaskResult of ``meta``'s model on ``task`` if it was computed on the same task revision."""
    stored = cache.load_task_result(task.metadata.name, meta)
    if stored is None or stored.dataset_revision != task.metadata.revision:
        return None
    return stored
