"""One registry of batch samplers: config validation, the recipe and the pyproject entry points agree."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from hbt_bench.training.config import SAMPLER_KINDS, config_from_dict
from hbt_bench.training.errors import TrainingConfigError
from hbt_bench.training.registry import BATCH_SAMPLERS, batch_sampler

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_entry_points_in_pyproject_are_the_registry() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    declared = project["entry-points"]["sentence_transformers.batch_samplers"]
    assert declared == BATCH_SAMPLERS
    assert set(SAMPLER_KINDS) == set(BATCH_SAMPLERS) == {"hybrid", "xx-mono", "xy"}


def test_registry_names_the_sampler_classes() -> None:
    pytest.importorskip("sentence_transformers")
    from hbt_bench.training import samplers

    assert batch_sampler("hybrid") is samplers.HybridBatchSampler
    assert batch_sampler("xx-mono") is samplers.XXMonoBatchSampler
    assert batch_sampler("xy") is samplers.XYBatchSampler
    with pytest.raises(ValueError, match="unknown batch sampler 'mixed'"):
        batch_sampler("mixed")


def test_config_accepts_exactly_the_registered_kinds() -> None:
    base = {"model": "m", "data": [{"kind": "lareqa"}]}
    for kind in BATCH_SAMPLERS:
        assert config_from_dict({**base, "sampler": {"kind": kind}}).sampler.kind == kind
    with pytest.raises(TrainingConfigError, match=r"sampler\.kind must be one of hybrid, xx-mono, xy"):
        config_from_dict({**base, "sampler": {"kind": "mixed"}})
