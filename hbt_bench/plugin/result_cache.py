"""An mteb ``ResultCache`` that never mixes dataset revisions, for ``mteb.evaluate(..., cache=...)``.

mteb 2.26 keeps one file per model, revision and task *name* (``results/<model>/<rev>/<Task>.json``), and a
task variant (``XQuADR(languages=[...])``, ``candidate_mode=...``, external recipes) differs only in its
dataset revision. ``mteb.evaluate`` then (a) returns a stored result of another revision without running
when its subsets cover the task's (it compares revisions only when subsets are missing), and (b) replaces
it with ``overwrite_strategy="always"`` or when subsets are missing. Both are refused with
:class:`~hbt_bench.results.ResultConflictError`:

- for hbt-bench's own tasks in *every* ``mteb.ResultCache``: :func:`install_revision_guard` (called by the
  plugin's registration) wraps the class's ``load_task_result`` and ``save_to_cache``, because mteb never
  tells a task which cache it uses; mteb's own tasks keep mteb's behaviour;
- for any task in a :class:`GuardedResultCache`, which also checks the names that become paths.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from mteb.abstasks.abstask import AbsTask
from mteb.cache import ResultCache
from mteb.results import TaskResult

from hbt_bench.atomic import write_bytes_atomic
from hbt_bench.per_query import side_file_bytes, side_path
from hbt_bench.results import (
    MODEL_META,
    ResultConflictError,
    canonical_model_meta,
    check_no_conflict,
    check_result_names,
    lock_path,
)

__all__ = ["GuardedResultCache", "install_revision_guard"]

# mteb's own methods, kept before install_revision_guard replaces them on the class.
_LOAD = ResultCache.load_task_result
_SAVE = ResultCache.save_to_cache


class _RevisionCheckedResult(TaskResult):
    """A stored result that refuses to stand in for, or merge with, a task of another dataset revision."""

    def _check(self, task: Any) -> None:
        if isinstance(task, AbsTask) and task.metadata.revision != self.dataset_revision:
            raise ResultConflictError(
                f"the stored {self.task_name} result is on dataset revision {self.dataset_revision!r}, the "
                f"task on {task.metadata.revision!r}: mteb would reuse or replace it (one file per task "
                "name). Use another cache folder for this variant."
            )

    def get_missing_evaluations(self, task: AbsTask) -> dict[str, list[str]]:
        self._check(task)
        return super().get_missing_evaluations(task)

    def is_mergeable(self, result: Any, *args: Any, **kwargs: Any) -> bool:
        self._check(result)
        return super().is_mergeable(result, *args, **kwargs)


def _checked_load(cache: ResultCache, task_name: str, model_name: Any, *args: Any, **kwargs: Any) -> Any:
    stored = _LOAD(cache, task_name, model_name, *args, **kwargs)
    if stored is None:
        return None
    return _RevisionCheckedResult.model_construct(**dict(stored))


def _checked_save(
    cache: ResultCache, task_result: TaskResult, model_name: Any, model_revision: str | None, **kwargs: Any
) -> None:
    from filelock import FileLock

    path = cache.get_task_result_path(task_result.task_name, model_name, model_revision)
    with FileLock(lock_path(cache.cache_path)):
        check_no_conflict(path, task_result.task_name, task_result.dataset_revision)
        _SAVE(cache, task_result, model_name, model_revision, **kwargs)
        meta_path = path.parent / MODEL_META
        if meta_path.is_file():  # mteb writes its list of training datasets in a per-process order
            data = meta_path.read_bytes()
            if (canonical := canonical_model_meta(data)) != data:
                write_bytes_atomic(meta_path, canonical)
        # the per-query side file beside it (hbt_bench.per_query), as hbt-bench's own writer does, so that
        # results saved by `mteb run` / mteb.evaluate can be tested on the leaderboard too
        side = side_file_bytes(task_result)
        if side is not None:
            write_bytes_atomic(side_path(path), side)


def install_revision_guard(task_names: Collection[str]) -> None:
    """Make every ``mteb.ResultCache`` refuse revision mix-ups for ``task_names`` (idempotent).

    Other tasks' results go through mteb's own methods unchanged.
    """
    names = frozenset(task_names)
    guarded = getattr(ResultCache, "_hbt_bench_guarded", frozenset())
    if names <= guarded:
        return
    names |= guarded

    def load_task_result(self: ResultCache, task_name: str, model_name: Any, *args: Any, **kwargs: Any):
        if task_name in names:
            return _checked_load(self, task_name, model_name, *args, **kwargs)
        return _LOAD(self, task_name, model_name, *args, **kwargs)

    def save_to_cache(
        self: ResultCache,
        task_result: TaskResult,
        model_name: Any,
        model_revision: str | None = None,
        **kwargs: Any,
    ) -> None:
        if task_result.task_name in names:
            return _checked_save(self, task_result, model_name, model_revision, **kwargs)
        return _SAVE(self, task_result, model_name, model_revision, **kwargs)

    ResultCache.load_task_result = load_task_result  # type: ignore[method-assign]
    ResultCache.save_to_cache = save_to_cache  # type: ignore[method-assign]
    ResultCache._hbt_bench_guarded = names  # type: ignore[attr-defined]


class GuardedResultCache(ResultCache):
    """``mteb.ResultCache`` plus, for every task: names checked, no revision mixing, one writer at a time."""

    def load_task_result(
        self, task_name: str, model_name: Any, *args: Any, **kwargs: Any
    ) -> TaskResult | None:
        return _checked_load(self, task_name, model_name, *args, **kwargs)

    def save_to_cache(
        self, task_result: TaskResult, model_name: Any, model_revision: str | None = None, **kwargs: Any
    ) -> None:
        if not isinstance(model_name, str):  # a ModelMeta: every part of the path is checked
            check_result_names(model_name, [task_result.task_name])
        path = self.get_task_result_path(task_result.task_name, model_name, model_revision)
        if not path.resolve().is_relative_to(Path(self.cache_path).resolve()):
            raise ResultConflictError(f"{path}: outside the cache folder {self.cache_path}")
        _checked_save(self, task_result, model_name, model_revision, **kwargs)
