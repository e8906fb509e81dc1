"""Writing mteb TaskResults into a results folder (mteb's ResultCache layout) all-or-nothing.

Used by ``hbt-bench eval``, ``attack run`` and the training sweep: every file is staged with mteb's own
``ResultCache.save_to_cache`` in a temporary folder inside the destination and only then moved into
place, so a failure leaves no half-written result behind. ``run_settings.jsonl`` (one line per task) is
merged rather than replaced, so writing one task's results keeps the other tasks' settings.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["save_results_atomically"]

RUN_SETTINGS = "run_settings.jsonl"


def _merge_run_settings(staged: Path, existing: Path) -> None:
    """Put ``existing``'s lines for tasks not in ``staged`` before ``staged``'s lines (in place)."""
    new_lines = [line for line in staged.read_text(encoding="utf-8").splitlines() if line.strip()]
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
    staged.write_text("".join(f"{line}\n" for line in [*kept, *new_lines]), encoding="utf-8")


def save_results_atomically(
    results: Sequence[Any], meta: Any, output_folder: str | Path, encode_kwargs: dict
) -> list[Path]:
    """Write TaskResults of the model described by ``meta`` under ``output_folder/results/...``."""
    import mteb

    output_folder = Path(output_folder)
    output_folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(dir=output_folder, prefix=".hbt-tmp-") as tmp:
        staging = mteb.ResultCache(tmp)
        for tr in results:
            staging.save_to_cache(tr, meta, encode_kwargs=encode_kwargs)
        staged = sorted(p for p in Path(tmp).rglob("*") if p.is_file())
        for src in staged:
            dst = output_folder / src.relative_to(tmp)
            if src.name == RUN_SETTINGS and dst.is_file():
                _merge_run_settings(src, dst)
        for src in staged:
            dst = output_folder / src.relative_to(tmp)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            written.append(dst)
    return written
