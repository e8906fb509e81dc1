"""The one registry of batch samplers: ``sampler.kind`` name -> sampler class, as ``module:Class``.

Config validation (the names), the recipe (the classes) and the ``sentence_transformers.batch_samplers``
entry points in ``pyproject.toml`` (the same ``module:Class`` strings, checked by a test) all read it.
The classes are named, not imported, so validating a config does not import torch; :func:`batch_sampler`
imports the one asked for.
"""

from __future__ import annotations

import importlib

__all__ = ["BATCH_SAMPLERS", "batch_sampler"]

BATCH_SAMPLERS: dict[str, str] = {
    "hybrid": "hbt_bench.training.samplers:HybridBatchSampler",
    "xx-mono": "hbt_bench.training.samplers:XXMonoBatchSampler",
    "xy": "hbt_bench.training.samplers:XYBatchSampler",
}


def batch_sampler(kind: str) -> type:
    """The sampler class registered as ``kind`` (a :data:`BATCH_SAMPLERS` key)."""
    try:
        target = BATCH_SAMPLERS[kind]
    except KeyError:
        raise ValueError(f"unknown batch sampler {kind!r} (known: {', '.join(BATCH_SAMPLERS)})") from None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
