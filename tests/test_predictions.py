"""mteb prediction files written as a stream: mteb's layout, merging, and all-or-nothing replacement."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from hbt_bench.predictions import PredictionsError, PredictionsWriter

META = {"model_name": "org/model", "revision": "r1"}


def _writer(path: Path, split: str = "test") -> PredictionsWriter:
    return PredictionsWriter(path, model_name="org/model", revision="r1", split=split)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_streamed_subsets_make_mteb_layout(tmp_path):
    path = tmp_path / "preds" / "XQuADR_predictions.json"
    with _writer(path) as w:
        w.add("en-en", ["en_1", "en_2"], [{"a": 0.5, "b": 0.25}, {"b": 1.0}])
        w.add("en-en", ["en_3"], [{"a": 0.0}])  # a second chunk of the same subset
        w.add("de-multi", ["de_1"], [{"c": -1.5}])
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "mteb_model_meta": META,
        "en-en": {"test": {"en_1": {"a": 0.5, "b": 0.25}, "en_2": {"b": 1.0}, "en_3": {"a": 0.0}}},
        "de-multi": {"test": {"de_1": {"c": -1.5}}},
    }
    assert _files(path.parent) == ["XQuADR_predictions.json"]  # no staged file left
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # readable like any file mteb writes


def test_a_file_of_the_same_model_is_merged(tmp_path):
    path = tmp_path / "P.json"
    with _writer(path, split="dev") as w:
        w.add("en-en", ["q"], [{"a": 1.0}])
        w.add("de-de", ["q"], [{"b": 1.0}])
    with _writer(path) as w:
        w.add("en-en", ["q"], [{"c": 2.0}])
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "mteb_model_meta": META,
        "en-en": {"dev": {"q": {"a": 1.0}}, "test": {"q": {"c": 2.0}}},
        "de-de": {"dev": {"q": {"b": 1.0}}},
    }


def test_an_error_while_writing_keeps_the_old_file_and_leaves_nothing(tmp_path):
    path = tmp_path / "P.json"
    with _writer(path) as w:
        w.add("en-en", ["q"], [{"a": 1.0}])
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="encoder died"), _writer(path) as w:
        w.add("en-en", ["q"], [{"z": 9.0}])
        raise RuntimeError("encoder died")
    assert path.read_bytes() == before
    assert _files(tmp_path) == ["P.json"]
    with pytest.raises(ValueError, match="already written"), _writer(path) as w:
        w.add("en-en", ["q"], [{"z": 9.0}])
        w.add("de-de", ["q"], [{"z": 9.0}])
        w.add("en-en", ["q2"], [{"z": 9.0}])  # not contiguous
    assert path.read_bytes() == before
    assert _files(tmp_path) == ["P.json"]


def test_another_models_file_is_refused_untouched(tmp_path):
    path = tmp_path / "P.json"
    path.write_text(json.dumps({"mteb_model_meta": {"model_name": "x", "revision": "y"}}), encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(PredictionsError, match="holds predictions of"), _writer(path):
        pass
    assert path.read_bytes() == before
    assert _files(tmp_path) == ["P.json"]
