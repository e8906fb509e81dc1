"""``hbt-bench sweep``: one run per α, mteb result files, summaries equal to the files, the plot."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("matplotlib")

from hbt_bench.cli import main
from hbt_bench.errors import HbtBenchError
from hbt_bench.training.config import load_config
from hbt_bench.training.errors import TrainingConfigError
from hbt_bench.training.sweep import parse_ratios, plot_sweep, run_sweep
from tests.helpers import build_tiny_st_model

SMOKE = Path(__file__).resolve().parents[2] / "examples" / "train_smoke.toml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def smoke_sets(tmp_path: Path, shared_data: Path, *extra: str) -> list[str]:
    """--set overrides of the smoke config: a tiny model, the shared data, no validation, ``extra``."""
    model = build_tiny_st_model(tmp_path / "tiny")
    common = [f"model={model}", f"data.0.data_dir={shared_data}", f"evaluation.data_dir={shared_data}"]
    return [*common, "validation.fraction=0", *extra]


@pytest.fixture
def no_adv_task(monkeypatch):
    """An installation without XQuADR-Adv (the sweep must say so and go on)."""
    import importlib

    import hbt_bench

    hbt_bench.register()
    registry = importlib.import_module("mteb.get_tasks")._TASKS_REGISTRY
    monkeypatch.delitem(registry, "XQuADR-Adv", raising=False)


@pytest.mark.usefixtures("one_torch_thread", "no_adv_task")
def test_sweep_end_to_end(tmp_path: Path, shared_data: Path, capsys) -> None:
    from mteb.results import TaskResult

    from hbt_bench.plugin.benchmark import setting_scores

    out = tmp_path / "sweep"
    # no tasks: the sweep's default, XQuADR + XQuADR-Adv
    sets = smoke_sets(tmp_path, shared_data, "training.max_steps=2", "data.0.limit=60", "evaluation.tasks=[]")
    argv = ["sweep", "--config", str(SMOKE), "--ratios", "0,1", "--output", str(out), "--quiet"]
    argv += [item for s in sets for item in ("--set", s)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "alpha=0 XQuADR" in printed and "alpha=1 XQuADR" in printed
    assert "XQuADR-Adv: skipped, not available in this installation" in printed

    report = json.loads((out / "sweep_summary.json").read_text())
    assert report["ratios"] == [0.0, 1.0] and report["skipped_tasks"] == ["XQuADR-Adv"]
    assert report["tasks"] == ["XQuADR"] and report["evaluation_languages"] == ["en", "de"]
    assert (out / "sweep.png").read_bytes()[:8] == PNG_MAGIC
    for run in report["runs"]:
        alpha = run["alpha"]
        training = json.loads((out / run["run_dir"] / "training_summary.json").read_text())
        kinds = set(training["batch_types_last_epoch"])
        assert kinds == {"cross"} if alpha == 0 else all(k.startswith("mono:") for k in kinds)  # α = 0 is X-Y
        assert training["sampler"] == {"kind": "hybrid", "alpha": alpha}
        [path] = [out / f for f in run["result_files"] if f.endswith("XQuADR.json")]
        assert f"hbt-sweep__sweep-alpha-{alpha:g}" in str(path)
        expected = setting_scores(TaskResult.from_disk(path))
        summary = run["tasks"]["XQuADR"]
        for key in ("mono", "cross", "multi", "language_bias"):
            assert summary[key] == expected[key], (alpha, key)

    with (out / "sweep_summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["alpha"]) for r in rows] == [0.0, 1.0]
    assert float(rows[1]["XQuADR.multi"]) == pytest.approx(report["runs"][1]["tasks"]["XQuADR"]["multi"])

    # a finished run is reused (not retrained) with the same config, and only then; so is its evaluation
    weights = out / "alpha-1" / "model" / "model.safetensors"
    [stored] = [out / f for f in report["runs"][1]["result_files"] if f.endswith("XQuADR.json")]
    stamps = weights.stat().st_mtime_ns, stored.stat().st_mtime_ns
    # a run written before a config field existed (here: sampler.one_source_per_batch) still matches
    written = out / "alpha-1" / "config.toml"
    older = [line for line in written.read_text().splitlines() if not line.startswith("one_source_per")]
    assert len(older) < len(written.read_text().splitlines())
    written.write_text("\n".join(older) + "\n")
    messages: list[str] = []
    again = run_sweep(load_config(SMOKE, sets), [1.0], out, log=messages.append)
    assert (weights.stat().st_mtime_ns, stored.stat().st_mtime_ns) == stamps
    assert any("reusing the finished run" in m for m in messages)
    assert any("XQuADR: reusing the stored result" in m for m in messages)
    assert again["runs"][0]["tasks"]["XQuADR"] == report["runs"][1]["tasks"]["XQuADR"]
    assert again["runs"][0]["result_files"] == [str(stored.relative_to(out))]
    changed = load_config(SMOKE, [*sets, "training.learning_rate=1e-4"])
    with pytest.raises(TrainingConfigError, match="holds a run with a different config"):
        run_sweep(changed, [0.0], out)


def test_plot_and_csv_with_robustness(tmp_path: Path) -> None:
    from hbt_bench.training.sweep import _csv

    def tasks(a: float) -> dict:
        clean = {"mono": 0.5 + a / 10, "cross": 0.3, "multi": 0.2, "language_bias": 300.0 - 50 * a}
        adv = {"mono": 0.4, "cross": 0.2, "multi": 0.1, "language_bias": 320.0, "robustness": 0.8 + a / 10}
        return {"XQuADR": clean, "XQuADR-Adv": adv}

    rows = [{"alpha": a, "steps": 1, "best_eval_loss": None, "tasks": tasks(a)} for a in (0.0, 0.5, 1.0)]
    path = plot_sweep(rows, tmp_path / "p.png", tasks=["XQuADR", "XQuADR-Adv"])
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert path.stat().st_mode & 0o777 == 0o644  # written staged, then renamed: readable like before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]  # no staged file left
    header = _csv(rows, ["XQuADR", "XQuADR-Adv"]).splitlines()[0].split(",")
    assert "XQuADR-Adv.robustness" in header and "XQuADR.robustness" not in header


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0,1.5", "outside"),
        ("a", "not a number"),
        ("0.5,0.5", "twice"),
        (",", "no ratio"),
        ("nan", "outside"),
    ],
)
def test_ratio_errors(text: str, message: str) -> None:
    with pytest.raises(HbtBenchError, match=f"--ratios: .*{message}"):
        parse_ratios(text)
    assert parse_ratios("0, 0.25,1") == [0.0, 0.25, 1.0]


@pytest.mark.usefixtures("one_torch_thread")
def test_sweep_scores_robustness_on_xquadr_adv(tmp_path: Path, shared_data: Path) -> None:
    from mteb.results import TaskResult

    from hbt_bench.plugin.benchmark import robustness, setting_scores

    model = build_tiny_st_model(tmp_path / "tiny")
    sets = [
        f"model={model}",
        f"data.0.data_dir={shared_data}",
        f"evaluation.data_dir={shared_data}",
        "training.max_steps=1",
        "validation.fraction=0",
        "data.0.limit=40",
        'evaluation.tasks=["XQuADR-Adv"]',
    ]
    report = run_sweep(load_config(SMOKE, sets), [0.5], tmp_path / "sweep", log=lambda m: None)
    assert report["tasks"] == ["XQuADR-Adv"] and not report["skipped_tasks"]
    [run] = report["runs"]
    [path] = [tmp_path / "sweep" / f for f in run["result_files"] if f.endswith("XQuADR-Adv.json")]
    result = TaskResult.from_disk(path)
    assert len(result.scores["test"]) == 6  # en-en, en-de, de-en, de-de, en-multi, de-multi
    summary = run["tasks"]["XQuADR-Adv"]
    assert summary["robustness"] == robustness(result)
    assert summary["mono"] == setting_scores(result)["mono"]


@pytest.mark.usefixtures("one_torch_thread", "no_adv_task")
def test_sweep_baseline_is_the_untrained_model(tmp_path: Path, shared_data: Path) -> None:
    """--baseline saves the base model as published (no prompts, the config's max_seq_length), scores it
    under its own name, puts it first in the CSV and reuses it on the next sweep."""
    from mteb.results import TaskResult
    from sentence_transformers import SentenceTransformer

    from hbt_bench.plugin.benchmark import setting_scores

    out = tmp_path / "sweep"
    sets = smoke_sets(
        tmp_path, shared_data, "training.max_steps=1", "training.max_seq_length=24", "data.0.limit=40"
    )
    argv = ["sweep", "--config", str(SMOKE), "--ratios", "0.5", "--output", str(out), "--quiet"]
    argv += [item for s in sets for item in ("--set", s)]
    assert main([*argv, "--baseline"]) == 0

    report = json.loads((out / "sweep_summary.json").read_text())
    base = report["baseline"]
    assert base["model_name"] == "hbt-sweep/sweep-base" and base["steps"] == 0 and base["alpha"] is None
    [path] = [out / f for f in base["result_files"] if f.endswith("XQuADR.json")]
    assert "hbt-sweep__sweep-base" in str(path)
    assert base["tasks"]["XQuADR"]["multi"] == setting_scores(TaskResult.from_disk(path))["multi"]
    # the untrained model is not the trained one: the α = 0.5 run moved the weights
    trained = report["runs"][0]["tasks"]["XQuADR"]
    assert base["tasks"]["XQuADR"] != trained

    saved = SentenceTransformer(str(out / "base" / "model"), device="cpu")
    assert saved.max_seq_length == 24 and not saved.prompts.get("query")
    trained_model = SentenceTransformer(str(out / "alpha-0.5" / "model"), device="cpu")
    assert trained_model.prompts["query"] == "Query: "

    with (out / "sweep_summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["alpha"] for r in rows] == ["base", "0.5"] and rows[0]["steps"] == "0"
    assert float(rows[0]["XQuADR.mono"]) == pytest.approx(base["tasks"]["XQuADR"]["mono"])

    stamp = path.stat().st_mtime_ns
    messages: list[str] = []
    again = run_sweep(load_config(SMOKE, sets), [0.5], out, baseline=True, log=messages.append)
    assert path.stat().st_mtime_ns == stamp and "baseline: reusing" in "\n".join(messages)
    assert again["baseline"]["tasks"] == base["tasks"]
    shorter = load_config(SMOKE, [*sets, "training.max_seq_length=16"])
    with pytest.raises(TrainingConfigError, match="holds another base model"):
        run_sweep(shorter, [], out, baseline=True)


def test_a_failed_baseline_swap_keeps_the_previous_base(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replacing ``DIR/base`` (--baseline --overwrite) must never lose the old folder: a failure while the
    new one is put in place (here injected into the final rename) leaves the previous base complete,
    and no staged copy behind. (The sweep used to delete the old folder first, then rename.)"""
    import os

    from hbt_bench.training.sweep import _evaluate_base

    out = tmp_path / "sweep"
    base = out / "base"
    (base / "model").mkdir(parents=True)
    (base / "base.toml").write_text("previous base\n", encoding="utf-8")
    (base / "model" / "weights").write_text("old weights\n", encoding="utf-8")
    config = load_config(SMOKE, smoke_sets(tmp_path, shared_data))
    real_replace = os.replace

    def failing_replace(src, dst, *args, **kwargs):
        # only the move of a freshly written folder onto DIR/base fails; moving the old one aside and
        # back (a recognisable backup) works
        if Path(dst) == base and Path(src).name != "base" and "hbt-old" not in Path(src).name:
            raise OSError("injected failure of the final rename")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="injected failure"):
        _evaluate_base(config, out, config.evaluation, overwrite=True, log=lambda m: None)
    monkeypatch.setattr(os, "replace", real_replace)
    assert (base / "base.toml").read_text(encoding="utf-8") == "previous base\n"
    assert (base / "model" / "weights").read_text(encoding="utf-8") == "old weights\n"
    assert sorted(p.name for p in out.iterdir()) == ["base"]  # no staged or backup folder left
