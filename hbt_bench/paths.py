"""Names that become path components: one check for every user- or model-supplied name.

A version, recipe id, task name, model name or revision ends up as a folder or file name. Without a
check, ``""``, ``.``, ``..``, ``a/../../b`` or an absolute path resolve to a parent folder or to another
dataset, which a writer might then rename aside or delete. Stdlib only.
"""

from __future__ import annotations

import re
from pathlib import Path

from hbt_bench.errors import HbtBenchError

__all__ = ["UnsafeNameError", "safe_component", "safe_relative_path"]

# Letters (any script), digits and a few separators; no path separators, no control characters.
_COMPONENT = re.compile(r"[\w][\w.+@=-]*", re.UNICODE)
_MAX_LEN = 200


class UnsafeNameError(HbtBenchError, ValueError):
    """A name that would become a path is empty, ``.``/``..``, absolute, or has a separator."""


def safe_component(name: object, what: str) -> str:
    """Return ``name`` if it is usable as one path component, else raise naming ``what``.

    Allowed: a letter, digit or ``_`` first, then letters, digits and ``_ . + @ = -``; at most 200
    characters. So ``..``, ``.hidden``, ``a/b``, ``a\\b``, ``/abs`` and ``""`` are all refused.
    """
    if not isinstance(name, str):
        raise UnsafeNameError(f"{what}: expected a string, got {type(name).__name__}")
    if not name:
        raise UnsafeNameError(f"{what}: empty name")
    if len(name) > _MAX_LEN or not _COMPONENT.fullmatch(name):
        raise UnsafeNameError(
            f"{what} {name!r}: not usable as a file or folder name (start with a letter, digit or '_'; "
            f"then letters, digits and _ . + @ = - only; no '/', no '..'; at most {_MAX_LEN} characters)"
        )
    return name


def safe_relative_path(name: object, what: str) -> Path:
    """A relative path of safe components (e.g. a model name ``org/model``); each part is checked."""
    if not isinstance(name, str):
        raise UnsafeNameError(f"{what}: expected a string, got {type(name).__name__}")
    parts = name.split("/")
    for part in parts:
        safe_component(part, what if len(parts) == 1 else f"{what} {name!r}, part")
    return Path(*parts)
