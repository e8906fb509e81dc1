"""Idempotent registration of hbt-bench with mteb's module-level registries.

mteb 2.26 has no plugin mechanism: ``mteb.get_task`` reads ``mteb.get_tasks._TASKS_REGISTRY`` and
``get_tasks`` walks ``TASK_LIST``, both built once at import time; benchmarks come from the
``lru_cache``d ``_build_registry()``; models from ``MODEL_REGISTRY``. :func:`register` adds our entries to
those objects in place. The ``.pth`` autoload hook calls it right after ``import mteb`` finishes; the
modules it imports know nothing about registration (see :mod:`hbt_bench.plugin` for why the import
order is safe).
"""

from __future__ import annotations

import importlib

from mteb.benchmarks.get_benchmark import _build_registry

from hbt_bench.plugin.adversarial_wrapper import adversarial_task
from hbt_bench.plugin.benchmark import (
    ADV_BENCHMARK_NAME,
    ALL_TASKS,
    BENCHMARK_NAME,
    DOMAIN_SHIFT_BENCHMARK_NAME,
    hbt_adv_benchmark,
    hbt_benchmark,
    hbt_domain_shift_benchmark,
)
from hbt_bench.plugin.miracl import MIRACLPooled
from hbt_bench.plugin.models import register_models
from hbt_bench.plugin.result_cache import install_revision_guard

__all__ = ["WRAPPED_TASKS", "register"]

#: mteb tasks that get an adversarial twin ``<name>-Adv`` (see hbt_bench.plugin.adversarial_wrapper).
WRAPPED_TASKS: tuple[str, ...] = ("XNLI",)

_DONE = False


def register() -> None:
    """Add the LAReQA tasks (clean and adversarial), the wrapped ``<Task>-Adv`` tasks, the HBT and HBT-Adv
    benchmarks and the built-in models to mteb, and guard mteb's result cache for our tasks (safe to call
    twice)."""
    global _DONE
    if _DONE:
        return
    gt = importlib.import_module("mteb.get_tasks")  # `import mteb.get_tasks` gives the function
    wrapped = [adversarial_task(gt._TASKS_REGISTRY[n]) for n in WRAPPED_TASKS if n in gt._TASKS_REGISTRY]
    for cls in (*ALL_TASKS, MIRACLPooled, *wrapped):
        name = cls.metadata.name
        if name not in gt._TASKS_REGISTRY:
            gt._TASKS_REGISTRY[name] = cls
            gt.TASK_LIST = (*gt.TASK_LIST, cls)
        for parent in cls.metadata.adapted_from or []:  # zero-shot bookkeeping of the leaderboard
            similar = gt._SIMILAR_TASKS.setdefault(parent, [])
            if name not in similar:
                similar.append(name)

    registry = _build_registry()
    if BENCHMARK_NAME not in registry:
        registry[BENCHMARK_NAME] = hbt_benchmark()
    if ADV_BENCHMARK_NAME not in registry:
        registry[ADV_BENCHMARK_NAME] = hbt_adv_benchmark()
    if DOMAIN_SHIFT_BENCHMARK_NAME not in registry:
        registry[DOMAIN_SHIFT_BENCHMARK_NAME] = hbt_domain_shift_benchmark()

    register_models()

    # mteb keeps one result file per task name: make every ResultCache refuse to let a variant of our
    # tasks (another dataset revision) stand in for, or replace, a stored result.
    install_revision_guard([cls.metadata.name for cls in ALL_TASKS])
    _DONE = True
