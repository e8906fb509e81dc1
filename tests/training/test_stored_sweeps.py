"""The committed training sweeps (``leaderboard/training/``): complete mteb results whose scores are what
the sweep summaries, CSVs and the README tables say, and training summaries that match the configs."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

mteb = pytest.importorskip("mteb")

import hbt_bench  # noqa: E402

TRAINING = Path(__file__).resolve().parents[2] / "leaderboard" / "training"
SWEEPS = sorted(p.parent for p in TRAINING.glob("*/sweep_summary.json"))


def test_there_are_stored_sweeps() -> None:
    assert {p.name for p in SWEEPS} >= {"minilm-mlqar", "minilm-mlqar-gpu"}


def close(value: float):
    """Equal up to summation order: 1e-12 relative (the bias is ~1e4, where 1e-12 absolute is 2 ulp)."""
    return pytest.approx(value, rel=1e-12, abs=1e-12)


def _by_hand(entries: list[dict]) -> dict[str, float]:
    """The paper's summary of one result file's subsets, written out: mono = mean mAP of the X-X subsets,
    cross = of the X-Y subsets (X != Y), multi = of the X-multi subsets, language bias = mean rank distance
    of the X-multi subsets, robustness = mean relative robustness (an -Adv file)."""
    pairs = [(e["hf_subset"].split("-"), e) for e in entries]
    mono = [e["map"] for (q, p), e in pairs if q == p]
    cross = [e["map"] for (q, p), e in pairs if p != "multi" and q != p]
    multi = [e for (q, p), e in pairs if p == "multi"]
    out = {
        "mono": sum(mono) / len(mono),
        "cross": sum(cross) / len(cross),
        "multi": sum(e["map"] for e in multi) / len(multi),
        "language_bias": sum(e["rank_distance"] for e in multi) / len(multi),
    }
    if "relative_robustness" in entries[0]:
        out["robustness"] = sum(e["relative_robustness"] for e in entries) / len(entries)
    return out


@pytest.mark.parametrize("sweep", SWEEPS, ids=lambda p: p.name)
def test_summary_equals_the_result_files(sweep: Path) -> None:
    hbt_bench.register()
    report = json.loads((sweep / "sweep_summary.json").read_text(encoding="utf-8"))
    rows = report["runs"] + ([report["baseline"]] if report.get("baseline") else [])
    loaded = mteb.ResultCache(sweep).load_results(tasks=["XQuADR"])
    by_model = {m.model_name: m for m in loaded}
    csv_rows = {  # one row per run: (alpha, seed) with seeds, alpha alone without
        (r["alpha"], r.get("seed") or None): r
        for r in csv.DictReader((sweep / "sweep_summary.csv").open(encoding="utf-8"))
    }
    for row in rows:
        [tr] = by_model[row["model_name"]].task_results  # mteb reads the stored files
        assert len(tr.scores["test"]) == 132  # every XQuAD-R subset: 11 x 11 pairs + 11 pooled
        [path] = [sweep / f for f in row["result_files"] if f.endswith("/XQuADR.json")]
        entries = json.loads(path.read_text(encoding="utf-8"))["scores"]["test"]
        assert len(entries) == 132 and sum(e["hf_subset"].endswith("-multi") for e in entries) == 11
        expected = _by_hand(entries)
        for key in ("mono", "cross", "multi", "language_bias"):
            assert row["tasks"]["XQuADR"][key] == close(expected[key]), (
                row["model_name"],
                key,
            )
        label = "base" if row["alpha"] is None else str(float(row["alpha"]))
        seed = None if row["alpha"] is None or row.get("seed") is None else str(row["seed"])
        assert float(csv_rows[label, seed]["XQuADR.mono"]) == close(expected["mono"])
        if "XQuADR-Adv" in row["tasks"]:
            _check_adversarial(sweep, row, entries)


def _check_adversarial(sweep: Path, row: dict, clean: list[dict]) -> None:
    """An -Adv result: its clean half is the clean task's score; the summary is the file's."""
    [path] = [sweep / f for f in row["result_files"] if f.endswith("/XQuADR-Adv.json")]
    entries = json.loads(path.read_text(encoding="utf-8"))["scores"]["test"]
    base = {e["hf_subset"]: e["map"] for e in clean}
    assert {e["hf_subset"]: e["clean_map"] for e in entries} == pytest.approx(base, abs=1e-9)
    summary, expected = row["tasks"]["XQuADR-Adv"], _by_hand(entries)
    assert summary["robustness"] == close(expected["robustness"])
    assert summary["mono"] == close(expected["mono"])
    assert summary["robustness"] < 1.0  # perturbed queries cost every model some mAP


@pytest.mark.parametrize("sweep", SWEEPS, ids=lambda p: p.name)
def test_training_summaries_match_the_configs(sweep: Path) -> None:
    tomllib = pytest.importorskip("tomllib")
    report = json.loads((sweep / "sweep_summary.json").read_text(encoding="utf-8"))
    for row in report["runs"]:
        run = sweep / row["run_dir"]
        config = tomllib.loads((run / "config.toml").read_text(encoding="utf-8"))
        summary = json.loads((run / "training_summary.json").read_text(encoding="utf-8"))
        assert summary["steps"] == config["training"]["max_steps"] == row["steps"]
        assert report["tasks"][0] == "XQuADR"
        assert summary["sampler"] == {"kind": "hybrid", "alpha": row["alpha"]}
        kinds = set(summary["batch_types_last_epoch"])
        if row["alpha"] == 0:
            assert kinds == {"cross"}
        elif row["alpha"] == 1:
            assert all(k.startswith("mono:") for k in kinds)
        assert summary["data"]["train"]["languages"] == ["ar", "de", "en", "es", "hi", "vi", "zh"]


def test_readme_table_of_the_cpu_reproduction() -> None:
    """The CPU table in leaderboard/training/README.md is the stored summary, rounded."""
    report = json.loads((TRAINING / "minilm-mlqar" / "sweep_summary.json").read_text(encoding="utf-8"))
    rows = {"untrained": report["baseline"]} | {f"α = {r['alpha']:g})": r for r in report["runs"]}
    text = (TRAINING / "README.md").read_text(encoding="utf-8")
    text = text.split("\n## The CPU reproduction", 1)[1].split("\n## ", 1)[0]  # that section's table only
    for label, row in rows.items():
        [line] = [ln for ln in text.splitlines() if ln.startswith("| ") and label in ln and "±" not in ln][:1]
        numbers = [float(x) for x in re.findall(r"\d*\.\d+", line.split("|", 2)[2])]
        s = row["tasks"]["XQuADR"]
        assert numbers == [round(s["mono"], 4), round(s["cross"], 4), round(s["multi"], 4),
                           round(s["language_bias"], 1)], label  # fmt: skip
