"""Idempotent registration of hbt-bench with mteb's module-level registries.

mteb 2.26 has no plugin mechanism: ``mteb.get_task`` reads ``mteb.get_tasks._TASKS_REGISTRY`` and
``get_tasks`` walks ``TASK_LIST``, both built once at import time; benchmarks come from the
``lru_cache``d ``_build_registry()``. We add our entries to those objects in place. The ``.pth``
autoload hook calls :func:`register` right after ``import mteb`` finishes.
"""

from __future__ import annotations

import importlib
import sys

_DONE = False
_PENDING = False

#: mteb tasks that get an adversarial twin ``<name>-Adv`` (see hbt_bench.adversarial.wrapper).
WRAPPED_TASKS: tuple[str, ...] = ("XNLI",)


def _wrapped_tasks(gt: object) -> list[type]:
    """``XNLI-Adv`` and friends, built from mteb's own task classes (skipped if mteb lacks the task)."""
    from hbt_bench.adversarial.wrapper import adversarial_task

    registry = gt._TASKS_REGISTRY  # type: ignore[attr-defined]
    return [adversarial_task(registry[name]) for name in WRAPPED_TASKS if name in registry]


def register() -> None:
    """Add the LAReQA tasks (clean and adversarial), the HBT and HBT-Adv benchmarks and the built-in models
    to mteb (safe to call twice)."""
    global _PENDING
    if _DONE:
        return
    if _hbt_bench_initializing():
        # `import hbt_bench.plugin.tasks` (say) imported mteb, whose import hook called us while our
        # modules are half-executed: registering now would import them half-done. The last line of each
        # such module calls register_if_pending() once it is complete.
        _PENDING = True
        return
    _register()


def _register() -> None:
    global _DONE, _PENDING
    _DONE = True
    _PENDING = False
    from hbt_bench.plugin.benchmark import ALL_TASKS

    gt = importlib.import_module("mteb.get_tasks")  # `import mteb.get_tasks` gives the function
    for cls in (*ALL_TASKS, *_wrapped_tasks(gt)):
        name = cls.metadata.name
        if name not in gt._TASKS_REGISTRY:
            gt._TASKS_REGISTRY[name] = cls
            gt.TASK_LIST = (*gt.TASK_LIST, cls)
        for parent in cls.metadata.adapted_from or []:  # zero-shot bookkeeping of the leaderboard
            similar = gt._SIMILAR_TASKS.setdefault(parent, [])
            if name not in similar:
                similar.append(name)

    from mteb.benchmarks.get_benchmark import _build_registry

    from hbt_bench.plugin.benchmark import (
        ADV_BENCHMARK_NAME,
        BENCHMARK_NAME,
        hbt_adv_benchmark,
        hbt_benchmark,
    )

    registry = _build_registry()
    if BENCHMARK_NAME not in registry:
        registry[BENCHMARK_NAME] = hbt_benchmark()
    if ADV_BENCHMARK_NAME not in registry:
        registry[ADV_BENCHMARK_NAME] = hbt_adv_benchmark()

    from hbt_bench.plugin.models import register_models

    register_models()

    # mteb keeps one result file per task name: make every ResultCache refuse to let a variant of our
    # tasks (another dataset revision) stand in for, or replace, a stored result (hbt_bench.result_cache).
    from hbt_bench.result_cache import install_revision_guard

    install_revision_guard([cls.metadata.name for cls in ALL_TASKS])


def _hbt_bench_initializing(ignore: str | None = None) -> bool:
    """True while any hbt_bench module other than ``ignore`` is still executing its import."""
    for name, module in list(sys.modules.items()):
        if name != ignore and (name == "hbt_bench" or name.startswith("hbt_bench.")):
            spec = getattr(module, "__spec__", None)
            if spec is not None and getattr(spec, "_initializing", False):
                return True
    return False


def register_if_pending(module_name: str) -> None:
    """Finish a registration that :func:`register` deferred. Called on the last line of each plugin module
    that imports mteb; ``module_name`` (the caller) has all its names defined by then, so it does not count
    as half-imported, and the registration may import it."""
    if _PENDING and not _DONE and not _hbt_bench_initializing(ignore=module_name):
        _register()
