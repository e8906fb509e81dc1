"""Training pairs of a config: metadata columns are read through Arrow, never as Python lists."""

from __future__ import annotations

import numpy as np
import pytest

datasets = pytest.importorskip("datasets")

from hbt_bench.training.data import TrainingData, languages_of  # noqa: E402
from hbt_bench.training.pairs import column  # noqa: E402


def _pairs() -> datasets.Dataset:
    """Two groups: g0 in en and de (2 mono + 2 cross rows), g1 in en only (1 mono row)."""
    rows = [
        ("g0", "en", "en"),
        ("g0", "en", "de"),
        ("g0", "de", "en"),
        ("g0", "de", "de"),
        ("g1", "en", "en"),
    ]
    return datasets.Dataset.from_dict(
        {
            "query": [f"q{i}" for i in range(len(rows))],
            "passage": [f"p{i}" for i in range(len(rows))],
            "group": [g for g, _, _ in rows],
            "query_lang": [q for _, q, _ in rows],
            "passage_lang": [p for _, _, p in rows],
        }
    )


def test_column_follows_select_and_shuffle() -> None:
    pairs = _pairs()
    picked = pairs.select([4, 0, 2])  # keeps the whole table plus an indices mapping
    assert column(picked, "query").tolist() == ["q4", "q0", "q2"]
    shuffled = pairs.shuffle(seed=1)
    assert column(shuffled, "query").tolist() == [row["query"] for row in shuffled]
    with_format = pairs.with_format("numpy")
    assert column(with_format, "group").tolist() == ["g0", "g0", "g0", "g0", "g1"]
    assert column({"a": ["x", "y"]}, "a").tolist() == ["x", "y"]  # not a Dataset: plain indexing


@pytest.fixture
def no_python_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """``dataset["col"]`` (a Python list of every row: 17.9 s on 200k rows) is not allowed."""
    original = datasets.Dataset.__getitem__

    def getitem(self, key):
        if isinstance(key, str):
            raise AssertionError(f"column {key!r} read as a Python list")
        return original(self, key)

    monkeypatch.setattr(datasets.Dataset, "__getitem__", getitem)


@pytest.mark.usefixtures("no_python_columns")
def test_stats_and_languages_read_through_arrow() -> None:
    pairs = _pairs()
    q, p = languages_of(pairs.select([1, 4]))
    assert (q.tolist(), p.tolist()) == (["en", "en"], ["de", "en"])
    stats = TrainingData(pairs, pairs.select([0, 3])).stats()
    assert stats["train"] == {
        "rows": 5,
        "groups": 2,
        "mono_rows": 3,
        "cross_rows": 2,
        "languages": ["de", "en"],
        "hard_negatives": False,
    }
    assert stats["validation"]["rows"] == 2 and stats["validation"]["groups"] == 1
    assert isinstance(q, np.ndarray)


@pytest.mark.usefixtures("no_python_columns")
def test_sampler_factory_reads_through_arrow() -> None:
    pytest.importorskip("sentence_transformers")
    from hbt_bench.training.recipe import _sampler_factory
    from hbt_bench.training.samplers import XYBatchSampler

    factory = _sampler_factory(_pairs(), "xy", 0.0, "data", seed=1)
    assert factory.cls is XYBatchSampler and factory.options["seed"] == 1
