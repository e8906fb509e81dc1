"""Registration with mteb in fresh processes: the .pth hook, the CLI, local model dirs, the benchmark."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import mteb
import pytest

from tests.helpers import build_tiny_st_model

MTEB = shutil.which("mteb", path=str(Path(sys.executable).parent))


def _run(args: list[str], env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout
    )


def test_register_is_idempotent_and_complete():
    import hbt_bench

    hbt_bench.register()
    hbt_bench.register()
    gt = __import__("importlib").import_module("mteb.get_tasks")
    assert [c.metadata.name for c in gt.TASK_LIST].count("XQuADR") == 1
    assert mteb.get_task("MLQAR").metadata.name == "MLQAR"
    assert "XQuADR" in gt._SIMILAR_TASKS["XQuADRetrieval"]
    bench = mteb.get_benchmark("HBT")
    assert [t.metadata.name for t in bench.tasks] == ["XQuADR", "MLQAR"]
    assert [t.metadata.name for t in mteb.get_benchmark("HBT-Adv").tasks] == ["XQuADR-Adv", "MLQAR-Adv"]
    assert mteb.get_task("XNLI-Adv").metadata.name == "XNLI-Adv"
    assert mteb.get_model_meta("hbt-bench/hash-ngram").name == "hbt-bench/hash-ngram"


def test_autoload_hook_registers_in_a_fresh_process_and_can_be_switched_off():
    code = "import mteb; print(mteb.get_task('XQuADR').metadata.name, len(mteb.get_tasks(tasks=['MLQAR'])))"
    on = _run([sys.executable, "-c", code])
    assert on.returncode == 0, on.stderr
    assert on.stdout.split() == ["XQuADR", "1"]
    off = _run([sys.executable, "-c", code], env={"HBT_BENCH_NO_AUTOLOAD": "1"})
    assert off.returncode != 0 and "XQuADR" in off.stderr


def test_autoload_hook_costs_no_imports_at_interpreter_start():
    """The hook runs in every Python process: it may load only what ``site`` has loaded anyway (it once
    pulled in importlib.abc, ~60 modules, ~28 ms per start), and nothing at all when switched off."""
    baseline = _run([sys.executable, "-S", "-c", "import sys; print(' '.join(sorted(sys.modules)))"])
    code = "import sys; print(' '.join(sorted(sys.modules)))"
    on = _run([sys.executable, "-c", code])
    off = _run([sys.executable, "-c", code], env={"HBT_BENCH_NO_AUTOLOAD": "1"})
    assert baseline.returncode == on.returncode == off.returncode == 0, on.stderr + off.stderr
    with_hook, without_hook = set(on.stdout.split()), set(off.stdout.split())
    assert "_hbt_bench_mteb_hook" in with_hook and "_hbt_bench_mteb_hook" not in without_hook
    # what the hook adds beyond the switched-off start is the hook module itself, nothing else
    assert with_hook - without_hook == {"_hbt_bench_mteb_hook"}
    assert "importlib.abc" not in with_hook - set(baseline.stdout.split())


@pytest.mark.parametrize(
    "first", ["hbt_bench.plugin.tasks", "hbt_bench.plugin.adversarial_tasks", "hbt_bench.plugin.benchmark"]
)
def test_importing_a_plugin_module_before_mteb_still_registers(first):
    # The module imports mteb half-way through its own import; the hook must not register then.
    code = (
        f"import {first}, mteb; print(mteb.get_task('XQuADR-Adv').metadata.name, "
        "mteb.get_benchmark('HBT-Adv').name, mteb.get_model_meta('hbt-bench/hash-ngram').name)"
    )
    out = _run([sys.executable, "-c", code])
    assert out.returncode == 0, out.stderr
    assert "could not register" not in out.stderr
    assert out.stdout.split() == ["XQuADR-Adv", "HBT-Adv", "hbt-bench/hash-ngram"]


def test_import_hbt_bench_stays_light():
    heavy = "('mteb', 'torch', 'sentence_transformers')"
    code = f"import sys, hbt_bench; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = _run([sys.executable, "-c", code], env={"HBT_BENCH_NO_AUTOLOAD": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(MTEB is None, reason="the mteb console script is not installed next to this Python")
def test_mteb_cli_lists_and_runs_the_tasks(shared_data, tmp_path):
    listed = _run([MTEB, "available-tasks", "-t", "XQuADR", "MLQAR"])
    assert listed.returncode == 0, listed.stderr
    assert "XQuADR" in listed.stdout and "MLQAR" in listed.stdout

    env = {"HBT_BENCH_DATA_DIR": str(shared_data), "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "out"
    run = _run(
        [
            MTEB,
            "run",
            "-b",
            "HBT",
            "-m",
            "hbt-bench/hash-ngram",
            "--output-folder",
            str(out),
            "--no-co2-tracker",
        ],
        env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = mteb.ResultCache(out).load_results(tasks=mteb.get_benchmark("HBT"))
    [model_result] = list(results)
    assert {tr.task_name for tr in model_result.task_results} == {"XQuADR", "MLQAR"}
    assert {len(tr.scores["test"]) for tr in model_result.task_results} == {132, 56}
    scores = mteb.get_benchmark("HBT").get_score(results)["hbt-bench/hash-ngram"]
    for key in ("XQuADR::Mono", "XQuADR::Cross", "XQuADR::Multi", "MLQAR::Mono", "MLQAR::LanguageBias"):
        assert scores[key] is not None, key
    assert scores["XQuADR::Mono"] > scores["XQuADR::Cross"]  # a lexical model is no cross-lingual model
    assert scores["XQuADR::LanguageBias"] > 100


@pytest.mark.skipif(MTEB is None, reason="the mteb console script is not installed next to this Python")
def test_mteb_run_with_a_local_sentence_transformers_dir(shared_data, tmp_path):
    model_dir = build_tiny_st_model(tmp_path / "tiny-st")
    env = {"HBT_BENCH_DATA_DIR": str(shared_data), "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "out"
    run = _run(
        [
            MTEB,
            "run",
            "-t",
            "XQuADR",
            "-m",
            str(model_dir),
            "--output-folder",
            str(out),
            "--no-co2-tracker",
            "--batch-size",
            "256",
        ],
        env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    [path] = list(out.rglob("XQuADR.json"))
    assert path.parent.parent.name == "local__tiny-st"
