"""How one subset's clean and per-recipe scores become the adversarial task's score dict.

Kept apart from the task class so the arithmetic is plain and testable:

- ``<metric>`` (``map`` is the main score, also ``recall_at_1``, ``rank_distance``, ...): the mean over
  the *core* recipes (those that apply to every language) of the metric under that recipe;
- ``clean_<metric>``: the metric on the clean questions;
- ``map_drop`` = clean_map - map and ``relative_robustness`` = map / clean_map (0 when clean_map is 0);
- ``map_<recipe id>`` for every recipe that applies to the subset's query language (core or not, external
  recipes included), ``rank_distance_<recipe id>`` in the pooled setting, and
  ``perturbed_fraction_<recipe id>``: the share of the subset's queries that recipe actually changed
  (the rest were left unchanged and still count).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["COUNT_KEYS", "combine_adversarial"]

COUNT_KEYS = ("num_queries", "num_candidates")


def combine_adversarial(
    clean: Mapping[str, float],
    by_recipe: Mapping[str, Mapping[str, float]],
    core: Sequence[str],
    perturbed_fraction: Mapping[str, float],
) -> dict[str, float]:
    """One subset's adversarial score dict (see module docstring); ``core`` must be non-empty."""
    core_here = [rid for rid in core if rid in by_recipe]
    if not core_here:
        raise ValueError(f"no core recipe scored for this subset (core: {', '.join(core) or 'none'})")
    out: dict[str, float] = {}
    for key, value in clean.items():
        if key in COUNT_KEYS:
            out[key] = value
            continue
        out[key] = float(np.mean([by_recipe[rid][key] for rid in core_here]))
        out[f"clean_{key}"] = float(value)
    clean_map = float(clean["map"])
    out["map_drop"] = clean_map - out["map"]
    out["relative_robustness"] = out["map"] / clean_map if clean_map > 0 else 0.0
    for rid, scores in by_recipe.items():
        out[f"map_{rid}"] = float(scores["map"])
        if "rank_distance" in scores:
            out[f"rank_distance_{rid}"] = float(scores["rank_distance"])
        out[f"perturbed_fraction_{rid}"] = float(perturbed_fraction[rid])
    out["n_core_recipes"] = len(core_here)
    return out
