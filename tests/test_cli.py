"""The hbt-bench command: data stats, eval, and clean failures that leave nothing half-written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hbt_bench.cli import main
from hbt_bench.errors import HbtBenchError

XQUADR_CANDIDATES = {
    "ar": 1222, "de": 1276, "el": 1234, "en": 1180, "es": 1215, "hi": 1244,
    "ru": 1219, "th": 852, "tr": 1167, "vi": 1209, "zh": 1196,
}  # fmt: skip
MLQAR_COUNTS = {
    "ar": (517, 2545), "de": (512, 2362), "en": (1148, 6264), "es": (500, 1787),
    "hi": (507, 2426), "vi": (511, 2828), "zh": (504, 2322),
}  # fmt: skip


def test_data_stats_match_the_paper(shared_data, capsys):
    assert main(["data", "stats", "xquad-r", "--json", "--data-dir", str(shared_data)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["pool"] == 13_014 and stats["questions"] == 11 * 1190
    assert {k: v["candidates"] for k, v in stats["languages"].items()} == XQUADR_CANDIDATES
    assert {v["questions"] for v in stats["languages"].values()} == {1190}

    assert main(["data", "stats", "mlqa-r", "--json", "--data-dir", str(shared_data)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["pool"] == 20_534
    assert {k: (v["questions"], v["candidates"]) for k, v in stats["languages"].items()} == MLQAR_COUNTS


def test_data_stats_unknown_dataset(capsys):
    assert main(["data", "stats", "squad"]) == 2
    assert "squad" in capsys.readouterr().err


def test_eval_prints_the_table_and_writes_mteb_results(shared_data, tmp_path, capsys):
    out = tmp_path / "results"
    code = main(
        ["eval", "--model", "builtin:hash-ngram", "--tasks", "XQuADR", "--output-folder", str(out),
         "--data-dir", str(shared_data), "--quiet"]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "XQuADR" in printed and "mean" in printed and "Multi" in printed
    [path] = list(out.rglob("XQuADR.json"))
    data = json.loads(path.read_text())
    assert len(data["scores"]["test"]) == 132
    assert path.parent.parent.name == "hbt-bench__hash-ngram"
    assert not list(out.glob(".hbt-tmp-*"))


def nan_encoder():
    """A factory for ``--model tests.test_cli:nan_encoder``: an encoder whose output has a NaN."""

    class Broken:
        def encode(self, texts):
            out = np.ones((len(texts), 4), dtype=np.float32)
            out[0, 0] = np.nan
            return out

    return Broken()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "builtin:hash-ngram", "--tasks", "XQuADR,NoSuchTask"], "NoSuchTask"),
        (["--model", "builtin:nope", "--tasks", "XQuADR"], "nope"),
        (["--model", "tests.test_cli:nan_encoder", "--tasks", "XQuADR"], "NaN"),
        (["--model", "builtin:hash-ngram", "--perturbations", "p.jsonl"], "only the -Adv tasks"),
        (
            ["--model", "builtin:hash-ngram", "--tasks", "XQuADR-Adv", "--perturbations", "nope.jsonl"],
            "no such",
        ),
    ],
)
def test_eval_errors_are_clear_and_leave_no_results(shared_data, tmp_path, capsys, args, message):
    out = tmp_path / "results"
    code = main(["eval", *args, "--output-folder", str(out), "--data-dir", str(shared_data), "--quiet"])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_eval_with_a_corrupted_data_file_names_it(shared_data, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(shared_data / "xquad-r", data / "xquad-r")
    target = data / "xquad-r" / "de.json"
    target.chmod(0o644)
    target.write_text(target.read_text(encoding="utf-8").replace("Panthers", "Panther", 1), encoding="utf-8")
    out = tmp_path / "results"
    code = main(
        ["eval", "--model", "builtin:hash-ngram", "--output-folder", str(out), "--data-dir", str(data)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "de.json" in err and "sha256" in err
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_eval_passes_the_candidate_text_to_the_tasks(shared_data, tmp_path, monkeypatch, capsys):
    """--candidate-text reaches every task (and its revision); --tasks only accepts hbt-bench tasks."""
    import mteb

    seen = []

    def fake_evaluate(model, tasks, **kwargs):
        seen.extend(tasks)
        raise HbtBenchError("stop after capturing the tasks")

    monkeypatch.setattr(mteb, "evaluate", fake_evaluate)
    args = [
        "eval",
        "--model",
        "builtin:hash-ngram",
        "--tasks",
        "XQuADR,MLQAR",
        "--data-dir",
        str(shared_data),
    ]
    assert main([*args, "--candidate-text", "sentence+context"]) == 2
    assert [t.metadata.name for t in seen] == ["XQuADR", "MLQAR"]
    assert all(t.candidate_mode == "sentence+context" for t in seen)
    assert all(t.metadata.revision.endswith("+sentence+context") for t in seen)
    capsys.readouterr()
    assert main(["eval", "--model", "builtin:hash-ngram", "--tasks", "STS12"]) == 2
    assert "STS12" in capsys.readouterr().err


def test_adversarial_summary_prints_clean_vs_adversarial_and_each_recipe(capsys):
    import mteb

    import hbt_bench
    from hbt_bench.cli import print_task_summary

    hbt_bench.register()
    stored = mteb.ResultCache(Path(__file__).resolve().parents[1] / "leaderboard")
    result = stored.load_results(tasks=["XQuADR-Adv"], models=["hbt-bench/hash-ngram"])
    tr = result.model_results[0].task_results[0]
    print_task_summary(tr)
    out = capsys.readouterr().out
    mono = {e["hf_subset"]: e for e in tr.scores["test"]}["en-en"]
    assert f"{mono['map']:.3f} / {mono['clean_map']:.3f}" in out  # en: mono adversarial / clean
    recipes = [line.split()[0] for line in out.split("(mAP under each recipe)")[1].strip().splitlines()]
    prefix = "perturbed_fraction_"
    every = {k.removeprefix(prefix) for e in tr.scores["test"] for k in e if k.startswith(prefix)}
    assert recipes == sorted(every) and "zh-morphonym@10pct" in every
    assert "mean " in out and "relative robustness" in out
