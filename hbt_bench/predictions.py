"""mteb's prediction files (``<folder>/<Task>_predictions.json``), written as a stream and atomically.

mteb's ``AbsTask._save_task_predictions`` re-reads and re-writes the whole JSON file once per subset;
with 132 subsets of ~1.2k queries that is quadratic. The LAReQA tasks compute every subset of a model
in one go, so they stream all of them into one staged file that :func:`hbt_bench.atomic.atomic_writer`
moves into place at the end (a failure leaves the old file as it was). The layout is mteb's::

    {"mteb_model_meta": {"model_name": ..., "revision": ...},
     "<hf_subset>": {"<split>": {"<query id>": {"<candidate id>": score, ...}, ...}}, ...}

An existing file of the same model is merged (other subsets and splits are kept, ours replaced); a file
of another model is an error rather than a silent mix. Stdlib only.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from hbt_bench.atomic import atomic_writer
from hbt_bench.errors import HbtBenchError

__all__ = ["PredictionsError", "PredictionsWriter"]


class PredictionsError(HbtBenchError):
    """Predictions cannot be written: another model's file in the way, or a task without a single run."""


class PredictionsWriter:
    """Context manager: ``add(subset, query ids, hits)`` chunk by chunk, one subset after another."""

    def __init__(self, path: Path, *, model_name: str, revision: str, split: str) -> None:
        self.path = Path(path)
        self.meta = {"model_name": model_name, "revision": revision}
        self.split = split
        self._existing: dict[str, Any] = {}
        self._file: TextIO | None = None
        self._stack = contextlib.ExitStack()
        self._current: str | None = None
        self._first_query = True
        self._written: list[str] = []

    def __enter__(self) -> PredictionsWriter:
        if self.path.exists():
            try:
                self._existing = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise PredictionsError(
                    f"predictions file {self.path}: cannot read it to merge: {exc}"
                ) from exc
            if not isinstance(self._existing, dict):
                raise PredictionsError(f"predictions file {self.path}: not a JSON object")
            theirs = self._existing.get("mteb_model_meta")
            if theirs != self.meta:
                raise PredictionsError(
                    f"predictions file {self.path} holds predictions of {theirs}, not of {self.meta}; "
                    "use another prediction folder or remove the file"
                )
        self._file = self._stack.enter_context(atomic_writer(self.path))
        self._file.write('{"mteb_model_meta": ' + json.dumps(self.meta))
        return self

    def add(self, subset: str, query_ids: Sequence[str], hits: Sequence[Mapping[str, float]]) -> None:
        """Append one chunk of ``subset``'s run; a new subset closes the previous one."""
        assert self._file is not None, "use PredictionsWriter as a context manager"
        if subset != self._current:
            if subset in self._written:
                raise ValueError(f"subset {subset} was already written; its chunks must be contiguous")
            self._close_subset()
            others = self._existing.get(subset, {})
            others = {k: v for k, v in others.items() if k != self.split} if isinstance(others, dict) else {}
            self._file.write(", " + json.dumps(subset) + ": {")
            for split, preds in others.items():
                self._file.write(json.dumps(split) + ": " + json.dumps(preds) + ", ")
            self._file.write(json.dumps(self.split) + ": {")
            self._current = subset
            self._first_query = True
            self._written.append(subset)
        for qid, row in zip(query_ids, hits, strict=True):
            sep = "" if self._first_query else ", "
            self._file.write(sep + json.dumps(qid) + ": " + json.dumps(dict(row)))
            self._first_query = False

    def _close_subset(self) -> None:
        if self._current is not None and self._file is not None:
            self._file.write("}}")
            self._current = None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._file is not None, "use PredictionsWriter as a context manager"
        if exc_type is None:
            try:
                self._close_subset()
                for key, value in self._existing.items():
                    if key != "mteb_model_meta" and key not in self._written:
                        self._file.write(", " + json.dumps(key) + ": " + json.dumps(value))
                self._file.write("}")
            except BaseException as error:  # the staged file is dropped, the old one stays
                self._stack.__exit__(type(error), error, error.__traceback__)
                raise
        # With an exception, atomic_writer removes the staged file and leaves the old one.
        self._stack.__exit__(exc_type, exc, tb)
