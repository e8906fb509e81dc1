"""``--embedding-cache``: mteb's ``CachedEmbeddingWrapper``, shared by a task and its -Adv variant, one
writer at a time, and crash-safe.

mteb keeps one cache folder per task name (``<dir>/<Task>/<query|document>/``, embeddings keyed by a hash
of the text), so ``XQuADR-Adv`` re-encoded the whole candidate pool that ``XQuADR`` had just encoded (on
a CPU with multilingual-e5-small: half an hour per task). Three changes:

* an -Adv task uses the folder of the task it is adapted from (its metadata's ``adapted_from``): its
  candidates, and every question a recipe left unchanged, are then found there. Only for encoders whose
  embedding of a text depends on the text and the prompt type alone: hbt-bench's own adapter and mteb's
  ``SentenceTransformerEncoderWrapper`` without a prompt keyed by either task's name; any other model
  (instruction models read the task's metadata) keeps mteb's folder per task;
* a run holds a lock on each folder it will write, taken before anything is computed: mteb's numpy
  cache appends rows by position, so two writers would silently give texts each other's vectors;
* the index is replaced atomically after the rows it names are flushed, so a kill mid-save leaves the
  previous, consistent index (mteb rewrites ``index.json`` in place).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mteb.models.cache_wrappers import CachedEmbeddingWrapper
from mteb.models.cache_wrappers.cache_backends.numpy_cache import NumpyCache

from hbt_bench.atomic import write_text_atomic
from hbt_bench.errors import HbtBenchError
from hbt_bench.plugin.benchmark import is_adversarial
from hbt_bench.plugin.models import TextEncoderAdapter
from hbt_bench.results import LOCK_NAME

__all__ = [
    "CrashSafeNumpyCache",
    "EmbeddingCacheBusyError",
    "SharedEmbeddingCache",
    "cached_encoder",
    "embeds_independently_of_task",
    "shared_cache_names",
]


class EmbeddingCacheBusyError(HbtBenchError):
    """Another run writes to the same embedding-cache folder."""


class CrashSafeNumpyCache(NumpyCache):
    """mteb's numpy cache whose ``index.json`` (same format) is replaced atomically after a flush."""

    def save(self) -> None:
        if self.vectors is not None:
            self.vectors.flush()  # the rows first, then the index that names them
        index = {str(key): int(row) for key, row in self.hash_to_index.items()}
        write_text_atomic(self.index_file, json.dumps(index, indent=2))
        if self.vector_dim is not None:
            write_text_atomic(self.dimension_file, str(self.vector_dim))


def shared_cache_names(tasks: Iterable[Any]) -> dict[str, str]:
    """``{-Adv task name: the task it is adapted from}`` for hbt-bench's adversarial tasks in ``tasks``."""
    shared = {}
    for task in tasks:
        name = task.metadata.name
        sources = list(task.metadata.adapted_from or ())
        if is_adversarial(name) and len(sources) == 1:
            shared[name] = sources[0]
    return shared


def embeds_independently_of_task(model: Any, task_names: Iterable[str]) -> bool:
    """Whether ``model`` embeds a text the same way for each of ``task_names`` (given the prompt type)."""
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    if not isinstance(model, TextEncoderAdapter | SentenceTransformerEncoderWrapper):
        return False
    prompts: Mapping[str, str] = getattr(model, "model_prompts", None) or {}
    return not set(prompts) & set(task_names)


class SharedEmbeddingCache(CachedEmbeddingWrapper):
    """``CachedEmbeddingWrapper`` whose tasks in ``shared`` use another task's folder (see the module)."""

    def __init__(self, model: Any, cache_path: str | Path, shared: Mapping[str, str]) -> None:
        super().__init__(model, cache_path, cache_backend=CrashSafeNumpyCache)
        self.shared = dict(shared)
        self._locks: list[Any] = []

    def folder_name(self, task_name: str) -> str:
        return self.shared.get(task_name, task_name)

    def _get_or_create_cache(self, task_name: str, prompt_type: Any, encode_kwargs: Any = None) -> Any:
        return super()._get_or_create_cache(self.folder_name(task_name), prompt_type, encode_kwargs)

    def lock(self, task_names: Iterable[str]) -> None:
        """Hold the folders of ``task_names`` until this process ends; raise if another run holds one."""
        from filelock import FileLock, Timeout

        for name in sorted({self.folder_name(t) for t in task_names}):
            folder = self.cache_path / name
            folder.mkdir(parents=True, exist_ok=True)
            lock = FileLock(folder / LOCK_NAME)
            try:
                lock.acquire(timeout=0)
            except Timeout:
                raise EmbeddingCacheBusyError(
                    f"embedding cache {folder}: in use by another run (mteb's cache takes one writer at a "
                    "time; two would mix up their rows). Wait for it to finish or use another folder."
                ) from None
            self._locks.append(lock)

    def release(self) -> None:
        """Let other runs use the folders (also done when the process ends)."""
        while self._locks:
            self._locks.pop().release()

    def __enter__(self) -> SharedEmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def cached_encoder(model: Any, cache_path: str | Path, tasks: Iterable[Any]) -> SharedEmbeddingCache:
    """``model`` behind an embedding cache in ``cache_path``, locked for ``tasks``' folders."""
    tasks = list(tasks)
    shared = shared_cache_names(tasks)
    if not embeds_independently_of_task(model, [*shared, *shared.values()]):
        shared = {}
    wrapper = SharedEmbeddingCache(model, cache_path, shared)
    wrapper.lock(task.metadata.name for task in tasks)
    return wrapper
