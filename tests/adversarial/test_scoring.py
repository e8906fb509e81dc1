"""The arithmetic that turns clean and per-recipe scores into an -Adv subset's score dict."""

from __future__ import annotations

import pytest

from hbt_bench.adversarial.scoring import combine_adversarial, combine_scores

CLEAN = {"map": 0.8, "recall_at_1": 0.7, "rank_distance": 10.0, "num_queries": 5, "num_candidates": 50}
BY_RECIPE = {
    "a@1": {"map": 0.6, "recall_at_1": 0.5, "rank_distance": 20.0},
    "b@1": {"map": 0.4, "recall_at_1": 0.3, "rank_distance": 40.0},
    "zh-only@1": {"map": 0.1, "recall_at_1": 0.0, "rank_distance": 90.0},
}


def test_main_score_is_the_mean_over_core_recipes_only():
    out = combine_adversarial(CLEAN, BY_RECIPE, ["a@1", "b@1"], {"a@1": 1.0, "b@1": 0.5, "zh-only@1": 0.2})
    assert out["map"] == pytest.approx(0.5)
    assert out["recall_at_1"] == pytest.approx(0.4)
    assert out["rank_distance"] == pytest.approx(30.0)
    assert out["clean_map"] == 0.8 and out["clean_rank_distance"] == 10.0
    assert out["map_drop"] == pytest.approx(0.3)
    assert out["relative_robustness"] == pytest.approx(0.625)
    assert out["map_zh-only@1"] == 0.1 and out["rank_distance_b@1"] == 40.0
    assert out["perturbed_fraction_b@1"] == 0.5
    assert out["num_queries"] == 5 and "clean_num_queries" not in out
    assert out["n_core_recipes"] == 2


def test_core_recipes_missing_for_a_language_are_skipped_and_none_left_is_an_error():
    partial = {"a@1": BY_RECIPE["a@1"]}
    out = combine_adversarial(CLEAN, partial, ["a@1", "b@1"], {"a@1": 1.0})
    assert out["map"] == 0.6 and out["n_core_recipes"] == 1
    with pytest.raises(ValueError, match="no core recipe scored"):
        combine_adversarial(CLEAN, {"zh-only@1": BY_RECIPE["zh-only@1"]}, ["a@1"], {"zh-only@1": 0.0})


def test_zero_clean_map_gives_zero_robustness_not_a_division_error():
    clean = {**CLEAN, "map": 0.0}
    out = combine_adversarial(clean, BY_RECIPE, ["a@1"], dict.fromkeys(BY_RECIPE, 0.0))
    assert out["relative_robustness"] == 0.0


def test_combine_scores_for_another_task_averages_every_recipe_and_drops_non_numbers():
    # The generic <Task>-Adv wrapper: main score max_ap, all recipes averaged, no counts kept.
    clean = {"max_ap": 0.9, "accuracy": 0.8, "languages": ["bul-Cyrl"], "is_ok": True}
    by_recipe = {"r1": {"max_ap": 0.7, "accuracy": 0.6}, "r2": {"max_ap": 0.5, "accuracy": 0.2}}
    out = combine_scores(clean, by_recipe, {"r1": 0.25, "r2": 1.0}, averaged=["r1", "r2"], main="max_ap")
    assert out == {
        "max_ap": pytest.approx(0.6),  # (0.7 + 0.5) / 2
        "clean_max_ap": 0.9,
        "accuracy": pytest.approx(0.4),  # (0.6 + 0.2) / 2
        "clean_accuracy": 0.8,
        "max_ap_drop": pytest.approx(0.3),  # 0.9 - 0.6
        "relative_robustness": pytest.approx(2 / 3),  # 0.6 / 0.9
        "max_ap_r1": 0.7,
        "perturbed_fraction_r1": 0.25,
        "max_ap_r2": 0.5,
        "perturbed_fraction_r2": 1.0,
    }
    assert list(out)[:4] == ["max_ap", "clean_max_ap", "accuracy", "clean_accuracy"]  # clean's key order
    with pytest.raises(ValueError, match="no recipe"):
        combine_scores(clean, by_recipe, {}, averaged=[], main="max_ap")
