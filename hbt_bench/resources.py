"""Where the package's shipped data lives (task definitions, perturbation sets); stdlib only."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["tasks_dir"]


def tasks_dir() -> Path:
    """``tasks/`` as shipped in the wheel (``hbt_bench/tasks``) or, in a source checkout, the repo's."""
    shipped = resources.files("hbt_bench") / "tasks"
    if shipped.is_dir():
        return Path(str(shipped))
    return Path(__file__).resolve().parents[1] / "tasks"
