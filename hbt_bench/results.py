"""Writing mteb TaskResults into a results folder (mteb's ResultCache layout) all-or-nothing and safely.

Used by ``hbt-bench eval``, ``attack run`` and the training sweep: every file is staged with mteb's own
``ResultCache.save_to_cache`` in a temporary folder and only then written into place, each file with
:func:`hbt_bench.atomic.atomic_writer`, so a failure leaves no half-written result behind.
``run_settings.jsonl`` (one line per task) is merged rather than replaced, so writing one task's results
keeps the other tasks' settings.

Three guards, because the layout ``results/<model>/<revision>/<Task>.json`` holds one file per task:

* every name that becomes a path (model name, model revision, experiment name, task name) is checked
  with :mod:`hbt_bench.paths` before anything is written, so nothing lands outside the folder;
* a stored result on another dataset revision (a variant such as ``+langs-en-de`` or
  ``+sentence+context`` versus the standard task, either way round) is never replaced:
  :class:`ResultConflictError` names the file and both revisions;
* writers in several processes take a file lock (``<folder>/results/.hbt-bench.lock``, a place mteb's
  loaders never read) around the check-merge-replace, so no ``run_settings.jsonl`` line is lost.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hbt_bench.atomic import atomic_writer
from hbt_bench.errors import HbtBenchError
from hbt_bench.paths import safe_component, safe_relative_path

__all__ = [
    "LOCK_NAME",
    "MODEL_META",
    "ResultConflictError",
    "canonical_model_meta",
    "check_result_names",
    "lock_path",
    "result_path",
    "save_results_atomically",
    "stored_revision",
]

RUN_SETTINGS = "run_settings.jsonl"
MODEL_META = "model_meta.json"
LOCK_NAME = ".hbt-bench.lock"


class ResultConflictError(HbtBenchError):
    """A results file already holds this task on another dataset revision (variant vs standard)."""


def check_result_names(meta: Any, task_names: Sequence[str] = ()) -> None:
    """Raise :class:`~hbt_bench.paths.UnsafeNameError` unless every name that becomes a path is safe.

    mteb joins ``meta.name`` (``/`` -> ``__``), ``meta.revision``, the experiment name and the task name
    into a path without a check; ``../..`` or an absolute revision would write outside the folder.
    """
    name = getattr(meta, "name", None)
    safe_relative_path(name, "model name")
    safe_component(getattr(meta, "revision", None), f"revision of model {name!r}")
    experiment = getattr(meta, "experiment_name", None)
    if experiment is not None:
        safe_component(experiment, f"experiment name of model {name!r}")
    for task_name in task_names:
        safe_component(task_name, "task name")


def lock_path(output_folder: str | Path) -> Path:
    """The lock file of a results folder (its ``results/`` folder is created: a lock needs a home)."""
    results = Path(output_folder) / "results"
    results.mkdir(parents=True, exist_ok=True)
    return results / LOCK_NAME


def result_path(output_folder: str | Path, meta: Any, task_name: str) -> Path:
    """Where ``save_results_atomically`` puts ``task_name``'s result of ``meta``'s model (names checked)."""
    import mteb

    check_result_names(meta, [task_name])
    layout = mteb.ResultCache.__new__(mteb.ResultCache)  # mteb's layout without its __init__'s mkdir
    layout.cache_path = Path(output_folder)
    return layout.get_task_result_path(task_name, meta)


def stored_revision(path: Path) -> str | None:
    """The dataset revision of the result stored at ``path``; ``None`` when there is no file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ResultConflictError(
            f"{path}: exists but is not a readable mteb result ({exc}); move it away or choose another "
            "output folder"
        ) from exc
    revision = data.get("dataset_revision") if isinstance(data, dict) else None
    if not isinstance(revision, str):
        raise ResultConflictError(f"{path}: exists but has no dataset_revision; move it away")
    return revision


def check_no_conflict(path: Path, task_name: str, revision: str) -> None:
    """Refuse to replace a stored result of another dataset revision (why: one file per task name)."""
    stored = stored_revision(path)
    if stored is not None and stored != revision:
        raise ResultConflictError(
            f"{path} holds {task_name} results on dataset revision {stored!r}; refusing to replace them "
            f"with results on revision {revision!r} (a task variant and the standard task share this file "
            "name in mteb's layout). Write to another output folder or move the file away."
        )


def canonical_model_meta(data: bytes) -> bytes:
    """``model_meta.json`` with its ``training_datasets`` sorted, otherwise as mteb wrote it.

    Why: mteb's ``ModelMeta.to_dict`` lists that field from a ``set``, in string-hash order, which
    changes with every process (``PYTHONHASHSEED``): the same model's file would differ from run to run.
    """
    meta = json.loads(data)
    if isinstance(meta, dict) and isinstance(meta.get("training_datasets"), list):
        meta["training_datasets"] = sorted(meta["training_datasets"], key=str)
    return json.dumps(meta, default=str, indent=4).encode("utf-8")


def _merge_run_settings(staged: str, existing: Path) -> str:
    """``existing``'s lines for tasks not in ``staged``, then ``staged``'s lines."""
    new_lines = [line for line in staged.splitlines() if line.strip()]
    new_tasks = {json.loads(line).get("task") for line in new_lines}
    kept = []
    for line in existing.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            task = json.loads(line).get("task")
        except ValueError:
            continue  # a corrupt line is dropped rather than propagated
        if task not in new_tasks:
            kept.append(line)
    return "".join(f"{line}\n" for line in [*kept, *new_lines])


def save_results_atomically(
    results: Sequence[Any], meta: Any, output_folder: str | Path, encode_kwargs: dict
) -> list[Path]:
    """Write TaskResults of the model described by ``meta`` under ``output_folder/results/...``.

    Names are checked and conflicts looked for before anything is written; the whole write holds the
    folder's file lock. Raises :class:`ResultConflictError` / ``UnsafeNameError`` (both
    :class:`~hbt_bench.errors.HbtBenchError`) with nothing written.
    """
    import mteb
    from filelock import FileLock

    output_folder = Path(output_folder)
    targets = [(tr, result_path(output_folder, meta, tr.task_name)) for tr in results]
    if output_folder.exists() and not output_folder.is_dir():
        raise HbtBenchError(f"output folder {output_folder}: exists and is not a directory")
    output_folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with FileLock(lock_path(output_folder)):
        for tr, path in targets:
            check_no_conflict(path, tr.task_name, tr.dataset_revision)
        # Staged outside the destination (the files are copied in, not renamed): a killed writer leaves
        # nothing in the results folder.
        with tempfile.TemporaryDirectory(prefix="hbt-results-") as tmp:
            staging = mteb.ResultCache(tmp)
            for tr in results:
                staging.save_to_cache(tr, meta, encode_kwargs=encode_kwargs)
            # (mteb's save_to_cache may leave a lock file of its own in the staging folder: not a result)
            staged = sorted(p for p in Path(tmp).rglob("*") if p.is_file() and p.name != LOCK_NAME)
            contents: dict[Path, bytes] = {}
            for src in staged:  # everything read and merged before the first file is replaced
                dst = output_folder / src.relative_to(tmp)
                data = src.read_bytes()
                if src.name == RUN_SETTINGS and dst.is_file():
                    data = _merge_run_settings(data.decode("utf-8"), dst).encode("utf-8")
                elif src.name == MODEL_META:
                    data = canonical_model_meta(data)
                contents[dst] = data
            from hbt_bench.per_query import side_file_bytes, side_path

            for tr, path in targets:  # per-query APs beside the result, when the task recorded them
                # (the plugin's guard on mteb's ResultCache has usually staged it already: not encoded twice)
                if side_path(path) not in contents and (side := side_file_bytes(tr)) is not None:
                    contents[side_path(path)] = side
        for dst, data in contents.items():
            with atomic_writer(dst, "wb") as handle:
                handle.write(data)
            written.append(dst)
    return written
