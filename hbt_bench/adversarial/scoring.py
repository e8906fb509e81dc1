"""How one subset's clean and per-recipe scores become an adversarial task's score dict.

Kept apart from the task classes so the arithmetic is plain, testable and written once: both the LAReQA
``-Adv`` tasks (:func:`combine_adversarial`) and the generic ``<Task>-Adv`` wrapper of other mteb tasks
(:mod:`hbt_bench.plugin.adversarial_wrapper`) call :func:`combine_scores`.

- ``<metric>`` (for LAReQA ``map`` is the main score, also ``recall_at_1``, ``rank_distance``, ...): the
  mean over the averaged recipes (LAReQA: the *core* recipes, those that apply to every language; the
  wrapper: all of its recipes) of the metric under that recipe;
- ``clean_<metric>``: the metric on the clean texts;
- ``<main>_drop`` = clean_<main> - <main> and ``relative_robustness`` = <main> / clean_<main> (0 when
  clean_<main> is 0);
- ``<main>_<recipe id>`` for every recipe scored on the subset (core or not, external recipes included),
  for LAReQA also ``rank_distance_<recipe id>`` in the pooled setting, and
  ``perturbed_fraction_<recipe id>``: the share of the subset's texts that recipe actually changed
  (the rest were left unchanged and still count).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["COUNT_KEYS", "combine_adversarial", "combine_scores"]

#: LAReQA score keys that are counts, copied from the clean scores (never averaged or prefixed).
COUNT_KEYS = ("num_queries", "num_candidates")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def combine_scores(
    clean: Mapping[str, Any],
    by_recipe: Mapping[str, Mapping[str, Any]],
    perturbed_fraction: Mapping[str, float],
    *,
    averaged: Sequence[str],
    main: str,
    kept: Collection[str] = (),
    per_recipe: Sequence[str] = (),
) -> dict[str, Any]:
    """One subset's adversarial score dict (see module docstring).

    ``averaged``: the recipes (keys of ``by_recipe``, non-empty) whose mean is the adversarial score;
    ``kept``: clean keys copied as they are; ``per_recipe``: metrics besides ``main`` reported per recipe
    where the recipe's scores have them. Clean values that are not numbers (and not ``kept``) are dropped.
    """
    if not averaged:
        raise ValueError("no recipe to average over")
    out: dict[str, Any] = {}
    for key, value in clean.items():
        if key in kept:
            out[key] = value
        elif _is_number(value):
            out[key] = float(np.mean([float(by_recipe[rid][key]) for rid in averaged]))
            out[f"clean_{key}"] = float(value)
    clean_main = out[f"clean_{main}"]
    out[f"{main}_drop"] = clean_main - out[main]
    out["relative_robustness"] = out[main] / clean_main if clean_main > 0 else 0.0
    for rid, scores in by_recipe.items():
        out[f"{main}_{rid}"] = float(scores[main])
        for key in per_recipe:
            if key in scores:
                out[f"{key}_{rid}"] = float(scores[key])
        out[f"perturbed_fraction_{rid}"] = float(perturbed_fraction[rid])
    return out


def combine_adversarial(
    clean: Mapping[str, float],
    by_recipe: Mapping[str, Mapping[str, float]],
    core: Sequence[str],
    perturbed_fraction: Mapping[str, float],
) -> dict[str, float]:
    """A LAReQA ``-Adv`` subset's score dict: main score ``map`` averaged over the ``core`` recipes scored
    for the subset (at least one), ``rank_distance`` per recipe, and ``n_core_recipes``."""
    core_here = [rid for rid in core if rid in by_recipe]
    if not core_here:
        raise ValueError(f"no core recipe scored for this subset (core: {', '.join(core) or 'none'})")
    out = combine_scores(
        clean,
        by_recipe,
        perturbed_fraction,
        averaged=core_here,
        main="map",
        kept=COUNT_KEYS,
        per_recipe=("rank_distance",),
    )
    out["n_core_recipes"] = len(core_here)
    return out
