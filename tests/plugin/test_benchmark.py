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


def test_stored_results_are_complete(stored):
    _, results = stored
    models = {m.model_name: m for m in results}
    assert {"hbt-bench/hash-ngram", "google/universal-sentence-encoder-multilingual-3"} <= set(models)
    for model in models.values():
        sizes = {tr.task_name: len(tr.scores["test"]) for tr in model.task_results}
        assert sizes == {"XQuADR": 132, "MLQAR": 56}


def test_benchmark_columns_equal_setting_scores(stored):
    bench, results = stored
    scores = bench.get_score(results)
    for model in results:
        row = scores[model.model_name]
        for tr in model.task_results:
            ours = setting_scores(tr)
            assert row[f"{tr.task_name}::Mono"] == pytest.approx(ours["mono"], abs=1e-9)
            assert row[f"{tr.task_name}::Cross"] == pytest.approx(ours["cross"], abs=1e-9)
            assert row[f"{tr.task_name}::Multi"] == pytest.approx(ours["multi"], abs=1e-9)
            # Language bias, straight from the pooled subsets' rank distances (mean over query languages).
            pooled = [e["rank_distance"] for e in tr.scores["test"] if e["hf_subset"].endswith("-multi")]
            assert len(pooled) == ours["n_multi"]
            assert row[f"{tr.task_name}::LanguageBias"] == pytest.approx(sum(pooled) / len(pooled), abs=1e-9)
            assert (ours["n_mono"], ours["n_cross"], ours["n_multi"]) in {(11, 110, 11), (7, 42, 7)}
    # A multilingual sentence encoder aligns languages; a lexical hash does not.
    use, lex = scores["google/universal-sentence-encoder-multilingual-3"], scores["hbt-bench/hash-ngram"]
    assert use["XQuADR::Cross"] > lex["XQuADR::Cross"]
    assert use["XQuADR::LanguageBias"] < lex["XQuADR::LanguageBias"]
