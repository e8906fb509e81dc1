"""hbt-bench: LAReQA-style multilingual retrieval (XQuAD-R, MLQA-R) as MTEB tasks.

Importing this package is cheap: mteb, torch and the encoders are imported lazily by the modules
that need them. ``hbt_bench.register()`` adds our tasks, benchmark and built-in models to mteb's
registries (the ``.pth`` autoload hook calls it whenever mteb is imported).
"""

from __future__ import annotations

from hbt_bench.version import __version__

__all__ = ["__version__", "register"]


def register() -> None:
    """Register hbt-bench's tasks, benchmark and models with mteb (idempotent)."""
    from hbt_bench.plugin.register import register as _register

    _register()
