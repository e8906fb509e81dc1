"""The version the package reports is the one it is built with (pyproject.toml), and the installed one."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import hbt_bench
from hbt_bench.version import __version__

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_version_matches_pyproject_and_the_installed_distribution():
    declared = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]
    assert __version__ == declared == hbt_bench.__version__
    assert version("hbt-bench") == declared
