"""Targeted-attack reports (:mod:`hbt_bench.attacks.report`): aggregates, the printed table, the files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hbt_bench.attacks.report import aggregate_scores, format_report, save_report
from tests.attacks.helpers import PARAMS, SUBSETS


def test_result_files_load_with_mteb(report: Any, tmp_path: Path) -> None:
    import mteb

    paths = save_report(report, tmp_path)
    result_file = next(p for p in paths if p.name == "XQuADR-TargetedAttack.json")
    assert result_file.parent.parent.parent == tmp_path / "results"
    loaded = mteb.ResultCache(tmp_path).load_results(tasks=["XQuADR-TargetedAttack"], include_remote=False)
    [model_result] = loaded.model_results
    assert model_result.model_name == "hbt-bench/hash-ngram"
    [tr] = model_result.task_results
    scores = {s["hf_subset"]: s for s in tr.scores["test"]}
    assert set(scores) == set(SUBSETS.split(","))
    assert scores["en-en"]["main_score"] == pytest.approx(report.subset_scores["en-en"]["map_after_attack"])
    assert scores["en-multi"]["attack_parameters"]["recipe"] == PARAMS.recipe
    # Kept apart from the clean / frozen-set results.
    assert not mteb.ResultCache(tmp_path).load_results(tasks=["XQuADR"], include_remote=False).model_results
    lines = (result_file.parent / "XQuADR-TargetedAttack.examples.jsonl").read_text("utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert records == report.examples
    assert {"qid", "lang", "subset", "original", "perturbed", "result", "gold_rank_before"} <= set(records[0])
    # Written whole through a staged file: nothing else in the folder, readable like the result files.
    examples = result_file.parent / "XQuADR-TargetedAttack.examples.jsonl"
    assert (examples.stat().st_mode & 0o777) == 0o644
    assert not [p.name for p in result_file.parent.iterdir() if p.name.startswith(".")]


def test_aggregates_pool_counts() -> None:
    base = {"n_queries": 10, "total_words_perturbed": 0, "total_model_queries": 0}
    a = {**base, "n_attacked": 1, "n_skipped": 9, "n_succeeded": 1, "n_failed": 0, "total_words_perturbed": 2}
    b = {**base, "n_attacked": 9, "n_skipped": 1, "n_succeeded": 0, "n_failed": 9, "total_model_queries": 90}
    a.update(map_before_attack=0.5, map_after_attack=0.4)
    b.update(map_before_attack=0.3, map_after_attack=0.3)
    agg = aggregate_scores({"en-en": a, "de-de": b}, ("en", "de"))
    assert list(agg) == ["mono", "en", "de", "all"]
    assert agg["mono"]["attack_success_rate"] == pytest.approx(0.1)  # 1 of 10 attacks, not mean(1.0, 0.0)
    assert agg["mono"]["mean_words_perturbed"] == 2 and agg["mono"]["mean_queries_per_example"] == 9
    assert agg["mono"]["map_after_attack"] == pytest.approx(0.35)


def test_format_report_table() -> None:
    """The table, written out by hand: '-' for an undefined figure, fixed decimals, then the pooled rows
    (the mono group holds every subset, so only "all" is shown)."""
    base = {"n_queries": 4, "n_attacked": 2, "n_skipped": 2, "n_succeeded": 1, "n_failed": 1}
    a = {**base, "total_words_perturbed": 2, "total_model_queries": 30, "attack_success_rate": 0.5}
    a.update(
        mean_words_perturbed=2.0, mean_queries_per_example=15.0, map_before_attack=0.5, map_after_attack=0.25
    )
    b = {"n_queries": 4, "n_attacked": 0, "n_skipped": 4, "n_succeeded": 0, "n_failed": 0}
    b.update(total_words_perturbed=0, total_model_queries=0, attack_success_rate=None)
    b.update(
        mean_words_perturbed=None, mean_queries_per_example=None, map_before_attack=0.1, map_after_attack=0.1
    )
    params = {"search": "beam", "beam_width": 2, "k": 1, "query_budget": 50, "max_words": 3}
    params.update(recipe="char-noise@30pct", seed=0, limit=4)
    text = format_report("XQuADR-TargetedAttack", "m", {"en-en": a, "de-de": b}, ("en", "de"), params)
    assert text.splitlines() == [
        "XQuADR-TargetedAttack  model m",
        "goal: best relevant out of the top 1; search beam (beam 2), query budget 50, at most 3 words, "
        "recipe char-noise@30pct, seed 0, 4 queries/subset",
        "subset          n  skip  succ  fail  success  words  queries   mAP before -> after",
        "en-en           4     2     1     1    0.500   2.00     15.0      0.5000 -> 0.2500",
        "de-de           4     4     0     0        -      -        -      0.1000 -> 0.1000",
        "-" * 70,
        "all             8     6     1     1    0.500   2.00     15.0      0.3000 -> 0.1750",
    ]
