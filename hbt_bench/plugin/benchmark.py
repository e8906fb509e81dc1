"""The ``HBT`` mteb benchmark and the per-setting summary of LAReQA results.

The paper's headline numbers are, per dataset, the macro mAP of each setting (Mono / Cross / Multi)
and the language bias. The benchmark exposes the first three as mteb ``CustomGrouping`` columns
(``XQuADR::Mono`` ...), computed by mteb itself from subset-scoped task references, and adds
``XQuADR::LanguageBias`` from the ``rank_distance`` of the pooled subsets.
"""

from __future__ import annotations

from typing import Any

from mteb.benchmarks.benchmark import Benchmark, BenchmarkAggregation, CustomGroup, CustomGrouping
from mteb.results import TaskResult

from hbt_bench.evaluate import Setting, Subset, lareqa_subsets, summarize_settings
from hbt_bench.plugin.tasks import MLQAR, LareqaTask, XQuADR

BENCHMARK_NAME = "HBT"
LAREQA_TASKS: tuple[type[LareqaTask], ...] = (XQuADR, MLQAR)
_LABELS = {Setting.MONO: "Mono", Setting.CROSS: "Cross", Setting.MULTI: "Multi"}


def task_languages(task_name: str) -> tuple[str, ...]:
    for cls in LAREQA_TASKS:
        if cls.metadata.name == task_name:
            return tuple(cls.definition.languages)
    raise KeyError(
        f"{task_name} is not a LAReQA task of hbt-bench ({', '.join(c.metadata.name for c in LAREQA_TASKS)})"
    )


def subset_scores(result: TaskResult, split: str | None = None) -> dict[str, dict[str, Any]]:
    """``{hf_subset: score dict}`` of one split (default: the task's only split)."""
    splits = list(result.scores)
    split = split or splits[0]
    if split not in result.scores:
        raise KeyError(f"{result.task_name}: no split {split!r} in the result (has {', '.join(splits)})")
    return {entry["hf_subset"]: entry for entry in result.scores[split]}


def setting_scores(result: TaskResult, metric: str = "map") -> dict[str, float | int | None]:
    """Mono / Cross / Multi macro ``metric`` and language bias of a LAReQA TaskResult (paper Tables 1-2)."""
    return summarize_settings(subset_scores(result), task_languages(result.task_name), metric=metric)


def _setting_grouping(cls: type[LareqaTask]) -> CustomGrouping:
    languages = tuple(cls.definition.languages)
    by_setting: dict[Setting, list[str]] = {s: [] for s in Setting}
    for subset in lareqa_subsets(languages):
        by_setting[subset.setting].append(subset.name)
    groups = [
        CustomGroup(label=_LABELS[s], tasks=[cls().filter_languages(None, hf_subsets=names)])
        for s, names in by_setting.items()
    ]
    return CustomGrouping(name=cls.metadata.name, groups=groups)


class HBTBenchmark(Benchmark):
    """mteb Benchmark whose scores add each LAReQA task's language bias (lower is better)."""

    def _get_model_score(self, model_result: Any) -> dict[str, float | None]:
        scores = super()._get_model_score(model_result)
        for tr in model_result.select_tasks(self.tasks).task_results:
            if tr.task_name in {c.metadata.name for c in LAREQA_TASKS}:
                scores[f"{tr.task_name}::LanguageBias"] = setting_scores(tr)["language_bias"]
        return scores


def hbt_benchmark() -> HBTBenchmark:
    """The HBT benchmark: XQuADR and MLQAR, grouped by setting."""
    return HBTBenchmark(
        name=BENCHMARK_NAME,
        tasks=[cls() for cls in LAREQA_TASKS],
        description=(
            "LAReQA-style multilingual answer retrieval (XQuAD-R, MLQA-R) in the monolingual, cross-lingual "
            "and multilingual (pooled) settings, scored with full-list mAP, plus the language-bias "
            "rank distance."
        ),
        reference="https://arxiv.org/abs/2408.10536",
        citation=XQuADR.metadata.bibtex_citation,
        aggregations=(BenchmarkAggregation.MEAN_TASK, *(_setting_grouping(c) for c in LAREQA_TASKS)),
    )


__all__ = ["BENCHMARK_NAME", "HBTBenchmark", "Subset", "hbt_benchmark", "setting_scores", "subset_scores"]
