"""``hbt-bench sweep``: one run per α, mteb result files, summaries equal to the files, the plot."""

from __future__ import annotations

import csv
import json
import statistics
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

    # the stored config names the folder it was trained in: a sweep moved elsewhere is still reused
    moved = tmp_path / "elsewhere" / "sweep"
    moved.parent.mkdir()
    out.rename(moved)
    messages.clear()
    moved_again = run_sweep(load_config(SMOKE, sets), [1.0], moved, log=messages.append)
    assert (moved / "alpha-1" / "model" / "model.safetensors").stat().st_mtime_ns == stamps[0]
    assert any("reusing the finished run" in m for m in messages)
    assert moved_again["runs"][0]["tasks"]["XQuADR"] == report["runs"][1]["tasks"]["XQuADR"]


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


# --- several seeds: mean ± sample sd per α ----------------------------------------------------------


def test_mean_sd_is_the_sample_sd_of_the_seeds() -> None:
    """Hand numbers: .5 / .6 / .7 have mean .6 and sample sd sqrt((.01 + 0 + .01) / 2) = .1."""
    import statistics

    from hbt_bench.training.sweep import aggregate, mean_sd

    stats = mean_sd([0.5, 0.6, 0.7])
    assert stats["n"] == 3 and stats["mean"] == pytest.approx(0.6, abs=1e-15)
    assert stats["sd"] == pytest.approx(0.1, abs=1e-15)
    assert stats["sd"] == pytest.approx(statistics.stdev([0.5, 0.6, 0.7]), abs=1e-15)
    assert mean_sd([0.25]) == {"mean": 0.25, "sd": None, "n": 1}  # one seed: no spread

    def run(alpha: float, seed: int, mono: float, bias: float, robust: float | None = None) -> dict:
        adv = {} if robust is None else {"XQuADR-Adv": {"mono": mono, "robustness": robust}}
        return {
            "alpha": alpha,
            "seed": seed,
            "tasks": {"XQuADR": {"mono": mono, "language_bias": bias}} | adv,
        }

    rows = [
        run(1.0, 42, 0.44, 10400.0, 0.90),
        run(0.0, 42, 0.29, 8300.0),
        run(1.0, 43, 0.45, 10500.0, 0.80),
        run(0.0, 43, 0.30, 8250.0),
        run(1.0, 44, 0.43, 10450.0),  # robustness of one seed missing: n 2 for it
        run(0.0, 44, 0.28, 8350.0),
    ]
    one, zero = aggregate(rows)
    assert (one["alpha"], one["seeds"], one["n"]) == (1.0, [42, 43, 44], 3)
    assert zero["tasks"]["XQuADR"]["mono"]["mean"] == pytest.approx(0.29)
    assert zero["tasks"]["XQuADR"]["mono"]["sd"] == pytest.approx(0.01)  # .30 / .29 / .28
    assert one["tasks"]["XQuADR"]["language_bias"]["sd"] == pytest.approx(50.0)  # 10400 / 10450 / 10500
    robust = one["tasks"]["XQuADR-Adv"]["robustness"]
    assert robust["n"] == 2 and robust["mean"] == pytest.approx(0.85)
    assert robust["sd"] == pytest.approx(0.1 / 2**0.5)  # two values .1 apart: sd = .1 / sqrt(2)
    assert "XQuADR-Adv" not in zero["tasks"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("42,x", "not an integer"),
        ("1.5", "not an integer"),
        ("-1", "outside"),
        ("7,7", "twice"),
        (" ,", "no seed"),
    ],
)
def test_seed_errors(text: str, message: str) -> None:
    from hbt_bench.training.sweep import parse_seeds

    with pytest.raises(HbtBenchError, match=f"--seeds: .*{message}"):
        parse_seeds(text)
    assert parse_seeds("42, 43,44") == [42, 43, 44]


def test_plot_with_seeds_and_csv_by_alpha(tmp_path: Path) -> None:
    """Several runs per α become one point with an error bar; the per-α CSV has mean and sd columns and
    the baseline first."""
    import statistics

    from hbt_bench.training.sweep import _csv_by_alpha, aggregate

    def tasks(a: float, s: int) -> dict:
        clean = {"mono": 0.5 + a / 10 + s / 100, "cross": 0.3, "multi": 0.2, "language_bias": 300.0 - s}
        adv = {"mono": 0.4, "cross": 0.2, "multi": 0.1, "language_bias": 320.0, "robustness": 0.8 + s / 50}
        return {"XQuADR": clean, "XQuADR-Adv": adv}

    rows = [{"alpha": a, "seed": s, "tasks": tasks(a, s)} for a in (0.0, 0.5, 1.0) for s in (1, 2, 3)]
    base = {"alpha": None, "tasks": {"XQuADR": {"mono": 0.33, "language_bias": 310.0}}}
    path = plot_sweep(rows, tmp_path / "p.png", tasks=["XQuADR", "XQuADR-Adv"], baseline=base)
    assert path.read_bytes()[:8] == PNG_MAGIC
    table = list(
        csv.DictReader(_csv_by_alpha(aggregate(rows), ["XQuADR", "XQuADR-Adv"], baseline=base).splitlines())
    )
    assert [r["alpha"] for r in table] == ["base", "0.0", "0.5", "1.0"] and table[0]["n"] == "1"
    assert table[0]["XQuADR.mono.mean"] == "0.33" and table[0]["XQuADR.mono.sd"] == ""
    assert float(table[2]["XQuADR.mono.mean"]) == pytest.approx(statistics.fmean([0.56, 0.57, 0.58]))
    assert float(table[2]["XQuADR.mono.sd"]) == pytest.approx(statistics.stdev([0.56, 0.57, 0.58]))
    assert float(table[3]["XQuADR-Adv.robustness.sd"]) == pytest.approx(0.02)  # .82 / .84 / .86
    assert table[0]["XQuADR-Adv.robustness.mean"] == ""  # the baseline was not scored on it


@pytest.mark.usefixtures("one_torch_thread", "no_adv_task")
def test_seeds_layout_resume_and_spread(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """One run per (α, seed) in alpha-<a>-seed-<s>/ (a single seed keeps alpha-<a>/, reused when the sweep
    grows), unique model names, a killed sweep continues where it stopped, and the per-α numbers are
    the mean and sample sd of the runs' stored scores."""
    import statistics
    import tomllib

    from mteb.results import TaskResult

    from hbt_bench.plugin.benchmark import setting_scores
    from hbt_bench.training import recipe

    out = tmp_path / "sweep"
    sets = smoke_sets(tmp_path, shared_data, "training.max_steps=1", "data.0.limit=40")
    config = load_config(SMOKE, sets)  # seed 7
    single = run_sweep(config, [0.5], out)
    assert single["seeds"] == [7] and single["runs"][0]["seed"] == 7
    assert sorted(p.name for p in out.glob("alpha-*")) == ["alpha-0.5"]  # one seed: the old layout
    assert single["by_alpha"][0]["tasks"]["XQuADR"]["mono"]["sd"] is None

    real_train = recipe.train
    trained: list[int] = []

    def killed_at_seed_9(cfg, **kwargs):
        if cfg.seed == 9:
            raise KeyboardInterrupt  # the sweep is killed while training its third run
        trained.append(cfg.seed)
        return real_train(cfg, **kwargs)

    monkeypatch.setattr(recipe, "train", killed_at_seed_9)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(config, [0.5], out, seeds=[7, 8, 9])
    assert trained == [8]  # seed 7 is the single-seed run, reused
    monkeypatch.setattr(recipe, "train", real_train)
    weights = {d: out / d / "model" / "model.safetensors" for d in ("alpha-0.5", "alpha-0.5-seed-8")}
    stamps = {d: w.stat().st_mtime_ns for d, w in weights.items()}

    argv = ["sweep", "--config", str(SMOKE), "--ratios", "0.5", "--seeds", "7,8,9", "--output", str(out)]
    argv += ["--quiet", *(item for s in sets for item in ("--set", s))]
    assert main(argv) == 0
    assert {d: w.stat().st_mtime_ns for d, w in weights.items()} == stamps  # not retrained
    printed = capsys.readouterr().out
    assert "alpha=0.5 seed=9 XQuADR" in printed and "mean ± sample sd over seeds 7, 8, 9" in printed

    report = json.loads((out / "sweep_summary.json").read_text())
    runs = report["runs"]
    assert report["seeds"] == [7, 8, 9] and [r["seed"] for r in runs] == [7, 8, 9]
    assert [r["run_dir"] for r in runs] == ["alpha-0.5", "alpha-0.5-seed-8", "alpha-0.5-seed-9"]
    assert len({r["model_name"] for r in runs}) == 3
    values: dict[str, list[float]] = {}
    for r in runs:
        config_toml = tomllib.loads((out / r["run_dir"] / "config.toml").read_text())
        assert config_toml["seed"] == r["seed"] and config_toml["sampler"]["alpha"] == 0.5
        [path] = [out / f for f in r["result_files"] if f.endswith("XQuADR.json")]
        assert r["model_name"].replace("/", "__") in str(path)
        for key, value in setting_scores(TaskResult.from_disk(path)).items():
            values.setdefault(key, []).append(value)
    [group] = report["by_alpha"]
    assert group["n"] == 3 and group["seeds"] == [7, 8, 9]
    for key in ("mono", "cross", "multi", "language_bias"):
        stats = group["tasks"]["XQuADR"][key]
        assert stats["mean"] == pytest.approx(statistics.fmean(values[key]), rel=1e-12), key
        assert stats["sd"] == pytest.approx(statistics.stdev(values[key]), rel=1e-12), key
    assert any(group["tasks"]["XQuADR"][k]["sd"] > 0 for k in ("mono", "cross", "multi"))  # seeds differ
    with (out / "sweep_by_alpha.csv").open() as handle:
        [row] = list(csv.DictReader(handle))
    assert row["n"] == "3" and float(row["XQuADR.mono.sd"]) == pytest.approx(statistics.stdev(values["mono"]))
    assert (out / "sweep.png").read_bytes()[:8] == PNG_MAGIC

    # back to one seed: alpha-0.5/ holds seed 7, so seed 8 is found in its seeded folder, not retrained
    messages: list[str] = []
    monkeypatch.setattr(recipe, "train", lambda *a, **k: pytest.fail("retrained a finished run"))
    eight = run_sweep(load_config(SMOKE, [*sets, "seed=8"]), [0.5], out, log=messages.append)
    assert eight["runs"][0]["run_dir"] == "alpha-0.5-seed-8" and "reusing the finished run" in messages[0]
    assert eight["runs"][0]["tasks"] == runs[1]["tasks"]

    changed = load_config(SMOKE, [*sets, "training.learning_rate=1e-4"])
    monkeypatch.setattr(recipe, "train", lambda *a, **k: pytest.fail("trained before refusing"))  # still
    with pytest.raises(TrainingConfigError, match=r"alpha-0\.5-seed-8 holds a run with a different config"):
        run_sweep(changed, [0.25, 0.5], out, seeds=[8, 10])  # refused before training alpha 0.25


def test_stored_sweeps_still_load(tmp_path: Path) -> None:
    """The committed single-seed summaries (no seed, no by_alpha) aggregate and plot, and the table script
    pools the three GPU sweeps into the mean ± sd that leaderboard/training/README.md shows."""
    import importlib.util

    from hbt_bench.training.sweep import _csv_by_alpha, aggregate

    root = Path(__file__).resolve().parents[2]
    stored = sorted(p.parent for p in (root / "leaderboard" / "training").glob("*/sweep_summary.json"))
    assert len(stored) >= 2
    reports = {s: json.loads((s / "sweep_summary.json").read_text(encoding="utf-8")) for s in stored}
    multi_seed = [s for s, r in reports.items() if "by_alpha" in r]
    for sweep in multi_seed:  # written with --seeds: by_alpha is the mean over the runs of each alpha
        report = reports[sweep]
        for group in report["by_alpha"]:
            runs = [r for r in report["runs"] if r["alpha"] == group["alpha"]]
            assert group["n"] == len(runs) == len(report["seeds"])
            assert group["tasks"]["XQuADR"]["mono"]["mean"] == pytest.approx(
                statistics.fmean(r["tasks"]["XQuADR"]["mono"] for r in runs)
            )
    stored = [s for s in stored if s not in multi_seed]
    for sweep in stored:
        report = reports[sweep]
        groups = aggregate(report["runs"])
        assert [g["alpha"] for g in groups] == [float(r["alpha"]) for r in report["runs"]]
        for group, run in zip(groups, report["runs"], strict=True):
            assert group["n"] == 1 and group["seeds"] == [None]
            assert group["tasks"]["XQuADR"]["mono"] == {
                "mean": run["tasks"]["XQuADR"]["mono"],
                "sd": None,
                "n": 1,
            }
        assert _csv_by_alpha(groups, report["tasks"], baseline=report.get("baseline")).startswith("alpha,n,")
    report = json.loads((stored[0] / "sweep_summary.json").read_text(encoding="utf-8"))
    plot = plot_sweep(
        report["runs"], tmp_path / "old.png", tasks=report["tasks"], baseline=report["baseline"]
    )
    assert plot.read_bytes()[:8] == PNG_MAGIC

    spec = importlib.util.spec_from_file_location("sweep_table", root / "benchmarks" / "sweep_table.py")
    sweep_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep_table)
    gpu = [root / "leaderboard" / "training" / f"minilm-mlqar-gpu{s}" for s in ("", "-seed43", "-seed44")]
    text = sweep_table.table(gpu, "XQuADR")
    # the README row, written when the table was first made
    assert "| 0.5 | 3 | 0.3699 ± 0.0018 | 0.1175 ± 0.0003 | 0.0940 ± 0.0001 | 8939.0 ± 11.8 |" in text
    with pytest.raises(SystemExit, match="given twice"):
        sweep_table.table([gpu[0], gpu[0]], "XQuADR")
