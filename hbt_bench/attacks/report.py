"""What a targeted attack found: per-subset scores and examples, their aggregates, the table, the files.

No TextAttack here; mteb only when a ``TaskResult`` is built or written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hbt_bench.atomic import atomic_writer
from hbt_bench.attacks.params import ENCODE_KWARGS
from hbt_bench.attacks.tasks import attack_task_class
from hbt_bench.formatting import fmt_score

__all__ = [
    "RESULT_TYPES",
    "TargetedAttackReport",
    "aggregate_scores",
    "format_report",
    "save_report",
    "subset_scores_from_examples",
]

RESULT_TYPES = ("succeeded", "failed", "skipped")


@dataclass
class TargetedAttackReport:
    """What :func:`~hbt_bench.attacks.run.run_targeted_attack` found: per-subset scores and every
    example, plus how it ran."""

    task_name: str  # "<Task>-TargetedAttack"
    source_task: str  # "XQuADR" / "MLQAR"
    model_meta: Any  # mteb ModelMeta of the attacked model
    parameters: dict[str, Any]
    languages: tuple[str, ...]
    subset_scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    evaluation_time: float = 0.0
    # Per subset, not written to the result files (they vary run to run or say nothing about the model):
    attack_seconds: dict[str, float] = field(default_factory=dict)  # wall time of the attack loop
    encoded_texts: dict[str, int] = field(default_factory=dict)  # perturbed texts sent to the encoder

    def task_result(self) -> Any:
        """The per-subset scores as an mteb ``TaskResult`` of the ``<Task>-TargetedAttack`` task."""
        from mteb.results import TaskResult

        task = attack_task_class(self.source_task)
        split = task.metadata.eval_splits[0]
        return TaskResult.from_task_results(
            task, {split: self.subset_scores}, evaluation_time=self.evaluation_time
        )


def subset_scores_from_examples(
    examples: Sequence[Mapping[str, Any]], num_candidates: int, parameters: Mapping[str, Any]
) -> dict[str, Any]:
    """One subset's score dict from its example records (made by
    :func:`~hbt_bench.attacks.run.run_targeted_attack`)."""
    types = [e["result"] for e in examples]
    n_succ, n_fail, n_skip = (types.count(t) for t in RESULT_TYPES)
    attacked = [e for e in examples if e["result"] != "skipped"]
    words = [e["words_perturbed"] for e in examples if e["result"] == "succeeded"]
    queries = [e["num_queries"] for e in attacked]
    map_before = float(np.mean([e["ap_before"] for e in examples]))
    map_after = float(np.mean([e["ap_after"] for e in examples]))
    return {
        "main_score": map_after,
        "map_before_attack": map_before,
        "map_after_attack": map_after,
        "map_drop": map_before - map_after,
        "attack_success_rate": n_succ / (n_succ + n_fail) if attacked else None,
        "mean_words_perturbed": float(np.mean(words)) if words else None,
        "mean_queries_per_example": float(np.mean(queries)) if queries else None,
        "n_queries": len(examples),
        "n_attacked": len(attacked),
        "n_skipped": n_skip,
        "n_succeeded": n_succ,
        "n_failed": n_fail,
        "total_words_perturbed": int(sum(words)),
        "total_model_queries": int(sum(queries)),
        "num_candidates": int(num_candidates),
        "attack_parameters": dict(parameters),
    }


_COUNT_KEYS = (
    "n_queries",
    "n_attacked",
    "n_skipped",
    "n_succeeded",
    "n_failed",
    "total_words_perturbed",
    "total_model_queries",
)


def aggregate_scores(
    subset_scores: Mapping[str, Mapping[str, Any]], languages: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Pooled figures per setting (``mono``/``cross``/``multi``), per query language and ``all``.

    Counts are summed over subsets, so the success rate is succeeded / attacked over the group (not a
    mean of subset rates, which would overweight subsets with few attacked queries); mAPs are means over
    every query of the group.
    """
    from hbt_bench.evaluate import Subset

    groups: dict[str, list[Mapping[str, Any]]] = {}
    for name, scores in subset_scores.items():
        subset = Subset.parse(name, languages)
        for key in (subset.setting.value, subset.query_lang, "all"):
            groups.setdefault(key, []).append(scores)
    order = ["mono", "cross", "multi", *languages, "all"]
    out: dict[str, dict[str, Any]] = {}
    for key in order:
        if key not in groups:
            continue
        members = groups[key]
        total = {c: int(sum(s[c] for s in members)) for c in _COUNT_KEYS}
        n_q = total["n_queries"]
        out[key] = {
            **total,
            "n_subsets": len(members),
            "attack_success_rate": total["n_succeeded"] / total["n_attacked"]
            if total["n_attacked"]
            else None,
            "mean_words_perturbed": (
                total["total_words_perturbed"] / total["n_succeeded"] if total["n_succeeded"] else None
            ),
            "mean_queries_per_example": (
                total["total_model_queries"] / total["n_attacked"] if total["n_attacked"] else None
            ),
            "map_before_attack": sum(s["map_before_attack"] * s["n_queries"] for s in members) / n_q,
            "map_after_attack": sum(s["map_after_attack"] * s["n_queries"] for s in members) / n_q,
        }
    return out


def format_report(
    task_name: str,
    model_name: str,
    subset_scores: Mapping[str, Mapping[str, Any]],
    languages: Sequence[str],
    parameters: Mapping[str, Any],
) -> str:
    """The per-subset table, then the per-setting, per-language and overall rows."""
    p = parameters
    search = p["search"] + (f" (beam {p['beam_width']})" if p["search"] == "beam" else "")
    lines = [
        f"{task_name}  model {model_name}",
        f"goal: best relevant out of the top {p['k']}; search {search}, query budget {p['query_budget']}, "
        f"at most {p['max_words']} words, recipe {p['recipe']}, seed {p['seed']}, "
        f"{p['limit']} queries/subset",
        f"{'subset':<12}{'n':>5}{'skip':>6}{'succ':>6}{'fail':>6}{'success':>9}{'words':>7}{'queries':>9}"
        f"{'mAP before -> after':>22}",
    ]

    def row(label: str, s: Mapping[str, Any]) -> str:
        return (
            f"{label:<12}{s['n_queries']:>5}{s['n_skipped']:>6}{s['n_succeeded']:>6}{s['n_failed']:>6}"
            f"{fmt_score(s['attack_success_rate'], 3):>9}{fmt_score(s['mean_words_perturbed'], 2):>7}"
            f"{fmt_score(s['mean_queries_per_example'], 1):>9}"
            f"{s['map_before_attack']:>12.4f} -> {s['map_after_attack']:.4f}"
        )

    lines.extend(row(name, s) for name, s in subset_scores.items())
    aggregates = aggregate_scores(subset_scores, languages)
    if len(subset_scores) > 1:
        lines.append("-" * 70)
        # Groups of one subset repeat its row, and a group of every subset is the "all" row.
        n = len(subset_scores)
        shown = [k for k, a in aggregates.items() if 1 < a["n_subsets"] < n or k == "all"]
        lines.extend(row(key, aggregates[key]) for key in shown)
    return "\n".join(lines)


def save_report(report: TargetedAttackReport, output_folder: str | Path) -> list[Path]:
    """Write the TaskResult in mteb's layout and the examples as ``<task name>.examples.jsonl`` beside it.

    ``<output>/results/<model>/<revision>/<Task>-TargetedAttack.json`` is written by the same atomic
    writer as ``hbt-bench eval``; the examples file ends in ``.jsonl`` because ``ResultCache`` reads
    every ``*.json`` of that folder as a TaskResult.
    """
    from hbt_bench.results import save_results_atomically

    out = Path(output_folder)
    written = save_results_atomically([report.task_result()], report.model_meta, out, ENCODE_KWARGS)
    result_path = next(p for p in written if p.name == f"{report.task_name}.json")
    examples_path = result_path.with_name(f"{report.task_name}.examples.jsonl")
    with atomic_writer(examples_path) as f:  # whole or absent, mode 0644 like the result files
        for rec in report.examples:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return [*written, examples_path]
