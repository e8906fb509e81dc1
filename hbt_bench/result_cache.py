"""An mteb ``ResultCache`` that never mixes dataset revisions, for ``mteb.evaluate(..., cache=...)``.

mteb 2.26 keeps one file per model, revision and task *name* (``results/<model>/<rev>/<Task>.json``), and a
task variant (``XQuADR(languages=[...])``, ``candidate_mode=...``, external recipes) differs only in its
dataset revision. ``mteb.evaluate`` then (a) returns a stored result of another revision without running
when its subsets cover the task's (it compares revisions only when subsets are missing), and (b) replaces
it with ``overwrite_strategy="always"`` or when subsets are missing. :class:`GuardedResultCache` refuses
both with :class:`~hbt_bench.results.ResultConflictError`; a plain ``mteb.ResultCache`` cannot be guarded
from inside a task (mteb never tells a task which cache it uses). ``mteb run`` cannot build such variants.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mteb.abstasks.abstask import AbsTask
from mteb.cache import ResultCache
from mteb.results import TaskResult

from hbt_bench.results import ResultConflictError, check_no_conflict, check_result_names, lock_path

__all__ = ["GuardedResultCache"]


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


class GuardedResultCache(ResultCache):
    """``mteb.ResultCache`` plus: names checked, no revision mixing, one writer at a time (file lock)."""

    def load_task_result(
        self, task_name: str, model_name: Any, *args: Any, **kwargs: Any
    ) -> TaskResult | None:
        stored = super().load_task_result(task_name, model_name, *args, **kwargs)
        if stored is None:
            return None
        return _RevisionCheckedResult.model_construct(**dict(stored))

    def save_to_cache(
        self, task_result: TaskResult, model_name: Any, model_revision: str | None = None, **kwargs: Any
    ) -> None:
        from filelock import FileLock

        if not isinstance(model_name, str):  # a ModelMeta: every part of the path is checked
            check_result_names(model_name, [task_result.task_name])
        path = self.get_task_result_path(task_result.task_name, model_name, model_revision)
        if not path.resolve().is_relative_to(Path(self.cache_path).resolve()):
            raise ResultConflictError(f"{path}: outside the cache folder {self.cache_path}")
        with FileLock(lock_path(self.cache_path)):
            check_no_conflict(path, task_result.task_name, task_result.dataset_revision)
            super().save_to_cache(task_result, model_name, model_revision, **kwargs)
