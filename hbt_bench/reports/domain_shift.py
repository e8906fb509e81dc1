"""Does cross-lingual alignment survive a change of domain? In-domain vs out-of-domain scores per model.

In domain: XQuADR, MLQAR. Out of domain: mMARCOR and MIRACL (mteb's ``MIRACLRetrievalHardNegatives``, else
``MIRACLRetrieval``, on the paper's 15 languages). For each model, clean and (where an ``-Adv`` result exists)
adversarial: per setting (mono / cross / multi) mAP, nDCG@10, Recall@100 and the language bias, per query
language and macro, and the ratios out-of-domain / in-domain.

Definitions (stated once, used everywhere):

- a LAReQA-style task's numbers come from :func:`hbt_bench.plugin.benchmark.setting_scores` (macro) and
  :func:`hbt_bench.evaluate.per_language` (per query language; cross = mean over candidate languages);
- MIRACL is monolingual: ``mono`` only; its mAP is mteb's ``map_at_1000`` (MIRACL has no full-list mAP; a
  lower bound of it). ``multi`` comes from the pooled diagnostic ``MIRACLHardNegativesPooled`` when it was run
  (the query language's judged passages against all languages' pools), with ``crowding_out`` = mono - multi
  nDCG@10; MIRACL has no language bias (no relevant passage in another language);
- "in domain" per language = mean of the in-domain tasks that have the language; macro = mean of the tasks'
  macros (each over its own languages); ratio = out-of-domain / in-domain (per language where both exist;
  macro = ratio of the macros). For the language bias (lower is better) a ratio > 1 means more bias.

Missing results are ``None`` (printed "-"), each with the command that produces it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hbt_bench.errors import HbtBenchError
from hbt_bench.formatting import fmt_score

__all__ = [
    "DomainShiftReport",
    "ModelReport",
    "ReportInputError",
    "build_report",
    "format_report",
    "load_model_results",
]

IN_DOMAIN = ("XQuADR", "MLQAR")
OUT_OF_DOMAIN = ("mMARCOR", "MIRACL")
MIRACL_SOURCES = ("MIRACLRetrievalHardNegatives", "MIRACLRetrieval")
MIRACL_POOLED = "MIRACLHardNegativesPooled"
SETTINGS = ("mono", "cross", "multi")
#: (key in the report, key in LAReQA scores, key in MIRACL scores)
METRICS = (("map", "map", "map_at_1000"), ("ndcg_at_10", "ndcg_at_10", "ndcg_at_10"),
           ("recall_at_100", "recall_at_100", "recall_at_100"))  # fmt: skip
VARIANTS = ("clean", "adversarial")
MACRO = "macro"

Table = dict[str, dict[str, dict[str, float | None]]]  # setting -> metric -> language|macro -> value


class ReportInputError(HbtBenchError):
    """A results folder or model that cannot be read; the message names it."""


@dataclass
class ModelReport:
    """One model's numbers: ``tables[variant][task] = Table``; ``in_domain``/``ratios`` derived from them."""

    model: str
    revision: str
    tables: dict[str, dict[str, Table | None]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # task -> result file's task name (MIRACL variant)
    in_domain: dict[str, Table] = field(default_factory=dict)
    ratios: dict[str, dict[str, Table]] = field(default_factory=dict)
    missing: list[dict[str, str]] = field(default_factory=list)


@dataclass
class DomainShiftReport:
    models: list[ModelReport]

    def to_json(self) -> dict[str, Any]:
        """The same numbers as the text report, machine-readable (``None`` = missing)."""
        return {
            "in_domain_tasks": list(IN_DOMAIN),
            "out_of_domain_tasks": list(OUT_OF_DOMAIN),
            "definitions": __doc__.split("Definitions (stated once, used everywhere):", 1)[1].strip(),
            "models": [
                {
                    "model": m.model,
                    "revision": m.revision,
                    "sources": m.sources,
                    "tasks": m.tables,
                    "in_domain": m.in_domain,
                    "ratios_out_over_in": m.ratios,
                    "missing": m.missing,
                }
                for m in self.models
            ],
        }


def _mean(values: Iterable[float | None]) -> float | None:
    got = [float(v) for v in values if v is not None]
    return sum(got) / len(got) if got else None


def _empty() -> Table:
    return {s: {m: {} for m, _, _ in METRICS} | {"language_bias": {}} for s in SETTINGS}


def lareqa_table(result: Any) -> Table:
    """Per setting, metric and query language (plus macro) of a LAReQA-style TaskResult (clean or -Adv)."""
    from hbt_bench.evaluate import per_language
    from hbt_bench.plugin.benchmark import setting_scores, subset_scores, task_languages

    scores = subset_scores(result)
    langs = task_languages(result.task_name)
    table = _empty()
    for key, lareqa_key, _ in METRICS:
        if not all(lareqa_key in s for s in scores.values()):
            continue  # e.g. recall_at_100: LAReQA tasks report R@1 / R@10
        macro = setting_scores(result, metric=lareqa_key)
        rows = per_language(scores, langs, metric=lareqa_key)
        for setting in SETTINGS:
            cell = table[setting][key]
            cell[MACRO] = macro[setting]
            cell.update({lang: row[setting] for lang, row in rows.items()})
    macro = setting_scores(result)
    rows = per_language(scores, langs)
    bias = table["multi"]["language_bias"]
    bias[MACRO] = macro["language_bias"]
    bias.update({lang: row["rank_distance"] for lang, row in rows.items()})
    return table


def miracl_table(mono: Any | None, pooled: Any | None, languages: Sequence[str]) -> Table:
    """MIRACL's table: mono from mteb's task result, multi (and crowding-out) from the pooled diagnostic."""
    from hbt_bench.plugin.benchmark import subset_scores

    table = _empty()
    if mono is not None:
        scores = subset_scores(mono)
        for key, _, miracl_key in METRICS:
            cell = table["mono"][key]
            cell.update({lang: float(scores[lang][miracl_key]) for lang in languages if lang in scores})
            cell[MACRO] = _mean(cell.values()) if len(cell) == len(languages) else None
    if pooled is not None:
        [entry] = subset_scores(pooled).values()
        for key, _, miracl_key in METRICS:
            cell = table["multi"][key]
            cell.update({lang: entry.get(f"{miracl_key}_{lang}") for lang in languages})
            cell[MACRO] = _mean(cell.values()) if all(v is not None for v in cell.values()) else None
        mono_ndcg, multi_ndcg = table["mono"]["ndcg_at_10"], table["multi"]["ndcg_at_10"]
        table["multi"]["crowding_out"] = {
            k: (mono_ndcg[k] - v if v is not None and mono_ndcg.get(k) is not None else None)
            for k, v in multi_ndcg.items()
        }
    return table


def _combine(tables: Sequence[Table]) -> Table:
    """In domain: per language the mean over the tasks having it; macro the mean of the tasks' macros."""
    out = _empty()
    for setting, metrics in out.items():
        for metric in metrics:
            keys = {k for t in tables for k in t[setting].get(metric, {})}
            metrics[metric] = {
                k: _mean(t[setting].get(metric, {}).get(k) for t in tables) for k in sorted(keys)
            }
    return out


def _ratio(num: Table, den: Table) -> Table:
    out = _empty()
    for setting, metrics in out.items():
        for metric in metrics:
            n, d = num[setting].get(metric, {}), den[setting].get(metric, {})
            metrics[metric] = {
                k: (n[k] / d[k] if n.get(k) is not None and d.get(k) not in (None, 0) else None)
                for k in n
                if k in d
            }
    return out


def _command(task: str, model: str, root: Path, variant: str) -> str:
    if task == "MIRACL":
        from hbt_bench.plugin.miracl import MIRACL_LANGUAGES, PAPER_LANGUAGES

        codes = " ".join(MIRACL_LANGUAGES[lang][0].split("-")[0] for lang in PAPER_LANGUAGES)
        return f"mteb run -t {MIRACL_SOURCES[0]} -l {codes} -m {model} --output-folder {root}"
    name = f"{task}-Adv" if variant == "adversarial" else task
    command = f"hbt-bench eval --model {model} --tasks {name} --output-folder {root}"
    if name == "mMARCOR-Adv":  # its perturbation set is built from the user's own mMARCO-R build first
        from hbt_bench.adversarial.local_sets import ATTACK_BUILD_COMMAND

        command = f"{ATTACK_BUILD_COMMAND} && {command}"
    return command


def _results_root(folder: str | Path) -> Path:
    """The ResultCache root of ``folder``: itself when it holds ``results/``, its parent when it IS one."""
    path = Path(folder).expanduser()
    if (path / "results").is_dir():
        return path
    if path.name == "results" and path.is_dir():
        return path.parent
    raise ReportInputError(f"--results {folder}: neither a results/ folder nor a folder holding one")


def _model_name(spec: str) -> str:
    """A stored model name from ``--model``: a name, a ``builtin:`` spec or a local model directory."""
    if spec.startswith("builtin:"):
        from hbt_bench.plugin.models import model_meta_for

        return model_meta_for(spec).name
    if Path(spec).expanduser().is_dir():
        from hbt_bench.plugin.models import local_model_meta

        return local_model_meta(spec).name
    return spec.replace("__", "/", 1) if "/" not in spec else spec


def load_model_results(folders: Sequence[str | Path], models: Sequence[str]) -> list[tuple[str, Path, Any]]:
    """``(model name, cache root, ModelResult or None)`` per requested model, read with mteb's ResultCache.

    The first folder holding a model's results wins (its revision with most task files if several).
    """
    import mteb

    from hbt_bench.plugin.register import register

    register()
    roots = [_results_root(f) for f in folders]
    out = []
    for spec in models:
        name = _model_name(spec)
        found = None
        for root in roots:
            loaded = mteb.ResultCache(root).load_results(
                models=[name], include_remote=False, require_model_meta=False
            )
            candidates = [m for m in loaded if m.model_name == name]
            if candidates:
                found = (root, max(candidates, key=lambda m: len(m.task_results)))
                break
        out.append((name, *(found or (roots[0], None))))
    return out


def build_report(
    folders: Sequence[str | Path], models: Sequence[str], *, miracl_languages: Sequence[str] | None = None
) -> DomainShiftReport:
    """Read the stored results of ``models`` from ``folders`` and compute the report's numbers."""
    from hbt_bench.plugin.miracl import PAPER_LANGUAGES

    languages = tuple(miracl_languages or PAPER_LANGUAGES)
    reports = []
    for name, root, model_result in load_model_results(folders, models):
        by_task = {tr.task_name: tr for tr in (model_result.task_results if model_result else [])}
        rev = str(getattr(model_result, "model_revision", None) or "-")
        rep = ModelReport(model=name, revision=rev)
        for variant in VARIANTS:
            suffix = "-Adv" if variant == "adversarial" else ""
            tables: dict[str, Table | None] = {}
            for task in (*IN_DOMAIN, "mMARCOR"):
                tr = by_task.get(task + suffix)
                tables[task] = lareqa_table(tr) if tr is not None else None
                if tr is None and (variant == "clean" or by_task.get(task) is not None):
                    rep.missing.append(
                        {"task": task + suffix, "command": _command(task, name, root, variant)}
                    )
            if variant == "clean":
                mono = next((by_task[t] for t in MIRACL_SOURCES if t in by_task), None)
                if mono is not None:
                    rep.sources["MIRACL"] = mono.task_name
                else:
                    rep.missing.append({"task": "MIRACL", "command": _command("MIRACL", name, root, variant)})
                pooled = by_task.get(MIRACL_POOLED)
                has = mono is not None or pooled is not None
                tables["MIRACL"] = miracl_table(mono, pooled, languages) if has else None
            else:
                tables["MIRACL"] = None  # no adversarial MIRACL task
            rep.tables[variant] = tables
            present = [t for t in (tables[k] for k in IN_DOMAIN) if t is not None]
            if present:
                rep.in_domain[variant] = _combine(present)
                rep.ratios[variant] = {
                    k: _ratio(tables[k], rep.in_domain[variant])
                    for k in OUT_OF_DOMAIN
                    if tables[k] is not None
                }
        reports.append(rep)
    return DomainShiftReport(reports)


_LABELS = {"map": "mAP", "ndcg_at_10": "nDCG@10", "recall_at_100": "R@100", "language_bias": "bias",
           "crowding_out": "crowd-out"}  # fmt: skip


def _rows(report: DomainShiftReport, variant: str, lang: str) -> list[tuple[str, list[str]]]:
    """(label, one cell per model) rows of one variant at one language or macro; empty rows dropped."""
    rows = []
    keys: list[tuple[str, str, str]] = []
    for task in (*IN_DOMAIN, *OUT_OF_DOMAIN):
        for setting in SETTINGS:
            for metric in (*(m for m, _, _ in METRICS), "language_bias", "crowding_out"):
                keys.append((task, setting, metric))
    for task, setting, metric in keys:
        cells = []
        for m in report.models:
            table = m.tables.get(variant, {}).get(task)
            cells.append(None if table is None else table[setting].get(metric, {}).get(lang))
        if any(c is not None for c in cells):
            digits = 1 if metric == "language_bias" else 3
            rows.append((f"{task} {setting} {_LABELS[metric]}", [fmt_score(c, digits) for c in cells]))
    for task in OUT_OF_DOMAIN:
        for setting in SETTINGS:
            for metric in (*(m for m, _, _ in METRICS), "language_bias"):
                cells = [
                    m.ratios.get(variant, {}).get(task, {}).get(setting, {}).get(metric, {}).get(lang)
                    for m in report.models
                ]
                if any(c is not None for c in cells):
                    label = f"{task}/in {setting} {_LABELS[metric]}"
                    rows.append((label, [fmt_score(c, 2) for c in cells]))
    return rows


def format_report(report: DomainShiftReport) -> str:
    """The text report: per variant, macro then per query language, models side by side."""
    unique = len({x.model for x in report.models}) == len(report.models)
    names = [m.model if unique else f"{m.model}@{m.revision}" for m in report.models]
    width = max(12, *(len(n) + 2 for n in names))
    lines = [
        "Domain shift: in domain XQuADR, MLQAR vs out of domain mMARCOR, MIRACL",
        "mAP full list (MIRACL: map@1000); bias = rank distance (lower is better); crowd-out = MIRACL mono - "
        "pooled nDCG@10; X/in = out-of-domain / in-domain (mean of XQuADR, MLQAR)",
    ]
    for m in report.models:
        if "MIRACL" in m.sources:
            lines.append(f"{m.model}: MIRACL from {m.sources['MIRACL']}")
    for variant in VARIANTS:
        langs = sorted({
            k
            for m in report.models
            for t in m.tables.get(variant, {}).values()
            if t is not None
            for metrics in t.values()
            for cell in metrics.values()
            for k in cell
        } - {MACRO})  # fmt: skip
        if not langs and variant == "adversarial":
            continue
        for lang in (MACRO, *langs):
            rows = _rows(report, variant, lang)
            if not rows:
                continue
            label_w = max(len(r[0]) for r in rows) + 2
            lines.append("")
            lines.append(f"[{variant}, {lang}]")
            lines.append(" " * label_w + "".join(f"{n:>{width}}" for n in names))
            lines.extend(
                f"{label:<{label_w}}" + "".join(f"{c:>{width}}" for c in cells) for label, cells in rows
            )
    missing = [(m.model, x) for m in report.models for x in m.missing]
    if missing:
        lines.append("")
        lines.append("missing results ('-' above):")
        lines.extend(f"  {model}: {x['task']}  ->  {x['command']}" for model, x in missing)
    return "\n".join(lines)


def to_json_text(report: DomainShiftReport) -> str:
    return json.dumps(report.to_json(), indent=2, sort_keys=False)
