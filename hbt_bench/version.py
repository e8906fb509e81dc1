"""The package version, in its own module so that modules of the package can read it without importing
the ``hbt_bench`` facade (which sits above every layer)."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
