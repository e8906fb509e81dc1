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
from hbt_bench.plugin.adversarial_tasks import ADVERSARIAL_TASKS
from hbt_bench.plugin.miracl import MIRACL_HARD_NEGATIVES, MIRACL_TASKS, PAPER_LANGUAGES, miracl_task
from hbt_bench.plugin.mmarco import mMARCOR, mMARCORAdv
from hbt_bench.plugin.tasks import MLQAR, LareqaTask, XQuADR

BENCHMARK_NAME = "HBT"
ADV_BENCHMARK_NAME = "HBT-Adv"
DOMAIN_SHIFT_BENCHMARK_NAME = "HBT-DomainShift"
LAREQA_TASKS: tuple[type[LareqaTask], ...] = (XQuADR, MLQAR)
ALL_TASKS: tuple[type[LareqaTask], ...] = (*LAREQA_TASKS, *ADVERSARIAL_TASKS, mMARCOR, mMARCORAdv)
_LABELS = {Setting.MONO: "Mono", Setting.CROSS: "Cross", Setting.MULTI: "Multi"}


def task_languages(task_name: str) -> tuple[str, ...]:
    for cls in ALL_TASKS:
        if cls.metadata.name == task_name:
            return tuple(cls.definition.languages)
    raise KeyError(
        f"{task_name} is not a LAReQA task of hbt-bench ({', '.join(c.metadata.name for c in ALL_TASKS)})"
    )


def is_adversarial(task_name: str) -> bool:
    """True for the perturbed-query variants (XQuADR-Adv, MLQAR-Adv, mMARCOR-Adv)."""
    return any(cls.metadata.name == task_name for cls in (*ADVERSARIAL_TASKS, mMARCORAdv))


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


def robustness(result: TaskResult) -> float | None:
    """Macro mean over subsets of relative robustness (adversarial / clean mAP) of an -Adv TaskResult."""
    values = [float(s["relative_robustness"]) for s in subset_scores(result).values()]
    return sum(values) / len(values) if values else None


class HBTBenchmark(Benchmark):
    """mteb Benchmark whose scores add each LAReQA task's language bias (lower is better) and, for the
    adversarial tasks, the relative robustness."""

    def _get_model_score(self, model_result: Any) -> dict[str, float | None]:
        scores = super()._get_model_score(model_result)
        names = {c.metadata.name for c in ALL_TASKS}
        for tr in model_result.select_tasks(self.tasks).task_results:
            if tr.task_name in names:
                scores[f"{tr.task_name}::LanguageBias"] = setting_scores(tr)["language_bias"]
            if is_adversarial(tr.task_name):
                scores[f"{tr.task_name}::Robustness"] = robustness(tr)
        return scores


def _benchmark(
    name: str, tasks: tuple[type[LareqaTask], ...], description: str, extra_tasks: tuple[Any, ...] = ()
) -> HBTBenchmark:
    """A benchmark of our LAReQA-style ``tasks`` (grouped by setting) plus mteb task objects."""
    return HBTBenchmark(
        name=name,
        tasks=[*(cls() for cls in tasks), *extra_tasks],
        description=description,
        reference="https://arxiv.org/abs/2408.10536",
        citation=XQuADR.metadata.bibtex_citation,
        aggregations=(BenchmarkAggregation.MEAN_TASK, *(_setting_grouping(c) for c in tasks)),
    )


def hbt_benchmark() -> HBTBenchmark:
    """The HBT benchmark: XQuADR and MLQAR, grouped by setting."""
    return _benchmark(
        BENCHMARK_NAME,
        LAREQA_TASKS,
        "LAReQA-style multilingual answer retrieval (XQuAD-R, MLQA-R) in the monolingual, cross-lingual "
        "and multilingual (pooled) settings, scored with full-list mAP, plus the language-bias rank "
        "distance. Tasks: XQuADR (11 languages) and MLQAR (7 languages); their perturbed variants are in "
        "HBT-Adv, the out-of-domain tasks (mMARCOR, MIRACL) in HBT-DomainShift.",
    )


def hbt_adv_benchmark() -> HBTBenchmark:
    """The HBT-Adv benchmark: XQuADR-Adv and MLQAR-Adv (adversarial mAP by setting, bias, robustness)."""
    return _benchmark(
        ADV_BENCHMARK_NAME,
        ADVERSARIAL_TASKS,
        "XQuAD-R and MLQA-R with perturbed questions from frozen, versioned TextAttack perturbation sets "
        "(script-aware character noise, Unicode attacks, word-level edits): adversarial full-list mAP in "
        "the monolingual, cross-lingual and multilingual settings, language bias under perturbation, and "
        "relative robustness (adversarial / clean).",
    )


def hbt_domain_shift_benchmark(miracl: str = MIRACL_HARD_NEGATIVES) -> HBTBenchmark:
    """The HBT-DomainShift benchmark: XQuADR, MLQAR (in domain), mMARCOR and MIRACL (out of domain).

    ``miracl`` picks mteb's MIRACL variant: the hard-negative pools (default, practical) or
    ``MIRACLRetrieval`` (the full 106M-passage corpora the paper used).
    """
    if miracl not in MIRACL_TASKS:
        raise ValueError(f"miracl={miracl!r}: expected one of {', '.join(MIRACL_TASKS)}")
    return _benchmark(
        DOMAIN_SHIFT_BENCHMARK_NAME,
        DOMAIN_SHIFT_LAREQA_TASKS,
        "Does cross-lingual alignment survive a change of domain? In domain: XQuADR and MLQAR (Wikipedia "
        "question answering, LAReQA settings). Out of domain: mMARCOR (MS MARCO web search in the LAReQA "
        "mono / cross / pooled settings, built locally with `hbt-bench data build mmarco-r`; mMARCOR-Adv "
        "is the same with perturbed queries, its set built with `hbt-bench attack build --dataset mmarco-r`) "
        "and mteb's "
        f"{miracl} restricted to the 15 MIRACL dev languages of the paper's Tables 12-13 "
        f"({' '.join(PAPER_LANGUAGES)}; monolingual nDCG@10, Recall@100 among mteb's standard scores). "
        "MIRACL variant: the default is MIRACLRetrievalHardNegatives (top-250 pools from BM25, mE5-large and "
        "e5-mistral per query, 43k-297k passages per language; ar, fi, ru cut to 1,000 queries), because "
        "the paper's setting, MIRACLRetrieval (full corpora, 106M passages), needs multi-GPU encoding; its "
        "scores are at least as high as full-corpus ones (fewer competitors per query) and not comparable "
        "with the paper's Tables 12-13. To use "
        "the full corpora: hbt_domain_shift_benchmark(miracl='MIRACLRetrieval') in Python, or run "
        "`mteb run -t MIRACLRetrieval` (the domain-shift report reads either). The pooled multilingual "
        "MIRACL diagnostic (MIRACLHardNegativesPooled: crowding-out, not a retrieval score, because "
        "other-language passages are unjudged) is a separate task, not in this benchmark. Report: "
        "`hbt-bench report domain-shift --model ...`.",
        extra_tasks=(miracl_task(miracl, PAPER_LANGUAGES),),
    )


#: The LAReQA-style tasks of HBT-DomainShift (grouped by setting); MIRACL is added as mteb's own task.
DOMAIN_SHIFT_LAREQA_TASKS: tuple[type[LareqaTask], ...] = (*LAREQA_TASKS, mMARCOR, mMARCORAdv)
IN_DOMAIN_TASKS: tuple[str, ...] = tuple(c.metadata.name for c in LAREQA_TASKS)
OUT_OF_DOMAIN_TASKS: tuple[str, ...] = (mMARCOR.metadata.name, "MIRACL")


__all__ = [
    "ADV_BENCHMARK_NAME",
    "ALL_TASKS",
    "BENCHMARK_NAME",
    "DOMAIN_SHIFT_BENCHMARK_NAME",
    "DOMAIN_SHIFT_LAREQA_TASKS",
    "IN_DOMAIN_TASKS",
    "OUT_OF_DOMAIN_TASKS",
    "HBTBenchmark",
    "Subset",
    "hbt_adv_benchmark",
    "hbt_benchmark",
    "hbt_domain_shift_benchmark",
    "is_adversarial",
    "robustness",
    "setting_scores",
    "subset_scores",
]
