"""Idempotent registration of hbt-bench with mteb's module-level registries.

mteb 2.26 has no plugin mechanism: ``mteb.get_task`` reads ``mteb.get_tasks._TASKS_REGISTRY`` and
``get_tasks`` walks ``TASK_LIST``, both built once at import time; benchmarks come from the
``lru_cache``d ``_build_registry()``. We add our entries to those objects in place. The ``.pth``
autoload hook calls :func:`register` right after ``import mteb`` finishes.
"""

from __future__ import annotations

import importlib

_DONE = False


def register() -> None:
    """Add the LAReQA tasks, the HBT benchmark and the built-in models to mteb (safe to call twice)."""
    global _DONE
    if _DONE:
        return
    _DONE = True
    from hbt_bench.plugin.tasks import MLQAR, XQuADR

    gt = importlib.import_module("mteb.get_tasks")  # `import mteb.get_tasks` gives the function
    for cls in (XQuADR, MLQAR):
        name = cls.metadata.name
        if name not in gt._TASKS_REGISTRY:
            gt._TASKS_REGISTRY[name] = cls
            gt.TASK_LIST = (*gt.TASK_LIST, cls)
        for parent in cls.metadata.adapted_from or []:  # zero-shot bookkeeping of the leaderboard
            similar = gt._SIMILAR_TASKS.setdefault(parent, [])
            if name not in similar:
                similar.append(name)

    from mteb.benchmarks.get_benchmark import _build_registry

    from hbt_bench.plugin.benchmark import BENCHMARK_NAME, hbt_benchmark

    registry = _build_registry()
    if BENCHMARK_NAME not in registry:
        registry[BENCHMARK_NAME] = hbt_benchmark()

    from hbt_bench.plugin.models import register_models

    register_models()
