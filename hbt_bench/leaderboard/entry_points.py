"""Third-party encoders through the ``hbt_bench.models`` entry-point group.

A package declares ``[project.entry-points."hbt_bench.models"] my-encoder = "my_pkg.models:make_encoder"``;
``hbt-bench leaderboard add --model ep:my-encoder`` (or the bare name, when it is not a local folder)
resolves to that ``module:factory`` spec, which :func:`hbt_bench.encoders.load_model` imports and calls.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from hbt_bench.errors import ModelSpecError

__all__ = ["GROUP", "available", "resolve_spec"]

GROUP = "hbt_bench.models"
PREFIX = "ep:"


def available() -> dict[str, str]:
    """``{entry-point name: "module:attr"}`` of every installed distribution's ``hbt_bench.models``."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def resolve_spec(spec: str) -> str:
    """``ep:<name>`` (or a bare entry-point name that is not a folder) -> its ``module:factory`` spec;
    any other spec unchanged."""
    spec = spec.strip()
    found = available()
    if spec.startswith(PREFIX):
        name = spec.removeprefix(PREFIX)
        if name not in found:
            names = ", ".join(sorted(found)) or "none installed"
            raise ModelSpecError(f"model spec {spec!r}: no {GROUP!r} entry point {name!r} ({names})")
        return found[name]
    if spec in found and not Path(spec).expanduser().exists():
        return found[spec]
    return spec
