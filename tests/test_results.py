"""All-or-nothing result writing: mteb's layout, run settings merged per task, nothing left on failure."""

from __future__ import annotations

import json
from pathlib import Path

import mteb
import pytest

import hbt_bench
from hbt_bench.results import save_results_atomically

STORED = Path(__file__).resolve().parents[1] / "leaderboard" / "results" / "hbt-bench__hash-ngram" / "0.1.0"


@pytest.fixture(scope="module")
def stored():
    hbt_bench.register()
    meta = mteb.get_model_meta("hbt-bench/hash-ngram")
    results = {name: mteb.TaskResult.from_disk(STORED / f"{name}.json") for name in ("XQuADR", "MLQAR")}
    return meta, results


def _settings(folder: Path) -> list[str]:
    path = next(folder.rglob("run_settings.jsonl"))
    return [json.loads(line)["task"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_run_settings_of_other_tasks_survive_a_later_write(stored, tmp_path):
    meta, results = stored
    save_results_atomically([results["XQuADR"]], meta, tmp_path, {"batch_size": 8})
    save_results_atomically([results["MLQAR"]], meta, tmp_path, {"batch_size": 8})
    assert _settings(tmp_path) == ["XQuADR", "MLQAR"]
    save_results_atomically([results["XQuADR"]], meta, tmp_path, {"batch_size": 16})  # replaced, not doubled
    assert _settings(tmp_path) == ["MLQAR", "XQuADR"]
    loaded = mteb.ResultCache(tmp_path).load_results(tasks=["XQuADR", "MLQAR"])
    assert {tr.task_name for tr in loaded.model_results[0].task_results} == {"XQuADR", "MLQAR"}


def test_a_failed_write_leaves_nothing(stored, tmp_path, monkeypatch):
    meta, results = stored

    def boom(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(mteb.ResultCache, "save_to_cache", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_results_atomically([results["XQuADR"]], meta, tmp_path, {})
    assert list(tmp_path.iterdir()) == []
