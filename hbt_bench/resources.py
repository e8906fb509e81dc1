"""Where the package's files live: shipped data (task definitions, perturbation sets) and the user's cache
(downloads, file digests); stdlib only at import."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "cache_dir", "tasks_dir"]

#: Moves the cache (downloaded data, the model-file digests of hbt_bench.fingerprint).
CACHE_DIR_ENV = "HBT_BENCH_CACHE_DIR"


def tasks_dir() -> Path:
    """``tasks/`` as shipped in the wheel (``hbt_bench/tasks``) or, in a source checkout, the repo's."""
    shipped = resources.files("hbt_bench") / "tasks"
    if shipped.is_dir():
        return Path(str(shipped))
    return Path(__file__).resolve().parents[1] / "tasks"


def cache_dir() -> Path:
    """The user's cache: ``HBT_BENCH_CACHE_DIR`` or the OS cache dir for ``hbt-bench``."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import pooch  # lazy: only the paths that cache need it

    return Path(pooch.os_cache("hbt-bench"))
