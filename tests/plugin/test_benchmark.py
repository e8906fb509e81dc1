"""The HBT benchmark's grouping (computed by mteb) agrees with our per-setting summary on stored results."""

from __future__ import annotations

from pathlib import Path

import mteb
import pytest

import hbt_bench
from hbt_bench.plugin.benchmark import setting_scores

LEADERBOARD = Path(__file__).resolve().parents[2] / "leaderboard"


@pytest.fixture(scope="module")
def stored():
    hbt_bench.register()
    bench = mteb.get_benchmark("HBT")
    return bench, mteb.ResultCache(LEADERBOARD).load_results(tasks=bench)


#: The models stored in leaderboard/results, each with all four tasks (clean and -Adv).
COMPLETE = {
    "hbt-bench/hash-ngram",
    "google/universal-sentence-encoder-multilingual-3",
    "hbt-bench/static-ml-64d",
    "hbt-bench/multilingual-e5-small-q4",
    "hbt-bench/bm25",
    "mteb/baseline-bm25s",
}


def test_stored_results_are_complete(stored):
    _, results = stored
    models = {m.model_name: m for m in results}
    assert set(models) == COMPLETE
    for name, model in models.items():
        sizes = {tr.task_name: len(tr.scores["test"]) for tr in model.task_results}
        assert sizes == {"XQuADR": 132, "MLQAR": 56}, name


def _assert_setting_columns(row: dict, tr) -> dict:
    """mteb's per-setting columns of one task equal our setting_scores; returns the latter."""
    ours = setting_scores(tr)
    for setting in ("Mono", "Cross", "Multi"):
        assert row[f"{tr.task_name}::{setting}"] == pytest.approx(ours[setting.lower()], abs=1e-9)
    return ours


def test_benchmark_columns_equal_setting_scores(stored):
    bench, results = stored
    scores = bench.get_score(results)
    for model in results:
        row = scores[model.model_name]
        if {tr.task_name for tr in model.task_results} != {"XQuADR", "MLQAR"}:  # get_score: all or nothing
            assert all(v is None for k, v in row.items() if k != "Rank")
            continue
        for tr in model.task_results:
            ours = _assert_setting_columns(row, tr)
            # Language bias, straight from the pooled subsets' rank distances (mean over query languages).
            pooled = [e["rank_distance"] for e in tr.scores["test"] if e["hf_subset"].endswith("-multi")]
            assert len(pooled) == ours["n_multi"]
            assert row[f"{tr.task_name}::LanguageBias"] == pytest.approx(sum(pooled) / len(pooled), abs=1e-9)
            assert (ours["n_mono"], ours["n_cross"], ours["n_multi"]) in {(11, 110, 11), (7, 42, 7)}
    # A multilingual sentence encoder aligns languages; a lexical hash does not.
    use, lex = scores["google/universal-sentence-encoder-multilingual-3"], scores["hbt-bench/hash-ngram"]
    assert use["XQuADR::Cross"] > lex["XQuADR::Cross"]
    assert use["XQuADR::LanguageBias"] < lex["XQuADR::LanguageBias"]


@pytest.fixture(scope="module")
def stored_adv():
    hbt_bench.register()
    bench = mteb.get_benchmark("HBT-Adv")
    return bench, mteb.ResultCache(LEADERBOARD).load_results(tasks=bench)


def test_stored_adversarial_results_are_complete_and_agree_with_the_clean_runs(stored, stored_adv):
    _, clean_results = stored
    _, adv_results = stored_adv
    clean = {(m.model_name, tr.task_name): tr for m in clean_results for tr in m.task_results}
    models = {m.model_name: m for m in adv_results}
    assert set(models) == COMPLETE
    for name, model in models.items():
        sizes = {tr.task_name: len(tr.scores["test"]) for tr in model.task_results}
        assert sizes == {"XQuADR-Adv": 132, "MLQAR-Adv": 56}
        for tr in model.task_results:
            base = {
                e["hf_subset"]: e for e in clean[(name, tr.task_name.removesuffix("-Adv"))].scores["test"]
            }
            for e in tr.scores["test"]:
                # The clean half of an -Adv run is exactly the clean task's score.
                assert e["clean_map"] == pytest.approx(base[e["hf_subset"]]["map"], abs=1e-9)
                assert e["main_score"] == e["map"]
                assert e["n_core_recipes"] == 8


#: Robustness column of the stored -Adv results, by hand: the sum of the subsets' stored
#: ``relative_robustness`` values (6 decimals each in leaderboard/results/<model>/<rev>/<Task>-Adv.json)
#: over the number of subsets.
STORED_ROBUSTNESS = {
    ("google/universal-sentence-encoder-multilingual-3", "XQuADR-Adv"): 114.422845 / 132,
    ("google/universal-sentence-encoder-multilingual-3", "MLQAR-Adv"): 45.870866 / 56,
    ("hbt-bench/hash-ngram", "XQuADR-Adv"): 118.460074 / 132,
    ("hbt-bench/hash-ngram", "MLQAR-Adv"): 48.495976 / 56,
    ("hbt-bench/static-ml-64d", "XQuADR-Adv"): 103.111511 / 132,
    ("hbt-bench/static-ml-64d", "MLQAR-Adv"): 41.770722 / 56,
    ("hbt-bench/multilingual-e5-small-q4", "XQuADR-Adv"): 113.806813 / 132,
    ("hbt-bench/multilingual-e5-small-q4", "MLQAR-Adv"): 44.531607 / 56,
    ("hbt-bench/bm25", "XQuADR-Adv"): 113.612831 / 132,
    ("hbt-bench/bm25", "MLQAR-Adv"): 45.192913 / 56,
    ("mteb/baseline-bm25s", "XQuADR-Adv"): 114.322051 / 132,
    ("mteb/baseline-bm25s", "MLQAR-Adv"): 45.369627 / 56,
}


def test_adversarial_benchmark_columns(stored_adv):
    bench, results = stored_adv
    scores = bench.get_score(results)
    for model in results:
        for tr in model.task_results:
            _assert_setting_columns(scores[model.model_name], tr)
    for (model_name, task_name), expected in STORED_ROBUSTNESS.items():
        assert scores[model_name][f"{task_name}::Robustness"] == pytest.approx(expected, abs=1e-9)
    # Perturbation hurts: a multilingual encoder loses monolingual mAP under query noise.
    use = scores["google/universal-sentence-encoder-multilingual-3"]
    assert use["XQuADR-Adv::Robustness"] < 1.0
