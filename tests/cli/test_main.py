"""The hbt-bench command: data stats, eval, and clean failures that leave nothing half-written."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hbt_bench.cli import main
from hbt_bench.data.lareqa import CANDIDATE_TEXT_MODES

XQUADR_CANDIDATES = {
    "ar": 1222, "de": 1276, "el": 1234, "en": 1180, "es": 1215, "hi": 1244,
    "ru": 1219, "th": 852, "tr": 1167, "vi": 1209, "zh": 1196,
}  # fmt: skip
MLQAR_COUNTS = {
    "ar": (517, 2545), "de": (512, 2362), "en": (1148, 6264), "es": (500, 1787),
    "hi": (507, 2426), "vi": (511, 2828), "zh": (504, 2322),
}  # fmt: skip

REPO = Path(__file__).resolve().parents[2]
assert (REPO / "pyproject.toml").is_file(), REPO


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
    """A factory for ``--model tests.cli.test_main:nan_encoder``: an encoder whose output has a NaN."""

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
        (["--model", "tests.cli.test_main:nan_encoder", "--tasks", "XQuADR"], "NaN"),
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


def test_eval_with_a_corrupted_data_file_names_it(shared_data, tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("HBT_BENCH_DATA_DIR", str(data))  # --data-dir sets it in-process; undone after
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

    from hbt_bench import cli

    seen = []

    def fake_evaluate(model, tasks, **kwargs):  # called once per task (each is written when done)
        seen.extend(tasks)
        return SimpleNamespace(task_results=[None])

    monkeypatch.setattr(mteb, "evaluate", fake_evaluate)
    monkeypatch.setattr(cli, "print_task_summary", lambda result: None)
    args = [
        "eval",
        "--model",
        "builtin:hash-ngram",
        "--tasks",
        "XQuADR,MLQAR",
        "--data-dir",
        str(shared_data),
    ]
    assert main([*args, "--candidate-text", "sentence+context-xtreme"]) == 0
    assert [t.metadata.name for t in seen] == ["XQuADR", "MLQAR"]
    assert all(t.candidate_mode == "sentence+context-xtreme" for t in seen)
    assert all(t.metadata.revision.endswith("+sentence+context-xtreme") for t in seen)
    capsys.readouterr()
    assert main(["eval", "--model", "builtin:hash-ngram", "--tasks", "STS12"]) == 2
    assert "STS12" in capsys.readouterr().err


def test_adversarial_summary_prints_clean_vs_adversarial_and_each_recipe(capsys):
    import mteb

    import hbt_bench
    from hbt_bench.cli import print_task_summary

    hbt_bench.register()
    stored = mteb.ResultCache(REPO / "leaderboard")
    result = stored.load_results(tasks=["XQuADR-Adv"], models=["hbt-bench/hash-ngram"])
    [model_result] = result.model_results  # the stored hash-ngram row must be found
    [tr] = model_result.task_results
    print_task_summary(tr)
    out = capsys.readouterr().out
    mono = {e["hf_subset"]: e for e in tr.scores["test"]}["en-en"]
    assert f"{mono['map']:.3f} / {mono['clean_map']:.3f}" in out  # en: mono adversarial / clean
    recipes = [line.split()[0] for line in out.split("(mAP under each recipe)")[1].strip().splitlines()]
    prefix = "perturbed_fraction_"
    every = {k.removeprefix(prefix) for e in tr.scores["test"] for k in e if k.startswith(prefix)}
    assert recipes == sorted(every) and "zh-morphonym@10pct" in every
    assert "mean " in out and "relative robustness" in out


# --- resume, Ctrl-C, embedding cache, checks before anything runs (issue 9, findings 2, 3, 5, 8) ---------

STATE: dict = {"calls": 0, "loads": 0, "interrupt_at": None, "revision": "r1"}


class CountingEncoder:
    """Deterministic 16-d embeddings from a hash of each text; counts its calls; can 'be killed'."""

    name = "test/counting"
    dim = 16

    def __init__(self) -> None:
        self.revision = STATE["revision"]

    def encode(self, texts):
        import hashlib

        STATE["calls"] += 1
        if STATE["interrupt_at"] is not None and STATE["calls"] >= STATE["interrupt_at"]:
            raise KeyboardInterrupt
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:16], dtype=np.uint8) for t in texts]
        return np.stack(rows).astype(np.float32) + 1.0


def counting_encoder():
    """A factory for ``--model tests.cli.test_main:counting_encoder``."""
    STATE["loads"] += 1
    return CountingEncoder()


@pytest.fixture
def counting(monkeypatch):
    monkeypatch.setitem(STATE, "calls", 0)
    monkeypatch.setitem(STATE, "loads", 0)
    monkeypatch.setitem(STATE, "interrupt_at", None)
    monkeypatch.setitem(STATE, "revision", "r1")
    return STATE


def _eval(shared_data, out, *extra, tasks="XQuADR,MLQAR", languages="en"):
    STATE["calls"] = 0
    args = ["eval", "--model", "tests.cli.test_main:counting_encoder", "--tasks", tasks, "--quiet"]
    args += ["--data-dir", str(shared_data), "--output-folder", str(out)]
    args += ["--languages", languages] if languages else []
    return main([*args, *extra])


def _scores(out: Path) -> dict:
    return {p.name: json.loads(p.read_text())["scores"] for p in sorted(out.rglob("*R.json"))}


def test_a_killed_eval_resumes_without_recomputing_finished_tasks(shared_data, tmp_path, counting, capsys):
    """Finding 5 and Ctrl-C: each task is written when done; a re-run reuses it and equals a full run."""
    assert _eval(shared_data, tmp_path / "x", tasks="XQuADR") == 0
    xquadr_calls = counting["calls"]
    assert _eval(shared_data, tmp_path / "full") == 0
    full_calls = counting["calls"]
    assert full_calls > xquadr_calls > 0
    capsys.readouterr()

    out = tmp_path / "killed"
    counting["interrupt_at"] = xquadr_calls + 1  # Ctrl-C at MLQAR's first encode
    assert _eval(shared_data, out) == 130
    err = capsys.readouterr().err
    assert err.strip() == "hbt-bench: interrupted" and "Traceback" not in err
    assert [p.name for p in out.rglob("*R.json")] == ["XQuADR.json"]
    assert not list(out.glob(".hbt-tmp-*"))

    counting["interrupt_at"] = None
    assert _eval(shared_data, out) == 0
    assert counting["calls"] == full_calls - xquadr_calls  # XQuADR not recomputed
    assert "XQuADR: reusing the complete stored result" in capsys.readouterr().out
    assert _scores(out) == _scores(tmp_path / "full")
    settings = (next(out.rglob("run_settings.jsonl"))).read_text().splitlines()
    assert sorted(json.loads(line)["task"] for line in settings) == ["MLQAR", "XQuADR"]


def test_overwrite_strategies(shared_data, tmp_path, counting, capsys):
    out = tmp_path / "out"
    assert _eval(shared_data, out, "--overwrite-strategy", "only-cache") == 2
    assert "only-cache: no complete XQuADR result" in capsys.readouterr().err
    assert counting["calls"] == 0 and not out.exists()
    assert _eval(shared_data, out) == 0
    first, calls = _scores(out), counting["calls"]
    for strategy, expected_calls in (("only-cache", 0), ("never", 0), ("only-missing", 0), ("always", calls)):
        assert _eval(shared_data, out, "--overwrite-strategy", strategy) == 0, strategy
        assert counting["calls"] == expected_calls, strategy
        assert _scores(out) == first, strategy


def test_never_refuses_to_complete_a_partial_result(shared_data, tmp_path, counting, capsys):
    import mteb

    out = tmp_path / "out"
    assert _eval(shared_data, out, tasks="XQuADR") == 0
    [path] = out.rglob("XQuADR.json")
    partial = mteb.TaskResult.from_disk(path)
    partial.scores["test"] = [e for e in partial.scores["test"] if e["hf_subset"] == "en-en"]
    partial.to_disk(path)
    capsys.readouterr()
    assert _eval(shared_data, out, "--overwrite-strategy", "never", tasks="XQuADR") == 2
    assert "en-multi" in capsys.readouterr().err and counting["calls"] == 0
    assert _eval(shared_data, out, tasks="XQuADR") == 0  # only-missing: the partial file is completed
    assert {e["hf_subset"] for e in mteb.TaskResult.from_disk(path).scores["test"]} == {"en-en", "en-multi"}


def test_the_embedding_cache_makes_a_rerun_encode_nothing(shared_data, tmp_path, counting):
    cache = tmp_path / "emb"
    assert _eval(shared_data, tmp_path / "a", "--embedding-cache", str(cache)) == 0
    assert counting["calls"] > 0
    assert _eval(shared_data, tmp_path / "b", "--embedding-cache", str(cache)) == 0
    assert counting["calls"] == 0
    assert _scores(tmp_path / "b") == _scores(tmp_path / "a")
    assert (cache / "test__counting" / "r1").is_dir()  # namespaced per model: mteb keys by task and text only


@pytest.mark.parametrize("where", ["file", "under-a-file"])
def test_an_unusable_output_folder_fails_before_the_model_loads(
    shared_data, tmp_path, counting, capsys, where
):
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    out = blocker if where == "file" else blocker / "sub"
    assert _eval(shared_data, out) == 2
    err = capsys.readouterr().err
    assert "--output-folder" in err and "not a directory" in err and "Traceback" not in err
    assert counting["loads"] == 0
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_output_folder_fails_before_the_model_loads(shared_data, tmp_path, counting, capsys):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        assert _eval(shared_data, parent / "out") == 2
    finally:
        parent.chmod(0o700)
    assert "not writable" in capsys.readouterr().err and counting["loads"] == 0


@pytest.mark.parametrize("revision", ["../../../../escaped", str(Path("/tmp") / "hbt-cli-escaped"), ".."])
def test_an_unsafe_model_revision_is_refused_before_anything_runs(
    shared_data, tmp_path, counting, capsys, revision
):
    """Finding 3: revision="../../../../escaped" wrote XQuADR.json outside --output-folder."""
    counting["revision"] = revision
    out = tmp_path / "a" / "b" / "c" / "out"
    assert _eval(shared_data, out, tasks="XQuADR") == 2
    assert "revision" in capsys.readouterr().err
    assert counting["calls"] == 0
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not (Path("/tmp") / "hbt-cli-escaped").exists()


def test_a_variant_never_replaces_the_standard_result_and_back(shared_data, tmp_path, counting, capsys):
    """Finding 2, both directions, refused before anything is computed; the stored file is untouched."""
    out = tmp_path / "out"
    assert _eval(shared_data, out, tasks="XQuADR", languages="en") == 0
    [path] = out.rglob("XQuADR.json")
    before = path.read_bytes()
    capsys.readouterr()
    context = CANDIDATE_TEXT_MODES[1]  # sentence plus its paragraph
    for languages, candidate_text in (("en,de", "sentence"), ("en", context), ("", "sentence")):
        extra = ["--candidate-text", candidate_text]
        assert _eval(shared_data, out, *extra, tasks="XQuADR", languages=languages) == 2
        err = capsys.readouterr().err
        assert str(path) in err and "+langs-en'" in err and "refusing to replace" in err
        assert counting["calls"] == 0 and path.read_bytes() == before

    standard = tmp_path / "std"  # a standard stored result (hash-ngram's, committed), then a variant run
    stored = REPO / "leaderboard" / "results" / "hbt-bench__hash-ngram"
    shutil.copytree(stored, standard / "results" / "hbt-bench__hash-ngram")
    target = standard / "results" / "hbt-bench__hash-ngram" / "0.1.0" / "XQuADR.json"
    before = target.read_bytes()
    args = ["eval", "--model", "builtin:hash-ngram", "--tasks", "XQuADR", "--languages", "en,de"]
    assert main([*args, "--output-folder", str(standard), "--data-dir", str(shared_data), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert (
        str(target) in err and "'lareqa-9bc8c7f-hbt1'" in err and "'lareqa-9bc8c7f-hbt1+langs-de-en'" in err
    )
    assert target.read_bytes() == before


def test_task_and_dataset_names_are_one_namespace(shared_data, capsys):
    # `data stats XQuADR` reads the same data as `data stats xquad-r` (issue 14: names differed per command)
    assert main(["data", "stats", "xquad-r", "--json", "--data-dir", str(shared_data)]) == 0
    by_id = capsys.readouterr().out
    assert main(["data", "stats", "XQuADR", "--json", "--data-dir", str(shared_data)]) == 0
    assert capsys.readouterr().out == by_id
    assert (
        main(
            ["eval", "--model", "builtin:hash-ngram", "--tasks", "xquad-r", "--languages", "en,de", "--quiet"]
        )
        == 0
    )
    assert "XQuADR  (mAP" in capsys.readouterr().out


def test_top_level_help_says_what_the_tool_does(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "command-line entry point" not in out
    assert "examples:" in out and "hbt-bench eval --model" in out


def test_two_local_models_in_same_named_folders_never_share_results(shared_data, tmp_path, capsys):
    # issue 14: runs/a/model and runs/b/model were both "local/model"@"local": the second eval returned the
    # first model's stored scores without evaluating
    from tests.helpers import build_tiny_st_model

    out = tmp_path / "out"
    scores = []
    for seed, run in enumerate(("a", "b")):
        model = build_tiny_st_model(tmp_path / run / "model", seed=seed)
        args = ["eval", "--model", str(model), "--tasks", "XQuADR", "--languages", "th", "--quiet"]
        assert main([*args, "--data-dir", str(shared_data), "--output-folder", str(out)]) == 0
        printed = capsys.readouterr().out
        assert "reusing" not in printed and "wrote" in printed
        scores.append(printed)
    files = sorted(out.rglob("XQuADR.json"))
    assert len(files) == 2 and {f.parent.parent.name for f in files} == {"local__model"}
    assert files[0].parent.name != files[1].parent.name  # one revision folder per model
    assert scores[0] != scores[1]
    # the same model again is recognised as the same and reused
    again = ["eval", "--model", str(tmp_path / "a" / "model"), "--tasks", "XQuADR", "--languages", "th"]
    assert main([*again, "--quiet", "--data-dir", str(shared_data), "--output-folder", str(out)]) == 0
    assert "reusing the complete stored result" in capsys.readouterr().out


def test_long_steps_show_progress_unless_quiet(shared_data, capsys):
    # issue 14: the only bar was mteb's "Evaluating task XQuADR: 0/1" for the whole run
    args = ["eval", "--model", "builtin:hash-ngram", "--tasks", "XQuADR-Adv", "--languages", "en"]
    assert main([*args, "--data-dir", str(shared_data)]) == 0
    err = capsys.readouterr().err
    assert "Encoding document (en-en)" in err and "Encoding query (en-en)" in err
    assert "/1180 " in err and "text/s" in err  # texts done / total and the rate (tqdm also gives the ETA)
    assert "XQuADR-Adv recipes" in err and "recipe/s" in err
    assert main([*args, "--data-dir", str(shared_data), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "Encoding" not in err and "recipes" not in err


def test_subsets_gives_the_standard_scores_of_just_those_subsets(shared_data, tmp_path, capsys):
    out = tmp_path / "out"
    args = [
        "eval",
        "--model",
        "builtin:hash-ngram",
        "--tasks",
        "XQuADR",
        "--subsets",
        "en-*, *-th",
        "--quiet",
    ]
    assert main([*args, "--data-dir", str(shared_data), "--output-folder", str(out)]) == 0
    [path] = out.rglob("XQuADR.json")
    entries = {e["hf_subset"]: e for e in json.loads(path.read_text())["scores"]["test"]}
    assert set(entries) == {f"en-{x}" for x in (*XQUADR_CANDIDATES, "multi")} | {
        f"{x}-th" for x in XQUADR_CANDIDATES
    }
    assert entries["en-multi"]["num_candidates"] == sum(XQUADR_CANDIDATES.values())  # the whole pool
    stored = REPO / "leaderboard" / "results" / "hbt-bench__hash-ngram" / "0.1.0" / "XQuADR.json"
    full = {e["hf_subset"]: e for e in json.loads(stored.read_text())["scores"]["test"]}
    for name, entry in entries.items():  # the committed full run (6 decimals: one unit of rounding)
        assert entry["main_score"] == pytest.approx(full[name]["main_score"], abs=1.5e-6), name
    assert main(["eval", "--model", "builtin:hash-ngram", "--tasks", "XQuADR", "--subsets", "xx-*"]) == 2
    assert "--subsets xx-*: matches none of XQuADR's subsets" in capsys.readouterr().err


def test_device_reaches_the_model_loader(shared_data, monkeypatch):
    """``--device`` reaches the loader of a built-in (its own path to mteb) and of any other spec."""
    import hbt_bench.encoders as encoders
    import hbt_bench.plugin.models as plugin_models

    seen: list[tuple[str, str | None]] = []
    real_builtin, real_load = plugin_models.load_builtin, encoders.load_model

    def builtin(key, *, device=None, **kwargs):
        seen.append((key, device))
        return real_builtin(key, device=device, **kwargs)

    def load(spec, *, device=None):
        seen.append((spec, device))
        return real_load("builtin:hash-ngram")

    monkeypatch.setattr(plugin_models, "load_builtin", builtin)
    monkeypatch.setattr(encoders, "load_model", load)
    args = ["eval", "--tasks", "XQuADR", "--languages", "th", "--quiet", "--data-dir", str(shared_data)]
    assert main([*args, "--model", "builtin:hash-ngram", "--device", "cpu"]) == 0
    assert seen == [("hash-ngram", "cpu")]
    assert main([*args, "--model", "some/hub-model", "--device", "cpu"]) == 0
    assert seen[1:] == [("some/hub-model", "cpu")]


def test_quiet_silences_the_bars_that_libraries_below_mteb_draw(shared_data, tmp_path):
    """mteb's BM25 calls bm25s without show_progress, and mteb maps datasets with bars on: `--quiet` reaches
    them through their own switches (read at import, hence a fresh process). Without --quiet they draw."""
    import subprocess
    import sys

    pytest.importorskip("bm25s")
    cmd = [
        sys.executable,
        "-m",
        "hbt_bench.cli",
        "eval",
        "--model",
        "mteb/baseline-bm25s",
        "--tasks",
        "XQuADR",
    ]
    cmd += ["--languages", "en", "--data-dir", str(shared_data)]
    env = {
        k: v for k, v in os.environ.items() if k not in ("DISABLE_TQDM", "HF_DATASETS_DISABLE_PROGRESS_BARS")
    }
    env["HF_HUB_OFFLINE"] = "1"
    loud = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    quiet = subprocess.run(
        [*cmd, "--quiet"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert loud.returncode == quiet.returncode == 0, loud.stderr[-2000:] + quiet.stderr[-2000:]
    assert "Split strings" in loud.stderr and "BM25S Retrieve" in loud.stderr  # the bars this test is about
    assert "en-en" in quiet.stdout or "en " in quiet.stdout
    assert "it/s" not in quiet.stderr and "%|" not in quiet.stderr, quiet.stderr[-2000:]
