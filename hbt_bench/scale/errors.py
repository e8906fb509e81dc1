"""The scale path's errors: each names the file, folder, field or argument that is wrong."""

from __future__ import annotations

from hbt_bench.errors import HbtBenchError

__all__ = ["SCALE_EXTRA", "CorpusError", "MissingExtraError", "ScaleError", "StoreMismatchError", "require"]

#: What a user installs for the optional engines (faiss, ray).
SCALE_EXTRA = "pip install 'hbt-bench[scale]'"


class ScaleError(HbtBenchError, ValueError):
    """Bad input to the scale path (store folder, queries, index parameters)."""


class CorpusError(ScaleError):
    """A corpus is missing, empty, malformed or has duplicate ids."""


class StoreMismatchError(ScaleError):
    """An embedding store was made with another model, configuration or corpus than this run's."""


class MissingExtraError(ScaleError, ImportError):
    """An optional engine (faiss, ray) is not installed."""


def require(module: str, what: str) -> object:
    """``import module`` or a :class:`MissingExtraError` that names the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(f"{what} needs the {module!r} package: {SCALE_EXTRA}") from exc
